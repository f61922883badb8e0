"""Simplified Chinese end to end in Debian's chromium, against a daphne replica, a worker process and the
simulator: a label batch and a drain (preview, options, the live dialog and its errors), and the language switched
mid-session without losing what the page holds."""

import re

import pytest

from tests.fixtures.browser import ARGS, ARTIFACTS, CHROMIUM, browser_user
from tests.fixtures.kube import start_kube_sim

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture(scope="module")
def zh_sim(tmp_path_factory):
    sim = start_kube_sim(tmp_path_factory.mktemp("zh_sim"), nodes=40, seed=7)
    yield sim
    sim.stop()


@pytest.fixture
def site(zh_sim, daphne_replicas, worker_processes, collected_static_dir):
    from nodes.roles import ensure_groups
    from nodes.services import import_cluster

    ensure_groups()
    cluster = import_cluster("sim", zh_sim.kubeconfig_text, simulated=True)
    browser_user("ops", "operator")
    browser_user("boss", "admin")
    replica = daphne_replicas("web", KUBENODE_DATA_DIR=collected_static_dir, PROGRESS_NOTIFY_TYPE="postgres")
    worker_processes("worker")
    return cluster, replica.http_url


@pytest.fixture
def zh_page(request, monkeypatch):
    """A chromium page whose browser asks for Chinese (Accept-Language zh-CN), in Shanghai's time zone."""
    from playwright.sync_api import sync_playwright

    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "1")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        context = browser.new_context(viewport={"width": 1400, "height": 1000}, locale="zh-CN",
                                      timezone_id="Asia/Shanghai")
        page = context.new_page()
        page.set_default_timeout(30_000)
        yield page
        if getattr(request.node, "rep_call", None) is not None and request.node.rep_call.failed:
            ARTIFACTS.mkdir(exist_ok=True)
            stem = ARTIFACTS / re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.nodeid)
            page.screenshot(path=f"{stem}.png", full_page=True)
        browser.close()


def login_zh(page, url, user):
    page.goto(f"{url}/login/")
    assert page.locator("html").get_attribute("lang") == "zh-hans"
    page.get_by_label("用户名").fill(user)
    page.get_by_label("密码").fill("secret-pw")
    with page.expect_navigation():
        page.get_by_role("button", name="登录").click()
    assert "/login/" not in page.url


def submit(page, name):
    with page.expect_navigation():
        page.get_by_role("button", name=name).click()


def final_word(page, word, timeout=60_000):
    page.wait_for_function(
        "(w) => { const s = document.querySelector('.kn-progress-status'); return s && s.textContent === w; }",
        arg=word, timeout=timeout)


def test_a_label_batch_in_chinese_from_the_list_to_the_live_dialog_and_its_errors(site, zh_page):
    cluster, url = site
    from nodes import services

    services.run_node_action(cluster, "worker-0006", "taint", {"taints": [{"key": "flow", "effect": "NoSchedule"}]},
                             user="setup")
    page = zh_page
    login_zh(page, url, "ops")
    page.goto(f"{url}/clusters/sim/nodes/?q=worker-000")
    assert page.locator("h1").text_content() == "sim 的节点"
    page.get_by_label("选择 worker-0003").check()
    page.get_by_label("选择 worker-0004").check()
    assert page.locator("#selected-count").text_content() == "已选择 2 个"
    page.get_by_label("操作", exact=True).select_option("label")
    page.get_by_label("要设置的标签").fill("tier=gold")
    submit(page, "预览……")
    assert page.locator("h1").text_content() == "打标签 sim 的 2 个节点"
    assert "tier: （无） → gold" in page.locator("#diff").text_content()
    submit(page, "对 2 个节点执行打标签")
    final_word(page, "已完成")
    dialog = page.locator(".kn-progress")
    assert "成功 2，失败 0" in dialog.locator(".kn-progress-counts").text_content()
    assert "：成功" in dialog.locator(".kn-node-succeeded").first.text_content()
    assert dialog.locator(".kn-progress-details").text_content() == "此批量任务的详情"
    # errors: one node has the taint, one has not; the error is the worker's, in this user's language
    page.goto(f"{url}/clusters/sim/nodes/?q=worker-000")
    page.get_by_label("选择 worker-0006").check()
    page.get_by_label("选择 worker-0007").check()
    page.get_by_label("操作", exact=True).select_option("untaint")
    page.get_by_label("要移除的污点").fill("flow")
    submit(page, "预览……")
    submit(page, "对 2 个节点执行移除污点")
    final_word(page, "已完成，1 个失败")
    failed = dialog.locator(".kn-node-failed").text_content()
    assert failed.startswith("worker-0007：失败 — ") and "节点 worker-0007 上没有污点 flow" in failed, failed
    # the task page says it in Chinese too, with the time in the browser's zone and the ISO time on hover
    with page.expect_navigation():
        dialog.locator(".kn-progress-details").click()
    assert page.locator("h1").text_content().startswith("移除污点 sim 的 2 个节点 —")
    when = page.locator("#kn-timeline time").first
    assert re.fullmatch(r"\d{4}年\d{1,2}月\d{1,2}日 \d\d:\d\d:\d\d CST", when.text_content()), when.text_content()
    assert when.get_attribute("title") == when.get_attribute("datetime")


def test_a_drain_preview_in_chinese_with_its_options_and_failures(site, zh_page):
    cluster, url = site
    from nodes.services import drain_plan

    plans = drain_plan(cluster, [f"worker-{i:04d}" for i in range(20, 38)], {"delete_emptydir_data": True})
    blocked = next(p for p in plans if p["blocked"] and all(b["reason"].startswith("PodDisruptionBudget")
                                                              for b in p["blocked"]))["node"]
    unmanaged = next(p["node"] for p in drain_plan(cluster, [f"worker-{i:04d}" for i in range(0, 40)], {})
                     if any("(use force)" in b["reason"] for b in p["blocked"]))
    page = zh_page
    login_zh(page, url, "boss")
    page.goto(f"{url}/clusters/sim/nodes/action/?action=drain&node={unmanaged}")
    assert page.locator("#plan-heading").text_content() == "腾空预览"
    summary = page.locator("#drain-summary").text_content()
    assert "1 个节点中有 1 个无法腾空" in summary and "不受控制器管理 （勾选“强制（无控制器管理的 Pod）”）" in summary
    assert page.get_by_label("忽略 DaemonSet").is_checked()
    submit(page, "勾选“强制（无控制器管理的 Pod）”并重新预览")
    assert page.get_by_label("强制（无控制器管理的 Pod）").is_checked()
    # a PodDisruptionBudget holds one node: run anyway, its error comes back in Chinese, Kubernetes' words kept
    page.goto(f"{url}/clusters/sim/nodes/action/?action=drain&node={blocked}&delete_emptydir_data=on&force=on"
              "&timeout=2")
    assert "PodDisruptionBudget" in page.locator("#drain-summary").text_content()
    page.get_by_label(re.compile("^仍然执行")).check()
    submit(page, "对 1 个节点执行腾空")
    final_word(page, "失败")
    failed = page.locator(".kn-node-failed").text_content()
    assert f"{blocked}：失败 — " in failed and "腾空在 2 秒后超时" in failed and "节点保持封锁" in failed, failed


def test_switching_language_mid_session_keeps_the_page_as_it_was(site, zh_page):
    from kubenode.models import Preference

    cluster, url = site
    page = zh_page
    login_zh(page, url, "ops")
    page.goto(f"{url}/clusters/sim/nodes/?q=worker-001&sort=-name")
    page.get_by_label("选择 worker-0012").check()
    page.get_by_label("选择 worker-0015").check()
    page.get_by_label("操作", exact=True).select_option("taint")
    page.get_by_label("要添加的污点").fill("maint=yes:NoSchedule")
    with page.expect_navigation():
        page.locator("#kn-language-select").select_option("en")
    assert page.url == f"{url}/clusters/sim/nodes/?q=worker-001&sort=-name"
    assert page.locator("h1").text_content() == "Nodes of sim"
    page.wait_for_function("() => document.getElementById('selected-count').textContent === '2 selected'")
    assert page.get_by_label("Select worker-0012").is_checked() and page.get_by_label("Select worker-0015").is_checked()
    assert page.get_by_label("Action", exact=True).input_value() == "taint"
    assert page.get_by_label("Taints to add").input_value() == "maint=yes:NoSchedule"
    assert Preference.objects.get(user__username="ops").language == "en"
    # and back, by the button of the switcher's form
    page.locator("#kn-language-select").evaluate("(s) => { s.value = 'zh-hans'; }")
    with page.expect_navigation():
        page.get_by_role("button", name="Switch").click()
    assert page.locator("h1").text_content() == "sim 的节点"
    page.wait_for_function("() => document.getElementById('selected-count').textContent === '已选择 2 个'")
    assert page.get_by_label("要添加的污点").input_value() == "maint=yes:NoSchedule"
    assert Preference.objects.get(user__username="ops").language == "zh-hans"
