/**
 * `npm start`: the air traffic control sector, live in the browser.
 *
 * This supervisor forks N controller processes (`controller.ts`), each a member of the
 * group `atc/sector-xyz` over loopback TCP and the server of its own page, prints the
 * pages' addresses, and then does what pages ask of it over the IPC channel: add a
 * controller (a new process that joins and gets the sector by state transfer), crash
 * one (SIGKILL of its PID), pause one (SIGSTOP) and resume it (SIGCONT). It keeps the
 * list of controllers and sends it to every page. Ctrl-C (or SIGTERM) resumes the
 * paused ones, kills every controller by PID, waits for them and exits 0.
 *
 * The controllers started together are each seeded with the others, so they found
 * one network; a controller added later is seeded with the running ones.
 */
import { fork } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { ControllerInfo, SupervisorAction, ToController, ToSupervisor } from './protocol.js';

const usage = `usage: npm start [-- --controllers N] [--base-port PORT]

  The air traffic control sector of Cohort's README, live: N controller processes
  replicate sector XYZ, each serving its page. Open a page, file flight plans, add,
  crash or pause controllers. Ctrl-C stops everything. (cohort demo: the same story
  in the terminal.)

  --controllers N   controllers to start, 1 to 9 (default 3)
  --base-port PORT  the first controller's page is at this port, the next at PORT+1,
                    and so on (default 8001; 0: pick free ports)`;

const controllersMax = 16;
const startTimeoutMs = 30_000;
const controllerJs = join(dirname(fileURLToPath(import.meta.url)), 'controller.js');

function fail(message: string): never {
  process.stderr.write(`${message}\n\n${usage}\n`);
  process.exit(2);
}

let values: { controllers?: string; 'base-port'?: string; help?: boolean };
try {
  values = parseArgs({
    options: { controllers: { type: 'string' }, 'base-port': { type: 'string' }, help: { type: 'boolean', short: 'h' } },
    strict: true,
  }).values;
} catch (err) {
  fail((err as Error).message);
}
if (values.help === true) {
  process.stdout.write(`${usage}\n`);
  process.exit(0);
}
const initial = Number(values.controllers ?? 3);
if (!Number.isInteger(initial) || initial < 1 || initial > 9) fail(`--controllers must be an integer from 1 to 9, got "${values.controllers}"`);
const basePort = Number(values['base-port'] ?? 8001);
if (!Number.isInteger(basePort) || basePort < 0 || basePort > 65535 - controllersMax) fail(`--base-port must be a port number, got "${values['base-port']}"`);

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

interface Controller {
  id: string;
  proc: ChildProcess;
  pid: number;
  url: string;
  address: string;
  status: ControllerInfo['status'];
  ready: Promise<void>;
}

const controllers: Controller[] = [];
let stopping = false;
let made = 0;

function directory(): ControllerInfo[] {
  return controllers.map((c) => ({ id: c.id, pid: c.pid, url: c.url, address: c.address, status: c.status }));
}

function broadcast(): void {
  const m: ToController = { type: 'directory', controllers: directory() };
  for (const c of controllers) {
    if ((c.status === 'running' || c.status === 'paused') && c.proc.connected) c.proc.send(m);
  }
}

function signal(c: Controller, sig: NodeJS.Signals): boolean {
  try {
    process.kill(c.pid, sig);
    return true;
  } catch {
    return false;
  }
}

/** Start one controller process; resolves once it is a member and serves its page. */
async function start(seeds: readonly string[], port?: number): Promise<Controller> {
  if (made >= controllersMax) throw new Error(`at most ${controllersMax} controllers in one demo`);
  made += 1;
  const id = `ctl-${made}`;
  const cohortPort = port ?? (await freePort());
  const httpPort = basePort === 0 ? await freePort() : basePort + made - 1;
  const args = ['--id', id, '--listen', `127.0.0.1:${cohortPort}`, '--http-port', String(httpPort)];
  if (seeds.length > 0) args.push('--seeds', seeds.join(','));
  const proc = fork(controllerJs, args, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  if (proc.pid === undefined) throw new Error(`could not start ${id}`);
  let readyResolve!: () => void;
  let readyReject!: (e: Error) => void;
  const c: Controller = {
    id,
    proc,
    pid: proc.pid,
    url: '',
    address: `127.0.0.1:${cohortPort}`,
    status: 'starting',
    ready: new Promise<void>((res, rej) => {
      readyResolve = res;
      readyReject = rej;
    }),
  };
  controllers.push(c);
  // A controller that cannot join (no majority left to let it in) is killed, not left behind.
  const timer = setTimeout(() => {
    readyReject(new Error(`${id} did not join within ${startTimeoutMs / 1000} s (does a majority of the last view still run?)`));
    signal(c, 'SIGKILL');
  }, startTimeoutMs);
  proc.on('message', (m: ToSupervisor) => {
    if (m.type === 'ready') {
      clearTimeout(timer);
      c.url = m.url;
      c.status = 'running';
      readyResolve();
      broadcast();
    } else if (m.type === 'request') {
      void act(m.request).then((r) => {
        if (proc.connected) proc.send({ type: 'reply', seq: m.seq, ok: r.ok, message: r.message } satisfies ToController);
      });
    }
  });
  proc.on('exit', (code, sig) => {
    clearTimeout(timer);
    readyReject(new Error(`${id} exited (${sig ?? code}) before it was ready`));
    if (c.status !== 'crashed') c.status = 'exited';
    if (!stopping) {
      if (sig !== 'SIGKILL') process.stderr.write(`${id} exited (${sig ?? `code ${code}`})\n`);
      broadcast();
    }
  });
  return c;
}

async function act(r: SupervisorAction): Promise<{ ok: boolean; message: string }> {
  if (stopping) return { ok: false, message: 'the demo is stopping' };
  if (r.action === 'add') {
    const seeds = controllers.filter((c) => c.status === 'running').map((c) => c.address);
    try {
      const c = await start(seeds);
      await c.ready;
      console.log(`${c.id}  ${c.url}  (added)`);
      return { ok: true, message: `${c.id} joined: ${c.url}` };
    } catch (err) {
      return { ok: false, message: (err as Error).message };
    }
  }
  const c = controllers.find((x) => x.id === r.target);
  if (c === undefined) return { ok: false, message: `no controller ${r.target}` };
  switch (r.action) {
    case 'crash':
      if (c.status !== 'running' && c.status !== 'paused') return { ok: false, message: `${c.id} is ${c.status}` };
      signal(c, 'SIGKILL');
      c.status = 'crashed';
      console.log(`${c.id}  crashed (SIGKILL of PID ${c.pid})`);
      break;
    case 'pause':
      if (c.status !== 'running') return { ok: false, message: `${c.id} is ${c.status}` };
      signal(c, 'SIGSTOP');
      c.status = 'paused';
      console.log(`${c.id}  paused (SIGSTOP of PID ${c.pid})`);
      break;
    case 'resume':
      if (c.status !== 'paused') return { ok: false, message: `${c.id} is ${c.status}` };
      signal(c, 'SIGCONT');
      c.status = 'running';
      console.log(`${c.id}  resumed (SIGCONT of PID ${c.pid})`);
      break;
    default:
      return { ok: false, message: 'unknown action' };
  }
  broadcast();
  return { ok: true, message: `${c.id} ${c.status === 'running' ? 'resumed' : c.status}` };
}

/** Ctrl-C: paused controllers go on first (a stopped process holds its SIGKILL too long for some tools), then every one is killed by PID. */
async function shutdown(): Promise<void> {
  if (stopping) return;
  stopping = true;
  const live = controllers.filter((c) => c.proc.exitCode === null && c.proc.signalCode === null);
  for (const c of live) if (c.status === 'paused') signal(c, 'SIGCONT');
  const exited = live.map((c) => new Promise((r) => (c.proc.exitCode !== null || c.proc.signalCode !== null ? r(null) : c.proc.once('exit', r))));
  for (const c of live) signal(c, 'SIGKILL');
  await Promise.all(exited);
  console.log('\nstopped every controller');
  process.exit(0);
}
process.on('SIGINT', () => void shutdown());
process.on('SIGTERM', () => void shutdown());

console.log(`Sector XYZ over Paris, replicated on ${initial} controller processes (Cohort over loopback TCP).`);
const ports = await Promise.all(Array.from({ length: initial }, () => freePort()));
const first: Controller[] = [];
try {
  for (let i = 0; i < initial; i++) {
    // Started together, each seeded with the others: one network, never two.
    const c = await start(
      ports.filter((_, j) => j !== i).map((p) => `127.0.0.1:${p}`),
      ports[i],
    );
    first.push(c);
  }
} catch (err) {
  process.stderr.write(`${(err as Error).message}\n`);
  await shutdown();
}
try {
  await Promise.all(first.map((c) => c.ready));
} catch (err) {
  process.stderr.write(`${(err as Error).message}\n`);
  await shutdown();
}
console.log('Open a controller page:');
for (const c of first) console.log(`${c.id}  ${c.url}`);
console.log('Ctrl-C stops the demo.');
