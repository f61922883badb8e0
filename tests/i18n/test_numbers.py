"""Counts on pages are written as the page's language writes numbers (Django's formats: en 12,345; zh-hans 12345),
by the server and by the scripts that update them live (Intl.NumberFormat, grouped as Django's formats say), while
numbers in attributes, addresses, form values and JSON stay plain."""

import re

import pytest

from tests.i18n.test_pages_in_chinese import NOT_PAGES, _named_patterns, _path

GROUPED = re.compile(r"\d[,\u00a0\u202f]\d{3}(?!\d)")  # 12,345 (or a language's space as group separator)
GEOMETRY = {"d", "points", "viewBox", "transform"}  # SVG drawing: coordinates, not counts
ATTRIBUTE = re.compile(r'\s([a-zA-Z_:][-a-zA-Z0-9_:.]*)="([^"]*)"')


def _big(task, **extra):
    """A batch of 12,345 nodes, most of them done."""
    from progress.models import TaskStatus

    for key, value in {"total": 12345, "done": 12000, "succeeded": 11000, "failed": 1000, "last_seq": 12345,
                       "status": TaskStatus.RUNNING, **extra}.items():
        setattr(task, key, value)
    task.save()
    return task


def _grouped_attributes(html: str) -> list[str]:
    return [f"{name}={value!r}" for name, value in ATTRIBUTE.findall(html)
            if name not in GEOMETRY and GROUPED.search(value)]


@pytest.mark.django_db
def test_counts_follow_the_language_and_attributes_stay_plain(client, i18n_data):
    from django.urls import reverse

    task = _big(i18n_data["task"])
    client.force_login(i18n_data["users"]["operator"])
    detail, listing = reverse("progress:task_detail", args=[task.pk]), reverse("progress:task_list")

    en = client.get(detail, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "12,000 of 12,345" in en and "11,000" in en, re.findall(r"[\d,]{5,}", en)
    assert 'data-total="12345"' in en and 'data-done="12000"' in en and 'data-last-seq="12345"' in en
    assert 'aria-valuemax="12345"' in en and 'aria-valuenow="12000"' in en
    zh = client.get(detail, HTTP_ACCEPT_LANGUAGE="zh-CN").content.decode()
    assert "12345" in zh and "12,345" not in zh  # Django's zh_Hans formats group without a separator
    for html in (en, zh, client.get(listing, HTTP_ACCEPT_LANGUAGE="en").content.decode()):
        assert not _grouped_attributes(html), _grouped_attributes(html)
    assert "12,000 / 12,345" in client.get(listing, HTTP_ACCEPT_LANGUAGE="en").content.decode()

    data = client.get(reverse("progress:task_json", args=[task.pk])).json()  # JSON: plain numbers
    assert (data["total"], data["done"]) == (12345, 12000)


@pytest.mark.django_db
def test_no_page_writes_a_grouped_number_into_an_attribute(client, i18n_data):
    """Every page of the URL resolver as an admin, in English (the language that groups), with a batch of 12,345
    nodes: no attribute (data-*, aria-*, value, href, style, id) holds a grouped number."""
    _big(i18n_data["task"])
    client.force_login(i18n_data["users"]["admin"])
    problems, seen = [], 0
    for name, pattern in _named_patterns():
        if name in NOT_PAGES:
            continue
        for path in _path(name, pattern, i18n_data):
            response = client.get(path, HTTP_ACCEPT_LANGUAGE="en")
            if response.status_code != 200:
                continue
            seen += 1
            problems += [f"{path}: {a}" for a in _grouped_attributes(response.content.decode())]
    assert seen >= 10
    assert not problems, "grouped numbers in attributes:\n" + "\n".join(problems)
    assert _grouped_attributes('<div data-total="12,345">') == ["data-total='12,345'"]  # the check can fail


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_scripts_write_counts_as_the_page_language(daphne_replicas, collected_static_dir, browser_page):
    """In Chromium: the counts the scripts write (the batch page, the batch list, the live dialog) are grouped as
    the server groups them, in English and in Chinese."""
    from kubenode.models import Preference
    from nodes.roles import ensure_groups
    from tests.fixtures.browser import browser_user, login
    from tests.progress.helpers import make_task

    ensure_groups()
    user = browser_user("ops", "operator")
    task = _big(make_task(user, nodes=3))
    base = daphne_replicas("web", KUBENODE_DATA_DIR=collected_static_dir, PROGRESS_NOTIFY_TYPE="postgres").http_url
    page = browser_page
    login(page, base, "ops", "secret-pw")
    wanted = {"en": ("12,345", "12,000 of 12,345 done: 11,000 succeeded, 1,000 failed, 345 remaining.",
                     "12,000 / 12,345", "12,000 / 12,345 — 345 remaining, succeeded 11,000, failed 1,000"),
              "zh-hans": ("12345", None, "12000 / 12345", None)}
    for language, (count, counts_text, list_cell, dialog_prefix) in wanted.items():
        Preference.objects.update_or_create(user=user, defaults={"language": language})
        page.goto(f"{base}/progress/tasks/{task.pk}/")
        assert page.locator("html").get_attribute("lang") == language
        assert page.evaluate("() => KubenodeLocale.count(12345)") == count
        # the batch page's counts, rewritten by task-detail.js as soon as it watches the batch
        page.wait_for_function("() => window.KubenodeProgress && KubenodeProgress.state(document.querySelector("
                               "'.kn-task').dataset.task)")
        text = page.locator("#kn-task-counts").inner_text()
        if counts_text:
            assert text == counts_text, text
        else:
            assert "12000" in text and "12345" in text and not GROUPED.search(text), text
        page.evaluate("(id) => KubenodeProgress.open(id, {title: 'big'})", str(task.pk))
        dialog = page.locator(".kn-progress .kn-progress-counts").first
        dialog_text = dialog.inner_text()
        if dialog_prefix:
            assert dialog_text == dialog_prefix, dialog_text
        else:
            assert "12000" in dialog_text and "12345" in dialog_text and not GROUPED.search(dialog_text), dialog_text
        page.goto(f"{base}/progress/tasks/")  # the batch list's cells, rewritten by task-list.js as it watches
        page.wait_for_function("(id) => window.KubenodeProgress && KubenodeProgress.state(id)", arg=str(task.pk))
        assert page.locator(f'tr[data-task="{task.pk}"] .kn-done').inner_text() == list_cell
        assert page.locator(f'tr[data-task="{task.pk}"]').get_attribute("data-total") == "12345"


def test_usage_figures_follow_the_language():
    from django.utils import translation

    from nodes.kube import quantity

    with translation.override("en"):
        assert (quantity.cores(1497.3), quantity.cores(7.9), quantity.binary_bytes(1023 * 1024 ** 2)) == \
            ("1,497 cores", "7.9 cores", "1,023 MiB")
    with translation.override("zh-hans"):
        assert (quantity.cores(1497.3), quantity.cores(7.9)) == ("1497 核", "7.9 核")
