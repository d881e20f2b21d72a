// The trustledger console: a page of this node's API, with the caller's
// token (kept in session storage, sent only to this origin). Everything it
// shows comes from the documented API (docs/api.md); it holds no state of
// its own.
"use strict";

const $ = (id) => document.getElementById(id);
let token = sessionStorage.getItem("trustledger.token") || "";
let current = ""; // the principal shown

async function api(method, path, body) {
  const opts = { method, headers: { Authorization: "Bearer " + token, Accept: "application/json" } };
  if (body !== undefined) {
    opts.headers["Content-Type"] = "application/json";
    opts.body = JSON.stringify(body);
  }
  const resp = await fetch(path, opts);
  const text = await resp.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch (e) { data = { detail: text }; }
  if (!resp.ok) {
    const err = new Error((data && (data.detail || data.title)) || resp.statusText);
    err.status = resp.status;
    throw err;
  }
  return data;
}

function text(el, s) { el.textContent = s; }

function show(view) {
  for (const v of document.querySelectorAll(".view")) v.hidden = v.id !== "view-" + view;
  if (view === "cluster") loadCluster();
  if (view === "alerts") loadAlerts();
}

async function signIn(t) {
  token = t;
  try {
    const st = await api("GET", "/v1/status");
    sessionStorage.setItem("trustledger.token", token);
    $("login").hidden = true;
    $("nav").hidden = false;
    text($("who"), "node " + st.nodeId + " (" + st.state + ")");
    show("principal");
  } catch (e) {
    sessionStorage.removeItem("trustledger.token");
    text($("login-error"), "Sign-in failed: " + e.message);
  }
}

async function loadCluster() {
  text($("cluster-error"), "");
  const body = $("cluster-table").querySelector("tbody");
  body.replaceChildren();
  try {
    const c = await api("GET", "/v1/cluster");
    text($("cluster-summary"), "Leader " + (c.leaderId || "none") + ", term " + c.term + ", " + c.voters + " voters, quorum " +
      c.quorum + ", " + c.failureTolerance + " more may fail.");
    for (const m of c.members) {
      const tr = document.createElement("tr");
      for (const v of [m.id + (m.leader ? " ★" : ""), m.region, m.role, m.gossip, m.appliedIndex, m.lag < 0 ? "?" : m.lag, m.reachable ? "yes" : "no"]) {
        const td = document.createElement("td");
        td.textContent = String(v);
        tr.appendChild(td);
      }
      body.appendChild(tr);
    }
  } catch (e) {
    text($("cluster-error"), e.status === 403 ? "The cluster view needs an operator token." : e.message);
  }
}

let plot = null;

async function loadPrincipal(id) {
  text($("principal-error"), "");
  try {
    const [rec, hist] = await Promise.all([api("GET", "/v1/principals/" + encodeURIComponent(id)),
      api("GET", "/v1/principals/" + encodeURIComponent(id) + "/history")]);
    current = id;
    $("record").hidden = false;
    text($("score"), rec.trustScore);
    text($("level"), rec.trustLevel);
    text($("trend"), "trend " + rec.trustTrend);
    drawBreakdown(rec.scoreComponents);
    drawHistory(hist.history, rec.trustAlerts || []);
  } catch (e) {
    $("record").hidden = true;
    text($("principal-error"), e.status === 404 ? "No principal " + id + "." : e.message);
  }
}

function drawBreakdown(components) {
  const box = $("breakdown");
  box.replaceChildren();
  for (const [name, value] of Object.entries(components)) {
    const row = document.createElement("div");
    row.className = "bar";
    row.dataset.component = name;
    const label = document.createElement("span");
    label.className = "name";
    label.textContent = name;
    const track = document.createElement("span");
    track.className = "track";
    const fill = document.createElement("span");
    // A component's own evidence may be below zero, and the adjustment
    // either way: a negative part is drawn in red, by its size.
    fill.className = value < 0 ? "fill negative" : "fill";
    fill.style.display = "block";
    fill.style.width = Math.min(100, Math.abs(value) * 4) + "%"; // a component is at most 25 points
    track.appendChild(fill);
    const num = document.createElement("span");
    num.textContent = value;
    row.append(label, track, num);
    box.appendChild(row);
  }
}

// drawHistory plots the score over time, each alert a vertical mark whose
// hover says what it was.
function drawHistory(points, alerts) {
  const xs = points.map((p) => Date.parse(p.timestamp) / 1000);
  const ys = points.map((p) => p.score);
  const marks = alerts.map((a) => ({ x: Date.parse(a.raisedAt) / 1000, label: a.type + " (" + a.severity + ", " + a.status + ")" }));
  const box = $("history");
  box.replaceChildren();
  box.dataset.points = String(points.length);
  box.dataset.alerts = alerts.map((a) => a.alertId + ":" + a.status).join(",");
  if (plot) plot.destroy();
  const opts = {
    width: 800, height: 260,
    scales: { y: { range: [0, 100] } },
    series: [{}, { label: "score", stroke: "#1d3557", width: 2, points: { show: true, size: 5 } }],
    hooks: {
      draw: [(u) => {
        const ctx = u.ctx;
        ctx.save();
        ctx.strokeStyle = "#e63946";
        ctx.lineWidth = 2;
        for (const m of marks) {
          const x = u.valToPos(m.x, "x", true);
          ctx.beginPath();
          ctx.moveTo(x, u.bbox.top);
          ctx.lineTo(x, u.bbox.top + u.bbox.height);
          ctx.stroke();
        }
        ctx.restore();
      }],
      setCursor: [(u) => {
        const t = u.posToVal(u.cursor.left, "x");
        const near = marks.find((m) => Math.abs(m.x - t) < (u.scales.x.max - u.scales.x.min) / 50);
        text($("history-legend"), near ? "alert: " + near.label : "red marks: alerts (hover one for its cause)");
      }],
    },
  };
  plot = new uPlot(opts, [xs, ys], box);
  text($("history-legend"), "red marks: alerts (hover one for its cause)");
}

async function loadAlerts() {
  text($("alerts-error"), "");
  const body = $("alerts-table").querySelector("tbody");
  // The rows are built first and swapped in at once: the queue never shows
  // empty while it reloads.
  const rows = [];
  try {
    const res = await api("GET", "/v1/alerts?status=open");
    $("alerts-empty").hidden = res.alerts.length > 0;
    for (const a of res.alerts) {
      const tr = document.createElement("tr");
      tr.dataset.alert = a.alertId;
      for (const v of [a.alertId, a.principalId, a.type, a.severity, a.raisedAt]) {
        const td = document.createElement("td");
        td.textContent = v;
        tr.appendChild(td);
      }
      const td = document.createElement("td");
      for (const action of ["acknowledge", "remediate", "dismiss", "confirm-safe", "confirm-compromised"]) {
        const b = document.createElement("button");
        b.textContent = action;
        b.dataset.action = action;
        b.addEventListener("click", () => review(a, action));
        td.appendChild(b);
      }
      tr.appendChild(td);
      rows.push(tr);
    }
  } catch (e) {
    text($("alerts-error"), e.message);
  }
  body.replaceChildren(...rows);
}

async function review(alert, action) {
  try {
    await api("POST", "/v1/alerts/" + encodeURIComponent(alert.alertId) + "/review", { action });
    await loadAlerts();
    if (current === alert.principalId) await loadPrincipal(current);
  } catch (e) {
    text($("alerts-error"), e.status === 403 ? "Reviewing alerts needs an analyst or admin token." : e.message);
  }
}

document.addEventListener("DOMContentLoaded", () => {
  $("login-form").addEventListener("submit", (ev) => { ev.preventDefault(); signIn($("token").value.trim()); });
  $("logout").addEventListener("click", () => { sessionStorage.removeItem("trustledger.token"); location.reload(); });
  for (const b of document.querySelectorAll("nav button[data-view]")) b.addEventListener("click", () => show(b.dataset.view));
  $("principal-form").addEventListener("submit", (ev) => { ev.preventDefault(); loadPrincipal($("principal-id").value.trim()); });
  $("decide-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    try {
      const d = await api("POST", "/v1/decisions", { principalId: $("decide-principal").value.trim(),
        action: $("decide-action").value.trim(), sensitivity: $("decide-sensitivity").value });
      text($("decide-result"), JSON.stringify(d, null, 2));
    } catch (e) {
      text($("decide-result"), "Error: " + e.message);
    }
  });
  $("whatif-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    try {
      const s = await api("POST", "/v1/simulate", { principalId: current, signals: [{ event: $("whatif-event").value.trim(),
        category: $("whatif-category").value, impact: Number($("whatif-impact").value) }] });
      text($("whatif-result"), "Score " + s.before.trustScore + " → " + s.record.trustScore + " (" + (s.delta >= 0 ? "+" : "") + s.delta +
        "), level " + s.record.trustLevel + ". Nothing was written.");
    } catch (e) {
      text($("whatif-result"), "Error: " + e.message);
    }
  });
  if (token) signIn(token);
});
