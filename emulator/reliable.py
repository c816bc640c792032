"""Per-connection state of the reliable subprotocol: sequence ids, un-acked messages, ack ids.

Pure: the session numbers and remembers outgoing data frames until the client acks them; after
a reconnect, `unacked()` is what must be sent again. Sizes are bounded so a client that never
acks costs a fixed amount of memory and then loses its session.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from dataclasses import dataclass, field


class BufferOverflow(RuntimeError):
    """The client let too many messages go un-acked; its session is closed."""


def with_sequence_id(frame: str, sequence_id: int) -> str:
    """Prefix `sequenceId` into an encoded JSON object without re-encoding the rest."""
    rest = frame[1:].lstrip()
    separator = "" if rest.startswith("}") else ","
    return f'{{"sequenceId":{sequence_id}{separator}{rest}'


@dataclass
class SequenceBuffer:
    max_frames: int
    max_bytes: int
    next_id: int = 1
    _frames: deque[tuple[int, str]] = field(default_factory=deque)
    _bytes: int = 0

    def number(self, frame: str) -> str:
        """Assign the next sequence id and keep the frame until acked."""
        numbered = with_sequence_id(frame, self.next_id)
        self._frames.append((self.next_id, numbered))
        self._bytes += len(numbered)
        self.next_id += 1
        if len(self._frames) > self.max_frames or self._bytes > self.max_bytes:
            raise BufferOverflow(
                f"more than {self.max_frames} messages or {self.max_bytes} bytes not acked"
            )
        return numbered

    def ack(self, sequence_id: int) -> None:
        """Cumulative: acking N acks every id up to N."""
        while self._frames and self._frames[0][0] <= sequence_id:
            _, frame = self._frames.popleft()
            self._bytes -= len(frame)

    def unacked(self) -> list[str]:
        return [frame for _, frame in self._frames]

    def __len__(self) -> int:
        return len(self._frames)


@dataclass
class AckIds:
    """Recently seen client ack ids, to answer a resend with `Duplicate`."""

    capacity: int = 10_000
    _seen: OrderedDict[int, None] = field(default_factory=OrderedDict)

    def first_time(self, ack_id: int) -> bool:
        if ack_id in self._seen:
            return False
        self._seen[ack_id] = None
        if len(self._seen) > self.capacity:
            self._seen.popitem(last=False)
        return True
