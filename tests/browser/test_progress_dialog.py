"""The progress dialog (static/kubenode/progress.js) in Debian's chromium against a real daphne replica.

The page's WebSocket constructor is wrapped by an init script only to observe it (sockets, frames sent and received)
and, in the fallback test, to point it at a path where no WebSocket is served; progress.js itself runs unchanged.
"""

import urllib.parse

import pytest

from tests.fixtures.browser import browser_user, login

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

OBSERVE = """
(() => {
  const Real = window.WebSocket;
  window.__sockets = []; window.__sent = []; window.__opened = 0; window.__finalSeen = false;
  window.__statusLog = []; window.__completeCalls = [];
  function Observed(url, protocols) {
    // unreachable: a path of this site where no WebSocket is served (the handshake is refused, as by a proxy
    // that does not pass WebSockets); another port would be refused by the page's Content-Security-Policy
    const target = window.__wsUnreachable ? url.replace("/ws/progress/", "/ws/unreachable/") : url;
    const s = protocols === undefined ? new Real(target) : new Real(target, protocols);
    const index = window.__sockets.length;
    window.__sockets.push(s);
    const send = s.send.bind(s);
    s.send = (data) => { window.__sent.push([index, JSON.parse(data)]); return send(data); };
    s.addEventListener("open", () => { window.__opened += 1; });
    s.addEventListener("message", (ev) => {
      const f = JSON.parse(ev.data);  // one message, or a list of them (one frame per doorbell)
      const messages = Array.isArray(f) ? f : [f];
      if (messages.some((m) => ["complete", "error", "cancelled", "interrupted"].includes(m.type))) {
        window.__finalSeen = true;
      }
    });
    return s;
  }
  // the page's progress sockets (progress.js: the ones that sent a resume), in the order they were opened; the
  // node list keeps a socket of its own for its live rows
  window.__progressSockets = () => window.__sockets.map((s, i) => i)
    .filter((i) => window.__sent.some(([j, f]) => j === i && f.type === "resume"));
  Observed.prototype = Real.prototype;
  Object.assign(Observed, {CONNECTING: 0, OPEN: 1, CLOSING: 2, CLOSED: 3});
  window.WebSocket = Observed;
  // how many poll replies the page has handled (counted once its own handlers of the reply have run)
  window.__pollsHandled = 0;
  const realFetch = window.fetch;
  window.fetch = (...args) => realFetch(...args).then((r) => {
    const json = r.json.bind(r);
    r.json = () => json().then((d) => { setTimeout(() => { window.__pollsHandled += 1; }, 0); return d; });
    return r;
  });
  // every change of the dialog's status line, with whether the server's final message had arrived by then
  new MutationObserver(() => {
    const el = document.querySelector(".kn-progress-status");
    if (!el) return;
    const log = window.__statusLog, text = el.textContent;
    if (!log.length || log[log.length - 1].text !== text) {
      const st = window.KubenodeProgress && KubenodeProgress.state(el.closest(".kn-progress").dataset.task);
      log.push({text: text, final: !!(st && st.final), finalSeen: window.__finalSeen});
    }
  }).observe(document, {subtree: true, childList: true, characterData: true});
  document.addEventListener("DOMContentLoaded", () => {
    if (window.KubenodeProgress) {
      KubenodeProgress.onComplete = (task, frame) => window.__completeCalls.push([task, frame.type, frame.seq]);
    }
  });
})();
"""




@pytest.fixture
def site(kube_sim, daphne_replicas, worker_processes, collected_static_dir):
    from nodes.roles import ensure_groups
    from nodes.selectors import list_nodes
    from nodes.services import import_cluster

    ensure_groups()  # a transactional test's flush removed the migration's groups
    sim = kube_sim(nodes=30, latency_ms=100)
    cluster = import_cluster("sim", sim.kubeconfig_text, simulated=True)
    browser_user("ops", "operator")
    replica = daphne_replicas("web", KUBENODE_DATA_DIR=collected_static_dir, PROGRESS_NOTIFY_TYPE="postgres")
    worker_processes("worker")  # batches run in a worker process, as in production
    return replica.http_url, sorted(n.name for n in list_nodes(cluster))


def start_batch(page, url, names) -> str:
    """Log in, post a confirmed cordon of `names` one node at a time, and open the page it leads to."""
    login(page, url, "ops", "secret-pw")
    body = urllib.parse.urlencode([("action", "cordon"), ("reason", "rack move"), ("concurrency", "1"),
                                   ("confirm", "yes"), *[("node", n) for n in names]])
    landed = page.evaluate(
        "async (body) => { const t = document.cookie.match(/csrftoken=([^;]+)/)[1];"
        " const r = await fetch('/clusters/sim/nodes/action/', {method: 'POST', body: body,"
        " headers: {'X-CSRFToken': t, 'Content-Type': 'application/x-www-form-urlencoded'}}); return r.url; }", body)
    task = urllib.parse.parse_qs(urllib.parse.urlsplit(landed).query).get("task")
    assert task, landed
    page.goto(landed)
    page.get_by_role("dialog", name="Batch progress").wait_for()
    # every time the bar moves, the visible counts say the same number (only the spoken announcement is paced)
    page.evaluate(
        "() => { window.__countsBehind = []; const bar = document.querySelector('.kn-progress-bar');"
        " new MutationObserver(() => { const now = bar.getAttribute('aria-valuenow'),"
        " text = document.querySelector('.kn-progress-counts').textContent;"
        " if (!text.startsWith(now + ' / ')) window.__countsBehind.push([now, text]); })"
        ".observe(bar, {attributes: true, attributeFilter: ['aria-valuenow']}); }")
    return task[0]


def wait_counts(page, total, succeeded, failed):
    page.wait_for_function(
        "([t, s, f]) => { const c = document.querySelector('.kn-progress-counts');"
        " return c && c.textContent.startsWith(t + ' / ' + t) && c.textContent.includes('succeeded ' + s)"
        " && c.textContent.includes('failed ' + f); }", arg=[total, succeeded, failed], timeout=120_000)


def assert_completed_once(page, task_id, total):
    assert page.locator(".kn-progress-status").text_content() == "completed"
    items = page.locator(".kn-progress-nodes li").all_text_contents()
    assert len(items) == total and len({i.split(":")[0] for i in items}) == total
    assert all(i.endswith(": succeeded") for i in items)
    assert page.locator(".kn-progress-fill").evaluate("e => e.style.width") == "100%"
    assert page.evaluate("window.__countsBehind") == []
    log = page.evaluate("window.__statusLog")
    said = [entry for entry in log if entry["text"] == "completed"]
    assert len(said) == 1 and log[-1] == said[0], log
    assert said[0]["final"], log  # only once the server's final message was in
    assert [e["text"] for e in log[:-1]] and all(e["text"] in ("connecting…", "running…") for e in log[:-1]), log
    calls = page.evaluate("window.__completeCalls")
    assert calls == [[task_id, "complete", total + 1]]


def test_dialog_counts_and_resumes_from_the_last_seq_after_the_socket_drops(site, browser_page):
    url, names = site
    page = browser_page
    page.add_init_script(OBSERVE)
    task_id = start_batch(page, url, names)
    for drop in (1, 2):
        page.wait_for_function(f"() => window.__progressSockets().length === {drop}"
                               f" && KubenodeProgress.state('{task_id}').lastSeq >= {4 * drop}")
        # no message event fires on a socket once close() was called: lastSeq is the last seq the page saw
        last = page.evaluate(f"() => {{ const open = window.__progressSockets();"
                             f" window.__sockets[open[open.length - 1]].close();"
                             f" return KubenodeProgress.state('{task_id}').lastSeq; }}")
        # it reconnects and asks for what came after the last seq it saw
        page.wait_for_function(f"() => window.__progressSockets().length === {drop + 1}")
        fresh = page.evaluate("window.__progressSockets()")[drop]
        resumes = [f for i, f in page.evaluate("window.__sent") if i == fresh and f["type"] == "resume"]
        assert resumes[0] == {"type": "resume", "task": task_id, "after_seq": last}
        assert page.locator(".kn-progress-status").text_content() != "completed"
    wait_counts(page, len(names), len(names), 0)
    page.wait_for_function("() => document.querySelector('.kn-progress-status').textContent === 'completed'")
    page.wait_for_timeout(2500)  # a late frame or reconnect would show here
    assert_completed_once(page, task_id, len(names))
    # the first progress socket and one per drop, no more; the node list's own socket was never dropped
    assert len(page.evaluate("window.__progressSockets()")) == 3
    assert page.evaluate("window.__sockets.length") == 4
    assert page.locator(".kn-progress-transport").text_content() == ""  # never fell back to polling


def test_dialog_falls_back_to_polling_when_the_websocket_cannot_connect(site, browser_page):
    url, names = site
    page = browser_page
    page.add_init_script("window.__wsUnreachable = true;")
    page.add_init_script(OBSERVE)
    polled = []
    page.on("request", lambda r: polled.append(r.url) if ".json?after_seq=" in r.url else None)
    task_id = start_batch(page, url, names)
    transport = page.locator(".kn-progress-transport")
    page.wait_for_function("() => document.querySelector('.kn-progress-transport').textContent !== ''")
    assert transport.text_content() == "Live connection unavailable: checking every few seconds."
    assert page.locator(".kn-progress-status").text_content() == "running…"
    wait_counts(page, len(names), len(names), 0)
    page.wait_for_function("() => document.querySelector('.kn-progress-status').textContent === 'completed'")
    page.wait_for_timeout(2500)
    assert_completed_once(page, task_id, len(names))
    assert page.evaluate("window.__opened") == 0 and page.evaluate("window.__sockets.length") >= 2
    assert polled and all(f"/progress/tasks/{task_id}.json" in u for u in polled)
    # the cursor advanced with the messages: later polls ask only for what came after
    seqs = [int(u.rsplit("after_seq=", 1)[1]) for u in polled]
    assert seqs[0] == 0 and seqs == sorted(seqs) and seqs[-1] > 0


def test_a_late_poll_reply_never_moves_the_counts_back(site, browser_page):
    """Polling first; a poll reply is held back until the WebSocket came back and delivered the final message."""
    url, names = site
    page = browser_page
    page.add_init_script("window.__wsUnreachable = true;")
    page.add_init_script(OBSERVE)
    held = []

    def hold_one_mid_run_reply(route):
        if not held and "after_seq=0" not in route.request.url:
            held.append((route, route.fetch()))
        else:
            route.continue_()

    page.route("**/progress/tasks/*.json?*", hold_one_mid_run_reply)
    task_id = start_batch(page, url, names)
    page.wait_for_function("() => document.querySelector('.kn-progress-transport').textContent !== ''")
    while not held:
        page.wait_for_timeout(100)
    route, stale = held[0]
    assert stale.json()["finished"] is False and stale.json()["done"] < len(names)
    page.evaluate("window.__wsUnreachable = false")  # the next reconnect reaches the server
    wait_counts(page, len(names), len(names), 0)
    page.wait_for_function("() => document.querySelector('.kn-progress-status').textContent === 'completed'")
    assert page.evaluate("window.__opened") >= 1
    handled = page.evaluate("window.__pollsHandled")
    route.fulfill(response=stale)
    page.wait_for_function(f"() => window.__pollsHandled > {handled}")
    n = len(names)
    assert page.locator(".kn-progress-counts").text_content() == \
        f"{n} / {n} — 0 remaining, succeeded {n}, failed 0"
    assert_completed_once(page, task_id, len(names))
