"""A reconnecting client: tasks of the snapshot go live from their last_seq; a resume fills exactly the rest."""

import json

import pytest
from channels.db import database_sync_to_async

from tests.progress.helpers import make_task, make_user, write_results
from tests.progress.test_consumer import connect, messages

pytestmark = pytest.mark.django_db(transaction=True)


async def test_doorbell_before_resume_sends_no_history_and_resume_fills_the_gap_once():
    ann = await database_sync_to_async(make_user)("ann")
    task = await database_sync_to_async(make_task)(ann, nodes=10)
    names = task.nodes
    await database_sync_to_async(write_results)(task, [(n, True) for n in names[:5]])  # seq 1..5
    comm, connected = await connect(ann)
    assert connected
    snap = await comm.receive_json_from(timeout=5)
    assert [(t["task"], t["last_seq"]) for t in snap["tasks"]] == [(str(task.pk), 5)]

    # the batch goes on before the client says where it was: only what is new is pushed
    await database_sync_to_async(write_results)(task, [(n, True) for n in names[5:7]])  # seq 6, 7
    live = await messages(comm)  # one flush, one doorbell, one frame
    assert [f["seq"] for f in live] == [6, 7]

    # the client had seen up to seq 2: it gets 3..5, once, and nothing it already has
    await comm.send_to(text_data=json.dumps({"type": "resume", "task": str(task.pk), "after_seq": 2}))
    backfill = await messages(comm)
    assert [f["seq"] for f in backfill] == [3, 4, 5]
    assert await comm.receive_nothing(timeout=0.5)

    # a second, overlapping resume sends nothing again; new rows still arrive once
    await comm.send_to(text_data=json.dumps({"type": "resume", "task": str(task.pk), "after_seq": 4}))
    assert await comm.receive_nothing(timeout=0.5)
    await database_sync_to_async(write_results)(task, [(names[7], False)])  # seq 8
    [frame] = await messages(comm)
    assert (frame["seq"], frame["outcome"]) == (8, "failed")
    assert await comm.receive_nothing(timeout=0.5)
    await comm.disconnect()
