"""The operator pages in Debian's chromium against a real daphne replica and the simulated cluster."""
import re

import pytest

from tests.fixtures.browser import ARTIFACTS, browser_user, login

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]




@pytest.fixture
def site(kube_sim, daphne_replicas, worker_processes, collected_static_dir):
    from nodes.services import import_cluster

    def start(nodes=150, latency_ms=0):
        from nodes.roles import ensure_groups

        ensure_groups()  # a transactional test's flush removed the migration's groups
        sim = kube_sim(nodes=nodes, latency_ms=latency_ms)
        cluster = import_cluster("sim", sim.kubeconfig_text, simulated=True)
        cluster.sim = sim
        browser_user("ops", "operator")
        browser_user("boss", "admin")
        browser_user("watcher", "viewer")
        replica = daphne_replicas("web", KUBENODE_DATA_DIR=collected_static_dir, PROGRESS_NOTIFY_TYPE="postgres")
        worker_processes("worker")  # batches run in a worker process, as in production
        return cluster, replica.http_url

    return start


def _counts_done(page, total, succeeded, failed):
    page.wait_for_function(
        "([t, s, f]) => { const c = document.querySelector('.kn-progress-counts');"
        " return c && c.textContent.startsWith(t + ' / ' + t) && c.textContent.includes('succeeded ' + s)"
        " && c.textContent.includes('failed ' + f); }", arg=[total, succeeded, failed], timeout=60_000)


def test_filter_select_100_label_with_preview_then_node_shows_it(site, browser_page):
    cluster, url = site()
    page = browser_page
    login(page, url, "ops", "secret-pw")
    page.goto(f"{url}/clusters/sim/nodes/")
    page.get_by_label("Name", exact=True).fill("worker")
    page.get_by_role("button", name="Filter").click()
    assert re.search(r"\d+ nodes match the filter; page 1 of 2", page.locator(".kn-count").text_content())
    page.get_by_label("Select every node on this page").check()
    assert page.locator("#selected-count").text_content() == "100 selected"
    page.screenshot(path=str(ARTIFACTS / "page-node-list.png"))
    page.get_by_label("Action", exact=True).select_option("label")
    page.get_by_label("Labels to set").fill("team=blue, tier=gold")
    page.get_by_role("button", name="Preview…").click()
    assert page.locator("#diff tbody tr").count() == 100
    assert "team: (none) → blue" in page.locator("#diff").text_content()
    page.get_by_label(re.compile("Concurrency")).fill("4")
    page.get_by_role("button", name="Run label").click()
    dialog = page.get_by_role("dialog", name="Batch progress")
    dialog.wait_for()
    _counts_done(page, 100, 100, 0)
    assert page.locator(".kn-progress-status").text_content() == "completed"
    assert page.locator(".kn-progress-fill").evaluate("e => e.style.width") == "100%"
    assert page.locator(".kn-progress-nodes li").count() == 100
    first = page.locator(".kn-progress-nodes li").first.text_content().split(":")[0]
    page.goto(f"{url}/clusters/sim/nodes/{first}/")
    assert "team=blue" in page.locator("#labels").text_content()
    page.screenshot(path=str(ARTIFACTS / "page-node-detail.png"), full_page=True)
    audit = page.locator("#audit").text_content()
    assert "ops" in audit and "label" in audit and "succeeded" in audit


def test_drain_preview_and_run_reports_pdb_blocked_pod(site, browser_page):
    cluster, url = site(nodes=30)
    from nodes.selectors import get_node, list_nodes

    workers = [n.name for n in list_nodes(cluster) if n.name.startswith("worker") and n.status == "Ready"]
    blocked_node = next(n for n in workers if any(p["name"].startswith("ledger-") for p in get_node(cluster, n).pods))
    page = browser_page
    login(page, url, "boss", "secret-pw")
    page.goto(f"{url}/clusters/sim/nodes/?q={blocked_node}")
    page.get_by_label(f"Select {blocked_node}").check()
    page.get_by_label("Action", exact=True).select_option("drain")
    page.locator("summary", has_text="Drain options").click()
    page.get_by_label("delete emptyDir data").check()
    page.get_by_label("force (unmanaged pods)").check()
    page.get_by_label("Timeout (s)", exact=True).fill("2")
    page.get_by_label("Reason").fill("kernel upgrade")
    page.get_by_role("button", name="Preview…").click()
    blocked = page.locator("#plan .kn-blocked").text_content()
    assert "ledger-" in blocked and "PodDisruptionBudget" in blocked
    page.screenshot(path=str(ARTIFACTS / "page-drain-preview.png"), full_page=True)
    assert "1 of 1 node will not drain" in page.locator("#drain-summary").text_content()
    page.get_by_label(re.compile("^Run anyway")).check()  # the preview said so: run it all the same
    page.get_by_role("button", name="Run drain").click()
    page.get_by_role("dialog", name="Batch progress").wait_for()
    _counts_done(page, 1, 0, 1)
    item = page.locator(".kn-progress-nodes li").first.text_content()
    assert blocked_node in item and "timed out" in item and "blocked" in item and "ledger-" in item


def test_taint_with_effect_on_selected_nodes_then_remove_it_with_the_keyboard(site, browser_page):
    cluster, url = site(nodes=20)
    page = browser_page
    login(page, url, "ops", "secret-pw")
    page.goto(f"{url}/clusters/sim/nodes/?q=worker-000")
    chosen = ["worker-0003", "worker-0004"]
    for name in chosen:
        page.get_by_label(f"Select {name}").check()
    assert page.locator("#selected-count").text_content() == "2 selected"
    page.get_by_label("Action", exact=True).select_option("taint")
    assert page.get_by_label("Labels to set").is_hidden()  # only the taint fields are shown
    page.get_by_label("Taints to add").fill("maint=yes:NoSchedule")
    page.get_by_role("button", name="Preview…").click()
    diff = page.locator("#diff").text_content()
    assert "taint maint:NoSchedule: (none) → maint=yes:NoSchedule" in diff and all(n in diff for n in chosen)
    page.get_by_role("button", name="Run taint").click()
    page.get_by_role("dialog", name="Batch progress").wait_for()
    _counts_done(page, 2, 2, 0)
    page.goto(f"{url}/clusters/sim/nodes/{chosen[0]}/")
    assert "maint=yes:NoSchedule" in page.locator("#taints").text_content()
    assert "taint" in page.locator("#audit").text_content()

    # remove it again, keyboard only: the list filtered by the taint key, every node of the page, untaint
    page.goto(f"{url}/clusters/sim/nodes/?taint=maint")
    assert page.locator("#result_list tbody tr[data-node]").count() == 2
    page.get_by_label("Select every node on this page").press("Space")
    assert page.locator("#selected-count").text_content() == "2 selected"
    page.get_by_label("Action", exact=True).focus()
    page.get_by_label("Action", exact=True).select_option("untaint")
    page.get_by_label("Taints to remove").press_sequentially("maint:NoSchedule")
    with page.expect_navigation():
        page.get_by_role("button", name="Preview…").press("Enter")
    assert "maint=yes:NoSchedule → (removed)" in page.locator("#diff").text_content()
    with page.expect_navigation():
        page.get_by_role("button", name="Run untaint").press("Enter")
    _counts_done(page, 2, 2, 0)
    page.goto(f"{url}/clusters/sim/nodes/{chosen[0]}/")
    assert "maint" not in page.locator("#taints").text_content()
    page.goto(f"{url}/clusters/sim/nodes/?taint=maint")
    assert page.locator("#result_list tbody tr[data-node]").count() == 0


def test_template_managed_then_applied_to_a_selection(site, browser_page):
    cluster, url = site(nodes=20)
    page = browser_page
    login(page, url, "ops", "secret-pw")
    page.goto(f"{url}/clusters/sim/nodes/")
    page.get_by_role("link", name="Templates", exact=True).click()
    page.get_by_role("link", name="Add template").click()
    page.get_by_label("Name").fill("batch-pool")
    page.get_by_label("Labels to set").fill("kn-template=batch")
    page.get_by_label("Taints to add").fill("pool=batch:PreferNoSchedule")
    page.get_by_role("button", name="Save").click()
    assert "pool=batch:PreferNoSchedule" in page.locator("#template_list").text_content()
    page.screenshot(path=str(ARTIFACTS / "page-templates.png"), full_page=True)
    page.goto(f"{url}/clusters/sim/nodes/?q=worker-001")
    page.get_by_label("Select worker-0011").check()
    page.get_by_label("Action", exact=True).select_option("label")
    page.get_by_label("Apply template").select_option(label="batch-pool")
    page.get_by_role("button", name="Preview…").click()
    assert "kn-template: (none) → batch" in page.locator("#diff").text_content()
    page.get_by_role("button", name="Run label").click()
    _counts_done(page, 1, 1, 0)
    page.goto(f"{url}/clusters/sim/nodes/worker-0011/")
    assert "kn-template=batch" in page.locator("#labels").text_content()


def test_reload_mid_batch_resumes_without_gaps(site, browser_page):
    cluster, url = site(nodes=40, latency_ms=150)
    page = browser_page
    login(page, url, "ops", "secret-pw")
    page.goto(f"{url}/clusters/sim/nodes/")
    page.get_by_label("Select every node on this page").check()
    page.get_by_label("Action", exact=True).select_option("cordon")
    page.get_by_label("Reason").fill("rack move")
    page.get_by_role("button", name="Preview…").click()
    page.get_by_label(re.compile("Concurrency")).fill("1")
    page.get_by_role("button", name="Run cordon").click()
    page.wait_for_function("() => { const l = document.querySelectorAll('.kn-progress-nodes li');"
                           " return l.length >= 3; }")
    page.reload()
    page.get_by_role("dialog", name="Batch progress").wait_for()
    _counts_done(page, 40, 40, 0)
    items = page.locator(".kn-progress-nodes li").all_text_contents()
    assert len(items) == 40 and len({i.split(":")[0] for i in items}) == 40
    assert page.locator(".kn-progress-status").text_content() == "completed"


def test_viewer_sees_no_mutation_and_is_refused(site, browser_page):
    cluster, url = site(nodes=20)
    page = browser_page
    login(page, url, "watcher", "secret-pw")
    page.goto(f"{url}/clusters/sim/nodes/")
    assert page.locator("#result_list tbody tr[data-node]").count() == 20
    assert page.get_by_role("button", name="Preview…").count() == 0
    assert page.locator('input[name="node"]').count() == 0
    token = page.evaluate("() => document.cookie.match(/csrftoken=([^;]+)/)[1]")
    status = page.evaluate(
        "async (t) => (await fetch('/clusters/sim/nodes/action/', {method: 'POST', headers: {'X-CSRFToken': t,"
        " 'Content-Type': 'application/x-www-form-urlencoded'}, body: 'action=cordon&node=worker-001&confirm=yes'}))"
        ".status", token)
    assert status == 403
