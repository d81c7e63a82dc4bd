"""textual's Footer, without its leak: each recompose (every change of a binding's availability)
makes new FooterKeys bound to the footer's ``compact`` reactive, and textual 8.2 drops the bindings of
removed keys only when ``compact`` changes, which it never does here. Stepping through a long trace
greys and ungreys "Break" at every non-syscall event; each time ~25 dead FooterKeys (~250 KB with
their styles and caches) stayed reachable, for good, and made every full GC pass slower.
"""

from __future__ import annotations

from textual.widgets import Footer


class TraceFooter(Footer):
    async def recompose(self) -> None:
        await super().recompose()
        # textual keeps a reactive's watchers as (node, callback) in the private "__watchers" dict;
        # if a later textual keeps them elsewhere this finds nothing and changes nothing.
        watchers = getattr(self, "__watchers", {}).get("compact")
        if watchers:
            watchers[:] = [(node, callback) for node, callback in watchers if node.is_attached]
