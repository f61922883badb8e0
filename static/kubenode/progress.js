/*
 * kubenode progress dialog — no framework, no CDN.
 *
 * API (for pages):
 *   KubenodeProgress.open(taskId, {title, cluster, focus})   open (or re-open) the dialog for a task; returns the
 *                                   dialog element. title: its heading; cluster: node names link to their pages;
 *                                   focus: move the keyboard focus into it (Escape closes it and gives it back)
 *   KubenodeProgress.close(taskId)  close it (the task keeps running; re-open any time)
 *   KubenodeProgress.onComplete = function (taskId, finalFrame) {}   called once per task, optional
 *   KubenodeProgress.finalText(finalFrame)   the task's final word: "completed", "completed with 2 failures", …
 *   KubenodeProgress.watch(taskId, {lastSeq, counters}, fn)   follow a task without a dialog (live bars in
 *                                   lists): fn(state) on every change; starts after lastSeq, which the page rendered
 *
 * Delivery: a WebSocket to /ws/progress/ sending {"type":"resume","task":ID,"after_seq":N}; messages arrive as
 * lists (one frame per doorbell or page: [{task, seq, type, counters…}, …]), other frames are objects;
 * after a disconnect it reconnects with exponential backoff and resumes from the last seq it saw.
 * Frames are de-duplicated by (task, seq). When the WebSocket cannot connect, the dialog polls
 * /progress/tasks/<id>.json?after_seq=N and says so. The final word ("completed", "completed with N failures",
 * "failed", "cancelled", "interrupted" — as the task says) is shown only when the server's final message arrived,
 * exactly once; a "kubenode:complete" event ({task, frame}) is dispatched on document then.
 */
(function () {
  "use strict";
  if (window.KubenodeProgress) return;  // loaded twice on one page: one client, one socket
  // Translations: Django's JavaScript catalog (/i18n/catalog.js, loaded by every page); English without it.
  var gettext = window.gettext || function (s) { return s; };
  var ngettext = window.ngettext || function (s, p, n) { return n === 1 ? s : p; };
  var pgettext = window.pgettext || function (c, s) { return s; };
  var interpolate = window.interpolate || function (fmt, obj) {
    return fmt.replace(/%\((\w+)\)s/g, function (m, k) { return String(obj[k]); });
  };
  var count = function (n) { return window.KubenodeLocale ? KubenodeLocale.count(n) : String(n); };
  var FINAL = { complete: pgettext("outcome", "completed"), cancelled: pgettext("outcome", "cancelled"),
                interrupted: pgettext("outcome", "interrupted"), error: pgettext("outcome", "failed") };
  var OUTCOMES = { succeeded: pgettext("outcome", "succeeded"), failed: pgettext("outcome", "failed"),
                   skipped: pgettext("outcome", "skipped"), cancelled: pgettext("outcome", "cancelled"),
                   processing: gettext("processing") };
  var tasks = {};       // taskId -> state {lastSeq, nodes:{}, counters, final, dialog}
  var ws = null, wsOpen = false, backoff = 500, failures = 0, polling = {};

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function state(taskId) {
    if (!tasks[taskId]) {
      tasks[taskId] = { lastSeq: 0, nodes: {}, order: [], counters: { total: 0, done: 0, succeeded: 0, failed: 0 },
                        final: null, completedShown: false, dialog: null, seen: {} };
    }
    return tasks[taskId];
  }

  // The final word, as the task list and the task page say it.
  function finalText(frame) {
    if (frame.type !== "complete") return FINAL[frame.type] || frame.type;
    if (!frame.failed) return pgettext("outcome", "completed");
    if (frame.total && frame.failed >= frame.total) return pgettext("outcome", "failed");
    return interpolate(ngettext("completed with %(count)s failure", "completed with %(count)s failures", frame.failed),
                       { count: count(frame.failed) }, true);
  }

  function countsText(c) {
    var left = Math.max(0, c.total - c.done);
    return interpolate(gettext("%(done)s / %(total)s — %(left)s remaining, succeeded %(succeeded)s, failed %(failed)s"),
                       { done: count(c.done), total: count(c.total), left: count(left), succeeded: count(c.succeeded),
                         failed: count(c.failed) }, true);
  }

  var dialogCount = 0;

  function buildDialog(taskId, opts) {
    var d = el("div", "kn-progress");
    var headingId = "kn-progress-title-" + (++dialogCount);
    d.setAttribute("role", "dialog");
    d.setAttribute("aria-modal", "false");
    d.setAttribute("aria-label", gettext("Batch progress"));
    d.setAttribute("aria-describedby", headingId);
    var head = el("div", "kn-progress-head");
    var title = el("h2", "kn-progress-title", (opts && opts.title) ||
                   interpolate(gettext("Batch %(id)s"), { id: taskId.slice(0, 8) }, true));
    title.id = headingId;
    title.tabIndex = -1;
    var closeBtn = el("button", "kn-progress-close", "×");
    closeBtn.type = "button";
    closeBtn.setAttribute("aria-label", gettext("Close"));
    closeBtn.onclick = function () { KubenodeProgress.close(taskId); };
    head.appendChild(title); head.appendChild(closeBtn);
    var bar = el("div", "kn-progress-bar"); var fill = el("div", "kn-progress-fill"); bar.appendChild(fill);
    bar.setAttribute("role", "progressbar");
    bar.setAttribute("aria-label", gettext("Nodes done"));
    bar.setAttribute("aria-valuemin", "0");
    var counts = el("div", "kn-progress-counts");  // shown as it changes, always matching the bar
    var announce = el("div", "kn-progress-announce visually-hidden");  // read out at most once a second
    announce.setAttribute("aria-live", "polite");
    announce.setAttribute("aria-atomic", "true");
    var status = el("div", "kn-progress-status", gettext("connecting…"));
    status.setAttribute("role", "status");
    var transport = el("div", "kn-progress-transport");
    var list = el("ul", "kn-progress-nodes");
    list.setAttribute("aria-label", gettext("Nodes"));
    var link = el("a", "kn-progress-details", gettext("Details of this batch"));
    link.href = "/progress/tasks/" + taskId + "/";
    [head, bar, counts, announce, status, transport, list, link].forEach(function (c) { d.appendChild(c); });
    d.parts = { fill: fill, bar: bar, counts: counts, announce: announce, status: status, transport: transport,
                list: list, items: {}, title: title, shownCounts: "", countsAt: 0 };
    d.dataset.task = taskId;
    d.addEventListener("keydown", function (ev) {
      if (ev.key === "Escape") { ev.preventDefault(); KubenodeProgress.close(taskId); }
    });
    document.body.appendChild(d);
    return d;
  }

  var COUNTS_EVERY_MS = 1000;  // the counts are announced (aria-live) at most this often while running; the
                               // visible counts follow every message

  function render(taskId) {
    var s = tasks[taskId];
    if (!s) return;
    (s.watchers || []).forEach(function (fn) { fn(s); });
    if (!s.dialog) return;
    var p = s.dialog.parts, c = s.counters;
    var pct = c.total ? Math.round((100 * c.done) / c.total) : 0;
    p.fill.style.width = pct + "%";
    p.bar.setAttribute("aria-valuemax", String(c.total));
    p.bar.setAttribute("aria-valuenow", String(c.done));
    var text = countsText(c), now = Date.now();
    p.counts.textContent = text;
    if (text !== p.shownCounts && (s.final || now - p.countsAt >= COUNTS_EVERY_MS)) {
      p.announce.textContent = text; p.shownCounts = text; p.countsAt = now;
    } else if (text !== p.shownCounts && !p.countsTimer) {
      p.countsTimer = setTimeout(function () { p.countsTimer = null; p.countsAt = 0; render(taskId); },
                                 COUNTS_EVERY_MS - (now - p.countsAt));
    }
    if (s.final) {
      p.status.textContent = finalText(s.final);
      s.dialog.classList.add("kn-final-" + s.final.type);
      if (s.final.type === "complete" && s.final.failed) s.dialog.classList.add("kn-final-failures");
    } else {
      p.status.textContent = gettext("running…");
    }
    p.transport.textContent = polling[taskId] ? gettext("Live connection unavailable: checking every few seconds.") : "";
    s.order.forEach(function (name) {
      var n = s.nodes[name], li = p.items[name];
      if (!li) { li = el("li"); p.items[name] = li; p.list.appendChild(li); }
      if (li.dataset.outcome === n.outcome && li.dataset.error === n.error) return;
      li.dataset.outcome = n.outcome; li.dataset.error = n.error;
      li.className = "kn-node-" + n.outcome;
      li.textContent = "";
      if (s.cluster) {
        var a = el("a", "", name);
        a.href = "/clusters/" + encodeURIComponent(s.cluster) + "/nodes/" + encodeURIComponent(name) + "/";
        li.appendChild(a);
      } else {
        li.appendChild(document.createTextNode(name));
      }
      li.appendChild(document.createTextNode(pgettext("label separator", ": ") + (OUTCOMES[n.outcome] || n.outcome) + (n.error ? " — " + n.error : "")));
    });
  }

  function apply(frame) {
    if (!frame || frame.seq === undefined || frame.seq === null || !frame.task) return;
    var s = state(frame.task);
    var key = frame.seq;
    if (s.seen[key]) return;
    s.seen[key] = true;
    if (frame.seq >= s.lastSeq) {  // counters of the newest message only: never backwards
      s.lastSeq = frame.seq;
      s.counters = { total: frame.total, done: frame.done, succeeded: frame.succeeded, failed: frame.failed };
    }
    if (frame.node) {
      if (!s.nodes[frame.node]) s.order.push(frame.node);
      s.nodes[frame.node] = { outcome: frame.outcome || "processing", error: frame.error || "" };
    }
    if (FINAL[frame.type] && !s.final) {
      s.final = frame;
      if (!s.completedShown) {
        s.completedShown = true;
        if (typeof KubenodeProgress.onComplete === "function") KubenodeProgress.onComplete(frame.task, frame);
        document.dispatchEvent(new CustomEvent("kubenode:complete", { detail: { task: frame.task, frame: frame } }));
      }
      stopPolling(frame.task);
    }
    render(frame.task);
  }

  function resume(taskId) {
    if (ws && wsOpen) ws.send(JSON.stringify({ type: "resume", task: taskId, after_seq: state(taskId).lastSeq }));
  }

  function connect() {
    if (ws) return;
    var proto = location.protocol === "https:" ? "wss://" : "ws://";
    try { ws = new WebSocket(proto + location.host + "/ws/progress/"); } catch (e) { ws = null; onDown(); return; }
    ws.onopen = function () {
      wsOpen = true; backoff = 500; failures = 0;
      Object.keys(tasks).forEach(function (id) { stopPolling(id); if (!tasks[id].final) resume(id); });
    };
    ws.onmessage = function (ev) {
      var frame; try { frame = JSON.parse(ev.data); } catch (e) { return; }
      if (Array.isArray(frame)) { frame.forEach(apply); return; }  // messages: a list per frame, in seq order
      if (frame.type === "snapshot") {
        (frame.tasks || []).forEach(function (t) {
          if (tasks[t.task] && !tasks[t.task].final) resume(t.task);
        });
        return;
      }
      if (frame.type === "protocol_error") { if (frame.task) showError(frame.task, frame.error); return; }
      apply(frame);
    };
    ws.onclose = function () { ws = null; wsOpen = false; onDown(); };
  }

  function onDown() {
    failures += 1;
    if (failures >= 2) Object.keys(tasks).forEach(function (id) { if (!tasks[id].final) startPolling(id); });
    var delay = Math.min(backoff, 30000);
    backoff = Math.min(backoff * 2, 30000);
    setTimeout(function () { if (anyActive()) connect(); }, delay);
  }

  function anyActive() {
    return Object.keys(tasks).some(function (id) { return !tasks[id].final; });
  }

  // The server's words for what a page can meet (progress/consumers.py), in the page's language
  var SERVER_ERRORS = { "no such task": gettext("no such task") };

  function showError(taskId, text) {
    text = SERVER_ERRORS[text] || text;
    var s = tasks[taskId];
    if (s && s.dialog) s.dialog.parts.status.textContent = text;
  }

  function startPolling(taskId) {
    if (polling[taskId]) return;
    polling[taskId] = true;
    render(taskId);
    (function tick() {
      if (!polling[taskId]) return;
      var s = state(taskId);
      fetch("/progress/tasks/" + taskId + ".json?after_seq=" + s.lastSeq, { credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.json() : Promise.reject(r.status); })
        .then(function (data) {
          // a reply older than what the page has seen (e.g. the WebSocket came back meanwhile) must not move
          // the counters back
          if (data.last_seq >= s.lastSeq && !s.final) {
            s.counters = { total: data.total, done: data.done, succeeded: data.succeeded, failed: data.failed };
          }
          (data.messages || []).forEach(apply);
          render(taskId);
          if (polling[taskId]) setTimeout(tick, data.more ? 0 : 2000);
        })
        .catch(function () { if (polling[taskId]) setTimeout(tick, 5000); });
    })();
  }

  function stopPolling(taskId) {
    if (polling[taskId]) { delete polling[taskId]; render(taskId); }
  }

  var KubenodeProgress = {
    open: function (taskId, opts) {
      var id = String(taskId), s = state(id);
      opts = opts || {};
      if (opts.cluster) s.cluster = opts.cluster;
      if (!s.dialog || !s.dialog.isConnected) {
        s.returnFocus = document.activeElement && document.activeElement !== document.body
          ? document.activeElement : null;
        s.dialog = buildDialog(id, opts);
        s.dialog.parts.items = {};
      }
      render(id);
      if (wsOpen) resume(id); else connect();
      if (!wsOpen && failures >= 2) startPolling(id);
      if (opts.focus) s.dialog.parts.title.focus();
      return s.dialog;
    },
    close: function (taskId) {
      var s = tasks[String(taskId)];
      if (!s || !s.dialog) return;
      var hadFocus = s.dialog.contains(document.activeElement);
      s.dialog.remove(); s.dialog = null;
      if (hadFocus) {  // back where the keyboard was, else to the page's heading
        var back = s.returnFocus && s.returnFocus.isConnected ? s.returnFocus
          : document.querySelector("#content-main h1, h1");
        if (back) {
          if (!back.hasAttribute("tabindex") && !/^(A|BUTTON|INPUT|SELECT|TEXTAREA)$/.test(back.tagName)) {
            back.setAttribute("tabindex", "-1");
          }
          back.focus();
        }
      }
    },
    watch: function (taskId, initial, fn) {
      var id = String(taskId), s = state(id);
      if (initial && initial.lastSeq > s.lastSeq) {
        s.lastSeq = initial.lastSeq;
        if (initial.counters) s.counters = initial.counters;
      }
      s.watchers = (s.watchers || []).concat([fn]);
      if (wsOpen) resume(id); else connect();
      if (!wsOpen && failures >= 2) startPolling(id);
      render(id);
    },
    state: function (taskId) { return tasks[String(taskId)] || null; },
    finalText: finalText,
    onComplete: null
  };
  document.addEventListener("keydown", function (ev) {
    if (ev.key !== "Escape" || ev.defaultPrevented) return;
    var active = document.activeElement;
    if (active && active !== document.body && active !== document.documentElement) return;
    var open = Object.keys(tasks).filter(function (id) { return tasks[id].dialog; });
    if (open.length) { ev.preventDefault(); KubenodeProgress.close(open[open.length - 1]); }
  });
  window.KubenodeProgress = KubenodeProgress;
})();
