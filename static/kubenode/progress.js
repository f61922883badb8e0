/*
 * kubenode progress dialog — no framework, no CDN.
 *
 * API (for pages):
 *   KubenodeProgress.open(taskId)   open (or re-open) the dialog for a task; returns the dialog object
 *   KubenodeProgress.close(taskId)  close it (the task keeps running; re-open any time)
 *   KubenodeProgress.onComplete = function (taskId, finalFrame) {}   called once per task, optional
 *   KubenodeProgress.watch(taskId, {lastSeq, counters}, fn)   follow a task without a dialog (live bars in
 *                                   lists): fn(state) on every change; starts after lastSeq, which the page rendered
 *
 * Delivery: a WebSocket to /ws/progress/ sending {"type":"resume","task":ID,"after_seq":N}; messages arrive as
 * lists (one frame per doorbell or page: [{task, seq, type, counters…}, …]), other frames are objects;
 * after a disconnect it reconnects with exponential backoff and resumes from the last seq it saw.
 * Frames are de-duplicated by (task, seq). When the WebSocket cannot connect, the dialog polls
 * /progress/tasks/<id>.json?after_seq=N and says so. "Completed" is shown only when the server's
 * final message (complete / cancelled / interrupted / error) arrived, exactly once.
 */
(function () {
  "use strict";
  var FINAL = { complete: "completed", cancelled: "cancelled", interrupted: "interrupted", error: "failed" };
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

  function buildDialog(taskId) {
    var d = el("div", "kn-progress");
    d.setAttribute("role", "dialog");
    d.setAttribute("aria-label", "Batch progress");
    var head = el("div", "kn-progress-head");
    var title = el("strong", "", "Batch " + taskId.slice(0, 8));
    var closeBtn = el("button", "kn-progress-close", "×");
    closeBtn.type = "button";
    closeBtn.setAttribute("aria-label", "Close");
    closeBtn.onclick = function () { KubenodeProgress.close(taskId); };
    head.appendChild(title); head.appendChild(closeBtn);
    var bar = el("div", "kn-progress-bar"); var fill = el("div", "kn-progress-fill"); bar.appendChild(fill);
    var counts = el("div", "kn-progress-counts");
    var status = el("div", "kn-progress-status", "connecting…");
    var transport = el("div", "kn-progress-transport");
    var list = el("ul", "kn-progress-nodes");
    var link = el("a", "", "details");
    link.href = "/progress/tasks/" + taskId + "/";
    [head, bar, counts, status, transport, list, link].forEach(function (c) { d.appendChild(c); });
    d.parts = { fill: fill, counts: counts, status: status, transport: transport, list: list, items: {} };
    d.dataset.task = taskId;
    document.body.appendChild(d);
    return d;
  }

  function render(taskId) {
    var s = tasks[taskId];
    if (!s) return;
    (s.watchers || []).forEach(function (fn) { fn(s); });
    if (!s.dialog) return;
    var p = s.dialog.parts, c = s.counters;
    var pct = c.total ? Math.round((100 * c.done) / c.total) : 0;
    p.fill.style.width = pct + "%";
    var processing = Math.max(0, c.total - c.done);
    p.counts.textContent = c.done + " / " + c.total + " — processing " + processing + ", succeeded " + c.succeeded +
      ", failed " + c.failed;
    if (s.final) {
      p.status.textContent = FINAL[s.final.type] || s.final.type;
      s.dialog.classList.add("kn-final-" + s.final.type);
    } else {
      p.status.textContent = "running…";
    }
    p.transport.textContent = polling[taskId] ? "Live connection unavailable: checking every few seconds." : "";
    s.order.forEach(function (name) {
      var n = s.nodes[name], li = p.items[name];
      if (!li) { li = el("li"); p.items[name] = li; p.list.appendChild(li); }
      li.className = "kn-node-" + n.outcome;
      li.textContent = name + ": " + n.outcome + (n.error ? " — " + n.error : "");
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

  function showError(taskId, text) {
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
    open: function (taskId) {
      var s = state(String(taskId));
      if (!s.dialog || !s.dialog.isConnected) { s.dialog = buildDialog(String(taskId)); s.dialog.parts.items = {}; }
      render(String(taskId));
      if (wsOpen) resume(String(taskId)); else connect();
      if (!wsOpen && failures >= 2) startPolling(String(taskId));
      return s.dialog;
    },
    close: function (taskId) {
      var s = tasks[String(taskId)];
      if (s && s.dialog) { s.dialog.remove(); s.dialog = null; }
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
    onComplete: null
  };
  window.KubenodeProgress = KubenodeProgress;
})();
