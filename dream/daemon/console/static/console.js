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
