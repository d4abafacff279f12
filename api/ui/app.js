// raftkv dashboard: one event stream on /v1/events of one node feeds every
// widget. When that node stops answering, the page moves to another node it
// learnt of from the status events. Plain JavaScript, no build step.
//
// A cluster with tokens: the page asks for one when a request is refused,
// keeps it in sessionStorage (this tab only, gone when it closes) and sends
// it as "Authorization: Bearer" on every request. The stream is read with
// fetch rather than EventSource, which cannot send headers: a token must
// never go in a URL.
"use strict";

const STALE_MS = 3000;        // no event for this long: the node is hung, move on
const CHART_SECONDS = 120;    // the chart's widest window
const CHART_MIN_SECONDS = 30; // narrowest: a young history fills the chart instead of a corner
const TRAIL_KEEP = 200;       // lines kept on the page
const TIMELINE_KEEP = 300;    // events kept on the page
const TOKEN_KEY = "raftkv.token"; // sessionStorage key of the API token

const state = {
  base: location.origin,      // the node whose stream we follow
  es: null,
  lastMsg: 0,
  failures: 0,
  retryTimer: 0,
  servingId: null,            // id of the node serving the stream
  nodes: new Map(),           // id -> latest entry of a status event
  lostLocally: new Map(),     // id -> when we saw it die, before any status said so
  seenEvents: new Set(),      // node:boot:seq of timeline events shown
  seenConfs: new Set(),       // memberships shown: every node reports each one
  timeline: [],               // {time, node, kind, cls, html parts}
  points: [],                 // stats points, oldest first
  trailLast: 0,               // highest trail index shown
  token: sessionStorage.getItem(TOKEN_KEY) || "", // "" sends none
};

// ---------- small DOM helpers ----------

function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") e.className = v;
    else if (k === "text") e.textContent = v;
    else if (k.startsWith("data-")) e.setAttribute(k, v);
    else e[k] = v;
  }
  for (const kid of kids.flat()) {
    if (kid === null || kid === undefined || kid === false) continue;
    e.append(kid instanceof Node ? kid : document.createTextNode(String(kid)));
  }
  return e;
}
const $ = (id) => document.getElementById(id);
const fmt = (n) => (n === undefined || n === null ? "–" : Number(n).toLocaleString("en-US"));

function bytes(n) {
  if (n === undefined || n === null) return "–";
  const u = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
  return (i === 0 ? n : n.toFixed(n < 10 ? 1 : 0)) + " " + u[i];
}

function clock(t) {
  const d = new Date(t);
  const p = (x, n = 2) => String(x).padStart(n, "0");
  return `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}.${p(d.getMilliseconds(), 3)}`;
}

// baseOf turns a node's http_addr (host:port) into a URL the browser can
// reach: a wildcard host means "the host this page came from".
function baseOf(addr) {
  if (!addr) return null;
  let host = addr, port = "";
  const m = addr.match(/^(\[[^\]]*\]|[^:]*):(\d+)$/);
  if (m) { host = m[1]; port = m[2]; }
  if (host === "" || host === "0.0.0.0" || host === "[::]") host = location.hostname.includes(":") ? `[${location.hostname}]` : location.hostname;
  return `${location.protocol === "https:" ? "https:" : "http:"}//${host}${port ? ":" + port : ""}`;
}

// ---------- the stream ----------

function setConn(kind, text) {
  $("conn").dataset.state = kind;
  $("conn-text").textContent = text;
}

// ---------- the token ----------

function authHeaders(extra) {
  const h = Object.assign({}, extra);
  if (state.token) h.Authorization = "Bearer " + state.token;
  return h;
}

// needToken shows the token form; the stream waits until one is given.
function needToken(why) {
  setConn("reconnecting", why);
  $("token-why").textContent = why;
  $("token-form").hidden = false;
  $("token-input").focus();
}

$("token-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  state.token = $("token-input").value.trim();
  $("token-input").value = "";
  if (state.token) sessionStorage.setItem(TOKEN_KEY, state.token);
  else sessionStorage.removeItem(TOKEN_KEY);
  $("token-form").hidden = true;
  connect(state.base);
});

function refusal(status) {
  if (status === 403) return "this token may not do that (the stream needs a read token without a prefix)";
  return state.token ? "the token was refused; give another" : "this cluster asks for a token";
}

// ---------- the stream ----------

// openStream reads a Server-Sent Events stream with fetch and calls
// on.open(), on.event(name, data), on.denied(status) (401, 403) or
// on.error(why), unless closed first.
function openStream(url, on) {
  const ctl = new AbortController();
  (async () => {
    let resp;
    try {
      resp = await fetch(url, { headers: authHeaders({ Accept: "text/event-stream" }), cache: "no-store", signal: ctl.signal });
    } catch (e) {
      if (!ctl.signal.aborted) on.error("could not be opened");
      return;
    }
    if (resp.status === 401 || resp.status === 403) { on.denied(resp.status); return; }
    if (!resp.ok || !resp.body) { on.error(`answered ${resp.status}`); return; }
    on.open();
    const reader = resp.body.pipeThrough(new TextDecoderStream()).getReader();
    let buf = "";
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += value.replace(/\r\n?/g, "\n");
        for (let i; (i = buf.indexOf("\n\n")) >= 0; buf = buf.slice(i + 2)) sseBlock(buf.slice(0, i), on.event);
      }
    } catch (e) { /* aborted, or the connection broke */ }
    if (!ctl.signal.aborted) on.error("ended");
  })();
  return { close: () => ctl.abort() };
}

// sseBlock parses one event ("event:" and "data:" lines; ":" comments,
// such as keep-alives, are skipped) and hands it to fn.
function sseBlock(block, fn) {
  let name = "message";
  const data = [];
  for (const line of block.split("\n")) {
    if (line === "" || line.startsWith(":")) continue;
    const c = line.indexOf(":");
    const field = c < 0 ? line : line.slice(0, c);
    let v = c < 0 ? "" : line.slice(c + 1);
    if (v.startsWith(" ")) v = v.slice(1);
    if (field === "event") name = v;
    else if (field === "data") data.push(v);
  }
  if (data.length) fn(name, data.join("\n"));
}

const streamHandlers = {
  status: onStatus,
  raft: (d) => addRaftEvents(d.events || []),
  stats: (d) => addPoints(d.points || []),
  trail: (d) => addTrail(d.lines || []),
};

function connect(base) {
  clearTimeout(state.retryTimer);
  if (state.es) state.es.close();
  state.base = base;
  state.lastMsg = Date.now();
  setConn("reconnecting", `connecting to ${base.replace(/^https?:\/\//, "")}…`);
  const es = openStream(base + "/v1/events", {
    open: () => {
      if (es !== state.es) return;
      state.lastMsg = Date.now();
      state.failures = 0;
    },
    event: (name, raw) => {
      if (es !== state.es) return;
      state.lastMsg = Date.now();
      let data;
      try { data = JSON.parse(raw); } catch (e) { console.warn("bad event", name, e); return; }
      const fn = streamHandlers[name];
      if (fn) fn(data);
    },
    denied: (status) => {
      if (es !== state.es) return;
      state.es = null; // no failover: every node has the same tokens
      needToken(refusal(status));
    },
    error: (why) => {
      if (es !== state.es) return;
      failover("the stream from " + base.replace(/^https?:\/\//, "") + " " + why);
    },
  });
  state.es = es;
}

// failover moves the stream to the next node: those the last status showed
// up come first, the one that just failed last.
function failover(reason) {
  if (state.es) { state.es.close(); state.es = null; }
  const failed = state.base;
  if (state.servingId !== null) {
    const n = state.nodes.get(state.servingId);
    if (n && !isDown(n)) {
      state.lostLocally.set(state.servingId, Date.now());
      addLocalEvent("down", state.servingId, `Node ${state.servingId} stopped answering`, "its event stream ended");
    }
    state.servingId = null;
    renderCards();
  }
  const known = [...state.nodes.values()].sort((a, b) => a.id - b.id);
  const bases = [];
  for (const n of known) if (!isDown(n)) bases.push(baseOf(n.http_addr));
  for (const n of known) bases.push(baseOf(n.http_addr));
  bases.push(location.origin);
  const uniq = [...new Set(bases.filter(Boolean))];
  const others = uniq.filter((b) => b !== failed);
  const next = others.length ? others[state.failures % others.length] : failed;
  state.failures++;
  const delay = Math.min(2000, 150 * 2 ** Math.min(state.failures - 1, 4));
  setConn("reconnecting", `${reason}; trying ${next.replace(/^https?:\/\//, "")}…`);
  state.retryTimer = setTimeout(() => connect(next), delay);
}

// A node that hangs (paused, partitioned) keeps the TCP stream open but
// sends nothing: status events stop, so move on.
setInterval(() => {
  if (state.es && Date.now() - state.lastMsg > STALE_MS) failover("no events for " + STALE_MS / 1000 + " s");
}, 500);

// ---------- status and cards ----------

// Grace for a node this page saw die: the next node's first status may
// predate the death and still show it up.
const LOST_GRACE_MS = 2500;

const isDown = (n) => !n.up || state.lostLocally.has(n.id);

function onStatus(st) {
  state.servingId = st.from;
  const prev = state.nodes;
  state.nodes = new Map();
  for (const n of st.nodes || []) {
    const old = prev.get(n.id);
    if (!n.up && old) {
      // Keep the last known numbers of a dead node, dimmed, for context.
      for (const k of ["state", "term", "commit_index", "applied_index", "snapshot_index", "snapshot_term", "log_bytes", "first_log_index", "last_log_index"]) {
        if (n[k] === undefined && old[k] !== undefined) n[k] = old[k];
      }
    }
    const lostAt = state.lostLocally.get(n.id);
    const wasUp = old ? !isDown(old) : null;
    if (lostAt !== undefined && (!n.up || Date.now() - lostAt > LOST_GRACE_MS)) state.lostLocally.delete(n.id);
    const nowUp = !isDown(n);
    if (wasUp !== null && wasUp !== nowUp) {
      if (nowUp) addLocalEvent("up", n.id, `Node ${n.id} is reachable again`);
      else addLocalEvent("down", n.id, `Node ${n.id} is unreachable`, n.error || "");
    }
    state.nodes.set(n.id, n);
  }
  const me = state.nodes.get(st.from);
  setConn("live", `live · node ${st.from} · ${me && me.http_addr ? me.http_addr : state.base.replace(/^https?:\/\//, "")}`);
  renderCards();
}

// theLeader is the one node shown as leader: an up node that says it leads,
// in the highest term (a deposed leader may not know it yet).
function theLeader() {
  let best = null;
  for (const n of state.nodes.values()) {
    if (!isDown(n) && n.state === "leader" && (!best || n.term > best.term)) best = n;
  }
  return best;
}

function renderCards() {
  const box = $("cards");
  const nodes = [...state.nodes.values()].sort((a, b) => a.id - b.id);
  if (!nodes.length) {
    box.replaceChildren(el("div", { class: "placeholder", text: "Waiting for the cluster's status…" }));
    return;
  }
  const leader = theLeader();
  let commit = 0;
  for (const n of nodes) if (!isDown(n)) commit = Math.max(commit, n.commit_index || 0);
  if (leader) commit = leader.commit_index;
  const up = nodes.filter((n) => !isDown(n));
  let term = 0;
  for (const n of nodes) term = Math.max(term, n.term || 0);

  $("sum-leader").textContent = leader ? `node ${leader.id}` : "none";
  $("sum-leader").parentElement.className = "chip " + (leader ? "leader" : "bad");
  $("sum-term").textContent = term ? fmt(term) : "–";
  $("sum-commit").textContent = fmt(commit);
  $("sum-up").textContent = `${up.length} / ${nodes.length}`;
  $("sum-up").parentElement.className = "chip" + (up.length < nodes.length ? " bad" : "");

  box.replaceChildren(...nodes.map((n) => card(n, leader, commit)));
}

function card(n, leader, leaderCommit) {
  const down = isDown(n);
  const isLeader = !down && leader && leader.id === n.id;
  // A learner (receives the log, does not vote) or a node no longer a
  // member is a follower that says so.
  const member = n.role === "learner" || n.role === "removed" ? n.role : null;
  const role = down ? "down" : isLeader ? "leader" : n.state === "candidate" ? "candidate" : n.state === "leader" ? "candidate" : member || "follower";
  const badgeText = down ? "down" : isLeader ? "leader" : n.state === "leader" ? "stale leader" : member || n.state || "?";
  const cls = ["node-card", role];

  let lagBlock;
  if (down) {
    lagBlock = lagBar(0, "bad", "unreachable", "");
  } else if (isLeader) {
    const followers = (n.peers || []).filter((p) => p.id !== n.id);
    const detail = followers.map((p) => {
      const f = state.nodes.get(p.id);
      return f && isDown(f) ? `n${p.id} down` : `n${p.id} #${fmt(p.match_index)}`;
    }).join(" · ");
    lagBlock = lagBar(100, "lead", "leads · replicates to", detail || "no followers");
  } else {
    const lag = Math.max(0, leaderCommit - (n.applied_index || 0));
    const pct = lag === 0 ? 100 : Math.max(4, 100 - 25 * Math.log10(1 + lag));
    // A few entries are always in flight under load: only a real backlog
    // is worth a warning colour.
    lagBlock = lagBar(pct, lag < 100 ? "" : lag < 10000 ? "warn" : "bad", "lag", lag === 0 ? "caught up" : `${fmt(lag)} behind`);
  }

  const latency = n.write_latency && n.write_latency.count
    ? el("span", {}, "writes ", el("b", { text: `${fmt(n.write_latency.count)}/s` }), " p99 ", el("b", { text: `${n.write_latency.p99_ms.toFixed(1)} ms` }))
    : null;

  return el("article", { class: cls.join(" "), "data-id": n.id, "data-role": role },
    state.servingId === n.id && !down ? el("span", { class: "serving", text: "streaming", title: "this page's events come from this node" }) : null,
    el("div", { class: "head" },
      el("div", { class: "title" }, isLeader ? el("span", { class: "crown", text: "♛" }) : null, `Node ${n.id}`),
      el("span", { class: "badge " + role, text: badgeText })),
    el("div", { class: "stats" },
      stat("term", fmt(n.term)),
      stat("commit", fmt(n.commit_index)),
      stat("applied", fmt(n.applied_index))),
    lagBlock,
    el("div", { class: "meta" },
      el("span", {}, "snapshot ", el("b", { text: n.snapshot_index ? `#${fmt(n.snapshot_index)}` : "none" }), n.snapshot_index ? ` (t${n.snapshot_term})` : ""),
      el("span", { title: "the entries still in the log, after compaction" }, "log ", el("b", { text: bytes(n.log_bytes) }),
        n.first_log_index ? " from " : "", n.first_log_index ? el("b", { text: `#${fmt(n.first_log_index)}` }) : ""),
      latency),
    down && n.error ? el("div", { class: "err", text: n.error }) : null,
    el("div", { class: "foot" },
      el("span", { class: "addr", text: n.http_addr || "" }),
      el("span", { class: "up", text: down ? "● down" : "● up" })));
}

function stat(k, v) {
  return el("div", { class: "stat" }, el("div", { class: "k", text: k }), el("div", { class: "v", text: v }));
}

function lagBar(pct, kind, label, value) {
  return el("div", { class: "lag" },
    el("div", { class: "label" }, el("span", { text: label }), el("b", { text: value })),
    el("div", { class: "bar" }, el("div", { class: "fill " + kind, style: `width:${pct}%` })));
}

// ---------- timeline ----------

const causeText = {
  timeout: "election timeout: no heartbeat from a leader",
  transfer: "leadership transfer",
  "prevote-failed": "pre-vote found no majority",
};

// describe turns a Raft event into a line for humans, or null for events
// another line already says (a leader learning that it leads).
function describe(e) {
  const who = `Node ${e.node}`;
  const cause = e.cause ? el("span", { class: "cause", text: causeText[e.cause] || e.cause }) : null;
  switch (e.kind) {
    case "election":
      // A pre-vote runs before the term is raised: name the term it aims at.
      return { cls: "election", msg: [`${who} started an election for term ${e.role === "precandidate" ? e.term + 1 : e.term}`, cause] };
    case "role":
      switch (e.role) {
        case "leader": return { cls: "leader-won", msg: [`${who} won the election and leads term ${e.term}`] };
        case "candidate": return { cls: "election", msg: [`${who} became a candidate and asks for votes`] };
        case "precandidate": return { cls: "election", msg: [`${who} runs a pre-vote: would a majority vote for it?`] };
        case "follower":
          return e.cause === "prevote-failed"
            ? { cls: "stepdown", msg: [`${who} stays a follower`, cause] }
            : { cls: "stepdown", msg: [`${who} became a follower`] };
      }
      return { cls: "", msg: [`${who} is now ${e.role}`] };
    case "leader":
      if (e.leader === null || e.leader === undefined) return { cls: "lost", msg: [`${who} lost its leader`] };
      if (e.leader === e.node) return null;
      return { cls: "follow", msg: [`${who} follows node ${e.leader}`] };
    case "membership": {
      // The first node to report a membership speaks for all of them.
      const voters = e.voters || [], learners = e.learners || [];
      const key = `${e.config_index}:${voters}:${learners}`;
      if (state.seenConfs.has(key)) return null;
      state.seenConfs.add(key);
      const list = (what, ids) => `${what}${ids.length === 1 ? "" : "s"} ${ids.join(", ")}`;
      const parts = [list("voter", voters)];
      if (learners.length) parts.push(list("learner", learners));
      return { cls: "membership", msg: [`Membership at index ${e.config_index}: ${parts.join("; ")}`] };
    }
  }
  return { cls: "", msg: [`${who}: ${e.kind}`] };
}

function addRaftEvents(events) {
  let added = false;
  for (const e of events) {
    const key = `${e.node}:${e.boot}:${e.seq}`;
    if (state.seenEvents.has(key)) continue;
    state.seenEvents.add(key);
    const d = describe(e);
    if (!d) continue;
    state.timeline.push({ time: Date.parse(e.time), term: e.term, cls: d.cls, msg: d.msg, fresh: true });
    added = true;
  }
  if (added) renderTimeline();
}

// addLocalEvent records what the page itself noticed (a node going down).
function addLocalEvent(kind, node, text, why) {
  state.timeline.push({ time: Date.now(), term: null, cls: kind, msg: [text, why ? el("span", { class: "why", text: " — " + why }) : null], fresh: true });
  renderTimeline();
}

function renderTimeline() {
  state.timeline.sort((a, b) => a.time - b.time);
  if (state.timeline.length > TIMELINE_KEEP) state.timeline.splice(0, state.timeline.length - TIMELINE_KEEP);
  const items = [];
  for (let i = state.timeline.length - 1; i >= 0; i--) {
    const t = state.timeline[i];
    items.push(el("li", { class: `k-${t.cls}${t.fresh ? " fresh" : ""}` },
      el("span", { class: "t", text: clock(t.time) }),
      el("span", { class: "d" }),
      el("span", { class: "msg" }, t.msg.map((m) => (m instanceof Node ? m.cloneNode(true) : m))),
      t.term !== null ? el("span", { class: "term", text: `term ${t.term}` }) : el("span")));
    t.fresh = false;
  }
  $("timeline").replaceChildren(...items);
}

// ---------- chart ----------

function addPoints(points) {
  for (const p of points) {
    const t = Date.parse(p.time);
    if (state.points.length && t <= state.points[state.points.length - 1].t) continue; // replay after a move
    state.points.push({ t, rate: p.commits_per_sec, p50: p.latency_node === null ? null : p.p50_ms, p99: p.latency_node === null ? null : p.p99_ms, node: p.latency_node, writes: p.writes });
  }
  const cutoff = Date.now() - (CHART_SECONDS + 5) * 1000;
  while (state.points.length && state.points[0].t < cutoff) state.points.shift();
  const last = state.points[state.points.length - 1];
  if (last) {
    const lat = last.node === null || last.node === undefined
      ? el("span", { text: " · no writes" })
      : el("span", {}, " · p50 ", el("b", { text: `${last.p50.toFixed(2)} ms` }), " · p99 ", el("b", { text: `${last.p99.toFixed(2)} ms` }), ` (node ${last.node})`);
    $("chart-now").replaceChildren(el("b", { text: fmt(Math.round(last.rate)) }), " entries/s", lat);
  }
  drawChart();
}

// niceMax rounds an axis maximum up so that its quarters (the grid lines)
// are round numbers.
function niceMax(v) {
  if (v <= 0) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 4, 6, 8, 10]) if (v <= m * p) return m * p;
  return 10 * p;
}

const axisNum = (v) => (v >= 10 ? fmt(Math.round(v)) : String(Number(v.toFixed(2))));

function drawChart() {
  const c = $("chart");
  const dpr = window.devicePixelRatio || 1;
  const w = c.clientWidth, h = c.clientHeight;
  if (!w || !h) return;
  if (c.width !== Math.round(w * dpr) || c.height !== Math.round(h * dpr)) { c.width = Math.round(w * dpr); c.height = Math.round(h * dpr); }
  const g = c.getContext("2d");
  g.setTransform(dpr, 0, 0, dpr, 0, 0);
  g.clearRect(0, 0, w, h);
  const css = getComputedStyle(document.documentElement);
  const col = (n) => css.getPropertyValue(n).trim();
  const L = 52, R = 52, T = 10, B = 24;
  const pw = w - L - R, ph = h - T - B;
  const now = Date.now();
  const first = state.points.length ? state.points[0].t : now;
  const span = Math.min(CHART_SECONDS, Math.max(CHART_MIN_SECONDS, Math.ceil((now - first) / 1000)));
  const t0 = now - span * 1000;
  const pts = state.points.filter((p) => p.t >= t0 - 2000);
  const rateMax = niceMax(Math.max(10, ...pts.map((p) => p.rate)));
  const latMax = niceMax(Math.max(1, ...pts.map((p) => p.p99 || 0)));
  const x = (t) => L + ((t - t0) / (span * 1000)) * pw;
  const yr = (v) => T + ph - (v / rateMax) * ph;
  const yl = (v) => T + ph - (v / latMax) * ph;

  g.font = "11px system-ui, sans-serif";
  g.lineWidth = 1;
  for (let i = 0; i <= 4; i++) {
    const y = T + (ph * i) / 4;
    g.strokeStyle = "rgba(39,50,77,.8)";
    g.beginPath(); g.moveTo(L, y); g.lineTo(L + pw, y); g.stroke();
    g.fillStyle = col("--teal"); g.textAlign = "right";
    g.fillText(axisNum(rateMax * (1 - i / 4)), L - 8, y + 4);
    g.fillStyle = col("--pink"); g.textAlign = "left";
    g.fillText(axisNum(latMax * (1 - i / 4)) + " ms", L + pw + 8, y + 4);
  }
  g.fillStyle = col("--faint"); g.textAlign = "center";
  const step = span > 60 ? 30 : 10;
  for (let s = 0; s <= span; s += step) {
    const xx = x(now - s * 1000);
    g.fillText(s === 0 ? "now" : `-${s}s`, xx, h - 6);
  }
  if (pts.length < 2) {
    g.fillStyle = col("--muted"); g.textAlign = "center"; g.font = "13px system-ui, sans-serif";
    g.fillText("collecting data… run `kvcli bench write` to see it move", L + pw / 2, T + ph / 2);
    return;
  }
  g.save();
  g.beginPath(); g.rect(L, T, pw, ph); g.clip();
  // Throughput: a filled area.
  g.beginPath();
  g.moveTo(x(pts[0].t), yr(0));
  for (const p of pts) g.lineTo(x(p.t), yr(p.rate));
  g.lineTo(x(pts[pts.length - 1].t), yr(0));
  g.closePath();
  const grad = g.createLinearGradient(0, T, 0, T + ph);
  grad.addColorStop(0, "rgba(55,201,192,.45)"); grad.addColorStop(1, "rgba(55,201,192,.03)");
  g.fillStyle = grad; g.fill();
  line(g, pts, (p) => p.rate, x, yr, col("--teal"), 2);
  line(g, pts, (p) => p.p50, x, yl, col("--amber"), 1.6);
  line(g, pts, (p) => p.p99, x, yl, col("--pink"), 1.6);
  g.restore();
}

// line draws a series, breaking it where a value is missing.
function line(g, pts, val, x, y, color, width) {
  g.strokeStyle = color; g.lineWidth = width; g.lineJoin = "round";
  g.beginPath();
  let pen = false;
  for (const p of pts) {
    const v = val(p);
    if (v === null || v === undefined) { pen = false; continue; }
    if (pen) g.lineTo(x(p.t), y(v)); else g.moveTo(x(p.t), y(v));
    pen = true;
  }
  g.stroke();
}
window.addEventListener("resize", drawChart);
setInterval(drawChart, 1000); // keep the time axis moving when no point arrives

// ---------- trail ----------

function trailLine(raw, fresh) {
  const m = raw.match(/^(\d+), (\d+), (.*)$/);
  if (!m) return el("li", { text: raw, class: fresh ? "fresh" : "" });
  const cmd = m[3];
  const op = cmd.startsWith("SET ") ? "op-set" : cmd.startsWith("DEL ") ? "op-del" : cmd === "NOOP" ? "op-noop" : cmd.startsWith("SNAPSHOT") ? "op-snap" : "";
  const title = cmd === "NOOP" ? "a new leader commits an empty entry to learn what is committed" : undefined;
  return el("li", { class: fresh ? "fresh" : "", title },
    el("span", { class: "i", text: m[1] }), el("span", { class: "tm", text: "t" + m[2] }), el("span", { class: op, text: cmd }));
}

function addTrail(lines) {
  const box = $("trail");
  if (box.firstElementChild && box.firstElementChild.classList.contains("empty")) box.replaceChildren();
  const atBottom = box.scrollHeight - box.scrollTop - box.clientHeight < 30;
  const flash = lines.length <= 3; // under load everything is new: no flashing then
  for (const raw of lines) {
    const m = raw.match(/^(\d+),/);
    const idx = m ? Number(m[1]) : 0;
    if (idx && idx <= state.trailLast) continue; // already shown (a replay after moving to another node)
    if (idx && state.trailLast && idx > state.trailLast + 1) {
      box.append(el("li", { class: "gap", text: `… ${fmt(idx - state.trailLast - 1)} more entries` }));
    }
    if (idx) state.trailLast = idx;
    box.append(trailLine(raw, flash));
  }
  while (box.children.length > TRAIL_KEEP) box.firstElementChild.remove();
  if (atBottom) box.scrollTop = box.scrollHeight;
}

// ---------- key browser ----------

function kvMsg(text, kind) {
  const m = $("kv-msg");
  m.textContent = text;
  m.className = "kv-msg " + (kind || "");
}

async function api(method, path, body) {
  const started = performance.now();
  const init = { method, headers: authHeaders() };
  if (body !== undefined) { init.body = body; init.headers["Content-Type"] = "application/octet-stream"; }
  const resp = await fetch(state.base + path, init);
  const text = await resp.text();
  const ms = (performance.now() - started).toFixed(1);
  if (resp.status === 401) needToken(refusal(401));
  if (!resp.ok) {
    let msg = text;
    try { msg = JSON.parse(text).error || text; } catch (e) { /* not JSON */ }
    const err = new Error(`${resp.status}: ${msg}`);
    err.status = resp.status;
    throw err;
  }
  return { text, ms };
}

const keyPath = (k) => "/v1/kv/" + k.split("/").map(encodeURIComponent).join("/");

function decodeField(text, b64) {
  if (text !== undefined && text !== null) return text;
  if (b64 === undefined || b64 === null) return "";
  return "base64:" + b64;
}

$("list-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const prefix = $("prefix").value;
  try {
    const r = await api("GET", `/v1/kv?limit=200&prefix=${encodeURIComponent(prefix)}`);
    const items = JSON.parse(r.text).items || [];
    const rows = items.map((it) => {
      const k = decodeField(it.key, it.key_base64), v = decodeField(it.value, it.value_base64);
      const tr = el("tr", { title: "click to edit" }, el("td", { text: k }), el("td", { text: v }));
      tr.addEventListener("click", () => { $("key").value = k; $("value").value = v; });
      return tr;
    });
    $("kv-rows").replaceChildren(...(rows.length ? rows : [el("tr", { class: "empty" }, el("td", { colSpan: 2, text: "No keys with this prefix." }))]));
    kvMsg(`${items.length} key${items.length === 1 ? "" : "s"}${items.length === 200 ? " (first 200)" : ""} · ${r.ms} ms`, "ok");
  } catch (e) {
    kvMsg("list failed: " + e.message, "err");
  }
});

$("kv-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const op = ev.submitter ? ev.submitter.dataset.op : "get";
  const key = $("key").value;
  if (!key) { kvMsg("give a key", "err"); return; }
  try {
    if (op === "get") {
      const r = await api("GET", keyPath(key));
      $("value").value = r.text;
      kvMsg(`GET ${key} · ${r.text.length} bytes · ${r.ms} ms`, "ok");
    } else if (op === "put") {
      const r = await api("PUT", keyPath(key), $("value").value);
      kvMsg(`PUT ${key} · committed at index ${JSON.parse(r.text).index} · ${r.ms} ms`, "ok");
    } else {
      const r = await api("DELETE", keyPath(key));
      kvMsg(`DELETE ${key} · committed at index ${JSON.parse(r.text).index} · ${r.ms} ms`, "ok");
    }
  } catch (e) {
    kvMsg(`${op.toUpperCase()} ${key} failed: ${e.status === 404 ? "no such key" : e.message}`, "err");
  }
});

// ---------- start ----------

renderCards();
drawChart();
connect(state.base);
