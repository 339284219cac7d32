// faultlab ui: the page's whole behaviour. The server streams snapshots of the cluster
// (Server-Sent Events, "state") and the event log ("event"); the controls POST actions.
"use strict";

const selected = new Set();
let latest = null;

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
        el("td", { "data-testid": `run-${node.id}` }), el("td"), el("td"), el("td"));
    });
    const [, , , run, pid, answers, led] = row.children;
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
  set(cell, text, cls);
  if (link) { cell.title = link.name; cell.dataset.testid = `link-${link.src}-${link.dst}`; }
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
  renderNodes(state);
  renderGroups(state);
  renderLinks(state);
  set(document.getElementById("updated"), new Date(state.time_s * 1000).toLocaleTimeString());
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
  if (action === "heal") return [{ action }];
  if (!nodes.length) throw new Error("select one or more nodes first");
  if (action === "partition") {
    const groups = new Set(latest.nodes.filter((n) => selected.has(n.id)).map((n) => n.group));
    const rest = latest.nodes.filter((n) => groups.has(n.group) && !selected.has(n.id)).map((n) => n.id);
    if (!rest.length) throw new Error("nothing left on the other side: select fewer nodes");
    return [{ action, sides: [nodes, rest], kind }];
  }
  if (action === "isolate") return nodes.map((node) => ({ action, node, kind }));
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

function connect() {
  const status = document.getElementById("connection");
  const stream = new EventSource("/api/stream");
  stream.addEventListener("open", () => { status.textContent = "live"; status.className = "up"; });
  stream.addEventListener("error", () => { status.textContent = "reconnecting…"; status.className = "down"; });
  stream.addEventListener("state", (e) => render(JSON.parse(e.data)));
  stream.addEventListener("event", (e) => addEvent(JSON.parse(e.data)));
}

document.addEventListener("DOMContentLoaded", () => {
  for (const button of document.querySelectorAll("button[data-action]")) {
    button.addEventListener("click", () => onAction(button.dataset.action, button));
  }
  connect();
});
