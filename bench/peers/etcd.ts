/**
 * etcd's side of `npm run bench:peers -- --only etcd`: durable replicated writes, for
 * the comparison with Cohort's "ordered durable writes acknowledged at majority".
 *
 * Cluster: 3 members of Debian's etcd-server on 127.0.0.1, each with client and peer
 * ports of its own (free ports below the ephemeral range, src/tools/ports.ts) and its
 * own --data-dir in the work folder, which must be on a real disk (a tmpfs makes fsync
 * free: the driver then says so, and the config says NOT-DURABLE). etcd's default
 * durability is kept: a put is acknowledged once Raft committed it, i.e. once a
 * majority (2 of 3) appended it to their WAL and fsynced it (per batch of entries).
 * A fresh cluster runs every repetition of every point (started, waited for healthy,
 * stopped by PID one member at a time, leader first (stopCluster says why), its data
 * folders removed), so that MVCC history from one run (etcd
 * keeps every revision until compaction) neither slows nor fills the next.
 *
 * Load client, in this process, with Node's own modules only (no new dependency):
 * - by default (`--etcd-api gateway`), etcd's gRPC gateway with the http module: JSON
 *   with base64 key and value (`POST /v3/kv/put` on 3.4+, probed: /v3beta and
 *   /v3alpha for older versions), a keep-alive agent per writer (HTTP/1.1: one
 *   connection per outstanding put). The gateway costs etcd CPU (JSON, base64, a
 *   loopback gRPC hop) that its own clients do not pay, so on a small machine these
 *   figures are a floor for etcd, not its best;
 * - with `--etcd-api grpc`, gRPC with the http2 module, as etcd's Go client talks:
 *   `/etcdserverpb.KV/Put`, the PutRequest encoded by hand (two bytes fields), all of a
 *   writer's puts multiplexed on one HTTP/2 connection; acknowledged on grpc-status 0.
 * The put path is probed through the gateway in both cases (it also proves that the
 * cluster takes writes).
 * - throughput: `senders` writers, writer i connected to member i (followers forward
 *   to the leader, as etcd does for any client), each keeping --window puts
 *   outstanding to keys of its own (`w<i>/<n mod 1000>`), size-byte values; puts
 *   acknowledged inside the window after 1 s of warm-up, summed over the writers
 *   (durable.ts says why this is not the multicast accounting).
 * - latency: one writer connected to the leader (the shortest path etcd offers), one
 *   put at a time; p50/p99 of the puts started inside the window.
 * Every put has a timeout (PUT_TIMEOUT_MS; a timed-out put is an error and the
 * repetition is NaN), every wait is bounded.
 */
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { connect as connectHttp2, constants as http2Constants } from 'node:http2';
import type { ClientHttp2Stream } from 'node:http2';
import { join } from 'node:path';
import { freePorts } from '../../src/tools/ports.js';
import { MEMBERS } from './options.js';
import type { PeersOptions } from './options.js';
import { log, run, sleep, start, stopAll } from './procs.js';
import type { Tracked } from './procs.js';
import { percentile, runDurableWorkload, writerLines } from './durable.js';

export const etcdPackages = ['etcd-server'];
/** The gateway paths of a put, newest first (3.4+ serves /v3; 3.3 /v3beta; 3.2 /v3alpha). */
export const putPaths = ['/v3/kv/put', '/v3beta/kv/put', '/v3alpha/kv/put'];
/** Keys per writer: writer i writes `w<i>/<n mod KEYS>`. */
export const KEYS = 1000;
const PUT_TIMEOUT_MS = 10_000;
const HEALTHY_WITHIN_MS = 60_000;

export function etcdVersion(): string {
  const r = run('etcd', ['--version'], 10_000);
  const v = /etcd Version:\s*(\S+)/.exec(r.stdout);
  const go = /Go Version:\s*(\S+)/.exec(r.stdout);
  return `etcd ${v?.[1] ?? '?'} ${go?.[1] ?? ''}`.trim();
}

/** Ports of one cluster: member i listens for clients on client[i], for peers on peer[i]. */
export interface EtcdPorts {
  readonly client: readonly number[];
  readonly peer: readonly number[];
}

/** The command line of member `i` (etcd 3.4 flags; fsync left at its default). */
export function etcdArgs(i: number, ports: EtcdPorts, dataDir: string, token: string): string[] {
  const cluster = ports.peer.map((p, j) => `m${j}=http://127.0.0.1:${p}`).join(',');
  return [
    '--name', `m${i}`,
    '--data-dir', dataDir,
    '--listen-client-urls', `http://127.0.0.1:${ports.client[i]}`,
    '--advertise-client-urls', `http://127.0.0.1:${ports.client[i]}`,
    '--listen-peer-urls', `http://127.0.0.1:${ports.peer[i]}`,
    '--initial-advertise-peer-urls', `http://127.0.0.1:${ports.peer[i]}`,
    '--initial-cluster', cluster,
    '--initial-cluster-token', token,
    '--initial-cluster-state', 'new',
    '--logger', 'zap',
    '--log-outputs', 'stderr',
    '--log-level', 'warn',
  ];
}

/** The JSON body of a put through the gateway: key and value base64-encoded. */
export function putBody(key: string, value: Buffer): string {
  return JSON.stringify({ key: Buffer.from(key).toString('base64'), value: value.toString('base64') });
}

/** Writer `i`'s key for its `n`-th put. */
export function writerKey(i: number, n: number): string {
  return `w${i}/${n % KEYS}`;
}

/** Whether a gateway answer acknowledges a put: status 200 and a response header with a revision, no error. */
export function putAcknowledged(status: number, body: string): boolean {
  if (status !== 200) return false;
  try {
    const j = JSON.parse(body) as { header?: { revision?: unknown }; error?: unknown };
    return j.error === undefined && j.header !== undefined && j.header.revision !== undefined;
  } catch {
    return false;
  }
}

/** One HTTP request with a body; resolves with status and body, or status 0 and the error. Bounded by `timeoutMs`. */
function post(url: string, path: string, body: string, agent: Agent | undefined, timeoutMs: number, method = 'POST'): Promise<{ status: number; body: string }> {
  return new Promise((resolve) => {
    const u = new URL(url);
    let done = false;
    const finish = (status: number, text: string): void => {
      if (done) return;
      done = true;
      resolve({ status, body: text });
    };
    const req = request(
      { host: u.hostname, port: Number(u.port), path, method, agent: agent ?? false, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => finish(res.statusCode ?? 0, Buffer.concat(chunks).toString('utf8')));
        res.on('error', (e) => finish(0, e.message));
      },
    );
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', (e) => finish(0, e.message));
    req.end(method === 'GET' ? undefined : body);
  });
}

/** The put path this etcd serves (a put to a probe key through each candidate); throws if none. */
async function probePutPath(url: string): Promise<string> {
  const tried: string[] = [];
  for (const path of putPaths) {
    const r = await post(url, path, putBody('probe', Buffer.from('x')), undefined, PUT_TIMEOUT_MS);
    if (putAcknowledged(r.status, r.body)) return path;
    tried.push(`${path}: ${r.status} ${r.body.slice(0, 100)}`);
  }
  throw new Error(`etcd at ${url} acknowledged no put through its gateway (${tried.join('; ')})`);
}

/** Wait until every member answers /health with health "true", or a member exits, or HEALTHY_WITHIN_MS passed. */
async function waitHealthy(urls: readonly string[], members: readonly Tracked[], errFile: (i: number) => string): Promise<void> {
  const by = Date.now() + HEALTHY_WITHIN_MS;
  for (;;) {
    const dead = members.findIndex((m) => m.done);
    if (dead >= 0) throw new Error(`etcd member ${dead} exited: ${readFileSync(errFile(dead), 'utf8').trim().slice(-1000)}`);
    const h = await Promise.all(urls.map((u) => post(u, '/health', '', undefined, 2_000, 'GET')));
    if (h.every((r) => r.status === 200 && /"health"\s*:\s*"true"/.test(r.body))) return;
    if (Date.now() > by) throw new Error(`the etcd cluster was not healthy within ${HEALTHY_WITHIN_MS / 1000} s (${h.map((r) => `${r.status} ${r.body.slice(0, 80)}`).join('; ')})`);
    await sleep(200);
  }
}

/** The index of the leader among `urls` (maintenance status: member_id === leader), or -1 if none says so. */
async function leaderIndex(urls: readonly string[]): Promise<number> {
  for (let i = 0; i < urls.length; i++) {
    for (const path of ['/v3/maintenance/status', '/v3beta/maintenance/status', '/v3alpha/maintenance/status']) {
      const r = await post(urls[i]!, path, '{}', undefined, 5_000);
      if (r.status !== 200) continue;
      try {
        const j = JSON.parse(r.body) as { header?: { member_id?: string }; leader?: string };
        if (j.leader !== undefined && j.header?.member_id === j.leader) return i;
      } catch {
        // not JSON: try the next path
      }
      break;
    }
  }
  return -1;
}

/**
 * Stop the members by PID, one at a time, the leader of those still running first. A
 * leader that gets SIGTERM hands its leadership to a follower first; with no follower
 * left running that hand-over fails only after several seconds, hence the order.
 */
async function stopCluster(urls: readonly string[], members: readonly Tracked[]): Promise<void> {
  for (let round = 0; round < members.length; round++) {
    const running = members.map((_, i) => i).filter((i) => !members[i]!.done);
    if (running.length === 0) return;
    const leader = await leaderIndex(running.map((i) => urls[i]!));
    await stopAll([members[running[Math.max(0, leader)]!]!], 10_000);
  }
  await stopAll(members, 10_000);
}

/** The filesystem type of `dir` (`stat -f`), '?' if unknown. */
export function fsType(dir: string): string {
  return run('stat', ['-f', '-c', '%T', dir], 10_000).stdout.trim() || '?';
}

/** Whether a filesystem type makes fsync free (memory only): then nothing is durable. */
export function memoryFs(type: string): boolean {
  return /^(tmpfs|ramfs)$/.test(type);
}

/** How the writers talk to etcd: its JSON gateway over HTTP/1.1 (the default), or gRPC over HTTP/2 as etcd's own clients do. */
export type EtcdApi = 'gateway' | 'grpc';

/** A protobuf varint. */
function varint(n: number): Buffer {
  const bytes: number[] = [];
  let v = n;
  while (v >= 0x80) {
    bytes.push((v & 0x7f) | 0x80);
    v = Math.floor(v / 128);
  }
  bytes.push(v);
  return Buffer.from(bytes);
}

/** etcdserverpb.PutRequest { key = 1; value = 2 } in protobuf, in a gRPC frame (uncompressed flag, 4-byte big-endian length). */
export function grpcPutFrame(key: string, value: Buffer): Buffer {
  const k = Buffer.from(key);
  const msg = Buffer.concat([Buffer.from([0x0a]), varint(k.length), k, Buffer.from([0x12]), varint(value.length), value]);
  const head = Buffer.alloc(5);
  head.writeUInt32BE(msg.length, 1);
  return Buffer.concat([head, msg]);
}

/** Sends puts to one member; `put` resolves with null once the put is acknowledged, or with why not. Never rejects. */
interface Putter {
  put(key: string, value: Buffer): Promise<string | null>;
  close(): void;
}

/** Puts through the JSON gateway, with a keep-alive agent of `sockets` connections (HTTP/1.1: one per outstanding put). */
function gatewayPutter(url: string, path: string, sockets: number): Putter {
  const agent = new Agent({ keepAlive: true, maxSockets: sockets });
  return {
    put: async (key, value) => {
      const r = await post(url, path, putBody(key, value), agent, PUT_TIMEOUT_MS);
      return putAcknowledged(r.status, r.body) ? null : `${r.status}:${r.body}`;
    },
    close: () => agent.destroy(),
  };
}

/** Puts over gRPC (`/etcdserverpb.KV/Put`), all multiplexed on one HTTP/2 connection, as etcd's Go client does. */
function grpcPutter(url: string): Putter {
  const session = connectHttp2(url);
  session.on('error', () => undefined); // each stream reports its own failure
  return {
    put: (key, value) =>
      new Promise((resolve) => {
        let done = false;
        const finish = (why: string | null): void => {
          if (done) return;
          done = true;
          resolve(why);
        };
        let stream: ClientHttp2Stream;
        try {
          stream = session.request({ ':method': 'POST', ':path': '/etcdserverpb.KV/Put', 'content-type': 'application/grpc', te: 'trailers' });
        } catch (e) {
          finish(`request: ${(e as Error).message}`);
          return;
        }
        let status: string | undefined;
        let bytes = 0;
        stream.on('response', (h) => {
          if (h['grpc-status'] !== undefined) status = String(h['grpc-status']); // a trailers-only answer (an error)
        });
        stream.on('trailers', (h) => {
          status = String(h['grpc-status'] ?? status);
        });
        stream.on('data', (b: Buffer) => (bytes += b.length));
        stream.on('close', () => finish(status === '0' && bytes > 5 ? null : `grpc-status ${status ?? 'none'}`));
        stream.on('error', (e) => finish(e.message));
        stream.setTimeout(PUT_TIMEOUT_MS, () => {
          finish(`no answer within ${PUT_TIMEOUT_MS} ms`);
          stream.close(http2Constants.NGHTTP2_CANCEL);
        });
        stream.end(grpcPutFrame(key, value));
      }),
    close: () => session.destroy(),
  };
}

function putter(api: EtcdApi, url: string, path: string, window: number): Putter {
  return api === 'grpc' ? grpcPutter(url) : gatewayPutter(url, path, window);
}

interface WriterSpec {
  readonly id: number;
  readonly api: EtcdApi;
  readonly url: string;
  readonly path: string;
  readonly size: number;
  readonly window: number;
  readonly warmMs: number;
  readonly windowMs: number;
}

function errorField(firstError: string): string {
  return firstError === '' ? '' : ` first_error=${firstError.replace(/\s+/g, '_').slice(0, 120)}`;
}

/** Throughput writer: `window` puts outstanding until the end; its WRITER line. */
function tputWriter(w: WriterSpec): Promise<string> {
  const client = putter(w.api, w.url, w.path, w.window);
  const value = Buffer.alloc(w.size, 0x61);
  const t0 = Date.now();
  const from = t0 + w.warmMs;
  const end = from + w.windowMs;
  let n = 0;
  let inflight = 0;
  let acked = 0;
  let ackedWin = 0;
  let errors = 0;
  let firstError = '';
  return new Promise((resolve) => {
    const finish = (): void => {
      client.close();
      const s = w.windowMs / 1000;
      resolve(`WRITER id=${w.id} mode=tput sent=${n} acked=${acked} acked_win=${ackedWin} window_s=${s.toFixed(3)} acks_per_s=${(ackedWin / s).toFixed(1)} errors=${errors}${errorField(firstError)}`);
    };
    const pump = (): void => {
      while (inflight < w.window && Date.now() < end) {
        inflight++;
        void client.put(writerKey(w.id, n++), value).then((why) => {
          inflight--;
          const t = Date.now();
          if (why === null) {
            acked++;
            if (t >= from && t < end) ackedWin++;
          } else {
            errors++;
            if (firstError === '') firstError = why;
          }
          if (Date.now() < end) pump();
          else if (inflight === 0) finish();
        });
      }
    };
    pump();
    if (inflight === 0) finish(); // the window was over before the first put
  });
}

/** Latency writer: one put at a time until the end; p50/p99 of those started inside the window; its WRITER line. */
async function latWriter(w: WriterSpec): Promise<string> {
  const client = putter(w.api, w.url, w.path, 1);
  const value = Buffer.alloc(w.size, 0x61);
  const from = Date.now() + w.warmMs;
  const end = from + w.windowMs;
  const samples: number[] = [];
  let n = 0;
  let errors = 0;
  let firstError = '';
  while (Date.now() < end) {
    const t = process.hrtime.bigint();
    const startedInWindow = Date.now() >= from;
    const why = await client.put(writerKey(w.id, n++), value);
    const us = Number(process.hrtime.bigint() - t) / 1e3;
    if (why !== null) {
      errors++;
      if (firstError === '') firstError = why;
    } else if (startedInWindow) samples.push(us);
  }
  client.close();
  samples.sort((a, b) => a - b);
  const f = (x: number): string => (Number.isFinite(x) ? x.toFixed(1) : '-');
  return `WRITER id=${w.id} mode=lat sent=${n} samples=${samples.length} p50_us=${f(percentile(samples, 0.5))} p99_us=${f(percentile(samples, 0.99))} errors=${errors}${errorField(firstError)}`;
}

/** Run every point; returns the RESULT lines (NaN for the points that failed). */
export async function runEtcd(o: PeersOptions, work: string): Promise<string[]> {
  const dir = join(work, 'etcd');
  mkdirSync(dir, { recursive: true });
  const fs = fsType(dir);
  if (memoryFs(fs)) log(`etcd: WARNING the work folder ${dir} is on ${fs}: fsync costs nothing there, the figures are NOT durable writes`);
  const config = `raft3-wal-fsync-${o.etcdApi}${memoryFs(fs) ? `-${fs}-NOT-DURABLE` : ''}`;
  let runNo = 0;

  /** One fresh cluster, its writers, then the cluster stopped and its data removed; the writers' WRITER lines. */
  const once = async (mode: 'tput' | 'lat', writers: number, size: number, windowS: number): Promise<Map<string, string>[]> => {
    runNo++;
    const base = join(dir, `run${runNo}`);
    mkdirSync(base, { recursive: true });
    const all = await freePorts(2 * MEMBERS);
    const ports: EtcdPorts = { client: all.slice(0, MEMBERS), peer: all.slice(MEMBERS) };
    const urls = ports.client.map((p) => `http://127.0.0.1:${p}`);
    const errFile = (i: number): string => join(base, `m${i}.err`);
    const members: Tracked[] = [];
    try {
      for (let i = 0; i < MEMBERS; i++) {
        members.push(start(`etcd m${i}`, 'etcd', etcdArgs(i, ports, join(base, `m${i}.data`), `cohortpeers-${process.pid}-${runNo}`), join(base, `m${i}.out`), errFile(i)));
      }
      const t0 = Date.now();
      await waitHealthy(urls, members, errFile);
      if (runNo === 1) log(`etcd: cluster healthy in ${((Date.now() - t0) / 1000).toFixed(1)} s (pids ${members.map((m) => m.pid).join(', ')})`);
      const path = await probePutPath(urls[0]!);
      const spec = (id: number, url: string): WriterSpec => ({ id, api: o.etcdApi, url, path, size, window: o.window, warmMs: o.warmupSeconds * 1000, windowMs: windowS * 1000 });
      let lines: string[];
      if (mode === 'tput') {
        lines = await Promise.all(Array.from({ length: writers }, (_, i) => tputWriter(spec(i, urls[i % MEMBERS]!))));
      } else {
        const leader = await leaderIndex(urls);
        if (leader < 0) log('etcd: no member says it is the leader; the latency writer uses member 0');
        lines = [await latWriter(spec(0, urls[Math.max(0, leader)]!))];
      }
      return writerLines(lines.join('\n'));
    } catch (e) {
      log(`etcd ${mode} writers=${writers} size=${size}: ${(e as Error).message}`);
      return [];
    } finally {
      const t1 = Date.now();
      await stopCluster(urls, members);
      if (runNo === 1) log(`etcd: cluster stopped in ${((Date.now() - t1) / 1000).toFixed(1)} s`);
      if (!o.keep) rmSync(base, { recursive: true, force: true });
    }
  };

  return runDurableWorkload(o, 'etcd', config, once);
}
