"""The Textual TUI: watch and step through a container start, live or replayed.

Entry points for other commands are in :mod:`boxtrace.tui.launch` (``run_live``, ``run_replay``);
import them lazily: importing textual costs ~170 ms that ``boxtrace run --no-trace`` must not pay.
"""
