// The controller's page: draws the replica that its controller process streams as
// Server-Sent Events (GET /events), and POSTs actions as JSON. Plain browser
// JavaScript, no framework, no build step.
'use strict';

const svgNs = 'http://www.w3.org/2000/svg';
const palette = ['#59c3ff', '#ffb35a', '#b48cff', '#5ee08a', '#ff7fb0', '#f5e46b', '#6be3e0', '#ff8f6b', '#a4c85a'];
const trailMax = 14;

/** What the page knows: the last snapshot, and every [count, digest] pair it has seen (tests compare these). */
const atc = { snapshot: null, digests: new Map(), connected: false };
window.atc = atc;
const trails = new Map();
let lastTick = -1;
let knownPlans = new Set();
let routesFilled = false;

const $ = (id) => document.getElementById(id);

function colorOf(owner) {
  const n = Number(/(\d+)$/.exec(owner ?? '')?.[1] ?? 0);
  return palette[(n - 1 + palette.length) % palette.length];
}

function el(tag, attrs = {}, text) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}

function svg(tag, attrs = {}, text) {
  const e = document.createElementNS(svgNs, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  if (text !== undefined) e.textContent = text;
  return e;
}

function notice(text, bad) {
  const n = $('notice');
  n.textContent = text;
  n.hidden = false;
  n.style.background = bad ? '#6b2424' : '';
  clearTimeout(notice.timer);
  notice.timer = setTimeout(() => (n.hidden = true), 5000);
}

async function post(path, body) {
  try {
    const res = await fetch(path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    const r = await res.json();
    if (!res.ok) notice(r.error ?? `failed (${res.status})`, true);
    else notice(r.message, false);
    return res.ok;
  } catch (err) {
    notice(`this controller does not answer (${err.message})`, true);
    return false;
  }
}

// ---------------------------------------------------------------- the map

function drawMap(s) {
  const map = $('map');
  map.replaceChildren();
  map.append(svg('rect', { x: 0, y: 0, width: 1000, height: 700, fill: '#0f1c28', stroke: '#3a5870', 'stroke-width': 2, rx: 6 }));
  for (let x = 100; x < 1000; x += 100) map.append(svg('line', { x1: x, y1: 0, x2: x, y2: 700, stroke: '#16293a' }));
  for (let y = 100; y < 700; y += 100) map.append(svg('line', { x1: 0, y1: y, x2: 1000, y2: y, stroke: '#16293a' }));
  map.append(svg('text', { x: 12, y: 26, fill: '#3a5870', 'font-size': 18 }, 'SECTOR XYZ'));
  // Airways: every route, faint.
  for (const [name, r] of Object.entries(s.routes)) {
    const [x1, y1] = s.fixes[r.entry];
    const [x2, y2] = s.fixes[r.exit];
    map.append(svg('line', { x1, y1, x2, y2, stroke: '#22384c', 'stroke-width': 2, 'stroke-dasharray': '6 6' }, undefined));
    void name;
  }
  for (const [name, [x, y]] of Object.entries(s.fixes)) {
    map.append(svg('path', { d: `M${x} ${y - 9} L${x + 8} ${y + 6} L${x - 8} ${y + 6} Z`, fill: 'none', stroke: '#6f8ba3', 'stroke-width': 1.5 }));
    const lx = Math.min(960, Math.max(4, x + (x >= 1000 ? -54 : 10)));
    const ly = y <= 0 ? y - 14 : y >= 700 ? y + 22 : y - 10;
    map.append(svg('text', { x: lx, y: ly, fill: '#6f8ba3', 'font-size': 13 }, name));
  }
  for (const a of s.aircraft) {
    const trail = trails.get(a.callsign) ?? [];
    if (trail.length > 1) {
      map.append(svg('polyline', { points: trail.map(([x, y]) => `${x},${y}`).join(' '), fill: 'none', stroke: colorOf(a.owner), 'stroke-opacity': 0.35, 'stroke-width': 2 }));
    }
    const c = colorOf(a.owner);
    const g = svg('g', { transform: `translate(${a.x} ${a.y})`, 'data-callsign': a.callsign, class: 'aircraft' });
    g.append(svg('path', { d: 'M0 -11 L7 8 L0 4 L-7 8 Z', fill: c, transform: `rotate(${a.heading})` }));
    const mine = a.owner === s.self;
    // Labels go to the left near the eastern edge, so they stay on the map.
    const lx = a.x > 880 ? -100 : 12;
    g.append(svg('text', { x: lx, y: -4, fill: c, 'font-size': 14, 'font-weight': mine ? 'bold' : 'normal' }, a.callsign));
    g.append(svg('text', { x: lx, y: 12, fill: '#9fb3c4', 'font-size': 12 }, `FL${a.level} ${a.owner}`));
    map.append(g);
  }
  const legend = $('legend');
  legend.replaceChildren();
  for (const m of s.members) {
    const span = el('span');
    span.append(el('span', { class: 'dot', style: `background:${colorOf(m)}` }), document.createTextNode(m === s.self ? `${m} (this page)` : m));
    legend.append(span);
  }
}

function updateTrails(s) {
  if (s.tick === lastTick) return;
  lastTick = s.tick;
  const present = new Set();
  for (const a of s.aircraft) {
    present.add(a.callsign);
    const t = trails.get(a.callsign) ?? [];
    const last = t[t.length - 1];
    if (last === undefined || last[0] !== a.x || last[1] !== a.y) t.push([a.x, a.y]);
    if (t.length > trailMax) t.shift();
    trails.set(a.callsign, t);
  }
  for (const k of trails.keys()) if (!present.has(k)) trails.delete(k);
}

// ---------------------------------------------------------------- panels

// Tables are rebuilt only when what they show changed (not on every radar update), so
// a button is never replaced between a person's mouse-down and mouse-up.
const shownAs = new Map();
function unchanged(table, what) {
  const sig = JSON.stringify(what);
  if (shownAs.get(table) === sig) return true;
  shownAs.set(table, sig);
  return false;
}

function drawControllers(s) {
  if (unchanged('controllers', [s.self, s.members, s.directory, s.netns])) return;
  const body = $('controllers').querySelector('tbody');
  body.replaceChildren();
  const rows = s.directory.length > 0 ? s.directory : s.members.map((id) => ({ id, pid: null, url: null, status: 'running' }));
  for (const c of rows) {
    const rank = s.members.indexOf(c.id);
    const role = rank === 0 ? 'coordinator · radar' : rank > 0 ? `member #${rank + 1}` : 'not in the view';
    const tr = el('tr', { 'data-controller': c.id });
    const name = el('td');
    name.append(el('span', { class: 'dot', style: `background:${colorOf(c.id)}` }));
    if (c.url && c.id !== s.self && (c.status === 'running' || c.status === 'paused')) name.append(el('a', { href: c.url, target: '_blank' }, c.id));
    else name.append(document.createTextNode(c.id === s.self ? `${c.id} (this page)` : c.id));
    tr.append(name, el('td', {}, role));
    tr.append(el('td', { class: `st-${c.status}` }, c.pid ? `${c.status}, PID ${c.pid}` : c.status));
    const actions = el('td');
    const live = c.status === 'running' || c.status === 'paused';
    const crash = el('button', { type: 'button', class: 'danger', 'data-action': 'crash' }, 'Crash');
    crash.disabled = !live;
    crash.onclick = () => post('/api/supervisor', { action: 'crash', target: c.id });
    const pause = el('button', { type: 'button', 'data-action': c.status === 'paused' ? 'resume' : 'pause' }, c.status === 'paused' ? 'Resume' : 'Pause');
    pause.disabled = !live || c.id === s.self;
    if (c.id === s.self) pause.title = 'a paused page cannot resume itself: pause it from another controller';
    pause.onclick = () => post('/api/supervisor', { action: c.status === 'paused' ? 'resume' : 'pause', target: c.id });
    actions.append(crash, document.createTextNode(' '), pause);
    if (s.netns) {
      const cutBtn = el('button', { type: 'button', 'data-action': 'cut' }, c.cut ? 'Cut off' : 'Cut');
      cutBtn.disabled = !live || c.cut;
      cutBtn.title = 'drop every packet between this controller and the others';
      cutBtn.onclick = () => post('/api/supervisor', { action: 'cut', target: c.id });
      actions.append(document.createTextNode(' '), cutBtn);
    }
    tr.append(actions);
    body.append(tr);
  }
}

function drawPlans(s) {
  if (!routesFilled) {
    for (const name of Object.keys(s.routes)) $('route').append(el('option', { value: name }, `${name} (${s.routes[name].entry} → ${s.routes[name].exit})`));
    routesFilled = true;
  }
  $('plan-count').textContent = `${s.aircraft.length} in the sector`;
  $('handoffs').textContent = s.handoffs.length > 0 ? `Recent hand-offs: ${s.handoffs.slice(-6).map((h) => `${h.callsign} → ${h.to}`).join(', ')}` : '';
  // Rows are kept per callsign and only their cells change, so a button under a
  // person's pointer stays the same button while the radar updates the sector.
  const body = $('plans').querySelector('tbody');
  const now = new Set(s.aircraft.map((a) => a.callsign));
  for (const [callsign, row] of planRows) {
    if (!now.has(callsign)) {
      row.tr.remove();
      planRows.delete(callsign);
    }
  }
  let previous = null;
  for (const a of s.aircraft) {
    let row = planRows.get(a.callsign);
    if (row === undefined) {
      row = planRow(a, knownPlans.size > 0);
      planRows.set(a.callsign, row);
    }
    row.dot.style.background = colorOf(a.owner);
    row.owner.textContent = a.owner;
    if (document.activeElement !== row.level) row.level.value = String(a.level);
    row.claim.disabled = a.owner === s.self;
    // Keep the rows in callsign order, moving only what is out of place.
    const expected = previous === null ? body.firstChild : previous.nextSibling;
    if (expected !== row.tr) body.insertBefore(row.tr, expected);
    previous = row.tr;
  }
  knownPlans = now;
}

const planRows = new Map();
function planRow(a, flash) {
  const tr = el('tr', { 'data-callsign': a.callsign, class: flash ? 'new' : '' });
  const cs = el('td');
  const dot = el('span', { class: 'dot' });
  cs.append(dot, document.createTextNode(a.callsign));
  const fl = el('td', { class: 'level' });
  const level = el('input', { type: 'number', min: '100', max: '450', step: '10', 'aria-label': `flight level of ${a.callsign}`, title: 'clear a new flight level' });
  level.onchange = () => post('/api/level', { callsign: a.callsign, level: Number(level.value) });
  fl.append(level);
  const owner = el('td', { class: 'owner' });
  tr.append(cs, el('td', {}, a.route), fl, owner);
  const actions = el('td');
  const claim = el('button', { type: 'button' }, 'Claim');
  claim.onclick = () => post('/api/claim', { callsign: a.callsign });
  const off = el('button', { type: 'button' }, 'Hand off');
  off.onclick = () => post('/api/handoff', { callsign: a.callsign });
  actions.append(claim, document.createTextNode(' '), off);
  tr.append(actions);
  return { tr, dot, level, owner, claim };
}

function drawTimeline(s) {
  if (unchanged('timeline', s.timeline)) return;
  const ol = $('timeline');
  ol.replaceChildren();
  for (const v of [...s.timeline].reverse()) {
    const li = el('li', { 'data-view': String(v.id) });
    li.append(el('strong', {}, `view ${v.id}`), document.createTextNode(` [${v.members.join(' ')}] `));
    if (v.joined.length > 0) li.append(el('span', { class: 'joined' }, `joined ${v.joined.join(', ')} `));
    if (v.left.length > 0) li.append(el('span', { class: 'left' }, `left ${v.left.join(', ')} `));
    if (v.failed.length > 0) li.append(el('span', { class: 'failed' }, `FAILED ${v.failed.join(', ')} `));
    if (v.joined.length + v.left.length + v.failed.length === 0) li.append(el('span', { class: 'muted small' }, 'same members (the network view changed: an endpoint joined or left the network first) '));
    if (v.failed.length > 0 && v.reason) li.append(el('span', { class: 'muted small' }, `(${v.reason}) `));
    const moved = Object.entries(v.reassigned ?? {});
    if (moved.length > 0) li.append(el('span', { class: 'muted' }, `took over ${moved.map(([c, o]) => `${c}→${o}`).join(' ')} `));
    li.append(el('span', { class: 'muted small' }, new Date(v.at).toLocaleTimeString()));
    ol.append(li);
  }
}

function render(s) {
  atc.snapshot = s;
  for (const [count, digest] of s.recent) atc.digests.set(count, digest);
  if (atc.digests.size > 2000) for (const k of [...atc.digests.keys()].slice(0, 1000)) atc.digests.delete(k);
  document.title = `${s.self} — Sector XYZ`;
  $('self').textContent = s.self;
  $('self').style.color = colorOf(s.self);
  $('status').textContent = s.status;
  $('status').className = `badge ${s.status}`;
  $('blocked').hidden = s.status !== 'blocked';
  $('role').textContent = s.coordinator === s.self ? 'coordinator · radar' : '';
  $('view-id').textContent = s.timeline.length > 0 ? String(s.timeline[s.timeline.length - 1].id) : '–';
  $('count').textContent = String(s.count);
  $('tick').textContent = String(s.tick);
  $('digest').textContent = s.digest.slice(0, 16);
  $('digest').title = s.digest;
  $('sector-digest').textContent = s.sectorDigest.slice(0, 16);
  $('sector-digest').title = s.sectorDigest;
  $('add').disabled = s.directory.length === 0;
  $('heal').disabled = !s.netns || !s.directory.some((c) => c.cut);
  $('heal').title = s.netns ? 'reconnect every controller' : 'cutting the network needs the demo started with --netns (as root)';
  $('netns-on').hidden = !s.netns;
  $('netns-off').hidden = s.netns;
  updateTrails(s);
  drawMap(s);
  drawControllers(s);
  drawPlans(s);
  drawTimeline(s);
}

// ---------------------------------------------------------------- wiring

$('plan-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const callsign = $('callsign').value.trim().toUpperCase();
  const ok = await post('/api/plan', { callsign, route: $('route').value, level: Number($('level').value) });
  if (ok) $('callsign').value = '';
});
$('add').addEventListener('click', async () => {
  $('add').disabled = true;
  notice('starting a controller: it joins the sector and gets it by state transfer…', false);
  await post('/api/supervisor', { action: 'add' });
  $('add').disabled = false;
});

// A paused controller keeps its connection open and says nothing: its server pings
// every second, so three silent seconds mean it does not answer.
let heardAt = Date.now();
function offline() {
  atc.connected = false;
  document.body.classList.add('offline');
  $('offline').hidden = false;
  $('status').textContent = 'offline';
  $('status').className = 'badge offline';
}
function heard() {
  heardAt = Date.now();
  if (!atc.connected) {
    atc.connected = true;
    $('offline').hidden = true;
    document.body.classList.remove('offline');
  }
}
$('heal').addEventListener('click', () => post('/api/supervisor', { action: 'heal' }));
$('restart-all').addEventListener('click', () => {
  notice('crashing every controller, then starting them again on their data directories: the sector comes back from their logs…', false);
  // This page's controller is killed too: the reply never comes, the page reconnects.
  fetch('/api/supervisor', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ action: 'restart-all' }) }).catch(() => undefined);
});

const source = new EventSource('/events');
source.onmessage = (ev) => {
  heard();
  render(JSON.parse(ev.data));
};
source.addEventListener('ping', heard);
source.onerror = offline;
setInterval(() => {
  if (Date.now() - heardAt > 3000) offline();
}, 1000);
