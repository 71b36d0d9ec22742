// The dashboard's behaviour: live sections over server-sent events, the forms and buttons that call the
// daemon's API (signed in with the session cookie and the x-dream-console header), and the log viewer.
"use strict";

const universe = document.body.dataset.universe || "";

function status(text) {
  let box = document.getElementById("status");
  if (!box) {
    box = document.createElement("div");
    box.id = "status";
    document.body.appendChild(box);
  }
  box.textContent = text;
}

async function callApi(method, url, body) {
  const options = { method, credentials: "same-origin", headers: { "x-dream-console": "1" } };
  if (body !== undefined) {
    options.headers["content-type"] = "application/json";
    options.body = typeof body === "string" ? body : JSON.stringify(body);
  }
  const response = await fetch(url, options);
  const text = await response.text();
  let data;
  try { data = JSON.parse(text); } catch (e) { data = text; }
  if (!response.ok) {
    const sentence = data && data.error ? data.error : text;
    throw new Error(`${response.status}: ${sentence}`);
  }
  return data;
}

function describe(data) {
  if (data && data.result && Array.isArray(data.result.jobs)) {
    return "builds: " + data.result.jobs.map((j) => `${j.repository || j.id} ${j.status}`).join(", ");
  }
  return JSON.stringify(data).slice(0, 400);
}

document.addEventListener("click", async (event) => {
  const button = event.target.closest("button");
  if (!button) return;
  if (button.classList.contains("act")) {
    event.preventDefault();
    if (button.dataset.confirm && !window.confirm(button.dataset.confirm)) return;
    status(`${button.textContent}…`);
    button.disabled = true;
    try {
      status(describe(await callApi(button.dataset.method, button.dataset.url, button.dataset.body)));
    } catch (error) {
      status(String(error.message || error));
    } finally {
      button.disabled = false;
    }
  } else if (button.classList.contains("call-it")) {
    event.preventDefault();
    const form = document.getElementById("call-form");
    form.elements.host.value = button.dataset.host;
    form.elements.path.value = button.dataset.path;
    form.elements.method.value = button.dataset.method || "GET";
    form.scrollIntoView();
  } else if (button.classList.contains("log")) {
    event.preventDefault();
    followBuild(button.dataset.job);
  }
});

// -- a build's log, followed while the job runs ----------------------------------------------------------

let buildStream = null;

async function followBuild(job) {
  const pre = document.getElementById("build-log");
  const state = document.getElementById("build-log-state");
  if (buildStream) buildStream.close();
  buildStream = null;
  pre.hidden = false;
  state.hidden = false;
  state.className = "";
  state.dataset.job = job;
  state.dataset.status = "";
  pre.textContent = "";
  const base = `/jobs/${encodeURIComponent(universe)}/${encodeURIComponent(job)}/log`;
  const ended = (status, error) => {
    state.dataset.status = status;
    state.textContent = `job ${job}: ${status}${error ? " - " + error : ""}`;
    state.className = `state ${status}`;
  };
  let first;
  try {
    first = await callApi("GET", `${base}?offset=0`);
  } catch (error) {
    state.textContent = String(error.message || error);
    state.className = "error";
    pre.hidden = true;
    return;
  }
  const append = (text) => {
    const follow = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
    pre.textContent += text;
    if (follow) pre.scrollTop = pre.scrollHeight;
  };
  append(first.text);
  if (first.done) {
    ended(first.status, first.error);
    return;
  }
  state.textContent = `job ${job}: ${first.status}, following its log…`;
  const url = `/console/job-log-events/${encodeURIComponent(universe)}/${encodeURIComponent(job)}?offset=${first.offset}`;
  const stream = new EventSource(url);
  buildStream = stream;
  stream.addEventListener("log", (e) => append(JSON.parse(e.data).text));
  stream.addEventListener("end", (e) => {
    const data = JSON.parse(e.data);
    ended(data.status, data.error);
    stream.close();
  });
  stream.addEventListener("failure", (e) => {
    state.textContent = e.data;
    state.className = "error";
    stream.close();
  });
}

document.addEventListener("submit", async (event) => {
  const form = event.target;
  const output = form.querySelector("output");
  if (form.classList.contains("api")) {
    event.preventDefault();
    const body = {};
    for (const element of form.elements) {
      if (element.name && element.value !== "") body[element.name] = element.value;
    }
    let url = form.dataset.url;
    if (form.dataset.urlTemplate) {
      url = form.dataset.urlTemplate.replace("{name}", encodeURIComponent(body.name || ""));
      delete body.name;
    }
    const pathField = form.elements.path;
    if (pathField && !body.path && pathField.dataset.defaultPath) {
      body.path = `${pathField.dataset.defaultPath}/${body.name}`;
    }
    output.textContent = "working…";
    output.className = "";
    try {
      const data = await callApi(form.dataset.method, url, body);
      output.textContent = "done: " + describe(data);
    } catch (error) {
      output.textContent = String(error.message || error);
      output.className = "error";
    }
  } else if (form.id === "call-form") {
    event.preventDefault();
    const target = document.getElementById("call-result");
    const body = {};
    for (const element of form.elements) if (element.name) body[element.name] = element.value;
    target.textContent = "calling…";
    try {
      const data = await callApi("POST", form.dataset.url, body);
      target.innerHTML = "";
      const head = document.createElement("p");
      head.id = "call-status";
      head.textContent = `${data.status} in ${data.time_ms} ms (${data.body_bytes} bytes)`;
      const headers = document.createElement("pre");
      headers.textContent = data.headers.map(([k, v]) => `${k}: ${v}`).join("\n");
      const content = document.createElement("pre");
      content.id = "call-body";
      content.textContent = data.body + (data.truncated ? "\n…(truncated)" : "");
      target.append(head, headers, content);
    } catch (error) {
      target.innerHTML = "";
      const p = document.createElement("p");
      p.className = "error";
      p.id = "call-status";
      p.textContent = String(error.message || error);
      target.append(p);
    }
  }
});

// -- live sections ------------------------------------------------------------------------------------

function filterRequests() {
  const input = document.getElementById("requests-filter");
  if (!input) return;
  const wanted = input.value.trim();
  for (const row of document.querySelectorAll("#requests-body tr.request")) {
    const fn = row.querySelector("td.fn").textContent;
    row.hidden = Boolean(wanted) && fn !== wanted;
  }
}
const requestsFilter = document.getElementById("requests-filter");
if (requestsFilter) requestsFilter.addEventListener("input", filterRequests);

function fillNodeChoice() {
  const select = document.getElementById("log-node");
  if (!select) return;
  const rows = document.querySelectorAll("#nodes-body tr[data-node]");
  const wanted = Array.from(rows, (row) => [row.dataset.node, row.dataset.name]);
  const have = Array.from(select.options, (o) => o.value);
  if (wanted.length && wanted.map((w) => w[0]).join() !== have.slice(1).join()) {
    const current = select.value;
    select.innerHTML = '<option value="">(choose a node)</option>';
    for (const [id, name] of wanted) {
      const option = document.createElement("option");
      option.value = id;
      option.textContent = `${name} ${id}`;
      select.appendChild(option);
    }
    select.value = current;
  }
}

if (universe) {
  const events = new EventSource(`/console/events/${encodeURIComponent(universe)}`);
  for (const section of ["nodes", "projects", "builds", "requests"]) {
    events.addEventListener(section, (event) => {
      document.getElementById(`${section}-body`).innerHTML = event.data;
      if (section === "nodes") fillNodeChoice();
      if (section === "projects") fillProjectChoice();
      if (section === "requests") filterRequests();
    });
  }
  events.addEventListener("gone", (event) => {
    status(event.data);
    events.close();
  });
}

// -- logs ---------------------------------------------------------------------------------------------

let logStream = null;
let logLines = [];

function showLog() {
  const filter = document.getElementById("log-filter").value;
  const shown = filter ? logLines.filter((line) => line.includes(filter)) : logLines;
  const pre = document.getElementById("log-text");
  pre.textContent = shown.slice(-2000).join("\n");
  pre.scrollTop = pre.scrollHeight;
}

const logNode = document.getElementById("log-node");
if (logNode) {
  logNode.addEventListener("change", () => {
    if (logStream) logStream.close();
    logLines = [];
    showLog();
    if (!logNode.value) return;
    logStream = new EventSource(`/console/logs/${encodeURIComponent(universe)}/${encodeURIComponent(logNode.value)}`);
    let partial = "";
    logStream.addEventListener("log", (event) => {
      const chunk = JSON.parse(event.data);
      const lines = (partial + chunk.text).split("\n");
      partial = lines.pop();
      logLines.push(...lines);
      if (logLines.length > 20000) logLines = logLines.slice(-10000);
      showLog();
    });
  });
  document.getElementById("log-filter").addEventListener("input", showLog);
}

// -- databases, storages, channels ---------------------------------------------------------------------
// Through the daemon's data and pub-sub routes; every value is put in the page as text, never as HTML.

function el(tag, attributes, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes || {})) {
    if (name === "text") node.textContent = value;
    else node.setAttribute(name, value);
  }
  node.append(...children);
  return node;
}

function dataStatus(text, failed) {
  const box = document.getElementById("data-status");
  box.textContent = text;
  box.className = failed ? "error" : "";
}

function dataProject() {
  return document.getElementById("data-project").value;
}

function dataUrl(tail, params) {
  const query = params ? "?" + new URLSearchParams(params).toString() : "";
  return `/data/${encodeURIComponent(universe)}/${encodeURIComponent(dataProject())}${tail}${query}`;
}

async function dataCall(method, url, body) {
  try {
    return await callApi(method, url, body);
  } catch (error) {
    dataStatus(String(error.message || error), true);
    throw error;
  }
}

function fillProjectChoice() {
  const select = document.getElementById("data-project");
  if (!select) return;
  const wanted = Array.from(document.querySelectorAll("#projects-body .project[data-project]"), (p) => p.dataset.project);
  const have = Array.from(select.options, (o) => o.value).slice(1);
  if (wanted.join() === have.join()) return;
  const current = select.value;
  select.innerHTML = '<option value="">(choose a project)</option>';
  for (const name of wanted) select.appendChild(el("option", { value: name, text: name }));
  select.value = wanted.includes(current) ? current : "";
}

function table(headers, rows) {
  return el("table", {}, el("tr", {}, ...headers.map((h) => el("th", { text: h }))), ...rows);
}

function cellButton(label, className, data) {
  const button = el("button", { type: "button", class: className, text: label });
  for (const [k, v] of Object.entries(data)) button.dataset[k] = v;
  return button;
}

async function loadData() {
  stopTail();
  for (const id of ["databases-body", "storages-body", "channels-body", "keys-body", "files-body"]) {
    document.getElementById(id).textContent = "";
  }
  document.getElementById("channel-messages").textContent = "";
  if (!dataProject()) return;
  dataStatus("reading…");
  let overview;
  try {
    overview = await dataCall("GET", dataUrl(""));
  } catch (error) {
    return;
  }
  document.getElementById("databases-body").append(
    overview.databases.length
      ? table(["database", "match", "size limit", "application", ""], overview.databases.map((d) => el("tr", { "data-database": d.match },
          el("td", { text: d.name }), el("td", { text: d.match + (d.regex ? " (regex)" : "") }),
          el("td", { text: d.size ? `${d.size} bytes` : "-" }), el("td", { text: d.application || "" }),
          el("td", {}, d.regex ? "" : cellButton("keys", "db-keys", { database: d.match })))))
      : el("p", { text: "no database in this project's config" }));
  document.getElementById("storages-body").append(
    overview.storages.length
      ? table(["storage", "match", "size limit", "versioning", ""], overview.storages.map((s) => el("tr", { "data-storage": s.match },
          el("td", { text: s.name }), el("td", { text: s.match + (s.regex ? " (regex)" : "") }),
          el("td", { text: s.size ? `${s.size} bytes` : "-" }), el("td", { text: s.versioning ? "yes" : "no" }),
          el("td", {}, s.regex ? "" : cellButton("files", "storage-files", { storage: s.match })))))
      : el("p", { text: "no storage in this project's config" }));
  try {
    const found = await dataCall("GET", `/console/channels/${encodeURIComponent(universe)}/${encodeURIComponent(dataProject())}`);
    document.getElementById("channels-body").append(
      found.channels.length
        ? table(["channel", "match", "websocket", "application", ""], found.channels.map((c) => el("tr", { "data-channel": c.match },
            el("td", { text: c.name }), el("td", { text: c.match + (c.regex ? " (regex)" : "") }),
            el("td", { text: c.websocket ? "yes" : "no" }), el("td", { text: c.application || "" }),
            el("td", {}, c.regex ? "" : cellButton("tail", "channel-tail", { channel: c.match })))))
        : el("p", { text: "no messaging channel in this project's config" }));
  } catch (error) {
    return;
  }
  dataStatus(`project ${overview.name}: ${overview.databases.length} database(s), ${overview.storages.length} storage(s)`);
}

async function showKeys(database) {
  document.getElementById("value-form").elements.database.value = database;
  const body = document.getElementById("keys-body");
  const listed = await dataCall("GET", dataUrl("/keys", { database }));
  const rows = [];
  for (const key of listed.keys) {
    const value = await dataCall("GET", dataUrl("/value", { database, key }));
    rows.push(el("tr", { "data-key": key }, el("td", { text: key }),
      el("td", { class: "value", text: value.text !== null ? value.text : `(${value.size} bytes, not text)` }),
      el("td", { text: String(value.size) }),
      el("td", {}, cellButton("delete", "db-delete", { database, key }))));
  }
  body.textContent = "";
  body.append(el("h4", { text: `keys of ${listed.database}` }),
    rows.length ? table(["key", "value", "bytes", ""], rows) : el("p", { text: "no key yet" }));
}

async function showFiles(storage) {
  document.getElementById("file-form").elements.storage.value = storage;
  const body = document.getElementById("files-body");
  const listed = await dataCall("GET", dataUrl("/files", { storage }));
  body.textContent = "";
  body.append(el("h4", { text: `files of ${listed.storage}` }),
    listed.files.length
      ? table(["file", "version", "bytes", "cid", ""], listed.files.map((f) => el("tr", { "data-file": f.name, "data-version": String(f.version) },
          el("td", { text: f.name }), el("td", { text: String(f.version) }), el("td", { text: String(f.size) }),
          el("td", { class: "id", text: f.cid }),
          el("td", {}, cellButton("download", "file-download", { storage, name: f.name, version: String(f.version) })))))
      : el("p", { text: "no file yet" }));
}

async function download(button) {
  const { storage, name, version } = button.dataset;
  const file = await dataCall("GET", dataUrl("/file", { storage, name, version }));
  const bytes = Uint8Array.from(atob(file.base64), (c) => c.charCodeAt(0));
  const link = el("a", { class: "download-link", download: `${name.split("/").pop() || "file"}`, text: `save ${name} v${version}` });
  link.href = URL.createObjectURL(new Blob([bytes]));
  button.replaceWith(link);
  link.click();
}

let tailStream = null;

function stopTail() {
  if (tailStream) tailStream.close();
  tailStream = null;
  const state = document.getElementById("tail-state");
  if (state) state.textContent = "";
}

function startTail(channel) {
  stopTail();
  document.getElementById("publish-form").elements.channel.value = channel;
  const list = document.getElementById("channel-messages");
  list.textContent = "";
  const state = document.getElementById("tail-state");
  state.textContent = `following channel ${channel}…`;
  state.dataset.channel = channel;
  const query = new URLSearchParams({ project: dataProject(), channel }).toString();
  tailStream = new EventSource(`/console/tail/${encodeURIComponent(universe)}?${query}`);
  tailStream.addEventListener("message", (event) => {
    const m = JSON.parse(event.data);
    const when = new Date(m.at * 1000).toLocaleTimeString();
    list.append(el("li", { class: "message", "data-seq": String(m.seq), text: `${when} #${m.seq} ${m.channel}: ${m.text} (${m.size} bytes, from ${m.source})` }));
  });
  tailStream.addEventListener("failure", (event) => {
    state.textContent = event.data;
    state.className = "error";
    stopTail();
  });
}

const dataChoice = document.getElementById("data-project");
if (dataChoice) {
  dataChoice.addEventListener("change", loadData);
  document.getElementById("data-refresh").addEventListener("click", loadData);
  document.getElementById("data").addEventListener("click", async (event) => {
    const button = event.target.closest("button");
    if (!button || button.type !== "button") return;
    try {
      if (button.classList.contains("db-keys")) await showKeys(button.dataset.database);
      else if (button.classList.contains("storage-files")) await showFiles(button.dataset.storage);
      else if (button.classList.contains("file-download")) await download(button);
      else if (button.classList.contains("channel-tail")) startTail(button.dataset.channel);
      else if (button.classList.contains("db-delete")) {
        const { database, key } = button.dataset;
        await dataCall("DELETE", dataUrl("/value", { database, key }));
        dataStatus(`deleted ${key} from ${database}`);
        await showKeys(database);
      }
    } catch (error) {
      // dataCall has shown the daemon's sentence
    }
  });
  const submitted = async (form, run) => {
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      if (!dataProject()) {
        dataStatus("choose a project first", true);
        return;
      }
      try {
        await run(form.elements);
      } catch (error) {
        // dataCall has shown the daemon's sentence
      }
    });
  };
  submitted(document.getElementById("value-form"), async (f) => {
    const answer = await dataCall("POST", dataUrl("/value"), { database: f.database.value, key: f.key.value, text: f.text.value });
    dataStatus(`put ${answer.key} in ${answer.database}`);
    await showKeys(f.database.value);
  });
  submitted(document.getElementById("file-form"), async (f) => {
    const answer = await dataCall("POST", dataUrl("/file"), { storage: f.storage.value, name: f.name.value, text: f.text.value, overwrite: false });
    dataStatus(`added ${answer.name} version ${answer.version} (${answer.size} bytes) to ${answer.storage}`);
    await showFiles(f.storage.value);
  });
  submitted(document.getElementById("publish-form"), async (f) => {
    const answer = await dataCall("POST", `/pubsub/${encodeURIComponent(universe)}/publish`, { channel: f.channel.value, text: f.text.value, project: dataProject() });
    dataStatus(`published on ${f.channel.value}: ${answer.functions === null ? "" : answer.functions + " function(s) ran"}`);
  });
}

// -- sign in ------------------------------------------------------------------------------------------

const loginState = document.getElementById("login-state");
if (loginState) {
  const token = window.location.hash.slice(1);
  history.replaceState(null, "", window.location.pathname);  // the token leaves the address bar at once
  if (!token) {
    loginState.textContent = "No token in this address: run `dream console` and open the address it prints.";
  } else {
    fetch("/console/session", {
      method: "POST",
      credentials: "same-origin",
      headers: { authorization: `Bearer ${token}` },
    }).then(async (response) => {
      if (response.ok) {
        window.location.replace("/");
      } else {
        const data = await response.json().catch(() => ({}));
        loginState.textContent = `Not signed in: ${data.error || response.status}`;
        loginState.className = "error";
      }
    });
  }
}
