// faultlab ui: the page's whole behaviour. The server streams snapshots of the cluster
// (Server-Sent Events, "state") and the event log ("event"); the controls POST actions.
"use strict";

const selected = new Set();
let pickedLink = null;  // [src, dst]: latency and bandwidth then act on that link alone
let latest = null;
let devices = { clocks: {}, disks: {} };
const series = {};  // topology group -> [{time_s, ops_per_s, p50_ms, p99_ms}]
const KEPT_POINTS = 180;

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v;
    else if (k === "text") node.textContent = v;
    else node.setAttribute(k, v);
  }
  for (const child of children) node.append(child);
  return node;
}

function leads(state, nodeId) {
  return Object.entries(state.groups)
    .filter(([, g]) => g.leader === nodeId)
    .map(([id]) => id)
    .sort();
}

// The page updates in place: rows and cells are made once, keyed, and only their text and
// classes change, so a click never lands on an element the next update replaced.
function keyed(parent, key, make) {
  let child = parent.querySelector(`:scope > [data-key="${CSS.escape(key)}"]`);
  if (!child) {
    child = make();
    child.dataset.key = key;
    parent.append(child);
  }
  return child;
}

function set(node, text, cls) {
  if (node.textContent !== text) node.textContent = text;
  if (cls !== undefined && node.className !== cls) node.className = cls;
}

function prune(parent, keys) {
  for (const child of [...parent.children]) if (!keys.has(child.dataset.key)) child.remove();
}

function renderNodes(state) {
  const body = document.querySelector("#nodes tbody");
  for (const node of state.nodes) {
    const row = keyed(body, node.id, () => {
      const box = el("input", { type: "checkbox", "data-testid": `select-${node.id}` });
      box.addEventListener("change", () => {
        if (box.checked) selected.add(node.id); else selected.delete(node.id);
      });
      return el("tr", { "data-node": node.id },
        el("td", {}, box), el("td", { text: node.id }), el("td", { text: node.group }),
        el("td", { "data-testid": `run-${node.id}` }), el("td"), el("td"), el("td"),
        el("td", { "data-testid": `clock-${node.id}` }), el("td", { "data-testid": `disk-${node.id}` }));
    });
    const [, , , run, pid, answers, led, clock, disk] = row.children;
    const device = devices.disks[node.id];
    set(clock, devices.clocks[node.id] ?? "");
    set(disk, !device ? "" : device.error ? device.error
      : `${device.faults}; ${device.unsynced_bytes} B unsynced; ${device.power_cuts} cuts`);
    const ledBy = leads(state, node.id);
    set(run, node.exit_code !== null ? `${node.run} (exit ${node.exit_code})` : node.run, node.run);
    set(pid, String(node.pid ?? ""));
    set(answers, node.serving ? "yes" : `no (${node.error})`);
    set(led, ledBy.length > 3 ? `${ledBy.length} groups` : ledBy.join(", "), "leader");
    led.title = ledBy.join(", ");
  }
}

function groupsTable() {
  return el("table", {},
    el("thead", {}, el("tr", {},
      el("th", { text: "group" }), el("th", { text: "leader" }), el("th", { text: "term" }),
      el("th", { text: "members: role, term, commit, applied" }))),
    el("tbody"));
}

function fillGroups(body, ids, state) {
  for (const id of ids) {
    const group = state.groups[id];
    const row = keyed(body, id, () => el("tr", {},
      el("td", { text: id }), el("td", { "data-testid": `leader-${id}` }), el("td"), el("td")));
    const [, leader, term, members] = row.children;
    const lead = group.members.find((m) => m.node === group.leader);
    set(leader, group.leader ?? "none", "leader");
    set(term, lead ? String(lead.term) : "");
    set(members, group.members.slice().sort((a, b) => a.node.localeCompare(b.node))
      .map((m) => `${m.node} ${m.role} t${m.term} c${m.commit} a${m.applied}`).join(" · "));
  }
  prune(body, new Set(ids));
}

function renderGroups(state) {
  const box = document.getElementById("groups");
  const ids = Object.keys(state.groups).sort((a, b) => a.localeCompare(b, undefined, { numeric: true }));
  const partition = (id) => /\/\d+$/.test(id);
  const plain = keyed(box, "plain", groupsTable);
  fillGroups(plain.querySelector("tbody"), ids.filter((id) => !partition(id)), state);
  const partitions = ids.filter(partition);
  const details = keyed(box, "partitions", () => el("details", { "data-testid": "partitions" },
    el("summary"), groupsTable()));
  details.hidden = partitions.length === 0;
  const perNode = {};
  for (const id of partitions) {
    const leader = state.groups[id].leader ?? "none";
    perNode[leader] = (perNode[leader] ?? 0) + 1;
  }
  const summary = Object.entries(perNode).sort().map(([n, c]) => `${n}: ${c}`).join(", ");
  set(details.querySelector("summary"), `${partitions.length} partitions; leaders ${summary}`);
  fillGroups(details.querySelector("tbody"), partitions, state);
}

function setLink(cell, link) {
  let cls = "link ok", text = "ok";
  if (!link) { cls = "link self"; text = ""; }
  else if (link.cut) { cls = "link cut"; text = `cut (${link.cut})`; }
  else if (link.latency_ms || link.bandwidth_kb_s) {
    cls = "link slow";
    text = [link.latency_ms ? `${link.latency_ms} ms` : "", link.bandwidth_kb_s ? `${link.bandwidth_kb_s} KB/s` : ""]
      .filter(Boolean).join(", ");
  }
  const picked = link && pickedLink && pickedLink[0] === link.src && pickedLink[1] === link.dst;
  set(cell, text, picked ? `${cls} picked` : cls);
  if (link) {
    cell.title = `${link.name}: click to pick this link for latency or bandwidth`;
    cell.dataset.testid = `link-${link.src}-${link.dst}`;
    cell.onclick = () => {
      pickedLink = picked ? null : [link.src, link.dst];
      say(pickedLink ? `picked the link ${link.src} -> ${link.dst}` : "no link picked", true);
      if (latest) renderLinks(latest);
    };
  }
}

function renderLinks(state) {
  const box = document.getElementById("links");
  const byGroup = {};
  for (const node of state.nodes) (byGroup[node.group] ??= []).push(node.id);
  const peer = {}, client = {};
  for (const link of state.links) {
    if (link.listener) continue;  // wire listeners (etcd, Kafka) share the client's fate
    if (link.src === "client") client[link.dst] = link; else peer[`${link.src}>${link.dst}`] = link;
  }
  for (const [group, nodes] of Object.entries(byGroup)) {
    const table = keyed(box, group, () => el("table", { "data-group": group },
      el("thead", {}, el("tr", {}, el("th", { text: group }),
        ...nodes.map((n) => el("th", { text: n })), el("th", { text: "from clients" }))),
      el("tbody", {}, ...nodes.map((src) => el("tr", {}, el("th", { text: src }),
        ...nodes.map(() => el("td")), el("td"))))));
    nodes.forEach((src, i) => {
      const cells = table.querySelector("tbody").children[i].children;
      nodes.forEach((dst, j) => setLink(cells[j + 1], src === dst ? null : peer[`${src}>${dst}`]));
      setLink(cells[nodes.length + 1], client[src]);
    });
  }
}

function render(state) {
  latest = state;
  const problems = document.getElementById("problems");
  problems.hidden = state.problems.length === 0;
  set(problems, state.problems.join(" · "));
  renderNodes(state);
  renderGroups(state);
  renderLinks(state);
  set(document.getElementById("updated"), new Date(state.time_s * 1000).toLocaleTimeString());
}

function addRates(points) {
  for (const [group, point] of Object.entries(points)) {
    const kept = (series[group] ??= []);
    kept.push(point);
    if (kept.length > KEPT_POINTS) kept.shift();
  }
  drawRates();
}

function drawRates() {
  const box = document.getElementById("rates");
  for (const [group, points] of Object.entries(series)) {
    const chart = keyed(box, group, () => el("figure", {},
      el("figcaption"), el("canvas", { width: "420", height: "90", "data-testid": `rates-${group}` })));
    const last = points[points.length - 1] ?? {};
    set(chart.querySelector("figcaption"),
      `${group}: ${last.ops_per_s ?? 0}/s, p50 ${last.p50_ms ?? "–"} ms, p99 ${last.p99_ms ?? "–"} ms`);
    const canvas = chart.querySelector("canvas");
    canvas.dataset.points = String(points.length);
    const ctx = canvas.getContext("2d");
    ctx.clearRect(0, 0, canvas.width, canvas.height);
    const line = (values, colour) => {
      const top = Math.max(1, ...values.filter((v) => v !== null));
      ctx.strokeStyle = colour;
      ctx.beginPath();
      values.forEach((v, i) => {
        const x = (i / (KEPT_POINTS - 1)) * canvas.width;
        const y = canvas.height - 4 - ((v ?? 0) / top) * (canvas.height - 8);
        if (i === 0) ctx.moveTo(x, y); else ctx.lineTo(x, y);
      });
      ctx.stroke();
    };
    line(points.map((p) => p.ops_per_s), "#1565c0");
    line(points.map((p) => p.p99_ms), "#c62828");
  }
}

function addEvent(event) {
  const list = document.getElementById("events");
  const time = new Date(event.time_s * 1000).toLocaleTimeString();
  const item = el("li", { class: event.ok ? "ok" : "failed", "data-testid": "event" });
  item.textContent = `${time} ${event.kind}: ${event.text}`;
  list.prepend(item);
}

function say(text, ok) {
  const box = document.getElementById("message");
  box.textContent = text;
  box.className = ok ? "ok" : "error";
}

async function act(body) {
  const answer = await fetch("/api/actions", {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
  });
  const data = await answer.json().catch(() => ({ error: `HTTP ${answer.status}` }));
  if (!answer.ok) throw new Error(data.error ?? `HTTP ${answer.status}`);
  return data.done;
}

function requests(action) {
  const nodes = [...selected];
  const kind = document.getElementById("kind").value;
  if (action === "heal" || action === "heal-clocks" || action === "heal-disks") return [{ action }];
  if ((action === "latency" || action === "bandwidth") && pickedLink) {
    return [{ action, link: pickedLink, value: Number(document.getElementById(action).value) }];
  }
  if (!nodes.length) throw new Error("select one or more nodes first");
  if (action === "partition") {
    const groups = new Set(latest.nodes.filter((n) => selected.has(n.id)).map((n) => n.group));
    const rest = latest.nodes.filter((n) => groups.has(n.group) && !selected.has(n.id)).map((n) => n.id);
    if (!rest.length) throw new Error("nothing left on the other side: select fewer nodes");
    return [{ action, sides: [nodes, rest], kind }];
  }
  if (action === "isolate") return nodes.map((node) => ({ action, node, kind }));
  if (action === "skew-clock") {
    const jump_ms = Number(document.getElementById("jump").value);
    const rate = Number(document.getElementById("rate").value);
    return nodes.map((node) => ({ action, node, jump_ms, rate }));
  }
  if (action === "slow-disk") {
    const fsync_ms = Number(document.getElementById("fsync").value);
    return nodes.map((node) => ({ action, node, fsync_ms }));
  }
  if (action === "latency" || action === "bandwidth") {
    const value = Number(document.getElementById(action).value);
    return nodes.map((node) => ({ action, node, value }));
  }
  return nodes.map((node) => ({ action, node }));
}

async function onAction(action, button) {
  let todo;
  try { todo = requests(action); } catch (e) { say(e.message, false); return; }
  button.disabled = true;
  say(`${action}…`, true);
  try {
    const done = [];
    for (const body of todo) done.push(await act(body));
    say(done.join("; "), true);
  } catch (e) {
    say(e.message, false);
  } finally {
    button.disabled = false;
  }
}

// -- experiments ---------------------------------------------------------------------------

let catalogue = [];

async function getJson(url) {
  const answer = await fetch(url);
  const data = await answer.json().catch(() => ({ error: `HTTP ${answer.status}` }));
  if (!answer.ok) throw new Error(data.error ?? `HTTP ${answer.status}`);
  return data;
}

async function loadCatalogue() {
  catalogue = await getJson("/api/experiments");
  const select = document.getElementById("experiment");
  select.replaceChildren(...catalogue.map((e) => el("option", { value: e.name, text: e.name })));
  const describe = () => {
    const found = catalogue.find((e) => e.name === select.value);
    set(document.getElementById("hypothesis"), found ? `${found.title}. ${found.hypothesis}` : "");
  };
  select.addEventListener("change", describe);
  describe();
}

async function loadRuns() {
  const body = document.querySelector("#runs tbody");
  const runs = await getJson("/api/runs");
  body.replaceChildren(...runs.slice(0, 40).map((r) => {
    const open = el("button", { "data-testid": `open-${r.run}-${r.mode}`, text: "open" });
    open.addEventListener("click", () => openRun(r.run, r.mode));
    return el("tr", {},
      el("td", { text: r.run }), el("td", { text: r.mode }),
      el("td", { class: r.behaved ? "yes" : "no", text: r.behaved ? "yes" : "NO" }),
      el("td", { text: r.finding ?? "" }), el("td", {}, open));
  }));
}

async function startRun(button) {
  const body = {
    name: document.getElementById("experiment").value,
    mode: document.getElementById("mode").value,
    duration_s: Number(document.getElementById("duration").value),
    seed: Number(document.getElementById("seed").value),
  };
  button.disabled = true;
  try {
    const answer = await fetch("/api/experiments/run", {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
    });
    const data = await answer.json().catch(() => ({ error: `HTTP ${answer.status}` }));
    if (!answer.ok) throw new Error(data.error ?? `HTTP ${answer.status}`);
    document.getElementById("run-output").textContent = "";
    set(document.getElementById("run-status"), `${data.name}: running`);
  } catch (e) {
    set(document.getElementById("run-status"), e.message, "no");
    button.disabled = false;
  }
}

function onRunProgress(p) {
  const bar = document.getElementById("progress");
  bar.max = p.expected_s;
  bar.value = Math.min(p.elapsed_s, p.expected_s);
  if (p.line) {
    const out = document.getElementById("run-output");
    out.textContent += p.line + "\n";
    out.scrollTop = out.scrollHeight;
  }
  if (p.exit_code !== null) {
    bar.value = bar.max;
    const verdict = p.exit_code === 0 ? "as hypothesized" : p.exit_code === 1 ? "NOT as hypothesized" : `failed (exit ${p.exit_code})`;
    set(document.getElementById("run-status"), `${p.name}: done, ${verdict} (${p.folder})`, p.exit_code === 0 ? "yes" : "no");
    document.getElementById("run").disabled = false;
    loadRuns();
  }
}

async function openRun(run, mode) {
  const view = document.getElementById("run-view");
  view.hidden = false;
  set(document.getElementById("run-title"), `${run} / ${mode}`);
  const base = `/api/runs/${encodeURIComponent(run)}/${mode}`;
  document.getElementById("plot-link").href = `${base}/files/timeline.png`;
  document.getElementById("journal-link").href = `${base}/files/journal.json`;
  document.getElementById("history-link").href = `${base}/files/history.jsonl`;
  const [report, timeline] = await Promise.all([getJson(`${base}/report`), getJson(`${base}/timeline`)]);
  document.getElementById("report").innerHTML = report.html;  // rendered from the run's own report.md
  set(document.getElementById("verdict"), timeline.flagged.length
    ? `${timeline.finding} — the checker blames ${timeline.flagged.length} operation(s):`
    : timeline.finding);
  const draw = drawTimeline(timeline);
  document.getElementById("flagged").replaceChildren(...timeline.flagged.slice(0, 200).map((o, i) => {
    const item = el("li", { "data-testid": `flagged-${i}`, text: describeOp(o) });
    item.addEventListener("click", () => draw(o));
    return item;
  }));
  view.scrollIntoView();
}

const COLOURS = { ok: "#43a047", fail: "#e53935", info: "#fb8c00" };

function describeOp(o) {
  const input = o.input === "null" ? "" : ` ${o.input}`;
  const output = o.outcome === "ok" && o.output !== "null" ? ` ${o.output}` : "";
  return `${o.process} ${o.f} ${o.key}${input} → ${o.outcome}${output} (${o.start_s.toFixed(3)}–${o.end_s.toFixed(3)} s)`;
}

function drawTimeline(t) {
  const canvas = document.getElementById("timeline");
  const lanes = [...new Set(t.operations.concat(t.flagged).map((o) => o.process))].sort();
  const lane = Object.fromEntries(lanes.map((p, i) => [p, i]));
  const ctx = canvas.getContext("2d");
  ctx.font = "11px system-ui";
  const left = Math.max(60, ...lanes.map((p) => ctx.measureText(p).width + 10));
  const top = 18, height = 14, width = 1100;
  canvas.width = left + width + 10;  // resizing clears the canvas and its font
  canvas.height = top + lanes.length * height + 20;
  canvas.dataset.operations = String(t.operations.length);
  canvas.dataset.lanes = String(lanes.length);
  const x = (s) => left + (s / Math.max(t.duration_s, 0.001)) * width;
  ctx.font = "11px system-ui";
  for (const f of t.faults) {
    ctx.fillStyle = "rgba(120, 120, 120, 0.15)";
    ctx.fillRect(x(f.start_s), top, Math.max(1, x(f.end_s) - x(f.start_s)), lanes.length * height);
    ctx.fillStyle = "#555";
    ctx.fillText(f.name, x(f.start_s) + 2, top - 5);
  }
  lanes.forEach((p, i) => { ctx.fillStyle = "#333"; ctx.fillText(p, 2, top + i * height + 11); });
  const bar = (o) => [x(o.start_s), top + lane[o.process] * height + 2, Math.max(1, x(o.end_s) - x(o.start_s)), height - 4];
  for (const o of t.operations) {
    ctx.fillStyle = COLOURS[o.outcome] ?? "#999";
    ctx.fillRect(...bar(o));
  }
  ctx.lineWidth = 1.5;
  ctx.strokeStyle = "#000";
  for (const o of t.flagged) ctx.strokeRect(...bar(o));
  const hover = document.getElementById("timeline-hover");
  const ops = t.flagged.concat(t.operations);
  canvas.onmousemove = (e) => {
    const r = canvas.getBoundingClientRect();
    const at = ((e.clientX - r.left - left) / width) * t.duration_s;
    const process = lanes[Math.floor((e.clientY - r.top - top) / height)];
    const hit = ops.find((o) => o.process === process && o.start_s <= at && at <= o.end_s);
    set(hover, hit ? describeOp(hit) : "");
  };
  // Point at one operation (a flagged one picked from the list): a marker above its bar.
  return (o) => {
    const [bx, by] = bar(o);
    ctx.fillStyle = "#000";
    ctx.beginPath();
    ctx.moveTo(bx, by - 2); ctx.lineTo(bx - 5, by - 9); ctx.lineTo(bx + 5, by - 9);
    ctx.fill();
    set(hover, `flagged: ${describeOp(o)}`);
    canvas.scrollIntoView({ block: "center" });
  };
}

function connect() {
  const status = document.getElementById("connection");
  const stream = new EventSource("/api/stream");
  stream.addEventListener("open", () => { status.textContent = "live"; status.className = "up"; });
  stream.addEventListener("error", () => { status.textContent = "reconnecting…"; status.className = "down"; });
  stream.addEventListener("state", (e) => render(JSON.parse(e.data)));
  stream.addEventListener("event", (e) => addEvent(JSON.parse(e.data)));
  stream.addEventListener("run", (e) => onRunProgress(JSON.parse(e.data)));
  stream.addEventListener("rates", (e) => addRates(JSON.parse(e.data)));
  stream.addEventListener("devices", (e) => { devices = JSON.parse(e.data); });
}

document.addEventListener("DOMContentLoaded", () => {
  for (const button of document.querySelectorAll("button[data-action]")) {
    button.addEventListener("click", () => onAction(button.dataset.action, button));
  }
  const run = document.getElementById("run");
  run.addEventListener("click", () => startRun(run));
  getJson("/api/rates").then((all) => {
    for (const [group, points] of Object.entries(all)) series[group] = points.concat(series[group] ?? []);
    drawRates();
  }).catch(() => {});
  connect();
  loadCatalogue().catch((e) => set(document.getElementById("run-status"), e.message, "no"));
  loadRuns().catch((e) => set(document.getElementById("run-status"), e.message, "no"));
});
