// The rqueues dashboard: one page, routed by the URL's hash, filled from the JSON API
// (relative URLs, so it works under any prefix) and refreshed by short polling.
// Every value from the API reaches the DOM as text (textContent, text nodes): never as HTML.
"use strict";

(() => {
  const POLL_MS = 1500;
  const STATES = ["running", "queued", "scheduled", "deferred", "succeeded", "failed", "cancelled", "dead"];
  const FINAL = new Set(["succeeded", "failed", "cancelled", "dead"]);
  const ACTION_LABELS = { cancel: "Cancel", stop: "Stop", requeue: "Retry" };
  const ACTION_ASK = {
    cancel: "Cancel this job? It will not run.",
    stop: "Stop this running job? Its worker flags it cancelled within about a second.",
    requeue: "Put this job back on its queue?",
  };

  const app = { meta: null, timer: null, generation: 0, history: new Map() };
  const main = document.getElementById("main");

  // -- DOM helpers ---------------------------------------------------------------------

  function el(tag, props, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(props || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "class") node.className = value;
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value === true ? "" : String(value));
    }
    append(node, children);
    return node;
  }

  function append(node, children) {
    for (const child of children.flat(Infinity)) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function replace(node, ...children) {
    node.replaceChildren();
    return append(node, children);
  }

  // An in-page link: the hash is built from encoded parts, so it can only ever be '#/...'.
  function link(parts, text, props) {
    const hash = "#/" + parts.map(encodeURIComponent).join("/");
    return el("a", { href: hash, ...(props || {}) }, text);
  }

  const jobLink = (id) => link(["jobs", id], id, { class: "mono" });
  const queueLink = (name) => link(["queues", name], name);
  const badge = (text) => el("span", { class: "badge s-" + String(text).replace(/[^a-z-]/g, "") }, text);

  function table(columns, rows, rowProps) {
    const head = el("tr", {}, columns.map((c) => el("th", { class: c.num ? "num" : null }, c.label)));
    const body = el("tbody", {});
    for (const row of rows) {
      const tr = el("tr", rowProps ? rowProps(row) : {});
      for (const c of columns) {
        tr.append(el("td", { class: [c.num ? "num" : "", c.cls || ""].join(" ").trim() || null,
          "data-col": c.key }, c.cell(row)));
      }
      body.append(tr);
    }
    if (!rows.length) body.append(el("tr", {}, el("td", { colspan: columns.length, class: "muted" }, "none")));
    return el("table", {}, el("thead", {}, head), body);
  }

  // -- formatting ----------------------------------------------------------------------

  function duration(seconds) {
    if (seconds === null || seconds === undefined) return "-";
    if (seconds < 1) return Math.round(seconds * 1000) + "ms";
    if (seconds < 60) return seconds.toFixed(1) + "s";
    if (seconds < 3600) return Math.floor(seconds / 60) + "m" + String(Math.floor(seconds % 60)).padStart(2, "0") + "s";
    return Math.floor(seconds / 3600) + "h" + String(Math.floor((seconds % 3600) / 60)).padStart(2, "0") + "m";
  }

  const time = (iso) => (iso ? new Date(iso).toLocaleString() : "-");
  const between = (a, b) => (a && b ? duration((new Date(b) - new Date(a)) / 1000) : "-");
  const rate = (r) => (r === null || r === undefined ? "-" : r.toFixed(1));
  const show = (value) => (value === null || value === undefined ? "-" : value);
  const pretty = (value) => JSON.stringify(value, null, 2);

  function flash(message, kind) {
    const box = document.getElementById("flash");
    box.textContent = message;
    box.className = kind || "ok";
    box.hidden = false;
    clearTimeout(flash.timer);
    flash.timer = setTimeout(() => { box.hidden = true; }, 6000);
  }

  // -- the API -------------------------------------------------------------------------

  class ApiError extends Error {
    constructor(status, message) { super(message); this.status = status; }
  }

  async function api(path, method, body) {
    const headers = { Accept: "application/json" };
    const options = { method: method || "GET", headers, credentials: "same-origin" };
    if (options.method !== "GET") {
      headers["Content-Type"] = "application/json";
      headers["X-CSRF-Token"] = app.meta ? app.meta.csrf : "";
      options.body = JSON.stringify(body || {});
    }
    const response = await fetch(path, options);
    let data;
    try { data = await response.json(); } catch (_) { data = { error: response.statusText }; }
    if (!response.ok) throw new ApiError(response.status, (data && data.error) || response.statusText);
    return data;
  }

  // Runs an action; on success says so and refreshes the page, on failure shows why.
  async function act(ask, path, body, done) {
    if (ask && !window.confirm(ask)) return;
    try {
      const data = await api(path, "POST", body);
      flash(done(data), "ok");
    } catch (err) {
      if (err.status === 401) return showLogin(err.message);
      flash(err.message, "error");
    }
    refresh();
  }

  function actionButton(label, name, onclick, danger) {
    return el("button", { type: "button", class: "action" + (danger ? " danger" : ""), "data-action": name, onclick }, label);
  }

  function jobActions(job) {
    if (!app.meta.actions) return [];
    const actions = job.actions || { queued: ["cancel"], scheduled: ["cancel"], deferred: ["cancel"], running: ["stop"], failed: ["requeue"], dead: ["requeue"] }[job.state] || [];
    return actions.map((name) => actionButton(ACTION_LABELS[name] || name, name, () =>
      act(ACTION_ASK[name], "api/jobs/" + encodeURIComponent(job.id) + "/" + name + "?queue=" + encodeURIComponent(job.queue),
        {}, () => `${ACTION_LABELS[name] || name}: ${job.id}`), name !== "requeue"));
  }

  // -- pages ---------------------------------------------------------------------------

  const QUEUE_COLUMNS = [
    { key: "name", label: "Queue", cell: (q) => queueLink(q.name) },
    { key: "state", label: "State", cell: (q) => badge(q.state) },
    { key: "concurrency", label: "Limit", num: true, cell: (q) => q.concurrency || "∞" },
    { key: "rate", label: "Rate limit", num: true, cell: (q) => q.rate || "-" },
    { key: "in_use", label: "In use", num: true, cell: (q) => q.in_use },
    { key: "waiting", label: "Waiting", num: true, cell: (q) => q.waiting },
    { key: "scheduled", label: "Scheduled", num: true, cell: (q) => q.scheduled },
    { key: "dead", label: "Dead", num: true, cell: (q) => q.dead },
    { key: "ok_rate", label: "OK/s", num: true, cell: (q) => rate(q.succeeded_per_second) },
    { key: "fail_rate", label: "Fail/s", num: true, cell: (q) => rate(q.failed_per_second) },
    { key: "p95_wait", label: "p95 wait", num: true, cell: (q) => duration(q.p95_wait_seconds) },
    { key: "oldest", label: "Oldest waiting", num: true, cell: (q) => duration(q.oldest_waiting_seconds) },
    { key: "consumers", label: "Workers", num: true, cell: (q) => q.consumers },
  ];

  function overviewPage() {
    const summary = el("p", { class: "muted" });
    const banner = el("div");
    const holder = el("div");
    replace(main, el("h2", {}, "Queues"), banner, summary, holder);
    return async () => {
      const data = await api("api/overview");
      replace(banner, data.redis_refusing_writes
        ? el("div", { class: "banner" }, "Redis is out of memory and refuses writes: nothing new is enqueued or claimed.") : null);
      const reaper = data.reaper && data.reaper.last_run_age_seconds !== null
        ? `reaper ran ${duration(data.reaper.last_run_age_seconds)} ago` : "reaper never ran";
      replace(summary, `${data.queues.length} queue(s), ${data.workers} live worker(s), ${reaper}`);
      replace(holder, table(QUEUE_COLUMNS, data.queues, (q) => ({ "data-queue": q.name })));
      remember(data);
    };
  }

  // Each queue's waiting and in-use counts over the polls of this page's life: "the same over time".
  function remember(data) {
    for (const q of data.queues) {
      const points = app.history.get(q.name) || [];
      points.push({ t: Date.parse(data.time), waiting: q.waiting, in_use: q.in_use });
      while (points.length > 120) points.shift();
      app.history.set(q.name, points);
    }
  }

  function sparkline(points) {
    const ns = "http://www.w3.org/2000/svg";
    const width = 600, height = 80;
    const svg = document.createElementNS(ns, "svg");
    svg.setAttribute("class", "spark");
    svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
    svg.setAttribute("width", width);
    svg.setAttribute("height", height);
    const top = Math.max(1, ...points.map((p) => Math.max(p.waiting, p.in_use)));
    for (const key of ["waiting", "in_use"]) {
      const line = document.createElementNS(ns, "polyline");
      const step = points.length > 1 ? width / (points.length - 1) : width;
      line.setAttribute("points", points.map((p, i) =>
        `${(i * step).toFixed(1)},${(height - 4 - (p[key] / top) * (height - 8)).toFixed(1)}`).join(" "));
      line.setAttribute("class", "k-" + key);
      svg.append(line);
    }
    return svg;
  }

  function queuePage(name, params) {
    const state = STATES.includes(params.get("state")) ? params.get("state") : "";
    const pages = { cursors: [null], at: 0 };
    const head = el("h2", {}, "Queue ", el("span", { class: "mono" }, name));
    const cards = el("div", { class: "cards" });
    const chart = el("div", { class: "panel" });
    const config = el("p", { class: "muted" });
    const controls = el("div", { class: "panel row" });
    const tabs = el("div", { class: "tabs" },
      [["", "All"], ...STATES.map((s) => [s, s])].map(([s, label]) =>
        el("a", { href: "#/queues/" + encodeURIComponent(name) + (s ? "?state=" + s : ""), class: s === state ? "active" : null, "data-state": s || "all" }, label)));
    const list = el("div");
    const pager = el("div", { class: "pager" });
    replace(main, head, cards, chart, config, app.meta.actions ? controls : null, tabs, list, pager);
    if (app.meta.actions) buildQueueControls(controls, name);

    const load = async () => {
      const query = new URLSearchParams({ limit: "25" });
      if (state) query.set("state", state);
      if (pages.cursors[pages.at]) query.set("cursor", pages.cursors[pages.at]);
      const data = await api("api/queues/" + encodeURIComponent(name) + "/jobs?" + query);
      pages.cursors[pages.at + 1] = data.next_cursor;
      replace(list, jobsTable(data.jobs, false));
      replace(pager,
        el("button", { type: "button", disabled: pages.at === 0, onclick: () => { pages.at = 0; load(); } }, "First page"),
        el("button", { type: "button", disabled: pages.at === 0, onclick: () => { pages.at -= 1; load(); } }, "Previous"),
        el("button", { type: "button", "data-page": "next", disabled: !data.next_cursor, onclick: () => { pages.at += 1; load(); } }, "Next"),
        el("span", { class: "muted" }, `page ${pages.at + 1}`));
    };

    return async () => {
      const data = await api("api/queues/" + encodeURIComponent(name));
      const q = data.queue;
      replace(head, "Queue ", el("span", { class: "mono" }, q.name), badge(q.state));
      replace(cards, QUEUE_COLUMNS.slice(2).map((c) =>
        el("div", { class: "card", "data-col": c.key }, el("div", { class: "label" }, c.label), el("div", { class: "value" }, c.cell(q)))));
      remember({ time: data.time, queues: [q] });
      replace(chart, el("div", { class: "legend" }, el("span", { class: "k-waiting" }, "— waiting"), el("span", { class: "k-in_use" }, "— in use")),
        sparkline(app.history.get(q.name) || []));
      const c = q.config;
      replace(config, `tags: ${q.tags.length ? q.tags.join(", ") : "any worker"} · retries ${c.retries} (backoff ${c.backoff}s, max ${c.backoff_max}s)` +
        (c.rate_limit ? ` · rate limit ${c.rate_limit}` : "") + ` · max reclaims ${c.max_reclaims} · results kept ${duration(c.result_ttl)}` +
        (c.gpus_per_job ? ` · ${c.gpus_per_job} GPU(s) per job${c.gpu_share ? ", shared" : ""}` : "") + ` · config version ${c.version}`);
      syncQueueControls(controls, q);
      await load();
    };
  }

  // Queue actions: the limit, the rate limit, pause and resume, requeue of the dead letters.
  function buildQueueControls(box, name) {
    const path = (what) => "api/queues/" + encodeURIComponent(name) + "/" + what;
    const limit = el("input", { type: "number", min: "0", step: "1", id: "concurrency-input", "aria-label": "New limit" });
    const rate = el("input", { type: "text", id: "rate-input", placeholder: "100/s, 30/m or empty", size: "12", "aria-label": "New rate limit" });
    box.append(
      el("label", { for: "concurrency-input" }, "Limit (0 = unlimited)"), limit,
      actionButton("Set limit", "concurrency", () => act(null, path("concurrency"), { concurrency: Number(limit.value) },
        (d) => `${d.queue}: limit ${d.concurrency || "unlimited"}`)),
      el("label", { for: "rate-input" }, "Rate limit"), rate,
      actionButton("Set rate", "rate-limit", () => act(null, path("rate-limit"), { rate_limit: rate.value.trim() || null },
        (d) => `${d.queue}: rate limit ${d.rate_limit || "none"}`)),
      actionButton("Pause", "pause", () => act(`Pause ${name}? Running jobs finish; none starts until it is resumed.`,
        path("pause"), {}, () => `${name} paused`), true),
      actionButton("Resume", "resume", () => act(null, path("resume"), {}, () => `${name} resumed`)),
      actionButton("Requeue all dead letters", "requeue-dead", () => act(`Requeue every dead letter of ${name}?`, path("requeue-dead"), {},
        (d) => `${d.queue}: ${d.requeued} job(s) requeued`)));
  }

  function syncQueueControls(box, q) {
    const set = (name, disabled) => { const b = box.querySelector(`[data-action=${name}]`); if (b) b.disabled = disabled; };
    set("pause", q.paused);
    set("resume", !q.paused);
    set("requeue-dead", !q.dead);
  }

  function jobsTable(jobs, withQueue) {
    const columns = [
      { key: "id", label: "Job", cls: "id", cell: (j) => jobLink(j.id) },
      withQueue ? { key: "queue", label: "Queue", cell: (j) => queueLink(j.queue) } : null,
      { key: "function", label: "Function", cls: "mono", cell: (j) => j.function },
      { key: "state", label: "State", cell: (j) => [badge(j.state), j.progress && j.state === "running" ? ` ${Math.round(j.progress.fraction * 100)}%` : null] },
      { key: "attempts", label: "Attempts", num: true, cell: (j) => j.attempts },
      { key: "enqueued_at", label: "Enqueued", cell: (j) => time(j.enqueued_at) },
      { key: "finished_at", label: "Finished", cell: (j) => time(j.finished_at) },
      { key: "worker", label: "Worker", cls: "mono", cell: (j) => show(j.worker) },
      { key: "error", label: "Error / reason", cell: (j) => j.reason || (j.error ? `${j.error.type}: ${j.error.message}` : "") },
      app.meta.actions ? { key: "actions", label: "", cell: (j) => jobActions(j) } : null,
    ].filter(Boolean);
    return table(columns, jobs, (j) => ({ "data-job": j.id }));
  }

  function jobPage(id) {
    const box = el("div");
    replace(main, box);
    return async () => {
      let job;
      try {
        job = await api("api/jobs/" + encodeURIComponent(id));
      } catch (err) {
        if (err.status === 404 || err.status === 400) {
          replace(box, el("h2", {}, "Job ", el("span", { class: "mono" }, id)), el("p", { class: "banner" }, err.message));
          return;
        }
        throw err;
      }
      const fields = [
        ["Queue", queueLink(job.queue)], ["Function", el("span", { class: "mono" }, job.function)],
        ["State", badge(job.state)], ["Attempts", job.attempts], ["Reclaims", job.reclaims],
        ["Worker", el("span", { class: "mono" }, show(job.worker))],
        ["Enqueued", time(job.enqueued_at)], ["Started", time(job.started_at)], ["Finished", time(job.finished_at)],
        ["Waited", between(job.enqueued_at, job.started_at)], ["Ran", between(job.started_at, job.finished_at)],
      ];
      if (job.options && job.options.timeout) fields.push(["Timeout", duration(job.options.timeout)]);
      if (job.gpus && job.gpus.length) fields.push(["GPUs", job.gpus.join(", ")]);
      if (job.progress) {
        const p = job.progress;
        fields.push(["Progress", [el("span", { class: "progress" }, el("span", { style: null, "data-fraction": p.fraction })),
          ` ${Math.round(p.fraction * 100)}% ${p.message || ""}`]]);
      }
      if (job.unique_key) fields.push(["Unique key", el("span", { class: "mono" }, job.unique_key)]);
      if (job.parents && job.parents.length) {
        fields.push(["Depends on", job.parents.map((p, i) => [i ? ", " : "", jobLink(p.id), " ", badge(p.state || "waiting")])]);
        fields.push(["If a parent fails", job.allow_failure ? "runs anyway" : "cancelled"]);
      }
      if (job.dependents && job.dependents.length) fields.push(["Dependents", job.dependents.map((d, i) => [i ? ", " : "", jobLink(d.id)])]);
      if (job.reason) fields.push(["Reason", job.reason]);
      const errors = (job.errors || []).slice();
      if (job.error && !errors.some((e) => e.type === job.error.type && e.message === job.error.message && e.traceback === job.error.traceback)) {
        errors.push({ attempt: job.attempts, ...job.error });
      }
      replace(box,
        el("h2", {}, "Job ", el("span", { class: "mono", id: "job-id" }, job.id), badge(job.state), el("span", { class: "row" }, jobActions(job))),
        el("div", { class: "panel" }, el("dl", { class: "fields" }, fields.map(([k, v]) => [el("dt", {}, k), el("dd", { "data-field": k.toLowerCase() }, v)]))),
        el("h3", {}, "Arguments"), el("pre", { id: "job-args" }, pretty(job.args)),
        el("h3", {}, "Keyword arguments"), el("pre", { id: "job-kwargs" }, pretty(job.kwargs)),
        job.state === "succeeded" ? [el("h3", {}, "Result"), el("pre", { id: "job-result" }, pretty(job.result))] : null,
        errors.length ? el("h3", {}, "Attempts that failed") : null,
        errors.map((e) => el("div", { class: "panel" },
          el("strong", {}, `attempt ${show(e.attempt)}: ${e.type || "error"}`), ": ", e.message || "",
          e.traceback ? el("pre", {}, e.traceback) : null)));
      // The bar's width is set through the CSSOM: the page's policy allows no inline style attribute.
      const bar = box.querySelector("[data-fraction]");
      if (bar) bar.style.width = Math.max(0, Math.min(100, Number(bar.dataset.fraction) * 100)) + "%";
      if (FINAL.has(job.state)) app.slow = true;
    };
  }

  function workersPage() {
    const summary = el("p", { class: "muted" });
    const holder = el("div");
    replace(main, el("h2", {}, "Workers"), summary, holder);
    const columns = [
      { key: "id", label: "Worker", cls: "mono", cell: (w) => w.id },
      { key: "host", label: "Host", cell: (w) => `${w.host}${w.pid ? " (pid " + w.pid + ")" : ""}` },
      { key: "tags", label: "Tags", cell: (w) => w.tags.join(", ") || "-" },
      { key: "queues", label: "Queues", cell: (w) => w.queues.map((q, i) => [i ? ", " : "", queueLink(q)]) },
      { key: "slots", label: "Slots in use", num: true, cell: (w) => `${w.running}/${w.concurrency}` },
      { key: "beat", label: "Heartbeat", num: true, cell: (w) => duration(w.heartbeat_age_seconds) + " ago" },
      { key: "functions", label: "Running", cls: "mono", cell: (w) => Object.entries(w.running_functions || {}).map(([f, n]) => (n > 1 ? `${f} ×${n}` : f)).join(", ") || "-" },
      { key: "jobs", label: "Jobs", cls: "id", cell: (w) => w.jobs.map((j, i) => [i ? " " : "", jobLink(j)]) },
    ];
    // Each GPU and the job holding it, only once a worker has GPUs.
    const gpus = { key: "gpus", label: "GPUs", cls: "mono", cell: (w) => Object.entries(w.gpus || {}).map(([device, jobs], i) =>
      [i ? " · " : "", device + ": ", jobs.length ? jobs.map((j, k) => [k ? ", " : "", jobLink(j)]) : "free"]) };
    return async () => {
      const data = await api("api/workers");
      replace(summary, `${data.workers.length} live worker(s)` + (data.dead_workers ? `, ${data.dead_workers} dead still registered` : ""));
      const shown = data.workers.some((w) => w.gpus) ? [...columns, gpus] : columns;
      replace(holder, table(shown, data.workers, (w) => ({ "data-worker": w.id })));
    };
  }

  function deadPage() {
    const queues = el("div", { class: "panel row" });
    const list = el("div");
    const pager = el("div", { class: "pager" });
    const pages = { cursors: [null], at: 0 };
    replace(main, el("h2", {}, "Dead letters"), queues, list, pager);
    const load = async () => {
      const query = new URLSearchParams({ state: "dead", limit: "25" });
      if (pages.cursors[pages.at]) query.set("cursor", pages.cursors[pages.at]);
      const data = await api("api/jobs?" + query);
      pages.cursors[pages.at + 1] = data.next_cursor;
      replace(list, jobsTable(data.jobs, true));
      replace(pager,
        el("button", { type: "button", disabled: pages.at === 0, onclick: () => { pages.at = 0; load(); } }, "First page"),
        el("button", { type: "button", disabled: !data.next_cursor, onclick: () => { pages.at += 1; load(); } }, "Next"));
    };
    return async () => {
      const data = await api("api/overview");
      const dead = data.queues.filter((q) => q.dead > 0);
      replace(queues, dead.length ? dead.map((q) => el("span", { class: "row" }, queueLink(q.name), `${q.dead} dead`,
        app.meta.actions ? actionButton("Requeue all", "requeue-dead", () => act(`Requeue every dead letter of ${q.name}?`,
          "api/queues/" + encodeURIComponent(q.name) + "/requeue-dead", {}, (d) => `${d.queue}: ${d.requeued} job(s) requeued`)) : null))
        : el("span", { class: "muted" }, "No queue has dead letters."));
      await load();
    };
  }

  function cronPage() {
    const holder = el("div");
    replace(main, el("h2", {}, "Periodic jobs"), holder);
    const columns = [
      { key: "name", label: "Name", cls: "mono", cell: (c) => c.name },
      { key: "queue", label: "Queue", cell: (c) => queueLink(c.queue) },
      { key: "schedule", label: "Schedule", cls: "mono", cell: (c) => `${c.schedule} (${c.tz})` },
      { key: "function", label: "Function", cls: "mono", cell: (c) => c.function },
      { key: "catch_up", label: "Catch up", num: true, cell: (c) => c.catch_up },
      { key: "last_run", label: "Last run", cell: (c) => time(c.last_run) },
      { key: "next_run", label: "Next run", cell: (c) => time(c.next_run) },
      app.meta.actions ? { key: "actions", label: "", cell: (c) => actionButton("Remove", "remove-cron", () =>
        act(`Remove the periodic job ${c.name}? A run already enqueued stays.`,
          "api/cron/" + encodeURIComponent(c.name) + "/remove?queue=" + encodeURIComponent(c.queue), {}, () => `removed ${c.name}`), true) } : null,
    ].filter(Boolean);
    return async () => {
      const data = await api("api/cron");
      replace(holder, table(columns, data.schedules, (c) => ({ "data-cron": c.name })));
    };
  }

  // -- login, search, routing ------------------------------------------------------------

  function showLogin(message) {
    stop();
    const login = app.meta ? app.meta.login : { token: true, basic: false };
    const token = el("input", { type: "password", id: "login-token", name: "token", autocomplete: "current-password" });
    const user = el("input", { type: "text", id: "login-user", name: "user", autocomplete: "username" });
    const password = el("input", { type: "password", id: "login-password", name: "password", autocomplete: "current-password" });
    const form = el("form", { class: "panel login", id: "login" },
      el("h2", {}, "Log in"),
      message ? el("p", { class: "muted" }, message) : null,
      login.token ? [el("label", { for: "login-token" }, "Token"), token] : null,
      login.basic ? [el("label", { for: "login-user" }, "User"), user, el("label", { for: "login-password" }, "Password"), password] : null,
      login.token || login.basic ? el("p", {}, el("button", { type: "submit" }, "Log in"))
        : el("p", { class: "muted" }, "This dashboard takes the host application's login: sign in there, then reload."));
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const body = token.value ? { token: token.value } : { user: user.value, password: password.value };
      try {
        await api("api/session", "POST", body);
        await loadMeta();
        route();
      } catch (err) {
        flash(err.message, "error");
      }
    });
    replace(main, form);
    if (login.token || login.basic) (login.token ? token : user).focus();
  }

  async function loadMeta() {
    app.meta = await api("api/meta");
    const status = document.getElementById("status");
    replace(status,
      app.meta.read_only ? badge("read-only") : null,
      !app.meta.read_only && !app.meta.actions ? el("span", { class: "badge" }, "actions off") : null,
      app.meta.auth_required && app.meta.authenticated ? el("button", { type: "button", id: "logout", onclick: async () => {
        await api("api/session/logout", "POST");
        await loadMeta();
        showLogin("Logged out.");
      } }, "Log out") : null);
  }

  document.getElementById("search").addEventListener("submit", async (event) => {
    event.preventDefault();
    const id = document.getElementById("search-id").value.trim();
    if (!id) return;
    try {
      const job = await api("api/jobs/" + encodeURIComponent(id));
      location.hash = "#/jobs/" + encodeURIComponent(job.id);
    } catch (err) {
      if (err.status === 401) return showLogin(err.message);
      flash(err.message, "error");
    }
  });

  function stop() {
    clearTimeout(app.timer);
    app.timer = null;
    app.generation += 1;
  }

  function pageFor(hash) {
    const [path, query] = hash.replace(/^#/, "").split("?");
    const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
    const params = new URLSearchParams(query || "");
    if (parts.length === 0) return ["overview", overviewPage()];
    if (parts[0] === "queues" && parts.length === 2) return ["overview", queuePage(parts[1], params)];
    if (parts[0] === "jobs" && parts.length >= 2) return ["", jobPage(parts.slice(1).join("/"))];
    if (parts[0] === "workers") return ["workers", workersPage()];
    if (parts[0] === "dead") return ["dead", deadPage()];
    if (parts[0] === "cron") return ["cron", cronPage()];
    return ["", (() => { replace(main, el("p", { class: "banner" }, "No such page.")); return async () => {}; })()];
  }

  let current = null;

  async function refresh() {
    if (!current) return;
    const mine = app.generation;
    clearTimeout(app.timer);
    try {
      await current();
      if (mine !== app.generation) return;
      document.getElementById("updated").textContent = "updated " + new Date().toLocaleTimeString();
    } catch (err) {
      if (mine !== app.generation) return;
      if (err.status === 401) return showLogin(err.message);
      document.getElementById("updated").textContent = "update failed: " + err.message;
    }
    if (mine !== app.generation) return;
    clearTimeout(app.timer); // a refresh an action started meanwhile leaves one timer, not two
    app.timer = setTimeout(refresh, app.slow ? POLL_MS * 4 : POLL_MS);
  }

  function route() {
    stop();
    app.slow = false;
    if (app.meta.auth_required && !app.meta.authenticated) return showLogin();
    const [nav, page] = pageFor(location.hash);
    for (const a of document.querySelectorAll("header nav a")) a.classList.toggle("active", a.dataset.nav === nav);
    current = page;
    refresh();
  }

  window.addEventListener("hashchange", route);
  loadMeta().then(route, (err) => { replace(main, el("p", { class: "banner" }, "Cannot reach the API: " + err.message)); });
})();
