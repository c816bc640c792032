from __future__ import annotations

import json

import pytest

from emulator.reliable import AckIds, BufferOverflow, SequenceBuffer, with_sequence_id


def test_sequence_id_is_prefixed_without_reencoding() -> None:
    assert json.loads(with_sequence_id('{"type":"message","data":1}', 9)) == {
        "sequenceId": 9,
        "type": "message",
        "data": 1,
    }


def test_ack_is_cumulative_and_unacked_is_what_to_resend() -> None:
    buf = SequenceBuffer(max_frames=10, max_bytes=10_000)
    frames = [buf.number(f'{{"n":{i}}}') for i in range(4)]
    assert [json.loads(f)["sequenceId"] for f in frames] == [1, 2, 3, 4]
    buf.ack(2)
    assert buf.unacked() == frames[2:]
    buf.ack(1)  # an old ack changes nothing
    assert len(buf) == 2
    buf.ack(10)
    assert buf.unacked() == []
    assert json.loads(buf.number("{}"))["sequenceId"] == 5  # ids keep growing


@pytest.mark.parametrize(("frames", "size"), [(2, 10_000), (100, 40)])
def test_overflow_by_count_or_bytes(frames: int, size: int) -> None:
    buf = SequenceBuffer(max_frames=frames, max_bytes=size)
    buf.number("{}")
    buf.number("{}")
    with pytest.raises(BufferOverflow):
        buf.number('{"x":"0123456789"}')


def test_ack_ids_are_remembered_within_capacity() -> None:
    ids = AckIds(capacity=2)
    assert ids.first_time(1)
    assert not ids.first_time(1)
    assert ids.first_time(2)
    assert ids.first_time(3)  # evicts 1
    assert ids.first_time(1)
