"""Presenter mode (``--present``): one big step at a time, its explanation, and diagrams of the
namespaces and mounts so far, for a room rather than a terminal."""

from __future__ import annotations

from rich.text import Text

from boxtrace.tracer.events import Event
from boxtrace.tui import panes
from boxtrace.tui.painting import Painting


class Presenter(Painting):
    """Draws presenter mode where the side panes would be (Painting asks it to)."""

    def _update_presenter(self, event: Event | None, world: panes.World, markdown: str) -> None:
        n = len(self.model)
        step = Text()
        if event is not None:
            step.append(f"Step {self.cursor + 1} of {n}", "bold")
            step.append(f"   ·   chapter {self.model.phases[self.cursor] + 1}: ", "")
            step.append(self.model.phase_name(self.cursor), "bold magenta")
        else:
            step.append("Waiting for the first step…", "dim")
        if self.held >= 0 and self.held == self.cursor:
            step.append("   ⏸ about to run", "yellow")
        step.append(f"   {'▶ auto' if self.auto else '■ paused'} ({self.pace:.1f}s per step)", "green")
        self._set("#present-step", step)
        exp = self.explainer(event) if event is not None else None
        title = exp.title if exp is not None else (self.options.title if event is None else "")
        self._set("#present-title", Text(title, "bold"))
        self._set("#present-explanation", markdown, layout=True)
        self._set("#present-ns", panes.namespace_diagram(world), layout=True)
        self._set("#present-mounts", panes.mount_diagram(world))
        self.shown["presenter"] = self.cursor
