"""The replica tests' collecting helper fails on what it must not hide: protocol errors, stray frames."""

import json

import pytest

from .conftest import collect

TASK = "8b0f8a4e-0000-4000-8000-000000000001"


class Frames:
    """What a WebSocket client would read, one JSON text per frame."""

    def __init__(self, *frames):
        self.frames = [json.dumps(f) for f in frames]

    def recv(self, timeout=None):
        if not self.frames:
            raise TimeoutError
        return self.frames.pop(0)


def message(seq: int, type_: str = "progress", task: str = TASK) -> dict:
    return {"task": task, "seq": seq, "type": type_, "node": f"n{seq}"}


def test_collect_returns_every_message_of_the_task_until_its_final_one():
    got = collect(Frames([message(1), message(2)], [message(3, "complete")]), TASK)
    assert [m["seq"] for m in got] == [1, 2, 3]


@pytest.mark.parametrize("stray", [
    {"type": "protocol_error", "error": "after_seq must be a non-negative integer"},
    {"type": "snapshot", "tasks": []},
    [message(2, task="another-task")],
    [],
])
def test_collect_fails_on_a_frame_that_is_not_a_message_of_the_task(stray):
    with pytest.raises(AssertionError):
        collect(Frames([message(1)], stray, [message(2, "complete")]), TASK)
