"""The task list: running batches show live bars that end with the exact counts of the batch."""

import pytest

from progress.models import ProgressMessage, ProgressTask
from tests.browser.test_progress_dialog import site, start_batch  # noqa: F401 - the fixture is used by name

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_task_list_bar_advances_live_to_the_final_counts(site, browser_page):  # noqa: F811
    url, names = site
    page = browser_page
    task_id = start_batch(page, url, names)
    page.wait_for_function(f"() => KubenodeProgress.state('{task_id}').lastSeq >= 3")
    page.goto(url + "/progress/tasks/")
    row = page.locator(f"tr[data-task='{task_id}']")
    assert row.locator(".kn-status").text_content() == "running"
    rendered = int(row.get_attribute("data-last-seq"))
    width_at_load = row.locator(".kn-progress-fill").evaluate("e => parseFloat(e.style.width)")
    assert width_at_load < 100

    # live: the bar grows without a reload, then the row says how the batch ended
    page.wait_for_function(
        "([id, w]) => parseFloat(document.querySelector(`tr[data-task='${id}'] .kn-progress-fill`).style.width) > w",
        arg=[task_id, width_at_load], timeout=60_000)
    row.locator(".kn-status", has_text="completed").wait_for(timeout=120_000)
    task = ProgressTask.objects.get(pk=task_id)
    assert row.locator(".kn-done").text_content() == f"{task.total} / {task.total}"
    assert row.locator(".kn-succeeded").text_content() == str(task.succeeded) == str(len(names))
    assert row.locator(".kn-failed").text_content() == "0"
    assert row.locator(".kn-progress-fill").evaluate("e => e.style.width") == "100%"
    # the page asked only for what came after the seq it was rendered with
    received = page.evaluate(f"() => KubenodeProgress.state('{task_id}').order.length")
    assert received == ProgressMessage.objects.filter(task=task, seq__gt=rendered, type="progress").count()
    assert received < task.total
