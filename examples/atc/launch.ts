/**
 * `npm start`: the air traffic control sector, live in the browser.
 *
 * This supervisor forks N controller processes (`controller.ts`), each a member of the
 * group `atc/sector-xyz` over loopback TCP and the server of its own page, prints the
 * pages' addresses, and then does what pages ask of it over the IPC channel: add a
 * controller (a new process that joins and gets the sector by state transfer), crash
 * one (SIGKILL of its PID), pause one (SIGSTOP) and resume it (SIGCONT). It keeps the
 * list of controllers and sends it to every page. Each controller persists the sector
 * in a data directory of its own, so a page may also crash every controller at once
 * and start them again on their directories: the sector comes back from their logs.
 * Ctrl-C (or SIGTERM) resumes the
 * paused ones, kills every controller by PID, waits for them and exits 0 (1 when the
 * demo could not start; 2 on a bad option). With `--netns` (root), each controller
 * runs on a host of its own and pages may also cut one off the network and heal it.
 *
 * The controllers started together are each seeded with the others, so they found
 * one network; a controller added later is seeded with the running ones.
 */
import { fork } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { freePorts } from '../../src/tools/ports.js';
import type { Server } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { ControllerInfo, SupervisorAction, ToController, ToSupervisor } from './protocol.js';

const usage = `usage: npm start [-- --controllers N] [--base-port PORT] [--netns]

  The air traffic control sector of Cohort's README, live: N controller processes
  replicate sector XYZ, each serving its page. Open a page, file flight plans, add,
  crash or pause controllers. Ctrl-C stops everything. (cohort demo: the same story
  in the terminal.)

  --controllers N   controllers to start, 1 to 9 (default 3)
  --base-port PORT  the first controller's page is at this port, the next at PORT+1,
                    and so on (default 8001; 0: pick free ports)
  --netns           run each controller on a host of its own (a Linux network
                    namespace on a shared bridge; needs root, iproute2 and nftables),
                    so that pages can cut a controller off the network and heal it`;

const controllersMax = 16;
const startTimeoutMs = 30_000;
const controllerJs = join(dirname(fileURLToPath(import.meta.url)), 'controller.js');

function fail(message: string): never {
  process.stderr.write(`${message}\n\n${usage}\n`);
  process.exit(2);
}

let values: { controllers?: string; 'base-port'?: string; netns?: boolean; help?: boolean };
try {
  values = parseArgs({
    options: { controllers: { type: 'string' }, 'base-port': { type: 'string' }, netns: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
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

/**
 * With --netns: the project's network lab (test/netns.ts: namespaces on one bridge,
 * partitions with nftables), one host per controller. The members then talk over
 * addresses beyond loopback, so they use a network secret drawn here. A page is
 * served on a Unix socket (the file system is shared across namespaces) and this
 * process forwards a loopback port to it, so the browser in the root namespace
 * reaches every page whatever the cuts between the controllers.
 */
interface NetLab {
  readonly size: number;
  ns(host: number): string;
  address(host: number): string;
  partition(sides: readonly (readonly number[])[]): void;
  heal(): void;
  destroy(): void;
}
let lab: NetLab | null = null;
let socketDir = '';
const secret = randomBytes(32).toString('hex');
const cut = new Set<string>();
if (values.netns === true) {
  // The lab is the tests' (test/netns.ts), so --netns runs from a clone, not from the published package.
  const netns = await import('../../test/netns.js').catch((err: Error) => fail(`--netns needs the project's network lab, dist/test/netns.js (npm run build in a clone): ${err.message}`));
  const why = netns.labUnavailable();
  if (why !== undefined) fail(`--netns ${why}`);
  lab = netns.Lab.create(initial + 4, 'atc');
  // The lab turns these signals into an immediate exit (its exit hook still destroys
  // it); this supervisor stops its controllers first and exits 0, so it takes them over.
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.removeAllListeners(sig);
  socketDir = mkdtempSync(join(tmpdir(), 'cohort-atc-'));
  // Every way out (shutdown, a fatal error, process.exit) removes it.
  process.on('exit', () => rmSync(socketDir, { recursive: true, force: true }));
}
const ipPath = ['/usr/sbin/ip', '/sbin/ip', '/usr/bin/ip', '/bin/ip'].find((p) => existsSync(p)) ?? 'ip';
const netnsPort = 7000;

/** Forward 127.0.0.1:port to a controller's Unix socket. */
async function forward(port: number, socket: string): Promise<string> {
  const server = createServer((client) => {
    const upstream = connect(socket);
    client.pipe(upstream).pipe(client);
    const close = (): void => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', close);
    upstream.on('error', close);
  });
  forwarders.push(server);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  return `http://127.0.0.1:${(server.address() as { port: number }).port}/`;
}
const forwarders: Server[] = [];

interface Controller {
  id: string;
  /** Its page's loopback port (kept across a restart, so the page reconnects). */
  httpPort: number;
  proc: ChildProcess;
  pid: number;
  url: string;
  address: string;
  status: ControllerInfo['status'];
  ready: Promise<void>;
  /** Its host in the network lab (with --netns). */
  host: number;
}

const controllers: Controller[] = [];
let stopping = false;
let made = 0;

function directory(): ControllerInfo[] {
  return controllers.map((c) => ({ id: c.id, pid: c.pid, url: c.url, address: c.address, status: c.status, cut: cut.has(c.id) }));
}

function broadcast(): void {
  const m: ToController = { type: 'directory', controllers: directory(), netns: lab !== null };
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

/** The controllers' data directories (each its own), removed at exit. */
const dataRoot = mkdtempSync(join(tmpdir(), 'cohort-atc-data-'));
process.on('exit', () => rmSync(dataRoot, { recursive: true, force: true }));

/**
 * Start one controller process; resolves once it is a member and serves its page.
 * `again`: the controller to start again, with its id, addresses and data directory.
 */
async function start(seeds: readonly string[], address?: string, again?: Controller): Promise<Controller> {
  const limit = lab === null ? controllersMax : lab.size;
  if (again === undefined && made >= limit) throw new Error(`at most ${limit} controllers in this demo`);
  if (again === undefined) made += 1;
  const host = again?.host ?? made;
  const id = again?.id ?? `ctl-${made}`;
  const listen = address ?? (lab === null ? `127.0.0.1:${(await freePorts(1))[0]!}` : `${lab.address(host)}:${netnsPort}`);
  const httpPort = again?.httpPort ?? (basePort === 0 ? (await freePorts(1))[0]! : basePort + made - 1);
  const socket = join(socketDir, `${id}.sock`);
  if (again !== undefined && lab !== null) rmSync(socket, { force: true });
  const args = ['--id', id, '--listen', listen, '--data-dir', join(dataRoot, id), ...(lab === null ? ['--http-port', String(httpPort)] : ['--http-socket', socket])];
  if (seeds.length > 0) args.push('--seeds', seeds.join(','));
  // In a lab, `ip netns exec NS node controller.js` exec()s node in the host's
  // namespace: the PID is node's, and the IPC channel's descriptor is inherited.
  const proc = fork(controllerJs, args, {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    ...(lab === null ? {} : { execPath: ipPath, execArgv: ['netns', 'exec', lab.ns(host), process.execPath], env: { ...process.env, ATC_SECRET: secret } }),
  });
  if (proc.pid === undefined) throw new Error(`could not start ${id}`);
  let readyResolve!: () => void;
  let readyReject!: (e: Error) => void;
  const c: Controller = {
    id,
    httpPort,
    proc,
    pid: proc.pid,
    url: '',
    address: listen,
    status: 'starting',
    host,
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
      // Started again in a lab: its page's forwarder still runs, to the same socket path.
      void (lab === null ? Promise.resolve(m.url) : again !== undefined ? Promise.resolve(again.url) : forward(httpPort, socket)).then(
        (url) => {
          c.url = url;
          c.status = 'running';
          readyResolve();
          broadcast();
        },
        (err: Error) => readyReject(err),
      );
    } else if (m.type === 'request') {
      void act(m.request).then((r) => {
        if (proc.connected) proc.send({ type: 'reply', seq: m.seq, ok: r.ok, message: r.message } satisfies ToController);
      });
    }
  });
  proc.on('exit', (code, sig) => {
    clearTimeout(timer);
    readyReject(new Error(`${id} exited (${sig ?? code}) before it was ready`));
    const wasReady = c.status !== 'starting';
    if (c.status !== 'crashed') c.status = 'exited';
    if (!stopping) {
      if (sig !== 'SIGKILL' && wasReady) process.stderr.write(`${id} exited (${sig ?? `code ${code}`})\n`);
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
      console.log(`${c.id}  ${c.url}  (added; PID ${c.pid})`);
      return { ok: true, message: `${c.id} joined: ${c.url}` };
    } catch (err) {
      return { ok: false, message: (err as Error).message };
    }
  }
  if (r.action === 'restart-all') return restartAll();
  if (r.action === 'heal') {
    if (lab === null) return { ok: false, message: 'no network to heal: start the demo with --netns' };
    lab.heal();
    cut.clear();
    console.log('network healed');
    broadcast();
    return { ok: true, message: 'network healed: every controller reaches every other' };
  }
  const c = controllers.find((x) => x.id === r.target);
  if (c === undefined) return { ok: false, message: `no controller ${r.target}` };
  if (r.action === 'cut') {
    if (lab === null) return { ok: false, message: 'cutting the network needs the demo started with --netns (as root)' };
    cut.add(c.id);
    // Each cut controller alone on its side, the others together.
    const isolated = controllers.filter((x) => cut.has(x.id)).map((x) => [x.host]);
    const rest = Array.from({ length: lab.size }, (_, i) => i + 1).filter((h) => !isolated.some(([x]) => x === h));
    lab.partition(rest.length > 0 ? [...isolated, rest] : isolated);
    console.log(`${c.id}  cut off the network`);
    broadcast();
    return { ok: true, message: `${c.id} cut off the network` };
  }
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

/**
 * Crash every controller at once (SIGKILL, as a power cut would), then start each
 * again on its id, addresses and data directory, seeded with the others: with a
 * majority of the last view back, they restart the network from their logs and the
 * sector comes back as it was.
 */
async function restartAll(): Promise<{ ok: boolean; message: string }> {
  const all = controllers.splice(0);
  const live = all.filter((c) => c.proc.exitCode === null && c.proc.signalCode === null);
  for (const c of live) if (c.status === 'paused') signal(c, 'SIGCONT');
  const exited = live.map((c) => new Promise((r) => c.proc.once('exit', r)));
  for (const c of live) {
    signal(c, 'SIGKILL');
    c.status = 'crashed';
  }
  await Promise.all(exited);
  console.log(`every controller crashed (SIGKILL): starting ${all.map((c) => c.id).join(', ')} again on their data directories`);
  try {
    const again: Controller[] = [];
    for (const c of all) {
      again.push(
        await start(
          all.filter((x) => x !== c).map((x) => x.address),
          c.address,
          c,
        ),
      );
    }
    await Promise.all(again.map((c) => c.ready));
    for (const c of again) console.log(`${c.id}  ${c.url}  (restarted from its log; PID ${c.pid})`);
    return { ok: true, message: 'every controller restarted: the sector is back from their logs' };
  } catch (err) {
    return { ok: false, message: (err as Error).message };
  }
}

/** Ctrl-C: paused controllers go on first (a stopped process holds its SIGKILL too long for some tools), then every one is killed by PID. */
async function shutdown(code = 0): Promise<void> {
  if (stopping) return;
  stopping = true;
  const live = controllers.filter((c) => c.proc.exitCode === null && c.proc.signalCode === null);
  for (const c of live) if (c.status === 'paused') signal(c, 'SIGCONT');
  const exited = live.map((c) => new Promise((r) => (c.proc.exitCode !== null || c.proc.signalCode !== null ? r(null) : c.proc.once('exit', r))));
  for (const c of live) signal(c, 'SIGKILL');
  await Promise.all(exited);
  for (const f of forwarders) f.close();
  lab?.destroy();
  if (socketDir !== '') rmSync(socketDir, { recursive: true, force: true });
  console.log('\nstopped every controller');
  process.exit(code);
}
process.on('SIGINT', () => void shutdown());
process.on('SIGTERM', () => void shutdown());
process.on('SIGHUP', () => void shutdown());

console.log(
  `Sector XYZ over Paris, replicated on ${initial} controller processes (Cohort over ${lab === null ? 'loopback TCP' : 'TCP between network namespaces, with a network secret'}).`,
);
const addresses =
  lab === null
    ? (await freePorts(initial)).map((p) => `127.0.0.1:${p}`)
    : Array.from({ length: initial }, (_, i) => `${lab!.address(i + 1)}:${netnsPort}`);
const first: Controller[] = [];
try {
  for (let i = 0; i < initial; i++) {
    // Started together, each seeded with the others: one network, never two.
    const c = await start(
      addresses.filter((_, j) => j !== i),
      addresses[i],
    );
    first.push(c);
  }
} catch (err) {
  process.stderr.write(`${(err as Error).message}\n`);
  await shutdown(1);
}
try {
  await Promise.all(first.map((c) => c.ready));
} catch (err) {
  process.stderr.write(`${(err as Error).message}\n`);
  await shutdown(1);
}
console.log('Open a controller page:');
for (const c of first) console.log(`${c.id}  ${c.url}  (PID ${c.pid})`);
console.log('Ctrl-C stops the demo.');
