// The Resource Service console: one page, views chosen by the URL fragment, data from the API's own routes.
// Plain JavaScript with no build step; every text from the API is set as text, never as HTML.
"use strict";

(function () {
  const KEY_STORAGE = "rs-console-key";
  const POINTS_PAGE = 10000;
  const POINTS_MAX = 500000;
  const PAGES_AT_ONCE = 4;
  const POLL_MS = 1500;
  const STALE_AFTER_MS = 60 * 60 * 1000;
  const SERIES_SHOWN_FIRST = 5;
  const PREPARING = ["pending", "generating", "validating"];
  const SPEC_SENT = "Sent: it replaces the current spec once it validates on a fresh sample.";
  // The execution log's events about a fetch spec given by PUT (shared/flows/steps.py, functions/api/services.py).
  const SPEC_EVENTS = ["fetch spec given", "fetch spec validated", "fetch spec refused", "fetch spec withdrawn"];
  // Ten colours that stay apart from each other (Tableau 10); beyond ten, dashes tell series apart.
  const PALETTE = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f",
    "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac"];

  const $ = (id) => document.getElementById(id);
  let current = { poll: null, chart: null, token: 0 };

  // ------------------------------------------------------------------ helpers

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (name === "text") node.textContent = value;
      else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
      else node.setAttribute(name, value === true ? "" : String(value));
    }
    for (const child of children) {
      if (child === null || child === undefined) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function formatTime(value) {
    if (!value) return "–";
    const date = new Date(value);
    if (Number.isNaN(date.getTime())) return String(value);
    return date.toISOString().replace("T", " ").replace(/:\d\d(\.\d+)?Z$/, " UTC");
  }

  function formatNumber(value) {
    return value === null || value === undefined ? "–" : Number(value).toLocaleString("en");
  }

  function show(node, visible) { node.hidden = !visible; }

  function setError(id, message) {
    const node = $(id);
    node.textContent = message || "";
    show(node, Boolean(message));
  }

  function notify(message) {
    const node = $("notice");
    node.textContent = message;
    show(node, Boolean(message));
  }

  function newKey() {
    if (window.crypto && typeof window.crypto.randomUUID === "function") return window.crypto.randomUUID();
    return String(Date.now()) + "-" + String(Math.random()).slice(2);
  }

  // ------------------------------------------------------------------ the API

  class ApiError extends Error {
    constructor(status, message) { super(message); this.status = status; }
  }

  function errorMessage(status, body) {
    if (body && body.error) {
      const details = (body.error.details || [])
        .map((d) => (d.field ? d.field + ": " : "") + d.reason).join("; ");
      return body.error.message + (details ? " (" + details + ")" : "");
    }
    if (body && body.detail) {
      return typeof body.detail === "string" ? body.detail : JSON.stringify(body.detail);
    }
    return "the service answered " + status;
  }

  async function api(method, path, body, extraHeaders) {
    const headers = { "Authorization": "Bearer " + sessionStorage.getItem(KEY_STORAGE), ...(extraHeaders || {}) };
    const init = { method, headers };
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    let response;
    try {
      response = await fetch(path, init);
    } catch (exc) {
      throw new ApiError(0, "the service cannot be reached");
    }
    const text = await response.text();
    let parsed = null;
    try { parsed = text ? JSON.parse(text) : null; } catch (exc) { parsed = null; }
    if (response.status === 401) {
      signOut("Your API key was not accepted; sign in again.");
      throw new ApiError(401, errorMessage(401, parsed));
    }
    if (!response.ok) throw new ApiError(response.status, errorMessage(response.status, parsed));
    return parsed;
  }

  // ------------------------------------------------------------------ sign in and routing

  function signedIn() { return Boolean(sessionStorage.getItem(KEY_STORAGE)); }

  function signOut(message) {
    sessionStorage.removeItem(KEY_STORAGE);
    notify(message || "");
    route();
  }

  async function signIn(event) {
    event.preventDefault();
    const key = $("api-key").value.trim();
    if (!key) return;
    setError("sign-in-error", "");
    const response = await fetch("/resources?limit=1", { headers: { "Authorization": "Bearer " + key } })
      .catch(() => null);
    if (!response || !response.ok) {
      setError("sign-in-error", response && response.status === 401
        ? "This API key is not valid." : "The service cannot be reached.");
      return;
    }
    sessionStorage.setItem(KEY_STORAGE, key);
    $("api-key").value = "";
    notify("");
    route();
  }

  function leaveView() {
    if (current.poll) clearInterval(current.poll);
    if (current.chart) current.chart.destroy();
    current = { poll: null, chart: null, token: current.token + 1 };
  }

  function showView(id, title) {
    for (const view of document.querySelectorAll(".view")) show(view, view.id === id);
    document.title = title + " · Resource Service console";
  }

  function route() {
    leaveView();
    show($("nav"), signedIn());
    if (!signedIn()) {
      showView("view-sign-in", "Sign in");
      $("api-key").focus();
      return;
    }
    const hash = location.hash || "#/";
    const match = hash.match(/^#\/indicators\/([A-Za-z0-9_-]+)$/);
    if (hash === "#/" || hash === "#") {
      showView("view-list", "Indicators");
      loadList(false);
    } else if (hash === "#/new") {
      showView("view-new", "New indicator");
    } else if (match) {
      showView("view-indicator", "Indicator");
      openIndicator(match[1]);
    } else {
      showView("view-missing", "Not found");
    }
  }

  // ------------------------------------------------------------------ indicators list

  function displayState(wrapper, now) {
    if (!wrapper) return { state: "unknown", text: "unknown" };
    const status = wrapper.status;
    // The service's own health verdict (expected cadence, failed runs in a row) when it gives one.
    const health = wrapper.health ? wrapper.health.state : null;
    if (health === "failing" || status === "failed" || status === "error") {
      return { state: "failing", text: "failing (" + status + ")" };
    }
    if (health === "stale") return { state: "stale", text: "stale (" + status + ")" };
    if (PREPARING.includes(status)) return { state: "preparing", text: status };
    if (!wrapper.health && (status === "ready" || status === "running") && wrapper.next_run_at
        && now - new Date(wrapper.next_run_at).getTime() > STALE_AFTER_MS) {
      return { state: "stale", text: "stale (" + status + ", due " + formatTime(wrapper.next_run_at) + ")" };
    }
    return { state: status, text: status };
  }

  async function mapLimited(items, limit, work) {
    const results = new Array(items.length);
    let next = 0;
    async function worker() {
      while (next < items.length) {
        const index = next++;
        results[index] = await work(items[index]).catch(() => null);
      }
    }
    await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
    return results;
  }

  const list = { offset: 0, limit: 100, rows: [], total: 0 };

  async function loadList(more) {
    const token = current.token;
    if (!more) { list.offset = 0; list.rows = []; }
    const params = new URLSearchParams({ limit: String(list.limit), offset: String(list.offset) });
    const name = $("search").value.trim();
    if (name) params.set("name", name);
    if ($("filter-source").value) params.set("source_type", $("filter-source").value);
    $("list-summary").textContent = "Loading…";
    try {
      const [page, wrappers] = await Promise.all([
        api("GET", "/resources?" + params),
        api("GET", "/wrappers?limit=500"),
      ]);
      const byId = new Map(wrappers.items.map((w) => [w.wrapper_id, w]));
      const details = await mapLimited(page.items, 6, async (resource) => {
        const wrapper = byId.get(resource.wrapper_id)
          || await api("GET", "/wrappers/" + resource.wrapper_id).catch(() => null);
        const availability = await api("GET", "/resources/" + resource.id + "/availability").catch(() => null);
        return { resource, wrapper, availability };
      });
      if (token !== current.token) return;
      list.rows = list.rows.concat(details.filter(Boolean));
      list.offset += page.items.length;
      list.total = page.total;
      show($("list-more"), list.offset < page.total);
      renderList();
    } catch (exc) {
      if (token === current.token) $("list-summary").textContent = exc.message;
    }
  }

  function renderList() {
    const total = list.total;
    const now = Date.now();
    const wanted = $("filter-status").value;
    const body = $("indicators").querySelector("tbody");
    body.replaceChildren();
    let shown = 0;
    for (const row of list.rows) {
      const state = displayState(row.wrapper, now);
      if (wanted && state.state !== wanted) continue;
      shown += 1;
      const availability = row.availability || {};
      body.append(el("tr", { "data-resource-id": row.resource.id },
        el("td", {}, el("a", { href: "#/indicators/" + row.resource.id, text: row.resource.name })),
        el("td", { text: row.resource.source.type }),
        el("td", {}, el("span", { class: "badge state-" + state.state, text: state.text })),
        el("td", { text: formatTime(availability.last) }),
        el("td", { class: "num", text: formatNumber(availability.count) })));
    }
    $("list-summary").textContent = list.rows.length
      ? shown + " shown of " + total + " indicators" + (wanted ? " (status: " + wanted + ")" : "")
      : "No indicators yet. Create one with “New indicator”.";
  }

  // ------------------------------------------------------------------ create

  const XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

  function fileSourceType(file) {
    const name = file.name.toLowerCase();
    if (name.endsWith(".xlsx")) return XLSX_TYPE;
    if (name.endsWith(".csv")) return "text/csv";
    return null;
  }

  async function uploadFile(file) {
    const contentType = fileSourceType(file);
    if (!contentType) throw new ApiError(0, "choose a .csv or .xlsx file");
    const ticket = await api("POST", "/uploads",
      { filename: file.name, content_type: contentType, size_bytes: file.size },
      { "Idempotency-Key": newKey() });
    const form = new FormData();
    for (const [name, value] of Object.entries(ticket.fields)) form.append(name, value);
    form.append("file", file);
    const response = await fetch(ticket.upload_url, { method: "POST", body: form }).catch(() => null);
    if (!response || !response.ok) {
      throw new ApiError(0, "the upload failed" + (response ? " (" + response.status + ")" : ""));
    }
    return ticket.source;
  }

  async function createIndicator(event) {
    event.preventDefault();
    setError("create-error", "");
    const button = event.submitter || $("create-form").querySelector("button[type=submit]");
    button.disabled = true;
    try {
      let source;
      if ($("new-from-file").checked) {
        const file = $("new-file").files[0];
        if (!file) throw new ApiError(0, "choose a file to upload");
        notify("Uploading " + file.name + "…");
        source = await uploadFile(file);
      } else {
        const url = $("new-url").value.trim();
        if (!url) throw new ApiError(0, "give the URL of the data");
        source = { type: $("new-source-type").value, url };
      }
      const resource = await api("POST", "/resources", {
        name: $("new-name").value.trim(),
        unit: $("new-unit").value.trim(),
        description: $("new-description").value.trim(),
        source,
      }, { "Idempotency-Key": newKey() });
      $("create-form").reset();
      toggleSourceFields();
      notify("Created “" + resource.name + "”: its wrapper is being generated.");
      location.hash = "#/indicators/" + resource.id;
    } catch (exc) {
      notify("");
      setError("create-error", exc.message);
    } finally {
      button.disabled = false;
    }
  }

  function toggleSourceFields() {
    const fromFile = $("new-from-file").checked;
    show($("new-url-fields"), !fromFile);
    show($("new-file-fields"), fromFile);
  }

  // ------------------------------------------------------------------ one indicator

  const ind = { resource: null, wrapper: null, availability: null, shownCode: null, shownSpec: null,
    specKey: null, specOutcome: null, history: [], points: null, selected: new Set(), firstChartAt: null,
    runsKey: null };

  async function openIndicator(id) {
    const token = current.token;
    Object.assign(ind, { resource: null, wrapper: null, availability: null, shownCode: null,
      shownSpec: null, specKey: null, specOutcome: null, history: [], points: null, selected: new Set(),
      firstChartAt: null, runsKey: null, dataKey: null, loading: "" });
    for (const id of ["action-error", "wrapper-error", "fetch-spec-error"]) setError(id, "");
    $("fetch-spec").removeAttribute("aria-invalid");
    $("fetch-spec").value = "";
    $("fetch-spec-current").textContent = "";
    show($("fetch-spec-proposed-box"), false);
    $("ind-name").textContent = "Loading…";
    try {
      ind.resource = await api("GET", "/resources/" + id);
    } catch (exc) {
      if (token !== current.token) return;
      if (exc.status === 404) { showView("view-missing", "Not found"); return; }
      $("ind-name").textContent = exc.message;
      return;
    }
    if (token !== current.token) return;
    const r = ind.resource;
    document.title = r.name + " · Resource Service console";
    $("ind-name").textContent = r.name;
    $("ind-meta").textContent = [r.type, r.unit && "unit " + r.unit, r.source.type + " source " + r.source.url,
      r.description].filter(Boolean).join(" · ");
    await refreshIndicator(token);
    current.poll = setInterval(() => refreshIndicator(token), POLL_MS);
  }

  async function refreshIndicator(token) {
    const r = ind.resource;
    try {
      const [wrapper, availability, runs] = await Promise.all([
        api("GET", "/wrappers/" + r.wrapper_id),
        api("GET", "/resources/" + r.id + "/availability"),
        api("GET", "/wrappers/" + r.wrapper_id + "/runs?limit=20"),
      ]);
      if (token !== current.token) return;
      renderWrapper(wrapper);
      await loadFetchSpec(token, wrapper);
      if (token !== current.token) return;
      renderRuns(runs);
      const dataKey = availability.count + "|" + availability.last;
      if (dataKey !== ind.dataKey) {
        ind.dataKey = dataKey;
        ind.availability = availability;
        renderAvailability(availability);
        await loadPoints(token);
      }
    } catch (exc) {
      if (token === current.token) setError("action-error", exc.message);
    }
  }

  function renderWrapper(w) {
    ind.wrapper = w;
    if (ind.history[ind.history.length - 1] !== w.status) ind.history.push(w.status);
    const state = displayState(w, Date.now());
    const badge = $("ind-status");
    badge.textContent = state.text;
    badge.className = "badge state-" + state.state;
    badge.setAttribute("data-status", w.status);
    $("ind-reason").textContent = [ind.history.length > 1 ? "seen: " + ind.history.join(" → ") : "",
      w.status_reason || "", (w.health && w.health.reason) || ""].filter(Boolean).join(" · ");
    $("w-generator").textContent = w.generator || "–";
    $("w-rationale").textContent = w.rationale || "–";
    const inference = w.inference;
    $("w-confidence").textContent = inference
      ? inference.confidence.toFixed(2) + (inference.alternatives.length && inference.confidence < 0.6
        ? " (unsure: check the alternatives)" : "")
      : "–";
    $("w-chosen").textContent = (inference && inference.chosen) || "–";
    const warnings = $("w-warnings");
    warnings.replaceChildren();
    if (inference && inference.warnings.length) {
      warnings.append(el("ul", { class: "warnings" }, ...inference.warnings.map((t) => el("li", { text: t }))));
    }
    renderAlternatives(inference ? inference.alternatives : []);
    renderSpecOutcome(w);
    const code = w.generated_code || "";
    if (code !== ind.shownCode) { ind.shownCode = code; $("parse-code").value = code; $("parse-code").scrollTop = 0; }
    renderValidation(w.validation);
  }

  // ------------------------------------------------------------------ fetch spec

  async function loadFetchSpec(token, w) {
    // GET /wrappers/{id}/fetch-spec is the truth (the spec in use and one still being validated); it is
    // asked again only when the wrapper changed, and not before the wrapper has a spec (it would be a 409).
    const key = w.fetch_spec ? w.updated_at + "|" + w.status : "none";
    if (key === ind.specKey) return;
    const spec = w.fetch_spec ? await api("GET", "/wrappers/" + w.wrapper_id + "/fetch-spec") : null;
    if (token !== current.token) return;
    ind.specKey = key;
    renderFetchSpec(spec);
  }

  function editableSpec(spec) {
    // PUT takes no `method` (GET is the only one) and `proposed` is not part of a spec.
    const { proposed, method, ...rest } = spec;
    return JSON.stringify(rest, null, 2);
  }

  function renderFetchSpec(spec) {
    const text = spec ? editableSpec(spec) : "";
    $("fetch-spec-current").textContent = spec ? text : "none yet: the wrapper is being generated";
    const editor = $("fetch-spec");
    // The editor follows the current spec unless the user has edited it, or a spec sent was just adopted.
    const untouched = editor.value === (ind.shownSpec || "");
    if (text !== ind.shownSpec && (untouched || ind.specOutcome === "adopted")) {
      editor.value = text;
      editor.scrollTop = 0;
      editor.removeAttribute("aria-invalid");
    }
    if (ind.specOutcome === "adopted") ind.specOutcome = "validated";
    ind.shownSpec = text;
    const proposed = spec && spec.proposed;
    $("fetch-spec-proposed").textContent = proposed ? editableSpec(proposed) : "";
    show($("fetch-spec-proposed-box"), Boolean(proposed));
  }

  function specOutcome(w) {
    const log = w.execution_log || [];
    for (let i = log.length - 1; i >= 0; i--) {
      const entry = log[i];
      if (!SPEC_EVENTS.includes(entry.event)) continue;
      const at = formatTime(entry.at);
      if (entry.event === "fetch spec given") {
        return w.status === "validating" ? { state: "validating", text: SPEC_SENT + " Validating…" } : null;
      }
      if (entry.event === "fetch spec validated") {
        return { state: "validated", text: "Validated on a fresh sample (" + at + "): it is the current spec now." };
      }
      if (entry.event === "fetch spec refused") {
        return { state: "refused", text: "Not used (" + at + "): " + (entry.detail || "it did not validate") + "." };
      }
      return { state: "withdrawn", text: "Withdrawn (" + at + "): it could not be sent for validation; "
        + "the current spec is kept." };
    }
    return null;
  }

  function renderSpecOutcome(w) {
    const outcome = specOutcome(w);
    const node = $("fetch-spec-status");
    const state = outcome ? outcome.state : "";
    // A spec sent from this page that is now validated is loaded into the editor as the current one.
    if (ind.specOutcome === "validating" && state === "validated") ind.specOutcome = "adopted";
    else if (ind.specOutcome !== "adopted") ind.specOutcome = state || null;
    node.textContent = outcome ? outcome.text : "";
    node.setAttribute("data-state", state);
    show(node, Boolean(outcome));
  }

  function renderAlternatives(alternatives) {
    const listNode = $("w-alternatives");
    const key = JSON.stringify(alternatives);
    if (listNode.getAttribute("data-key") === key) return;
    listNode.setAttribute("data-key", key);
    listNode.replaceChildren();
    if (!alternatives.length) { listNode.append(el("li", { text: "none" })); return; }
    for (const alt of alternatives) {
      const hint = Object.entries(alt.hint || {}).map(([k, v]) => k + "=" + v).join(", ");
      listNode.append(el("li", {},
        el("span", { text: alt.label + " (score " + alt.score + "): " + alt.reason + (hint ? " [" + hint + "]" : "") }),
        " ",
        hint ? el("button", { type: "button", onclick: () => pickAlternative(alt),
          "aria-label": "Use " + alt.label, text: "Use this reading" }) : null));
    }
  }

  function renderValidation(report) {
    const node = $("w-validation");
    node.replaceChildren();
    if (!report) { node.append(el("p", { text: "not validated yet" })); return; }
    const summary = report.summary
      ? formatNumber(report.summary.count) + " points" : "no points";
    node.append(el("p", { text: (report.ok ? "passed" : "failed") + ": " + summary
      + (report.sandbox_seconds ? ", sandbox " + Number(report.sandbox_seconds).toFixed(2) + " s" : "") }));
    if ((report.issues || []).length) {
      node.append(el("ul", { class: "issues" }, ...report.issues.map((issue) => el("li", {
        text: issue.severity + " · " + issue.stage + (issue.line ? " line " + issue.line : "") + " · "
          + issue.code + ": " + issue.message }))));
    }
  }

  function renderRuns(page) {
    const key = JSON.stringify(page.items.map((run) => [run.run_id, run.finished_at]));
    if (key === ind.runsKey) return;
    ind.runsKey = key;
    const body = $("runs").querySelector("tbody");
    body.replaceChildren();
    if (!page.items.length) {
      body.append(el("tr", {}, el("td", { colspan: 11, text: "No runs yet." })));
    }
    for (const run of page.items) {
      body.append(el("tr", { "data-run-id": run.run_id },
        el("td", { text: formatTime(run.started_at) }),
        el("td", { text: run.trigger }),
        el("td", { text: run.status || (run.finished_at ? (run.error ? "failed" : "succeeded") : "running") }),
        el("td", { class: "num", text: run.duration_seconds === null ? "running" : run.duration_seconds.toFixed(2) + " s" }),
        el("td", { class: "num", text: formatNumber(run.points_fetched) }),
        el("td", { class: "num", text: formatNumber(run.points_new) }),
        el("td", { class: "num", text: formatNumber(run.points_revised) }),
        el("td", { class: "num", text: formatNumber(run.points_duplicate) }),
        el("td", { class: "num", text: formatNumber(run.points_published) }),
        el("td", { class: "num", text: formatNumber(run.bytes_fetched) }),
        el("td", { text: run.error || "" })));
    }
    $("runs").setAttribute("data-runs", String(page.items.length));
  }

  function renderAvailability(a) {
    $("availability").textContent = a.count
      ? formatNumber(a.count) + " points from " + formatTime(a.first) + " to " + formatTime(a.last)
      : "No data stored yet.";
  }

  // ------------------------------------------------------------------ actions

  async function act(button, work, done, errorId) {
    const where = errorId || "action-error";
    setError(where, "");
    button.disabled = true;
    try {
      const result = await work();
      if (done) notify(done);
      if (result && result.wrapper_id) renderWrapper(result);
      await refreshIndicator(current.token);
      return result;
    } catch (exc) {
      setError(where, exc.message);
      return null;
    } finally {
      button.disabled = false;
    }
  }

  const ACTIONS = {
    "run-now": ["POST", "run-now", "Run requested: the next tick of the job runs it."],
    "start": ["POST", "start", "Started."],
    "stop": ["POST", "stop", "Stopped: no further runs."],
    "regenerate": ["POST", "regenerate", "Regeneration queued."],
  };

  function onAction(event) {
    const name = event.target.getAttribute("data-action");
    if (!ACTIONS[name] || !ind.resource) return;
    const [method, path, done] = ACTIONS[name];
    act(event.target, () => api(method, "/wrappers/" + ind.resource.wrapper_id + "/" + path, undefined,
      name === "regenerate" ? { "Idempotency-Key": newKey() } : undefined), done);
  }

  function onBackfill(event) {
    event.preventDefault();
    const day = $("backfill-start").value;
    if (!day) { setError("action-error", "choose the date to backfill from"); return; }
    act(event.submitter || event.target.querySelector("button"),
      () => api("POST", "/wrappers/" + ind.resource.wrapper_id + "/backfill", { start: day + "T00:00:00Z" }),
      "Backfill from " + day + " requested.");
  }

  function refuseSpec(message) {
    setError("fetch-spec-error", message);
    if (message) $("fetch-spec").setAttribute("aria-invalid", "true");
    else $("fetch-spec").removeAttribute("aria-invalid");
  }

  async function onSaveFetchSpec(event) {
    event.preventDefault();
    const editor = $("fetch-spec");
    let spec;
    try {
      spec = JSON.parse(editor.value);
    } catch (exc) {
      refuseSpec("the fetch spec is not valid JSON: " + exc.message);
      editor.focus();
      return;
    }
    refuseSpec("");
    const sent = await act(event.submitter || event.target.querySelector("button[type=submit]"),
      () => api("PUT", "/wrappers/" + ind.resource.wrapper_id + "/fetch-spec", spec), SPEC_SENT,
      "fetch-spec-error");
    if (!sent) {
      // The API refused it (its reason is shown next to the editor); the edit stays there to be corrected.
      editor.setAttribute("aria-invalid", "true");
      editor.focus();
    }
  }

  function resetFetchSpec() {
    refuseSpec("");
    $("fetch-spec").value = ind.shownSpec || "";
    $("fetch-spec").focus();
  }

  function onReplaceCode(event) {
    event.preventDefault();
    const code = $("parse-code").value;
    if (!code.trim()) { setError("wrapper-error", "the parse code is empty"); return; }
    setError("wrapper-error", "");
    ind.shownCode = null;
    act(event.submitter || event.target.querySelector("button"),
      () => api("PUT", "/wrappers/" + ind.resource.wrapper_id + "/code", { parse_code: code }),
      "Code replaced: it is validated before it runs.", "wrapper-error");
  }

  async function pickAlternative(alt) {
    const source = ind.resource.source;
    const options = { ...(source.options || {}), ...alt.hint };
    try {
      ind.resource = await api("PATCH", "/resources/" + ind.resource.id,
        { source: { ...source, options } });
      notify("Regenerating with " + Object.entries(alt.hint).map(([k, v]) => k + "=" + v).join(", ") + ".");
      await refreshIndicator(current.token);
    } catch (exc) {
      setError("wrapper-error", exc.message);
    }
  }

  // ------------------------------------------------------------------ chart

  async function loadPoints(token) {
    // The pages are known from the availability count, so they are fetched side by side; the chart is
    // drawn as soon as the first page is in and again when all are.
    const id = ind.resource.id;
    const count = Math.min(ind.availability.count, POINTS_MAX);
    const offsets = [];
    for (let offset = 0; offset < count; offset += POINTS_PAGE) offsets.push(offset);
    const pages = new Array(offsets.length).fill(null);
    let next = 0;
    async function worker() {
      while (next < offsets.length) {
        const index = next++;
        const page = await api("GET", "/resources/" + id + "/points?limit=" + POINTS_PAGE + "&offset=" + offsets[index]);
        if (token !== current.token) return;
        pages[index] = page.items;
        if (index === 0 && pages.some((p) => p === null)) {
          showPoints([pages[0]], offsets.length);
        }
      }
    }
    await Promise.all(Array.from({ length: Math.min(PAGES_AT_ONCE, offsets.length) }, worker));
    if (token !== current.token) return;
    showPoints(pages, offsets.length);
    if (offsets.length) $("chart").setAttribute("data-full-chart-ms", performance.now().toFixed(1));
  }

  function showPoints(pages, pageCount) {
    const started = performance.now();
    const series = new Map();
    for (const items of pages) {
      for (const p of items) {
        const names = Object.keys(p.dimensions).sort();
        const key = names.map((n) => n + "=" + p.dimensions[n]).join(", ");
        let s = series.get(key);
        if (!s) { s = { key, label: key || ind.resource.name, t: [], v: [] }; series.set(key, s); }
        s.t.push(Date.parse(p.timestamp) / 1000);
        s.v.push(p.value);
      }
    }
    ind.points = [...series.values()].sort((a, b) => b.t.length - a.t.length || a.key.localeCompare(b.key));
    const kept = [...ind.selected].filter((key) => series.has(key));
    ind.selected = new Set(kept.length ? kept : ind.points.slice(0, SERIES_SHOWN_FIRST).map((s) => s.key));
    ind.loading = pages.length < pageCount ? "loading " + (pageCount - pages.length) + " more pages of points…" : "";
    renderSeriesPicker();
    drawChart();
    $("chart").setAttribute("data-draw-ms", (performance.now() - started).toFixed(1));
  }

  function renderSeriesPicker() {
    const box = $("series-options");
    box.replaceChildren();
    show($("series-picker"), ind.points.length > 1);
    ind.points.forEach((s, index) => {
      const id = "series-" + index;
      box.append(el("div", { class: "series-option" },
        el("input", { type: "checkbox", id, checked: ind.selected.has(s.key), onchange: (event) => {
          if (event.target.checked) ind.selected.add(s.key); else ind.selected.delete(s.key);
          drawChart();
        } }),
        el("label", { for: id, text: s.label + " (" + formatNumber(s.t.length) + ")" })));
    });
  }

  function alignedData(shown) {
    const stamps = new Set();
    for (const s of shown) for (const t of s.t) stamps.add(t);
    const xs = Float64Array.from(stamps).sort();
    const index = new Map();
    xs.forEach((t, i) => index.set(t, i));
    const columns = shown.map((s) => {
      const ys = new Array(xs.length).fill(null);
      for (let i = 0; i < s.t.length; i++) ys[index.get(s.t[i])] = s.v[i];
      return ys;
    });
    return [Array.from(xs), ...columns];
  }

  function drawChart() {
    const box = $("chart");
    if (current.chart) { current.chart.destroy(); current.chart = null; }
    box.replaceChildren();
    const shown = ind.points.filter((s) => ind.selected.has(s.key));
    const drawn = shown.reduce((n, s) => n + s.t.length, 0);
    box.setAttribute("data-points", String(drawn));
    box.setAttribute("data-series", String(shown.length));
    const total = ind.points.length;
    $("chart-summary").textContent = shown.length
      ? "Drawn: " + formatNumber(drawn) + " points in " + shown.length + " of " + total + " series."
        + (ind.loading ? " (" + ind.loading + ")" : "")
      : total ? "Pick a series to draw." : "No points to draw yet.";
    show($("chart-reset"), shown.length > 0);
    if (!shown.length || typeof window.uPlot !== "function") return;
    const data = alignedData(shown);
    const unit = ind.resource.unit || "";
    const options = {
      width: Math.max(320, box.clientWidth || 800),
      height: 340,
      scales: { x: { time: true } },
      cursor: { drag: { x: true, y: false } },
      axes: [{}, { label: unit, size: 70 }],
      hooks: { setScale: [(chart, key) => {
        if (key === "x") box.setAttribute("data-x-range", chart.scales.x.min + ".." + chart.scales.x.max);
      }] },
      series: [{ label: "time" }].concat(shown.map((s, i) => ({
        label: s.label,
        stroke: PALETTE[i % PALETTE.length],
        dash: i < PALETTE.length ? undefined : [6, 3],
        width: 1.5,
        spanGaps: true,
        points: { show: data[0].length < 200 },
      }))),
    };
    current.chart = new window.uPlot(options, data, box);
    if (ind.firstChartAt === null) {
      ind.firstChartAt = performance.now();
      box.setAttribute("data-first-chart-ms", ind.firstChartAt.toFixed(1));
    }
  }

  function resetZoom() {
    const chart = current.chart;
    if (!chart) return;
    const xs = chart.data[0];
    chart.setScale("x", { min: xs[0], max: xs[xs.length - 1] });
  }

  // ------------------------------------------------------------------ wiring

  document.addEventListener("DOMContentLoaded", () => {
    $("sign-in-form").addEventListener("submit", signIn);
    $("sign-out").addEventListener("click", () => signOut("Signed out."));
    $("list-filters").addEventListener("submit", (event) => { event.preventDefault(); loadList(false); });
    $("filter-status").addEventListener("change", renderList);
    $("list-more").addEventListener("click", () => loadList(true));
    $("create-form").addEventListener("submit", createIndicator);
    $("new-from-url").addEventListener("change", toggleSourceFields);
    $("new-from-file").addEventListener("change", toggleSourceFields);
    for (const button of document.querySelectorAll("[data-action]")) button.addEventListener("click", onAction);
    $("backfill-form").addEventListener("submit", onBackfill);
    $("fetch-spec-form").addEventListener("submit", onSaveFetchSpec);
    $("fetch-spec-reset").addEventListener("click", resetFetchSpec);
    $("code-form").addEventListener("submit", onReplaceCode);
    $("chart-reset").addEventListener("click", resetZoom);
    window.addEventListener("hashchange", route);
    route();
  });
})();
