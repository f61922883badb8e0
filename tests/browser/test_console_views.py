"""The operator console in Debian's chromium against a real daphne replica and the simulated cluster (over TLS, so
kubectl may change it), at 1,400 px and 390 px: the overview, the node lists at a glance (badges, units, usage,
sort by a click, column chooser, page sizes, Age), live pages (kubectl's changes without a reload), the node detail,
clusters managed from the pages, navigation, the favicon — keyboard-only where it applies, every page checked with
axe-core."""

import re
import subprocess

import pytest
import yaml
from django.contrib.auth.hashers import PBKDF2PasswordHasher
from django.contrib.auth.models import Group, User

from tests.fixtures.axe import check_accessibility as assert_accessible
from tests.fixtures.browser import login

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
WIDTHS = [1400, 390]


def _user(name, group=None, staff=False):
    hasher = PBKDF2PasswordHasher()  # the replica runs the real settings (PBKDF2)
    user = User.objects.create(username=name, password=hasher.encode("secret-pw", hasher.salt()), is_staff=staff)
    if group:
        user.groups.add(Group.objects.get(name=group))
    return user


@pytest.fixture
def site(kube_sim, daphne_replicas, collected_static_dir):
    from nodes.roles import ensure_groups
    from nodes.services import check_cluster, import_cluster

    ensure_groups()  # a transactional test's flush removed the migration's groups
    sim = kube_sim(nodes=40, tls=True, simulate_activity=False)
    cluster = import_cluster("demo", sim.kubeconfig_text, simulated=True)
    check_cluster(cluster)
    cluster.sim = sim
    _user("boss", "admin", staff=True)
    _user("watcher", "viewer")
    replica = daphne_replicas("web", KUBENODE_DATA_DIR=collected_static_dir)
    return cluster, replica.http_url


def _sized(page, width):
    page.set_viewport_size({"width": width, "height": 900})


def _fits(page, width):
    assert page.evaluate("document.documentElement.scrollWidth") <= width, "the page is wider than the screen"


def kubectl(sim, *args, stdin=None):
    done = subprocess.run(["kubectl", "--kubeconfig", sim.kubeconfig, *args], capture_output=True, text=True,
                          timeout=60, input=stdin)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.parametrize("width", WIDTHS)
def test_overview_and_node_list_at_a_glance_keyboard_only(site, browser_page, width):
    cluster, url = site
    page = browser_page
    _sized(page, width)
    login(page, url, "watcher", "secret-pw")
    page.goto(f"{url}/")
    assert page.get_by_role("heading", name="Overview").is_visible()
    card = page.locator(".kn-cluster-card")
    assert "40" in card.locator(".kn-big").text_content() and "v1.31.0" in card.text_content()
    assert re.search(r"\d+ cores · requested \d+% · used \d+%", card.text_content())
    assert "simulated" in card.text_content() and "Last check: ok" in " ".join(card.text_content().split())
    _fits(page, width)
    assert_accessible(page)
    # to the cluster's nodes with the keyboard: its name is a link in the card
    page.locator(".kn-cluster-card h2 a").focus()
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.url.endswith("/clusters/demo/nodes/")
    _fits(page, width)  # defect 11: the node list fits a phone
    rows = page.locator("#kn-node-table tbody tr")
    assert rows.count() == 40
    first = rows.first
    assert first.locator(".kn-badge").first.is_visible() and first.locator(".kn-meter").count() == 2
    assert re.search(r"\d+(\.\d)? cores", first.locator(".kn-col-cpu").text_content())
    assert re.search(r"\d+(\.\d)? GiB", first.locator(".kn-col-memory").text_content())
    assert page.locator("#kn-live").get_attribute("data-state") in ("live", "starting")
    assert_accessible(page)
    # sort by status with a click (Enter on the header link): what needs attention first
    page.get_by_role("link", name=re.compile("^Status")).focus()
    with page.expect_navigation():
        page.keyboard.press("Enter")
    statuses = [s.strip() for s in page.locator("#kn-node-table tbody .kn-col-status .kn-badge:first-child")
                .all_text_contents()]
    assert statuses[0] in ("Unknown", "NotReady") and statuses[-1] == "Ready"
    assert page.locator("th.kn-col-status").get_attribute("aria-sort") == "ascending"
    # labels fold behind "+N more", which opens with the keyboard
    more = page.locator(".kn-more summary").first
    more.focus()
    page.keyboard.press("Enter")
    assert page.locator(".kn-more").first.get_attribute("open") is not None
    # the column chooser, keyboard only: hide Labels; remembered after a reload
    page.locator(".kn-columns summary").focus()
    page.keyboard.press("Enter")
    page.get_by_label("Labels", exact=True).focus()
    page.keyboard.press("Space")
    assert page.locator("td.kn-col-labels").first.is_hidden()
    page.reload()
    assert page.locator("td.kn-col-labels").first.is_hidden() and page.locator("td.kn-col-cpu").first.is_visible()
    # page size
    with page.expect_navigation():
        page.get_by_role("link", name="25", exact=True).click()
    assert rows.count() == 25 and "page 1 of 2" in page.locator(".kn-count").text_content()
    _fits(page, width)
    # every node of every cluster, with its Age
    page.goto(f"{url}/nodes/")
    assert re.fullmatch(r"\d+[smhdy]", page.locator("#kn-node-table tbody td.kn-col-age").first.text_content())
    _fits(page, width)
    assert_accessible(page)


@pytest.mark.parametrize("width", WIDTHS)
def test_node_list_and_detail_follow_kubectl_without_a_reload(site, browser_page, width):
    cluster, url = site
    sim = cluster.sim
    page = browser_page
    _sized(page, width)
    login(page, url, "watcher", "secret-pw")
    page.goto(f"{url}/clusters/demo/nodes/?q=worker-000")
    page.wait_for_function("() => document.querySelector('#kn-live').dataset.state === 'live'")
    page.evaluate("() => { window.__sameDocument = true; }")
    row = page.locator('tr[data-node="worker-0003"]')
    assert "cordoned" not in row.locator(".kn-col-status").text_content()
    kubectl(sim, "cordon", "worker-0003")
    kubectl(sim, "label", "node", "worker-0003", "team=blue")
    page.wait_for_function("() => document.querySelector('tr[data-node=\"worker-0003\"] .kn-col-status')"
                           ".textContent.includes('cordoned')", timeout=15_000)
    page.wait_for_function("() => document.querySelector('tr[data-node=\"worker-0003\"] .kn-col-labels')"
                           ".textContent.includes('team=blue')", timeout=15_000)
    counts = page.locator('.kn-status-count[data-status="cordoned"]').text_content()
    assert counts == "1"
    # a node going NotReady (its kubelet stops posting Ready)
    kubectl(sim, "patch", "node", "worker-0004", "--subresource=status", "--type=strategic", "-p",
            '{"status":{"conditions":[{"type":"Ready","status":"False","reason":"KubeletNotReady",'
            '"message":"PLEG is not healthy"}]}}')
    page.wait_for_function("() => document.querySelector('tr[data-node=\"worker-0004\"] .kn-col-status')"
                           ".textContent.includes('NotReady')", timeout=15_000)
    # a node that now matches the filter joins the table (read again with the same filter)
    node = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "worker-0009b"}}
    kubectl(sim, "create", "--validate=false", "-f", "-", stdin=yaml.safe_dump(node))  # the simulator has no OpenAPI
    page.wait_for_selector('tr[data-node="worker-0009b"]', timeout=15_000)
    assert page.evaluate("() => window.__sameDocument") is True  # no reload
    _fits(page, width)
    assert_accessible(page)
    # the node's own page follows it too
    page.goto(f"{url}/clusters/demo/nodes/worker-0003/")
    page.wait_for_function("() => document.querySelector('#kn-live').dataset.state === 'live'")
    assert "team=blue" in page.locator("#labels").text_content()
    kubectl(sim, "uncordon", "worker-0003")
    page.wait_for_function("() => !document.querySelector('#kn-node-main').textContent.includes('Cordoned')",
                           timeout=15_000)
    assert_accessible(page)


@pytest.mark.parametrize("width", WIDTHS)
def test_node_detail_is_worth_opening(site, browser_page, width):
    cluster, url = site
    page = browser_page
    _sized(page, width)
    login(page, url, "boss", "secret-pw")
    kubectl(cluster.sim, "cordon", "worker-0006")
    page.goto(f"{url}/clusters/demo/nodes/worker-0006/")
    main = page.locator("#content-main")
    for text in ("Ubuntu 22.04.4 LTS", "5.15.0-105-generic", "containerd://1.7.13", "InternalIP", "Last transition",
                 "Cordoned", "kube-proxy", "DaemonSet", "NodeNotSchedulable", "Audit history"):
        assert text in main.text_content(), text
    page.locator(".kn-yaml summary").focus()
    page.keyboard.press("Enter")
    assert "kind: Node" in page.locator(".kn-yaml pre").text_content()
    crumbs = page.locator(".breadcrumbs").text_content()
    assert "Overview" in crumbs and "demo" in crumbs and "worker-0006" in crumbs
    _fits(page, width)
    assert_accessible(page)


@pytest.mark.parametrize("width", WIDTHS)
def test_clusters_added_checked_renamed_removed_from_the_pages_keyboard_only(site, browser_page, width):
    cluster, url = site
    page = browser_page
    _sized(page, width)
    login(page, url, "boss", "secret-pw")
    page.goto(f"{url}/clusters/")
    assert "Simulated (kube_sim)" in page.locator("#result_list").text_content()
    assert_accessible(page)
    page.get_by_role("link", name="Add cluster").focus()
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert_accessible(page)
    page.get_by_label("Name").focus()
    page.keyboard.type("second")
    page.get_by_label("…or paste it").fill(cluster.sim.kubeconfig_text)
    page.get_by_label("…or paste it").focus()
    page.keyboard.press("Tab")
    with page.expect_navigation():
        page.get_by_role("button", name="Continue").press("Enter")
    assert cluster.sim.admin_token not in page.content()  # the kubeconfig never comes back to the page
    page.get_by_label("Context").select_option("viewer")
    assert_accessible(page)
    with page.expect_navigation():
        page.get_by_role("button", name="Add cluster").press("Enter")
    assert "Cluster second added" in page.locator(".messagelist").text_content()
    assert "patch nodes: no" in page.locator("#result_list").text_content()
    with page.expect_navigation():
        page.get_by_role("button", name="Check second").press("Enter")
    assert "Cluster second: reachable" in page.locator(".messagelist").text_content()
    with page.expect_navigation():
        page.get_by_role("link", name="Rename second").press("Enter")
    page.get_by_label("New name").fill("readonly")
    with page.expect_navigation():
        page.get_by_role("button", name="Rename").press("Enter")
    assert "Cluster second is now readonly" in page.locator(".messagelist").text_content()
    with page.expect_navigation():
        page.get_by_role("link", name="Remove readonly").press("Enter")
    assert_accessible(page)
    with page.expect_navigation():
        page.get_by_role("button", name="Yes, remove readonly").press("Enter")
    assert "readonly" not in page.locator("#result_list").text_content()
    _fits(page, width)
    # bad input: a clear message beside the form, nothing stored
    page.goto(f"{url}/clusters/add/")
    page.get_by_label("Name").fill("broken")
    page.get_by_label("…or paste it").fill("apiVersion: v1\nclusters: [\n")
    with page.expect_navigation():
        page.get_by_role("button", name="Continue").click()
    assert "not valid YAML" in page.locator(".errorlist").text_content()
    page.goto(f"{url}/clusters/")
    assert "broken" not in page.locator("#result_list").text_content()


def test_navigation_dark_mode_and_favicon(site, browser_page):
    cluster, url = site
    page = browser_page
    login(page, url, "boss", "secret-pw")
    page.goto(f"{url}/progress/tasks/")
    nav = page.get_by_role("navigation", name="Main")
    assert nav.get_by_role("link", name="Tasks").get_attribute("aria-current") == "page"
    assert nav.get_by_role("link", name="Admin").get_attribute("href") == "/admin/"
    assert "Overview" in page.locator(".breadcrumbs").text_content()
    assert_accessible(page)
    # the admin's theme toggle: dark, and the node list's colours follow
    page.goto(f"{url}/clusters/demo/nodes/")
    for _ in range(3):  # the toggle cycles auto, dark and light
        if page.evaluate("document.documentElement.dataset.theme") == "dark":
            break
        page.locator(".theme-toggle").click()
    assert page.evaluate("document.documentElement.dataset.theme") == "dark"
    page.reload()  # the choice is kept
    background = page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert background == "rgb(18, 18, 18)"
    assert_accessible(page)
    response = page.request.get(f"{url}/favicon.ico")
    assert response.status == 200 and response.headers["content-type"] == "image/x-icon"
