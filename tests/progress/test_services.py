from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client
from django.utils import timezone

from progress import services
from progress.models import MessageType, ProgressMessage, ProgressTask, TaskStatus
from tests.progress.helpers import make_task, make_user, write_results

pytestmark = pytest.mark.django_db(transaction=True)


def test_remaining_nodes_are_the_failed_and_unfinished_ones():
    from progress.selectors import remaining_nodes

    task = make_task(make_user("ann"), nodes=4)
    write_results(task, [("node-00000", True), ("node-00001", False)], final_status=TaskStatus.INTERRUPTED)
    assert remaining_nodes(task) == ["node-00001", "node-00002", "node-00003"]
    assert remaining_nodes(task, unfinished=False) == ["node-00001"]
    assert remaining_nodes(task, failed=False) == ["node-00002", "node-00003"]


def test_cancel_before_start_finishes_the_task_at_once():
    task = make_task(make_user("ann"), status=TaskStatus.PENDING, owner="")
    services.cancel_task(task)
    task.refresh_from_db()
    assert task.status == TaskStatus.CANCELLED and task.cancel_requested
    assert ProgressMessage.objects.get(task=task).type == MessageType.CANCELLED


def test_prune_never_removes_a_running_task():
    user = make_user("ann")
    old = timezone.now() - timedelta(days=8)
    done = make_task(user, status=TaskStatus.SUCCEEDED)
    running = make_task(user, status=TaskStatus.RUNNING)
    recent = make_task(user, status=TaskStatus.FAILED)
    write_results(done, [("node-00000", True)])
    ProgressTask.objects.filter(pk__in=[done.pk, running.pk]).update(finished_at=old, created_at=old)
    ProgressTask.objects.filter(pk=recent.pk).update(finished_at=timezone.now())
    out = StringIO()
    call_command("progress_prune", "--older-than", "7d", stdout=out)
    assert "pruned 1" in out.getvalue()
    assert set(ProgressTask.objects.values_list("pk", flat=True)) == {running.pk, recent.pk}
    assert not ProgressMessage.objects.filter(task_id=done.pk).exists()
    with pytest.raises(CommandError):
        call_command("progress_prune", "--older-than", "seven days")


def test_progress_stats_reports_stale_heartbeats():
    user = make_user("ann")
    make_task(user, heartbeat_at=timezone.now() - timedelta(minutes=5))
    make_task(user, status=TaskStatus.FAILED)
    out = StringIO()
    call_command("progress_stats", "--json", stdout=out)
    import json

    data = json.loads(out.getvalue())
    assert data["running"] == 1 and data["stale_heartbeats"] == 1
    assert data["last_hour_by_status"] == {"running": 1, "failed": 1}


def test_task_json_follows_access_rules_and_pages_messages():
    ann, bob, boss = make_user("ann"), make_user("bob"), make_user("boss", staff=True)
    task = make_task(ann, nodes=3)
    write_results(task, [("node-00000", True), ("node-00001", False), ("node-00002", True)])
    url = f"/progress/tasks/{task.pk}.json"
    c = Client()
    assert c.get(url).status_code == 302  # login required
    c.force_login(bob)
    assert c.get(url).status_code == 404
    c.force_login(ann)
    data = c.get(url + "?after_seq=1").json()
    assert data["status"] == "running" and data["last_seq"] == 3
    assert [m["seq"] for m in data["messages"]] == [2, 3]
    assert data["messages"][0]["error"] == "boom on node-00001"
    assert c.get(url + "?after_seq=-4").status_code == 400
    c.force_login(boss)
    assert c.get(url).status_code == 200


def test_pages_and_post_permissions():
    ann, bob = make_user("ann"), make_user("bob")
    task = make_task(ann, status=TaskStatus.PENDING, owner="")
    c = Client()
    c.force_login(bob)
    assert c.get(f"/progress/tasks/{task.pk}/").status_code == 404
    assert c.post(f"/progress/tasks/{task.pk}/cancel/").status_code == 404
    assert str(task.pk) not in c.get("/progress/tasks/").content.decode()
    task.refresh_from_db()
    assert task.status == TaskStatus.PENDING
    c.force_login(ann)
    page = c.get(f"/progress/tasks/{task.pk}/").content.decode()
    assert "node-00002" in page
    assert str(task.pk) in c.get("/progress/tasks/").content.decode()
    assert c.post(f"/progress/tasks/{task.pk}/cancel/").status_code == 302
    task.refresh_from_db()
    assert task.status == TaskStatus.CANCELLED
