import asyncio
import json

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator

from progress.models import TaskStatus
from tests.progress.helpers import make_task, make_user, session_cookie, write_results

pytestmark = pytest.mark.django_db(transaction=True)

ORIGIN = b"http://localhost"


def app():
    from kubenode.asgi import application

    return application


async def connect(user=None, origin=ORIGIN):
    headers = [(b"origin", origin)]
    if user is not None:
        cookie = await database_sync_to_async(session_cookie)(user)
        headers.append((b"cookie", f"sessionid={cookie}".encode()))
    comm = WebsocketCommunicator(app(), "/ws/progress/", headers=headers)
    connected, _ = await comm.connect()
    return comm, connected


async def messages(comm, timeout=10) -> list[dict]:
    """The messages of the next frame: a non-empty list, one task, consecutive seq."""
    frame = await comm.receive_json_from(timeout=timeout)
    assert isinstance(frame, list) and frame, f"expected a list of messages, got {frame!r}"
    assert len({m["task"] for m in frame}) == 1
    seqs = [m["seq"] for m in frame]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs))), seqs
    return frame


async def frames_until(comm, predicate, timeout=10):
    """Messages, frame after frame, until one satisfies `predicate`."""
    got = []
    while True:
        for message in await messages(comm, timeout):
            got.append(message)
            if predicate(message):
                return got


async def test_rejects_anonymous_and_foreign_origin():
    user = await database_sync_to_async(make_user)("ann")
    comm, connected = await connect(None)
    assert not connected
    comm, connected = await connect(user, origin=b"http://evil.example")
    assert not connected


async def test_snapshot_lists_only_own_tasks():
    ann = await database_sync_to_async(make_user)("ann")
    bob = await database_sync_to_async(make_user)("bob")
    mine = await database_sync_to_async(make_task)(ann)
    await database_sync_to_async(make_task)(bob)
    await database_sync_to_async(write_results)(mine, [("node-00000", True)])
    comm, connected = await connect(ann)
    assert connected
    snap = await comm.receive_json_from(timeout=5)
    assert snap["type"] == "snapshot"
    assert [(t["task"], t["last_seq"]) for t in snap["tasks"]] == [(str(mine.pk), 1)]
    await comm.disconnect()


async def test_resume_sends_backlog_then_live_without_gap_or_duplicate():
    ann = await database_sync_to_async(make_user)("ann")
    task = await database_sync_to_async(make_task)(ann, nodes=1300)
    names = task.nodes
    await database_sync_to_async(write_results)(task, [(n, True) for n in names[:1100]])
    comm, _ = await connect(ann)
    await comm.receive_json_from(timeout=5)  # snapshot
    await comm.send_json_to({"type": "resume", "task": str(task.pk), "after_seq": 3})
    pages = [await messages(comm) for _ in range(3)]
    assert [(p[0]["seq"], p[-1]["seq"]) for p in pages] == [(4, 503), (504, 1003), (1004, 1100)]  # paged backlog
    # live: more rows are written and the doorbell rings; a resume repeated meanwhile sends nothing twice
    await database_sync_to_async(write_results)(task, [(n, n[-1] != "7") for n in names[1100:1200]])
    await comm.send_json_to({"type": "resume", "task": str(task.pk), "after_seq": 1050})
    await database_sync_to_async(write_results)(task, [(n, True) for n in names[1200:]],
                                                final_status=TaskStatus.FAILED)
    got = await frames_until(comm, lambda f: f.get("seq") == 1300)
    assert [f["seq"] for f in got] == list(range(1101, 1301))
    last = got[-1]
    assert (last["done"], last["failed"], last["total"]) == (1300, 10, 1300)
    assert {"task", "seq", "type", "node", "outcome", "error", "succeeded"} <= set(last)
    assert await comm.receive_nothing(timeout=0.3)
    await comm.disconnect()
    # a new connection resumes from the last seq the client saw: only what came after
    comm, _ = await connect(ann)
    await comm.receive_json_from(timeout=5)
    await comm.send_json_to({"type": "resume", "task": str(task.pk), "after_seq": 1295})
    got = await frames_until(comm, lambda f: f.get("seq") == 1300)
    assert [f["seq"] for f in got] == [1296, 1297, 1298, 1299, 1300]
    await comm.disconnect()


async def test_users_are_isolated_and_staff_may_watch():
    ann = await database_sync_to_async(make_user)("ann")
    bob = await database_sync_to_async(make_user)("bob")
    boss = await database_sync_to_async(make_user)("boss", staff=True)
    task = await database_sync_to_async(make_task)(ann)
    bob_ws, _ = await connect(bob)
    boss_ws, _ = await connect(boss)
    ann_ws, _ = await connect(ann)
    for ws in (bob_ws, boss_ws, ann_ws):
        await ws.receive_json_from(timeout=5)
    await bob_ws.send_json_to({"type": "resume", "task": str(task.pk), "after_seq": 0})
    denied = await bob_ws.receive_json_from(timeout=5)
    assert denied["type"] == "protocol_error" and "seq" not in denied
    await boss_ws.send_json_to({"type": "resume", "task": str(task.pk), "after_seq": 0})
    await asyncio.sleep(0.1)
    await database_sync_to_async(write_results)(task, [("node-00000", True)])
    assert [m["seq"] for m in await messages(ann_ws)] == [1]  # live, without asking
    assert [m["seq"] for m in await messages(boss_ws)] == [1]
    assert await bob_ws.receive_nothing(timeout=0.5)
    for ws in (bob_ws, boss_ws, ann_ws):
        await ws.disconnect()


async def test_malformed_frames_get_an_error_and_the_connection_stays():
    ann = await database_sync_to_async(make_user)("ann")
    task = await database_sync_to_async(make_task)(ann)
    await database_sync_to_async(write_results)(task, [("node-00000", True)])
    comm, _ = await connect(ann)
    await comm.receive_json_from(timeout=5)
    for bad in ("not json", "[1, 2]", '{"type": "nope"}', '{"type": "resume", "task": "x", "after_seq": 0}',
                f'{{"type": "resume", "task": "{task.pk}", "after_seq": "zero"}}'):
        await comm.send_to(text_data=bad)
        assert (await comm.receive_json_from(timeout=5))["type"] == "protocol_error"
    await comm.send_to(bytes_data=b"\x00\x01")
    assert (await comm.receive_json_from(timeout=5))["type"] == "protocol_error"
    await comm.send_json_to({"type": "resume", "task": str(task.pk), "after_seq": 0})
    assert [m["seq"] for m in await messages(comm)] == [1]
    await comm.disconnect()


async def test_one_doorbell_is_one_frame_serialized_once_for_every_connection(monkeypatch):
    """Fan-out: a flush of 40 results is one doorbell; five connections at the same cursor get the same frame,
    a list of the 40 messages, encoded once in this process (one read, one JSON text)."""
    from progress import consumers

    encoded = []
    real_encode = consumers.encode
    monkeypatch.setattr(consumers, "encode", lambda frames: encoded.append(len(frames)) or real_encode(frames))
    ann = await database_sync_to_async(make_user)("ann")
    task = await database_sync_to_async(make_task)(ann, nodes=40)
    socks = []
    for _ in range(5):
        comm, connected = await connect(ann)
        assert connected and (await comm.receive_json_from(timeout=5))["type"] == "snapshot"
        socks.append(comm)
    await database_sync_to_async(write_results)(task, [(n, True) for n in task.nodes])  # one flush, seq 1..40
    texts = [await comm.receive_from(timeout=5) for comm in socks]
    assert len(set(texts)) == 1  # the very same text on every connection
    frame = json.loads(texts[0])
    assert [m["seq"] for m in frame] == list(range(1, 41)) and {m["task"] for m in frame} == {str(task.pk)}
    assert encoded == [40]  # serialized once for the five connections
    for comm in socks:
        assert await comm.receive_nothing(timeout=0.2)
        await comm.disconnect()


async def test_a_doorbell_carrying_its_messages_is_sent_without_a_read_and_a_gap_is_read_from_the_table(monkeypatch):
    """The rows ride along with the doorbell: sent as they came, no query. A doorbell lost on the way (here: the
    one of seq 2) leaves a gap before the next one's messages: that connection reads from its cursor instead, so
    it still gets seq 2 and 3, once each, in order."""
    from progress import consumers
    from progress.notify import notifier

    reads = []
    real_read = consumers._messages_after

    async def counted(task_id, after_seq, up_to=None):
        reads.append(after_seq)
        return await real_read(task_id, after_seq, up_to)

    monkeypatch.setattr(consumers, "_messages_after", counted)
    ann = await database_sync_to_async(make_user)("ann")
    task = await database_sync_to_async(make_task)(ann, nodes=4)
    comm, connected = await connect(ann)
    assert connected and (await comm.receive_json_from(timeout=5))["type"] == "snapshot"
    await database_sync_to_async(write_results)(task, [(task.nodes[0], True)])
    assert [m["seq"] for m in await messages(comm)] == [1] and reads == []  # carried: no read

    real_forward, dropped = notifier.forward, []
    monkeypatch.setattr(notifier, "forward", lambda doorbell: dropped.append(doorbell.seq))
    await database_sync_to_async(write_results)(task, [(task.nodes[1], False)])  # its doorbell is lost
    assert dropped == [2] and await comm.receive_nothing(timeout=0.2)
    monkeypatch.setattr(notifier, "forward", real_forward)
    await database_sync_to_async(write_results)(task, [(task.nodes[2], True)])  # carries seq 3 only
    frame = await messages(comm)
    assert [m["seq"] for m in frame] == [2, 3] and frame[0]["outcome"] == "failed" and reads == [1]
    await database_sync_to_async(write_results)(task, [(task.nodes[3], True)])
    assert [m["seq"] for m in await messages(comm)] == [4] and reads == [1]
    assert await comm.receive_nothing(timeout=0.2)
    await comm.disconnect()
