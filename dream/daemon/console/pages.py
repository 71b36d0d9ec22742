"""The dashboard's HTML: whole pages and the fragments the event stream replaces. Every value is
escaped here; the pages load only `/console/static/` files."""

from __future__ import annotations

import json
import math
import time
from html import escape
from typing import Any

from dream.projects import languages, templates


def h(value: Any) -> str:
    return escape("" if value is None else str(value), quote=True)


def _ago(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m {seconds % 60}s"
    return f"{seconds // 3600}h {seconds % 3600 // 60}m"


def _ms(value: Any) -> str:
    return f"{value:.3f}" if isinstance(value, (int, float)) else "-"


def page(title: str, body: str, *, signed_in: bool, universe: str = "") -> str:
    banner = (
        '<span class="badge ok" id="session">signed in</span>'
        if signed_in
        else '<span class="badge warn" id="session">read-only: open the address <code>dream console</code> '
        "prints to sign in</span>"
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{h(title)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="/console/static/console.css">
<script src="/console/static/console.js" defer></script></head>
<body data-universe="{h(universe)}" data-signed-in="{"1" if signed_in else ""}">
<header><a href="/" class="brand">dream console</a>{f" / universe <b>{h(universe)}</b>" if universe else ""}
{banner}</header>
<main>{body}</main>
</body></html>"""


def home(universes: list[dict[str, Any]], *, signed_in: bool) -> str:
    rows = "".join(
        f"""<tr data-universe="{h(u["name"])}"><td><a href="/console/u/{h(u["name"])}">{h(u["name"])}</a></td>
<td><span class="state {h(u["state"])}">{h(u["state"])}</span></td><td>{u["up"]}/{u["nodes"]}</td>
<td>{"kept" if u["keep"] else ""}</td><td>
{"" if u["state"] == "stopped" else f'<button class="act" data-method="DELETE" data-url="/universe/{h(u["name"])}" data-confirm="Stop universe {h(u["name"])}?">stop</button>'}
{'<button class="act" data-method="POST" data-url="/universe/' + h(u["name"]) + '" data-body="{}">start</button>' if u["state"] == "stopped" else ""}
</td></tr>"""
        for u in universes
    )
    body = f"""<section><h2>Universes</h2>
<table id="universes"><tr><th>name</th><th>state</th><th>nodes up</th><th></th><th></th></tr>{rows or '<tr><td colspan="5">no universe yet</td></tr>'}</table>
<form class="api" data-method="POST" data-url-template="/universe/{{name}}" id="new-universe">
<h3>Start a universe</h3>
<label>name <input name="name" required pattern="[A-Za-z0-9_-]+"></label>
<label>shape <input name="shape" placeholder="default"></label>
<button>start</button><output></output></form></section>"""
    return page("dream console", body, signed_in=signed_in)


def universe_page(name: str, *, signed_in: bool, default_path: str) -> str:
    # ping_pong selected: the template `dream new project` uses when none is named.
    template_options = "".join(
        f'<option value="{h(t)}"{" selected" if t == "ping_pong" else ""}>{h(t)}</option>'
        for t in templates()
    )
    language_options = "".join(
        f'<option value="{h(lang)}"{" selected" if lang == "go" else ""}>{h(lang)}</option>'
        for lang in languages()
    )
    body = f"""
<nav><a href="#nodes">nodes</a> <a href="#projects">projects</a> <a href="#builds">builds</a>
<a href="#call">call a function</a> <a href="#requests">requests</a> <a href="#logs">logs</a>
<a href="#data">databases, storages, channels</a></nav>
<section id="nodes"><h2>Nodes</h2><div id="nodes-body" class="live">loading…</div></section>
<section id="projects"><h2>Projects</h2>
<form class="api" data-method="POST" data-url="/project/{h(name)}" id="new-project">
<h3>New project</h3>
<label>name <input name="name" required pattern="[A-Za-z0-9_-]+"></label>
<label>template <select name="template">{template_options}</select></label>
<label>language <select name="lang">{language_options}</select></label>
<label>working copies in <input name="path" size="50" data-default-path="{h(default_path)}"></label>
<button>create</button><output></output></form>
<div id="projects-body" class="live">loading…</div></section>
<section id="builds"><h2>Builds</h2><div id="builds-body" class="live">loading…</div>
<p id="build-log-state" hidden></p><pre id="build-log" hidden></pre></section>
<section id="call"><h2>Call a function</h2>
<form id="call-form" class="call" data-url="/console/call/{h(name)}">
<label>via <select name="via"><option value="gateway">gateway</option><option value="substrate">substrate</option></select></label>
<label>method <select name="method">{"".join(f"<option>{m}</option>" for m in ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"))}</select></label>
<label>host <input name="host" size="40" required></label>
<label>path <input name="path" value="/" required></label><br>
<label>headers (one <code>Name: value</code> a line)<br><textarea name="headers" rows="3" cols="50"></textarea></label>
<label>body<br><textarea name="body" rows="3" cols="50"></textarea></label><br>
<button>call</button></form>
<div id="call-result"></div></section>
<section id="requests"><h2>Requests <small>(the inspector: the last requests of this universe, newest first)</small></h2>
<label>function <input id="requests-filter" placeholder="show only this function's calls"></label>
<div id="requests-body" class="live">loading…</div></section>
<section id="logs"><h2>Logs</h2>
<label>node <select id="log-node"></select></label>
<label>filter <input id="log-filter" placeholder="text the lines must hold"></label>
<pre id="log-text"></pre></section>
<section id="data"><h2>Databases, storages, channels</h2>
<label>project <select id="data-project"><option value="">(choose a project)</option></select></label>
<button id="data-refresh" type="button">refresh</button>
<p id="data-status"></p>
<div class="data-part" id="databases"><h3>Databases</h3><div id="databases-body">choose a project</div>
<form id="value-form" class="data-form">
<label>database <input name="database" size="20" required placeholder="/counters"></label>
<label>key <input name="key" size="20" required></label>
<label>value <input name="text" size="30"></label>
<button value="put">put</button></form>
<div id="keys-body"></div></div>
<div class="data-part" id="storages"><h3>Storages</h3><div id="storages-body">choose a project</div>
<form id="file-form" class="data-form">
<label>storage <input name="storage" size="20" required placeholder="/uploads"></label>
<label>file name <input name="name" size="20" required></label>
<label>content <input name="text" size="30"></label>
<button>add a version</button></form>
<div id="files-body"></div></div>
<div class="data-part" id="channels"><h3>Channels</h3><div id="channels-body">choose a project</div>
<form id="publish-form" class="data-form">
<label>channel <input name="channel" size="20" required placeholder="orders"></label>
<label>message <input name="text" size="30"></label>
<button>publish</button></form>
<p id="tail-state"></p><ul id="channel-messages"></ul></div></section>"""
    return page(f"{name} · dream console", body, signed_in=signed_in, universe=name)


STATE_COLOURS = {"up": "#2e9e4f", "starting": "#d9a400", "restarting": "#d9a400", "down": "#c0392b"}


def graph_svg(nodes: list[dict[str, Any]]) -> str:
    """The universe's nodes as a graph: registries in the middle, every other node on a ring around them,
    a line from each node to the registries it announces to; the colour is the node's state."""
    width, height = 900, 300
    hub_ids = {t for n in nodes for t in n["hubs"]}
    ring = [n for n in nodes if n["id"] not in hub_ids]
    where: dict[str, tuple[float, float]] = {}
    for index, node in enumerate(n for n in nodes if n["id"] in hub_ids):
        where[node["id"]] = (width / 2 + (index - (len(hub_ids) - 1) / 2) * 120, height / 2)
    for index, node in enumerate(ring):
        angle = 2 * math.pi * index / max(len(ring), 1) - math.pi / 2
        where[node["id"]] = (width / 2 + 380 * math.cos(angle), height / 2 + 115 * math.sin(angle))
    lines = "".join(
        f'<line x1="{where[n["id"]][0]:.0f}" y1="{where[n["id"]][1]:.0f}" x2="{where[t][0]:.0f}" '
        f'y2="{where[t][1]:.0f}" class="link"/>'
        for n in nodes
        for t in n["hubs"]
        if t in where
    )
    circles = "".join(
        f'<g class="node" data-node="{h(n["id"])}"><circle cx="{where[n["id"]][0]:.0f}" cy="{where[n["id"]][1]:.0f}" '
        f'r="14" fill="{STATE_COLOURS.get(n["state"], "#888")}"><title>{h(n["name"])} {h(n["state"])} pid '
        f'{h(n.get("pid") or "-")}</title></circle><text x="{where[n["id"]][0]:.0f}" '
        f'y="{where[n["id"]][1] + 28:.0f}">{h(n["name"].split("@", 1)[0])}</text></g>'
        for n in nodes
    )
    return f'<svg class="graph" viewBox="0 0 {width} {height}" role="img" aria-label="nodes">{lines}{circles}</svg>'


def nodes_fragment(universe: str, nodes: list[dict[str, Any]]) -> str:
    rows = []
    for n in nodes:
        ports = " ".join(f"{k} {v}" for k, v in sorted((n.get("ports") or {}).items()))
        label = n["name"].split("@", 1)[0]
        reason = f" <small>{h(n['reason'])}</small>" if n.get("reason") else ""
        rows.append(
            f"""<tr data-node="{h(n["id"])}" data-name="{h(label)}"><td>{h(label)}</td><td class="id">{h(n["id"])}</td>
<td><span class="state {h(n["state"])}">{h(n["state"])}</span>{reason}</td>
<td class="pid">{h(n.get("pid") or "-")}</td><td>{h(ports)}</td><td>{_ago(n.get("uptime"))}</td><td>{h(n.get("restarts", 0))}</td>
<td><button class="act kill" data-method="POST" data-url="/console/kill/{h(universe)}/{h(n["id"])}" title="kill its process: the daemon brings it back">kill</button>
<button class="act" data-method="DELETE" data-url="/node/{h(universe)}/{h(label)}/{h(n["id"])}" data-confirm="Stop {h(label)} for good?">stop</button></td></tr>"""
        )
    return graph_svg(nodes) + (
        "<table><tr><th>node</th><th>id</th><th>state</th><th>pid</th><th>ports</th><th>uptime</th>"
        f"<th>restarts</th><th></th></tr>{''.join(rows)}</table>"
    )


def projects_fragment(universe: str, found: list[dict[str, Any]]) -> str:
    if not found:
        return "<p>no project yet: create one above</p>"
    parts = []
    for p in found:
        repos = "".join(
            f"<li>{h(role)}: <code>{h(r.get('full_name'))}</code> clone <code>{h(r.get('clone_url'))}</code></li>"
            for role, r in (p.get("repositories") or {}).items()
        )
        functions = "".join(
            f"""<li class="function" data-function="{h(f["name"])}"><b>{h(f["name"])}</b> {h(f.get("method") or "GET")}
<code>http://{h(f["fqdn"])}{h(f["path"])}</code>
<button class="call-it" data-host="{h(f["fqdn"])}" data-path="{h(f["path"])}" data-method="{h(f.get("method") or "GET")}">call it</button></li>"""
            for f in p.get("functions") or []
        )
        websites = "".join(
            f"""<li class="website"><b>{h(w["name"])}</b> website <code>http://{h(w["fqdn"])}{h(w["path"])}</code>
<button class="call-it" data-host="{h(w["fqdn"])}" data-path="{h(w["path"])}" data-method="GET">open it</button></li>"""
            for w in p.get("websites") or []
        )
        state = "published" if p.get("published") else "not built yet: push it"
        parts.append(
            f"""<div class="project" data-project="{h(p["name"])}"><h3>{h(p["name"])} <small class="id">{h(p.get("id"))}</small></h3>
<p>{h(state)} <button class="act push" data-method="POST" data-url="/fixture/{h(universe)}/pushAll"
data-body="{h(json.dumps({"params": [p.get("id"), "", ""]}))}">push all</button>{f' <span class="error">{h(p["error"])}</span>' if p.get("error") else ""}</p>
<ul>{repos}</ul><ul>{functions or "<li>no function published yet</li>"}{websites}</ul></div>"""
        )
    return "".join(parts)


def _job_button(universe: str, job: dict[str, Any]) -> str:
    """Cancel for a job that has not ended, retry for a failed or cancelled one."""
    if job["status"] in ("open", "locked"):
        action = "cancel"
    elif job["status"] in ("failed", "cancelled"):
        action = "retry"
    else:
        return ""
    url = f"/console/job/{h(universe)}/{h(job['id'])}/{action}"
    return f'<button class="act {action}" data-method="POST" data-url="{url}">{action}</button>'


def builds_fragment(universe: str, jobs: list[dict[str, Any]]) -> str:
    if not jobs:
        return "<p>no build yet: push a project</p>"
    rows = "".join(
        f"""<tr data-job="{h(j["id"])}"><td class="id">{h(j["id"])}</td><td>{h(j["repository"])}</td><td>{h(j["commit"])}</td>
<td><span class="state {h(j["status"])}">{h(j["status"])}</span></td><td>{_ago(j["duration"])}</td>
<td class="error">{h(j["error"][:200])}</td><td><button class="log" data-job="{h(j["id"])}">log</button>
{_job_button(universe, j)}</td></tr>"""
        for j in jobs
    )
    return (
        "<table><tr><th>job</th><th>repository</th><th>commit</th><th>status</th><th>duration</th>"
        f"<th>error</th><th></th></tr>{rows}</table>"
    )


def requests_fragment(records: list[dict[str, Any]], errors: list[str] | None = None) -> str:
    if not records:
        return "<p>no request yet: call a function</p>"
    rows = "".join(
        f"""<tr class="request"><td>{h(time.strftime("%H:%M:%S", time.localtime(r["time"])))}</td><td>{h(r["method"])}</td>
<td>{h(r["host"])}{h(r["path"])}</td><td class="status">{h(r["status"])}</td><td>{_ms(r["total_ms"])}</td><td>{_ms(r["gateway_ms"])}</td>
<td>{_ms(r["instantiate_ms"])}</td><td>{_ms(r["wasm_ms"])}</td><td>{h(r["pages"] or "-")}</td>
<td>{h(" ".join(f"{k}={v}" for k, v in sorted((r["host_calls"] or {}).items())) or "-")}</td>
<td>{h(r["bytes_in"] if r["bytes_in"] is not None else "-")}/{h(r["bytes_out"])}</td><td class="fn">{h(r["function"] or "-")}</td>
<td class="id">{h(r["substrate"] or "-")}</td><td class="id">{h(r["gateway"] or "-")}</td></tr>"""
        for r in records
    )
    return (
        "<table><tr><th>time</th><th>method</th><th>host/path</th><th>status</th><th>total ms</th>"
        "<th>gateway ms</th><th>instantiate ms</th><th>wasm ms</th><th>pages</th><th>host calls</th>"
        f"<th>bytes in/out</th><th>function</th><th>substrate</th><th>gateway</th></tr>{rows}</table>"
    )


def error_page(message: str, status: int, *, signed_in: bool) -> str:
    return page(
        "not found" if status == 404 else "error",
        f'<section class="error-page"><h2>{status}</h2><p class="error">{h(message)}</p>'
        '<p><a href="/">back to the universes</a></p></section>',
        signed_in=signed_in,
    )
