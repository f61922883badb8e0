"""The batch flow in Debian's chromium against a real daphne replica and the simulated cluster: the batch form, the
preview, the progress dialog, the task page, templates, the audit rows and a node's own actions — at 1,400 px and
390 px, by keyboard where it applies, each page checked with axe-core.

One simulator serves the module (each test acts on nodes of its own); each test has its own replica and database.
"""
import re

import pytest
from django.contrib.auth.models import User

from tests.fixtures.axe import check_accessibility
from tests.fixtures.browser import ARTIFACTS, browser_user, login
from tests.fixtures.kube import start_kube_sim

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
NARROW = {"width": 390, "height": 844}
WIDE = {"width": 1400, "height": 1000}
WHEN = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$")
# contrast of an element's text against the background it is drawn on (WCAG's formula)
CONTRAST = """(el) => {
  const rgb = (c) => c.match(/[\\d.]+/g).slice(0, 4).map(Number);
  const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
  const lum = ([r, g, b]) => 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
  let bg = el, c;
  while (bg && ((c = rgb(getComputedStyle(bg).backgroundColor)).length === 4 && c[3] === 0)) bg = bg.parentElement;
  const back = bg ? rgb(getComputedStyle(bg).backgroundColor) : [255, 255, 255];
  const a = lum(rgb(getComputedStyle(el).color)), b = lum(back);
  return (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
}"""


@pytest.fixture(scope="module")
def flow_sim(tmp_path_factory):
    sim = start_kube_sim(tmp_path_factory.mktemp("flow_sim"), nodes=40, seed=7)
    yield sim
    sim.stop()




@pytest.fixture
def site(flow_sim, daphne_replicas, worker_processes, collected_static_dir):
    from nodes.roles import ensure_groups
    from nodes.services import import_cluster

    ensure_groups()  # a transactional test's flush removed the migration's groups
    cluster = import_cluster("sim", flow_sim.kubeconfig_text, simulated=True)
    cluster.sim = flow_sim
    browser_user("ops", "operator")
    browser_user("boss", "admin")
    replica = daphne_replicas("web", KUBENODE_DATA_DIR=collected_static_dir, PROGRESS_NOTIFY_TYPE="postgres")
    worker_processes("worker")  # batches run in a worker process, as in production
    return cluster, replica.http_url


def signed_in(site, page, user="ops", viewport=WIDE):
    """The site's cluster and URL, with `page` at `viewport` signed in as `user`."""
    cluster, url = site
    page.set_viewport_size(viewport)
    login(page, url, user, "secret-pw")
    return cluster, url


def submit(page, button):
    """Press a button that leaves the page, and wait for the next one."""
    with page.expect_navigation():
        page.get_by_role("button", name=button).click()


def shot(page, name):
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"flow-{name}.png"), full_page=True)


def final_word(page, word, timeout=60_000):
    page.wait_for_function(
        "(w) => { const s = document.querySelector('.kn-progress-status'); return s && s.textContent === w; }",
        arg=word, timeout=timeout)


def post_batch(page, body: str) -> str:
    """POST a confirmed batch as the page's form would (CSRF from the cookie); the URL it leads to."""
    return page.evaluate(
        "async (body) => { const t = document.cookie.match(/csrftoken=([^;]+)/)[1];"
        " const r = await fetch(location.origin + '/clusters/sim/nodes/action/', {method: 'POST', body: body,"
        " headers: {'X-CSRFToken': t, 'Content-Type': 'application/x-www-form-urlencoded'}}); return r.url; }", body)


def no_horizontal_scroll(page):
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1"), \
        page.evaluate("document.documentElement.scrollWidth")


# ---- defects 1, 2: the dialog's lines are readable and it ends with the task's own word -----------------------

def test_dialog_lines_are_readable_and_it_says_how_the_batch_ended(site, browser_page):
    cluster, url = site
    from nodes import batches, services
    from progress.queue import fail_task
    from progress.writer import Event, write_events

    services.run_node_action(cluster, "worker-0021", "taint", {"taints": [{"key": "flow", "effect": "NoSchedule"}]},
                             user="setup")
    page = browser_page
    login(page, url, "ops", "secret-pw")
    # one node has the taint, one has not: completed with 1 failure
    landed = post_batch(page, "action=untaint&taints=flow&node=worker-0021&node=worker-0022&confirm=yes")
    page.goto(landed)
    final_word(page, "completed with 1 failure")
    ok, bad = page.locator(".kn-node-succeeded"), page.locator(".kn-node-failed")
    assert ok.count() == 1 and bad.count() == 1
    assert ok.evaluate(CONTRAST) >= 4.5 and bad.evaluate(CONTRAST) >= 4.5
    assert "worker-0022: failed — taint flow not found" in bad.text_content()
    assert ok.locator("a").get_attribute("href") == "/clusters/sim/nodes/worker-0021/"
    shot(page, "dialog-with-failures")
    check_accessibility(page, include=".kn-progress")
    # every node failed: "failed", as the task list says
    landed = post_batch(page, "action=untaint&taints=flow&node=worker-0022&node=worker-0023&confirm=yes")
    page.goto(landed)
    final_word(page, "failed")
    page.goto(f"{url}/progress/tasks/")
    assert page.locator("tbody tr").first.locator(".kn-status").text_content() == "failed"
    # cancelled before it started, a batch that could not run, and one interrupted (as older releases ended a
    # batch whose replica died): the task's words
    ops = User.objects.get(username="ops")
    for ending, word in (("cancelled", "cancelled"), ("error", "failed"), ("interrupted", "interrupted")):
        task = batches.start_batch(ops, cluster, "cordon", {}, names=["worker-0024"], queued=False)
        if ending == "cancelled":
            batches.cancel_batch(task, ops)
        elif ending == "error":
            fail_task(task.pk, "the cluster is gone")
        else:
            write_events(task.pk, [Event(type="interrupted", error="replica stopped")], final_status="interrupted")
        page.goto(f"{url}/clusters/sim/nodes/?task={task.pk}")
        final_word(page, word)
        page.goto(f"{url}/progress/tasks/{task.pk}/")
        assert page.locator("#kn-task-status").text_content() == word
    page.set_viewport_size(NARROW)
    page.goto(f"{url}/clusters/sim/nodes/?task={task.pk}")
    final_word(page, "interrupted")
    box = page.locator(".kn-progress").bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= 390


# ---- defect 3: back to the same filtered view, refreshed, with everything kept -------------------------------

@pytest.mark.parametrize("viewport", [WIDE, NARROW], ids=["1400", "390"])
def test_cancel_back_and_run_return_to_the_same_filtered_view_refreshed(site, browser_page, viewport):
    cluster, url = site
    from nodes.selectors import list_nodes

    ready = [n.name for n in list_nodes(cluster) if n.name.startswith("worker-001") and n.status == "Ready"]
    nodes = ready[:2] if viewport is WIDE else ready[2:4]
    page = browser_page
    page.set_viewport_size(viewport)
    login(page, url, "ops", "secret-pw")
    page.goto(f"{url}/clusters/sim/nodes/?q=worker-001&selector=kubernetes.io%2Fos%3Dlinux&status=Ready")
    for name in nodes:
        page.get_by_label(f"Select {name}").check()
    page.get_by_label("Action", exact=True).select_option("taint")
    page.get_by_label("Taints to add").fill("flow=back:Sometimes")
    submit(page, "Preview…")
    assert "invalid effect 'Sometimes'" in page.locator("#id_taints_error").text_content()
    if viewport is NARROW:
        no_horizontal_scroll(page)
    check_accessibility(page)
    with page.expect_navigation():
        page.get_by_role("link", name="Back").click()  # the error page's Back

    def kept(taints):
        assert page.get_by_label("Name", exact=True).input_value() == "worker-001"
        assert page.get_by_label("Label selector").input_value() == "kubernetes.io/os=linux"
        assert page.locator("#status").input_value() == "Ready"
        assert page.get_by_label("Action", exact=True).input_value() == "taint"
        assert page.get_by_label("Taints to add").input_value() == taints
        page.wait_for_function("() => document.getElementById('selected-count').textContent === '2 selected'")
        assert all(page.get_by_label(f"Select {n}").is_checked() for n in nodes)

    kept("flow=back:Sometimes")
    page.get_by_label("Taints to add").fill("flow=back:NoSchedule")
    submit(page, "Preview…")
    assert page.locator("#diff tbody tr").count() == 2
    with page.expect_navigation():
        page.get_by_role("link", name="Cancel").click()  # the preview's Cancel
    kept("flow=back:NoSchedule")
    submit(page, "Preview…")
    submit(page, re.compile("^Run taint"))
    final_word(page, "completed")
    kept("flow=back:NoSchedule")
    # the list was read again: the new taint shows without a reload
    for name in nodes:
        page.wait_for_function(
            "(n) => { const b = document.querySelector(`input[value='${n}']`); const tr = b && b.closest('tr');"
            " return tr && tr.textContent.includes('flow=back:NoSchedule'); }", arg=name)
    shot(page, f"list-after-batch-{viewport['width']}")


# ---- defect 4 (and the drain options): a drain preview says what will not drain, options change there --------

def test_drain_preview_says_what_will_not_drain_and_options_change_there(site, browser_page):
    cluster, url = site
    from nodes.services import drain_plan
    from progress.models import ProgressTask

    plans = drain_plan(cluster, [f"worker-{i:04d}" for i in range(20, 38)], {})
    blocked = next(p for p in plans if p["blocked"] and all(b["reason"].startswith("PodDisruptionBudget")
                                                              for b in p["blocked"]))["node"]
    free = next(p for p in plans if p["ok"])["node"]
    page = browser_page
    login(page, url, "boss", "secret-pw")
    page.goto(f"{url}/clusters/sim/nodes/action/?action=drain&node={blocked}&node={free}")
    summary = page.locator("#drain-summary")
    assert "1 of 2 nodes will not drain" in summary.text_content()
    assert blocked in summary.text_content() and "PodDisruptionBudget" in summary.text_content()
    assert page.get_by_label("ignore DaemonSets").is_checked()  # the one default
    shot(page, "drain-preview-blocked")
    check_accessibility(page)
    # Run without saying so: nothing runs
    page.get_by_label("Reason").fill("kernel 6.8")
    submit(page, "Preview again")
    submit(page, re.compile("^Run drain"))
    assert "will not drain as things stand" in page.locator("#accept_blocked_error").text_content()
    assert not ProgressTask.objects.exists()
    # change an option on the preview and preview again, by keyboard
    page.get_by_label("disable eviction (delete)").focus()
    page.keyboard.press("Space")
    page.get_by_label("Timeout (s)", exact=True).fill("20")
    page.get_by_role("button", name="Preview again").focus()
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert "All 2 previewed nodes can drain" in page.locator("#drain-summary").text_content()
    assert page.get_by_label("disable eviction (delete)").is_checked()
    assert page.get_by_label("Reason").input_value() == "kernel 6.8"
    page.set_viewport_size(NARROW)
    no_horizontal_scroll(page)
    check_accessibility(page)
    shot(page, "drain-preview-narrow")


def test_a_failed_drain_is_retried_through_the_same_preview(site, browser_page):
    cluster, url = site
    from nodes.services import drain_plan
    from progress.models import ProgressTask

    plans = drain_plan(cluster, [f"worker-{i:04d}" for i in range(1, 11)], {"delete_emptydir_data": True,
                                                                            "force": True})
    blocked = next(p for p in plans if p["blocked"] and all(b["reason"].startswith("PodDisruptionBudget")
                                                              for b in p["blocked"]))["node"]
    page = browser_page
    login(page, url, "boss", "secret-pw")
    page.goto(f"{url}/clusters/sim/nodes/action/?action=drain&node={blocked}&timeout=2&delete_emptydir_data=on"
              "&force=on")
    page.get_by_label(re.compile("^Run anyway")).check()
    submit(page, re.compile("^Run drain"))
    final_word(page, "failed")
    task = ProgressTask.objects.get()
    page.goto(f"{url}/progress/tasks/{task.pk}/")
    with page.expect_navigation():
        page.get_by_role("link", name=re.compile("^Retry 1 failed")).click()
    assert page.locator("h1").text_content().startswith(f"Retry: Drain {blocked}")
    assert page.get_by_label("Timeout (s)", exact=True).input_value() == "2"
    assert "will not drain" in page.locator("#drain-summary").text_content()
    check_accessibility(page)
    # the retry too: the options change on its preview; as it was, it runs as a retry of the batch
    page.get_by_label(re.compile("^Run anyway")).check()
    submit(page, re.compile("^Run drain"))
    retry = ProgressTask.objects.exclude(pk=task.pk).get()
    assert retry.retry_of_id == task.pk and page.url.endswith(f"/progress/tasks/{retry.pk}/")


# ---- defects 5, 6, 8: the error page counts the selection; one taint syntax; the concurrency input -------------

@pytest.mark.parametrize("viewport", [WIDE, NARROW], ids=["1400", "390"])
def test_error_page_counts_the_selection_and_names_the_wrong_part(site, browser_page, viewport):
    page = browser_page
    cluster, url = signed_in(site, page, "ops", viewport)
    page.goto(f"{url}/clusters/sim/nodes/?q=worker-000")
    page.get_by_label("Select worker-0005").check()
    page.get_by_label("Select worker-0006").check()
    page.get_by_label("Action", exact=True).select_option("taint")
    page.get_by_label("Taints to add").fill("foo=bar:Sometimes, maint=yes")
    submit(page, "Preview…")
    assert page.locator("h1").text_content() == "Taint 2 nodes of sim"
    errors = page.locator("#id_taints_error li").all_text_contents()
    assert errors == ["'foo=bar:Sometimes': invalid effect 'Sometimes': must be NoSchedule, PreferNoSchedule or "
                      "NoExecute",
                      "'maint=yes': a taint needs an effect: write maint=yes:Effect with Effect NoSchedule, "
                      "PreferNoSchedule or NoExecute"]
    field = page.get_by_label("Taints to add")
    assert field.get_attribute("aria-invalid") == "true" and "id_taints_error" in field.get_attribute(
        "aria-describedby")
    assert "Nothing was changed" in page.locator("#kn-errors").text_content()
    shot(page, f"error-page-{viewport['width']}")
    check_accessibility(page)
    # corrected: the preview, and the concurrency input is an input, with its limit beside it
    field.fill("foo=bar:NoSchedule")
    submit(page, "Preview again")
    concurrency = page.get_by_label("Concurrency")
    run = page.get_by_role("button", name=re.compile("^Run taint"))
    style = "(e) => { const s = getComputedStyle(e); return [s.backgroundColor, s.color, s.borderTopStyle, s.cursor]; }"
    assert concurrency.evaluate(style) != run.evaluate(style)
    assert concurrency.evaluate(style)[2] != "none" and concurrency.evaluate(style)[3] != "pointer"
    assert concurrency.evaluate(CONTRAST) >= 4.5
    concurrency.fill("99")
    with page.expect_navigation():
        run.click()
    assert page.locator("#id_concurrency_error").text_content() == \
        "Concurrency must be a whole number from 1 to 20; 99 is not"
    check_accessibility(page)


# ---- defect 7: the template form shows every error beside its field -------------------------------------------

@pytest.mark.parametrize("viewport", [WIDE, NARROW], ids=["1400", "390"])
def test_template_form_shows_every_error_beside_its_field(site, browser_page, viewport):
    page = browser_page
    cluster, url = signed_in(site, page, "ops", viewport)
    page.goto(f"{url}/templates/add/")
    page.get_by_label("Name").fill("pool")
    page.get_by_label("Labels to set").fill("bad key=x, tier")
    page.get_by_label("Label keys to remove").fill("a=b")
    page.get_by_label("Taints to add").fill("foo=bar:Sometimes")
    submit(page, "Save")
    for field, count in (("labels_text", 2), ("remove_text", 1), ("taints_text", 1)):
        errors = page.locator(f"#id_{field}_error li")
        assert errors.count() == count, field
        assert f"id_{field}_error" in page.locator(f"#id_{field}").get_attribute("aria-describedby")
    assert "invalid effect 'Sometimes'" in page.locator("#id_taints_text_error").text_content()
    shot(page, f"template-errors-{viewport['width']}")
    check_accessibility(page)
    page.get_by_label("Labels to set").fill("pool=batch")
    page.get_by_label("Label keys to remove").fill("")
    page.get_by_label("Taints to add").fill("pool=batch:PreferNoSchedule")
    submit(page, "Save")
    assert "pool=batch:PreferNoSchedule" in page.locator("#template_list").text_content()
    check_accessibility(page)


# ---- defect 9: the task page -------------------------------------------------------------------------------------

def test_task_page_is_readable_styled_linked_and_live_after_cancel(site, kube_sim, browser_page):
    cluster, url = site
    from nodes.services import import_cluster
    from progress.models import ProgressTask

    slow = kube_sim(nodes=12, latency_ms=300)
    import_cluster("slow", slow.kubeconfig_text, simulated=True)
    page = browser_page
    login(page, url, "ops", "secret-pw")
    landed = page.evaluate(
        "async () => { const t = document.cookie.match(/csrftoken=([^;]+)/)[1];"
        " const r = await fetch('/clusters/slow/nodes/action/', {method: 'POST', headers: {'X-CSRFToken': t,"
        " 'Content-Type': 'application/x-www-form-urlencoded'}, body: 'action=label&set=team%3Dblue%2Ctier%3Dgold"
        "&select_all=on&concurrency=1&confirm=yes'}); return r.url; }")
    task = ProgressTask.objects.get()
    page.goto(f"{url}/progress/tasks/{task.pk}/")
    params = page.locator("#kn-params").inner_text()
    assert "Labels to set\nteam=blue, tier=gold" in params and "{" not in params
    # the buttons are the admin's, side by side
    buttons = page.locator("#kn-task-buttons .button")
    boxes = [b.bounding_box() for b in buttons.all()]
    assert len(boxes) >= 2 and len({round(b["y"]) for b in boxes}) == 1
    assert all(b.evaluate("e => getComputedStyle(e).paddingTop") == "10px" for b in buttons.all())
    link = page.locator("#result_list tbody th a").first
    assert re.fullmatch(r"/clusters/slow/nodes/[\w.-]+/", link.get_attribute("href"))
    # live: counts move without a reload; after Cancel the page says so, then how it ended
    page.wait_for_function("() => /^[1-9]\\d* of 12 done/.test(document.getElementById('kn-task-counts')"
                           ".textContent)")
    submit(page, "Cancel batch")
    page.wait_for_function("() => document.getElementById('kn-task-status').textContent === 'cancelled'",
                           timeout=60_000)
    page.wait_for_selector("#kn-task-buttons a.button >> text=/^Retry/")
    assert "Cancel batch" not in page.locator("#kn-task-buttons").text_content()
    task.refresh_from_db()
    assert task.status == "cancelled" and f"task={task.pk}" in landed and 0 < task.done < 12
    # one timestamp format on the task page, the task list and the audit log
    times = page.locator("time").all_text_contents()
    page.goto(f"{url}/progress/tasks/")
    times += page.locator("time").all_text_contents()
    assert page.locator("tbody tr").first.locator(".kn-status").text_content() == "cancelled"
    check_accessibility(page)
    page.goto(f"{url}/audit/")
    times += page.locator("time").all_text_contents()
    check_accessibility(page)
    assert times and all(WHEN.match(t) for t in times), times
    page.goto(f"{url}/progress/tasks/{task.pk}/")
    shot(page, "task-detail")
    check_accessibility(page)
    page.set_viewport_size(NARROW)
    no_horizontal_scroll(page)
    check_accessibility(page)


# ---- defect 10: audit rows ---------------------------------------------------------------------------------------

def test_audit_rows_show_reason_error_change_and_links(site, browser_page):
    cluster, url = site
    page = browser_page
    login(page, url, "ops", "secret-pw")
    page.goto(post_batch(page, "action=cordon&reason=rack+7&node=worker-0026&confirm=yes"))
    final_word(page, "completed")
    page.goto(post_batch(page, "action=untaint&taints=nothing-here&node=worker-0026&confirm=yes"))
    final_word(page, "failed")
    for where in (f"{url}/audit/?node=worker-0026", f"{url}/clusters/sim/nodes/worker-0026/"):
        for viewport in (WIDE, NARROW):
            page.set_viewport_size(viewport)
            page.goto(where)
            table = page.locator("table.kn-audit")
            cordon = table.locator("tbody tr", has_text="cordon")
            assert cordon.locator(".kn-reason").text_content() == "rack 7"
            assert cordon.locator(".kn-error").text_content() == ""
            assert cordon.locator(".kn-change").text_content() == "schedulable → cordoned"
            failed = table.locator("tbody tr", has_text="untaint")
            assert failed.locator(".kn-reason").text_content() == "—"
            assert "taint nothing-here not found" in failed.locator(".kn-error").text_content()
            assert failed.get_by_role("link", name=re.compile("^batch ")).get_attribute("href").startswith(
                "/progress/tasks/")
            if "/audit/" in where:
                assert cordon.get_by_role("link", name="worker-0026").get_attribute("href") == \
                    "/clusters/sim/nodes/worker-0026/"
            check_accessibility(page, include="table.kn-audit")
    shot(page, "audit-node-narrow")


# ---- defect 12: the dialog and the keyboard --------------------------------------------------------------------

@pytest.mark.parametrize("viewport", [WIDE, NARROW], ids=["1400", "390"])
def test_dialog_takes_the_focus_escape_closes_it_and_counts_are_announced(site, browser_page, viewport):
    cluster, url = site
    page = browser_page
    page.set_viewport_size(viewport)
    node = "worker-0015" if viewport is WIDE else "worker-0016"
    login(page, url, "ops", "secret-pw")
    page.goto(f"{url}/clusters/sim/nodes/?q={node}")
    # keyboard only: select the node, choose cordon, type a reason, preview, run
    page.get_by_label(f"Select {node}").focus()
    page.keyboard.press("Space")
    page.get_by_label("Action", exact=True).focus()
    page.keyboard.press("c")  # cordon: the first action starting with c
    assert page.get_by_label("Action", exact=True).input_value() == "cordon"
    page.keyboard.press("Tab")
    page.keyboard.type("rack move")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.locator("h1").text_content() == f"Cordon {node} of sim"
    page.get_by_role("button", name=re.compile("^Run cordon")).focus()
    with page.expect_navigation():
        page.keyboard.press("Enter")
    dialog = page.get_by_role("dialog", name="Batch progress")
    dialog.wait_for()
    assert page.evaluate("document.activeElement.closest('.kn-progress') !== null")
    assert page.evaluate("document.activeElement.textContent") == "Cordon 1 node of sim"
    box = dialog.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= viewport["width"]
    counts, announce = page.locator(".kn-progress-counts"), page.locator(".kn-progress-announce")
    assert announce.get_attribute("aria-live") == "polite" and announce.get_attribute("aria-atomic") == "true"
    assert page.locator(".kn-progress-status").get_attribute("role") == "status"
    final_word(page, "completed")
    assert counts.text_content() == announce.text_content() == "1 / 1 — 0 remaining, succeeded 1, failed 0"
    check_accessibility(page, include=".kn-progress")
    page.keyboard.press("Escape")
    assert dialog.count() == 0
    assert page.evaluate("document.activeElement.tagName") == "H1"


# ---- defect 13: one batch applies a whole template --------------------------------------------------------------

def test_one_batch_applies_a_whole_template_and_one_takes_it_off(site, browser_page):
    cluster, url = site
    from nodes.models import AuditEntry, LabelTaintTemplate
    from progress.models import ProgressTask

    LabelTaintTemplate.objects.create(name="batch-pool", labels={"kn-pool": "batch"},
                                      taints=[{"key": "kn-pool", "value": "batch", "effect": "PreferNoSchedule"}])
    page = browser_page
    login(page, url, "ops", "secret-pw")
    page.goto(f"{url}/clusters/sim/nodes/?q=worker-0027")
    page.get_by_label("Select worker-0027").check()
    page.get_by_label("Action", exact=True).select_option("label")
    page.get_by_label("Apply template").select_option(label="batch-pool")
    submit(page, "Preview…")
    diff = page.locator("#diff").text_content()
    assert "kn-pool: (none) → batch" in diff
    assert "taint kn-pool:PreferNoSchedule: (none) → kn-pool=batch:PreferNoSchedule" in diff
    submit(page, re.compile("^Run label"))
    final_word(page, "completed")
    assert ProgressTask.objects.count() == 1
    page.goto(f"{url}/clusters/sim/nodes/worker-0027/")
    assert "kn-pool=batch" in page.locator("#labels").text_content()
    assert "kn-pool=batch:PreferNoSchedule" in page.locator("#taints").text_content()
    entry = AuditEntry.objects.get(node="worker-0027", action="label")
    assert entry.after["labels"] == {"kn-pool": "batch"} and "kn-pool=batch:PreferNoSchedule" in entry.after["taints"]
    # unlabel with the template takes both off, in one batch again
    page.goto(f"{url}/clusters/sim/nodes/?q=worker-0027")
    page.get_by_label("Select worker-0027").check()
    page.get_by_label("Action", exact=True).select_option("unlabel")
    page.get_by_label("Apply template").select_option(label="batch-pool")
    submit(page, "Preview…")
    submit(page, re.compile("^Run unlabel"))
    final_word(page, "completed")
    assert ProgressTask.objects.count() == 2
    page.goto(f"{url}/clusters/sim/nodes/worker-0027/")
    assert "kn-pool" not in page.locator("#labels").text_content() + page.locator("#taints").text_content()


# ---- defect 14: an invalid selector ------------------------------------------------------------------------------

def test_an_invalid_selector_says_so_once_and_keeps_the_filters(site, browser_page):
    cluster, url = site
    page = browser_page
    login(page, url, "ops", "secret-pw")
    page.goto(f"{url}/clusters/sim/nodes/?selector=a+in+((&role=worker")
    message = page.locator(".messagelist .error").text_content()
    assert message.startswith("Invalid label selector 'a in ((':")
    assert message.lower().count("invalid label selector") == 1
    assert page.locator("#select_all").count() == 0  # no "select all 0 matching"
    assert "Fix the filter" in page.locator("#kn-batch").text_content()
    assert page.locator("#role").input_value() == "worker"
    assert page.locator("#role option").count() > 2  # the cluster's roles, not only "any"
    selector = page.get_by_label("Label selector")
    assert selector.get_attribute("aria-invalid") == "true"
    shot(page, "invalid-selector")


# ---- actions where the node is ----------------------------------------------------------------------------------

def test_cordon_from_a_row_menu_by_keyboard(site, browser_page):
    cluster, url = site
    page = browser_page
    login(page, url, "ops", "secret-pw")
    page.goto(f"{url}/clusters/sim/nodes/?q=worker-003")
    menu = page.get_by_label("Actions on worker-0031")
    menu.focus()
    page.keyboard.press("Enter")  # opens the menu
    page.get_by_role("link", name="Cordon…").first.focus()
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.locator("h1").text_content() == "Cordon worker-0031 of sim"
    assert "schedulable: yes → no" in page.locator("#diff").text_content()
    page.get_by_label("Reason").fill("disk check")
    submit(page, "Preview again")
    submit(page, re.compile("^Run cordon"))
    assert "q=worker-003" in page.url
    final_word(page, "completed")
    row = page.locator("#result_list tbody tr", has=page.get_by_label("Select worker-0031"))
    page.wait_for_function("() => [...document.querySelectorAll('#result_list tbody tr')].some("
                           "tr => tr.textContent.includes('worker-0031') && tr.textContent.includes('cordoned'))")
    assert row.count() == 1
    check_accessibility(page)


@pytest.mark.parametrize("viewport", [WIDE, NARROW], ids=["1400", "390"])
def test_label_and_taint_from_the_node_page(site, browser_page, viewport):
    cluster, url = site
    page = browser_page
    page.set_viewport_size(viewport)
    node = "worker-0032" if viewport is WIDE else "worker-0033"
    login(page, url, "ops", "secret-pw")
    page.goto(f"{url}/clusters/sim/nodes/{node}/")
    actions = page.get_by_role("navigation", name=f"Actions on {node}")
    assert actions.get_by_role("link", name="Uncordon…").count() == 0  # it is schedulable
    with page.expect_navigation():
        actions.get_by_role("link", name="Label…").click()
    assert page.locator("h1").text_content() == f"Label {node} of sim"
    assert page.get_by_role("button", name=re.compile("^Run")).count() == 0  # nothing typed: nothing to run
    check_accessibility(page)
    if viewport is NARROW:
        no_horizontal_scroll(page)
    page.get_by_label("Labels to set").fill("spot=yes")
    submit(page, "Preview")
    submit(page, re.compile("^Run label"))
    assert page.url.split("?")[0].endswith(f"/clusters/sim/nodes/{node}/")
    final_word(page, "completed")
    page.wait_for_function("() => document.getElementById('labels').textContent.includes('spot=yes')")
    actions = page.get_by_role("navigation", name=f"Actions on {node}")
    with page.expect_navigation():
        actions.get_by_role("link", name="Taint…").click()
    page.get_by_label("Taints to add").fill("spot=yes:NoSchedule")
    submit(page, "Preview")
    submit(page, re.compile("^Run taint"))
    final_word(page, "completed")
    page.wait_for_function("() => document.getElementById('taints').textContent.includes('spot=yes:NoSchedule')")
    shot(page, f"node-page-after-actions-{viewport['width']}")
