/**
 * One air traffic controller: a member of the group `atc/sector-xyz` and a web page.
 *
 * The process holds a replica of the sector (`sector.ts`) and applies the group's
 * events to it in order. Its page (`public/`) is served by this process, on its own
 * port, from plain files: no framework, no build step. The page gets the replica as
 * Server-Sent Events (`GET /events`: a snapshot after every change, at most ten a
 * second) and acts by POSTing JSON: filing a flight plan, claiming an aircraft, a
 * new level or a hand-off are multicast to the group, and the reply waits until this
 * replica applied the update, so the page shows its own action at once. Adding,
 * crashing and pausing controllers are the supervisor's business: those requests go
 * over the IPC channel to `launch.ts`, which acts on the target's PID.
 *
 * The radar: the view's coordinator (its oldest member) measures every aircraft every
 * 500 ms and multicasts the positions, and files new traffic when the sector is
 * quiet. When the coordinator fails, the next member is the coordinator of the new
 * view and the radar goes on from the replicated state.
 *
 * Durable: the replica's group is persisted in `--data-dir`, so when every controller
 * crashed at once and starts again on its directory, the sector comes back from the
 * logs (the member with the longest log restores it, the others get it by transfer).
 *
 * Run by the supervisor: `node controller.js --id ctl-1 --listen 127.0.0.1:PORT
 * --http-port PORT --data-dir DIR [--seeds HOST:PORT,...]`. It exits when its
 * supervisor does.
 */
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { dirname, extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Endpoint } from '../../src/index.js';
import type { Group, GroupEvent } from '../../src/index.js';
import type { ControllerInfo, SupervisorAction, ToController, ToSupervisor } from './protocol.js';
import { Sector, UpdateError, checkUpdate, fixes, recentMax, routes } from './sector.js';
import type { Update } from './sector.js';

const groupName = 'atc/sector-xyz';
const radarMs = 500;
/** The radar files new traffic every this many measurements while the sector holds fewer than `trafficMin` aircraft. */
const trafficEvery = 6;
const trafficMin = 7;
const bodyBytesMax = 4096;
const snapshotMinMs = 100;
/** Attempts to join (or rejoin) the group, about a second apart, before the process gives up. */
const joinAttemptsMax = 600;
/** How long a page's action waits for its update to be applied here (a blocked member applies nothing). */
const actionTimeoutMs = 10_000;
/** The page's files: examples/atc/public, found from dist/examples/atc/controller.js. */
const publicDir = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'examples', 'atc', 'public');

const { values } = parseArgs({
  options: {
    id: { type: 'string' },
    listen: { type: 'string' },
    'http-port': { type: 'string' },
    'http-socket': { type: 'string' },
    seeds: { type: 'string' },
    'data-dir': { type: 'string' },
  },
  strict: true,
});
if (values.id === undefined || values.listen === undefined || (values['http-port'] === undefined) === (values['http-socket'] === undefined)) {
  process.stderr.write('usage: controller --id ID --listen HOST:PORT (--http-port PORT | --http-socket PATH) [--seeds HOST:PORT,...]\n');
  process.exit(2);
}
const id = values.id;
// In a network namespace (launch.ts --netns) the page is served on a Unix socket,
// which the supervisor, in the root namespace, forwards from a loopback port.
const httpAt: number | string = values['http-socket'] ?? Number(values['http-port']);
// Beyond loopback the members authenticate and encrypt with the supervisor's secret.
const secret = process.env['ATC_SECRET'];
const seeds = (values.seeds ?? '').split(',').filter((s) => s !== '');
const log = (line: string): void => {
  process.stderr.write(`[${id}] ${line}\n`);
};

const toSupervisor = (m: ToSupervisor): void => {
  if (process.send !== undefined && process.connected) process.send(m);
};
// Without its supervisor there is nobody to stop this process: go too.
process.on('disconnect', () => process.exit(0));

// ---------------------------------------------------------------- the replica

let sector = new Sector();
let group: Group | null = null;
/** What this member is: joining (waiting for its state), a member, blocked (no majority) or excluded (rejoining). */
let status: 'joining' | 'member' | 'blocked' | 'excluded' = 'joining';
let directory: readonly ControllerInfo[] = [];
/** Whether the supervisor can cut the network (it runs the controllers in network namespaces). */
let netns = false;
const startedAt = Date.now();

const onEvent = (e: GroupEvent): void => {
  switch (e.type) {
    case 'view': {
      const v = e.view;
      const entry = sector.applyView({ id: v.id, members: v.members, joined: v.joined, left: v.left, failed: v.failed, failures: v.failures, reason: v.reason }, Date.now());
      if (status !== 'joining') status = 'member';
      const moved = Object.entries(entry.reassigned);
      log(`view ${e.view.id} [${e.view.members.join(' ')}]${moved.length > 0 ? ` takes over ${moved.map(([c, o]) => `${c}→${o}`).join(' ')}` : ''}`);
      break;
    }
    case 'state':
      sector.decode(e.data);
      status = 'member';
      log(`state transfer: ${sector.aircraft.size} aircraft, ${sector.count} updates applied`);
      break;
    case 'message':
      sector.apply(e.sender, new TextDecoder().decode(e.data));
      break;
    case 'blocked':
      status = 'blocked';
      break;
    case 'excluded':
      // Excluded (after a pause, or cut off): the endpoint rejoins the network and the
      // sector's group by itself; a new view follows, and the sector by state transfer.
      status = 'excluded';
      log('excluded: rejoining the sector');
      break;
    default:
      break;
  }
  changed();
};

let joining: Promise<void> | null = null;
async function joinSector(): Promise<void> {
  if (joining !== null) return joining;
  joining = (async () => {
    for (let attempt = 0; attempt < joinAttemptsMax; attempt++) {
      sector = new Sector();
      status = 'joining';
      try {
        group = await ep.join(groupName, { onEvent, checkpoint: () => sector.encode() });
        status = 'member';
        changed();
        return;
      } catch (err) {
        log(`join failed (${(err as Error).message}); retrying`);
        await new Promise((r) => setTimeout(r, Math.min(1000, 100 * (attempt + 1))));
      }
    }
    log(`could not join ${groupName} in ${joinAttemptsMax} attempts; exiting`);
    process.exit(1);
  })();
  try {
    await joining;
  } finally {
    joining = null;
  }
}

/** Multicast an update; resolves once this replica applied it. */
async function multicast(u: Update): Promise<void> {
  const g = group;
  if (g === null || status !== 'member') throw new UpdateError(`${id} is not a member of the sector right now (${status})`);
  await g.multicast(new TextEncoder().encode(JSON.stringify(u)));
}

/** A page's update: multicast, and answer within `actionTimeoutMs` even when it cannot be applied yet. */
async function multicastForPage(u: Update): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new UpdateError(`sent, but not applied here within ${actionTimeoutMs / 1000} s (${status}): it will be if a majority is back`)), actionTimeoutMs);
  });
  try {
    await Promise.race([multicast(u), late]);
  } finally {
    clearTimeout(timer);
  }
}

// ---------------------------------------------------------------- the radar

let radarBusy = false;
const radar = setInterval(() => {
  if (radarBusy || group === null || status !== 'member' || sector.members[0] !== id) return;
  radarBusy = true;
  const { track, handoffs } = sector.radarStep();
  const updates: Update[] = [track, ...handoffs];
  if (sector.aircraft.size < trafficMin && (sector.tick + 1) % (sector.aircraft.size < 3 ? 2 : trafficEvery) === 0) updates.push(sector.generatedPlan());
  Promise.all(updates.map((u) => multicast(u)))
    .catch((err: unknown) => log(`radar update not delivered: ${(err as Error).message}`))
    .finally(() => {
      radarBusy = false;
    });
}, radarMs);

// ---------------------------------------------------------------- the page

/** The page's picture of this replica. */
function snapshot(): Record<string, unknown> {
  return {
    self: id,
    status,
    pid: process.pid,
    address: ep.address,
    incarnation: ep.incarnation,
    startedAt,
    members: sector.members,
    coordinator: sector.members[0] ?? null,
    count: sector.count,
    digest: sector.digest,
    sectorDigest: sector.sectorDigest(),
    tick: sector.tick,
    aircraft: [...sector.aircraft.values()].sort((p, q) => (p.callsign < q.callsign ? -1 : 1)),
    handoffs: sector.handoffs,
    timeline: sector.timeline,
    recent: sector.recent.slice(-recentMax),
    directory,
    routes,
    fixes,
    netns,
  };
}

const listeners = new Set<ServerResponse>();
// Pages tell a paused controller from a quiet one by this ping.
setInterval(() => {
  for (const res of listeners) res.write('event: ping\ndata: {}\n\n');
}, 1000).unref();
let snapshotTimer: NodeJS.Timeout | null = null;
let lastSnapshotAt = 0;
function changed(): void {
  if (snapshotTimer !== null || listeners.size === 0) return;
  const wait = Math.max(0, lastSnapshotAt + snapshotMinMs - Date.now());
  snapshotTimer = setTimeout(() => {
    snapshotTimer = null;
    lastSnapshotAt = Date.now();
    const frame = `data: ${JSON.stringify(snapshot())}\n\n`;
    for (const res of listeners) res.write(frame);
  }, wait);
}

const contentTypes: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
};

async function readBody(req: IncomingMessage): Promise<unknown> {
  // Only JSON: a cross-site form cannot send it without a preflight the server never answers.
  if (!(req.headers['content-type'] ?? '').startsWith('application/json')) throw new UpdateError('send application/json');
  let size = 0;
  const chunks: Buffer[] = [];
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > bodyBytesMax) throw new UpdateError(`request body over ${bodyBytesMax} bytes`);
    chunks.push(chunk);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown;
  } catch {
    throw new UpdateError('the body is not JSON');
  }
}

function str(body: unknown, key: string): string {
  const v = (body as Record<string, unknown> | null)?.[key];
  if (typeof v !== 'string' || v.length === 0 || v.length > 64) throw new UpdateError(`field ${key} must be a non-empty string`);
  return v;
}

function reply(res: ServerResponse, code: number, body: Record<string, unknown>): void {
  res.writeHead(code, { 'content-type': 'application/json', 'cache-control': 'no-store' });
  res.end(JSON.stringify(body));
}

let requestSeq = 0;
const pendingRequests = new Map<number, (r: { ok: boolean; message: string }) => void>();
function askSupervisor(request: SupervisorAction): Promise<{ ok: boolean; message: string }> {
  if (process.send === undefined || !process.connected) return Promise.resolve({ ok: false, message: 'no supervisor: run the demo with npm start' });
  const seq = ++requestSeq;
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      pendingRequests.delete(seq);
      resolve({ ok: false, message: 'the supervisor did not answer within 40 s' });
    }, 40_000);
    pendingRequests.set(seq, (r) => {
      clearTimeout(timer);
      resolve(r);
    });
    toSupervisor({ type: 'request', seq, request });
  });
}

process.on('message', (m: ToController) => {
  if (m.type === 'directory') {
    directory = m.controllers;
    netns = m.netns;
    changed();
  } else if (m.type === 'reply') {
    pendingRequests.get(m.seq)?.(m);
    pendingRequests.delete(m.seq);
  }
});

async function onAction(path: string, body: unknown): Promise<string> {
  switch (path) {
    case '/api/plan': {
      const lvl = (body as Record<string, unknown> | null)?.['level'];
      const u: Update = { op: 'plan', callsign: str(body, 'callsign').toUpperCase(), route: str(body, 'route'), level: Number(lvl), owner: id };
      checkUpdate(u);
      if (sector.aircraft.has(u.callsign)) throw new UpdateError(`${u.callsign} is already in the sector`);
      await multicastForPage(u);
      return `${u.callsign} filed`;
    }
    case '/api/claim': {
      const callsign = str(body, 'callsign');
      await multicastForPage({ op: 'claim', callsign, by: id });
      return `${callsign} claimed by ${id}`;
    }
    case '/api/handoff': {
      const callsign = str(body, 'callsign');
      const a = sector.aircraft.get(callsign);
      if (a === undefined) throw new UpdateError(`${callsign} is not in the sector`);
      await multicastForPage({ op: 'handoff', callsign, to: routes[a.route]?.next ?? 'sector-next' });
      return `${callsign} handed off`;
    }
    case '/api/level': {
      const u: Update = { op: 'level', callsign: str(body, 'callsign'), level: Number((body as Record<string, unknown>)['level']) };
      checkUpdate(u);
      await multicastForPage(u);
      return `${u.callsign} cleared to FL${u.level}`;
    }
    case '/api/supervisor': {
      const action = str(body, 'action');
      let request: SupervisorAction;
      if (action === 'add') request = { action: 'add' };
      else if (action === 'heal') request = { action: 'heal' };
      else if (action === 'restart-all') request = { action: 'restart-all' };
      else if (action === 'crash' || action === 'pause' || action === 'resume' || action === 'cut') request = { action, target: str(body, 'target') };
      else throw new UpdateError(`unknown action ${action}`);
      const r = await askSupervisor(request);
      if (!r.ok) throw new UpdateError(r.message);
      return r.message;
    }
    default:
      throw new UpdateError(`no such action ${path}`);
  }
}

const server = createServer((req, res) => {
  const path = new URL(req.url ?? '/', 'http://localhost').pathname;
  if (req.method === 'GET' && path === '/events') {
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store', connection: 'keep-alive' });
    res.write(`retry: 1000\ndata: ${JSON.stringify(snapshot())}\n\n`);
    listeners.add(res);
    req.on('close', () => listeners.delete(res));
    return;
  }
  if (req.method === 'GET' && path === '/state') {
    reply(res, 200, snapshot());
    return;
  }
  if (req.method === 'GET') {
    const file = path === '/' ? 'index.html' : path.slice(1);
    // Only the page's own files, by name: no paths.
    if (!/^[a-z0-9-]+\.(html|js|css|svg)$/.test(file)) {
      reply(res, 404, { error: 'not found' });
      return;
    }
    readFile(join(publicDir, file)).then(
      (data) => {
        res.writeHead(200, { 'content-type': contentTypes[extname(file)] ?? 'application/octet-stream', 'cache-control': 'no-store' });
        res.end(data);
      },
      () => reply(res, 404, { error: 'not found' }),
    );
    return;
  }
  if (req.method === 'POST' && path.startsWith('/api/')) {
    readBody(req)
      .then((body) => onAction(path, body))
      .then(
        (message) => reply(res, 200, { ok: true, message }),
        (err: unknown) => reply(res, err instanceof UpdateError ? 400 : 500, { ok: false, error: (err as Error).message }),
      );
    return;
  }
  reply(res, 405, { error: 'method not allowed' });
});

// ---------------------------------------------------------------- start

// The endpoint's diagnostics (dials, proposals) only with ATC_DEBUG=1: the terminal shows the story.
const debug = process.env['ATC_DEBUG'] === '1';
const ep = await Endpoint.start({
  id,
  listen: values.listen,
  seeds,
  ...(secret === undefined ? {} : { secret: Buffer.from(secret, 'hex') }),
  // Checkpoints often (the sector is small), so a restart replays few updates.
  ...(values['data-dir'] === undefined ? {} : { persist: { dir: values['data-dir'], checkpointBytes: 65_536 } }),
  ...(debug ? { onLog: (line: string) => log(line) } : {}),
});
try {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    if (typeof httpAt === 'string') server.listen(httpAt, () => resolve());
    else server.listen(httpAt, '127.0.0.1', () => resolve());
  });
} catch (err) {
  const inUse = (err as NodeJS.ErrnoException).code === 'EADDRINUSE';
  log(`cannot serve the page at ${httpAt}: ${inUse ? 'the port is in use (npm start -- --base-port PORT picks others; 0 picks free ones)' : (err as Error).message}`);
  process.exit(1);
}
const url = typeof httpAt === 'string' ? `unix:${httpAt}` : `http://127.0.0.1:${(server.address() as { port: number }).port}/`;
await joinSector();
log(`member of ${groupName}; page at ${url}`);
toSupervisor({ type: 'ready', id, url, address: ep.address });

const stop = (): void => {
  clearInterval(radar);
  for (const res of listeners) res.end();
  server.close();
  void ep.stop().finally(() => process.exit(0));
  // A stop that cannot complete (no majority left) must not keep the process.
  setTimeout(() => process.exit(0), 2000).unref();
};
process.on('SIGTERM', stop);
// Ctrl-C in the terminal reaches every process of the group: the supervisor decides.
process.on('SIGINT', () => undefined);
