"""A replayed trace file, digested on the loader thread: each event is parsed once, classified,
folded into the world, and dropped; what the UI keeps of it travels in a :class:`FileChunk`.

No textual here. The UI thread adds a chunk's lines to its ``FileEvents``, its digests to the
``TraceModel`` and its world snapshots to the ``WorldTimeline``: after the load, the app holds no
event object but the few it shows (parsed again from their lines).
"""

from __future__ import annotations

from array import array
from dataclasses import dataclass, field

from boxtrace.lessons.phases import PhaseTracker
from boxtrace.tracer.events import Event, OutputEvent
from boxtrace.tui.timeline import PHASE_INDEX, Digest, search_line
from boxtrace.tui.world import CHECKPOINT_EVERY, World


@dataclass(slots=True)
class FileChunk:
    """Consecutive events of a trace file, without the events: where their lines are and their digests."""

    offsets: array[int] = field(default_factory=lambda: array("q"))
    lengths: array[int] = field(default_factory=lambda: array("L"))
    seqs: array[int] = field(default_factory=lambda: array("q"))
    digest: Digest = field(default_factory=Digest)
    outputs: list[int] = field(default_factory=list)  # trace-wide indices of the output events
    checkpoints: dict[int, World] = field(default_factory=dict)  # events applied -> world snapshot

    def __len__(self) -> int:
        return len(self.offsets)


class ReplayDigester:
    """Fed a file's events in order (``add``); hands out what it made so far (``take``)."""

    def __init__(self, every: int = CHECKPOINT_EVERY) -> None:
        self.every = every
        self._classifier = PhaseTracker()  # the same rules, in the same order, as TraceModel.add
        self._world = World()
        self._chunk = FileChunk()

    def __len__(self) -> int:
        return len(self._chunk)

    def add(self, offset: int, length: int, event: Event) -> None:
        chunk = self._chunk
        phase = PHASE_INDEX.get(self._classifier.phase(event), 0)
        chunk.offsets.append(offset)
        chunk.lengths.append(length)
        chunk.seqs.append(event.seq)
        chunk.digest.append(event, phase)
        chunk.digest.text.append(search_line(event, phase))
        world = self._world
        if isinstance(event, OutputEvent):
            chunk.outputs.append(world.seen)
        world.apply(event)
        if world.seen % self.every == 0:
            chunk.checkpoints[world.seen] = world.copy()

    def take(self) -> FileChunk:
        chunk, self._chunk = self._chunk, FileChunk()
        return chunk
