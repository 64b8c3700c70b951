/**
 * ZooKeeper's side of `npm run bench:peers -- --only zookeeper`: durable replicated
 * writes, for the comparison with Cohort's "ordered durable writes acknowledged at
 * majority".
 *
 * Ensemble: 3 servers of Debian's `zookeeper` package (the jars only: `zookeeperd`,
 * which would add a system service, is not installed, so no system ZooKeeper starts;
 * and every port here is a free one, so one already running would not collide), run
 * as `java ... QuorumPeerMain zoo.cfg` with the classpath of the jar that `dpkg -L
 * libzookeeper-java` lists (a dependency of `zookeeper`; the jar's manifest names its
 * own dependencies). Each server: client, quorum
 * and election ports of its own on 127.0.0.1, its own dataDir (with its myid) in the
 * work folder, forceSync=yes (the default, written out: the transaction log is fsynced
 * before a proposal is acknowledged, so a write is acknowledged once a majority logged
 * and fsynced it), the admin server off (it would take port 8080), only the `srvr`
 * four-letter word on (readiness: one leader, two followers; bounded wait). A fresh
 * ensemble runs every repetition of every point, stopped by PID, its data removed.
 *
 * Load client: ZkWriter.java (built with javac in the work folder), with the same
 * accounting as etcd (durable.ts): throughput = `senders` writers, writer i with a
 * session on server i, each keeping --window async setData calls outstanding; latency
 * = one writer with a session on the leader, one synchronous setData at a time.
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { freePorts } from '../../src/tools/ports.js';
import { fsType, memoryFs } from './etcd.js';
import { MEMBERS } from './options.js';
import type { PeersOptions } from './options.js';
import { log, must, run, sleep, start, stopAll, waitAll } from './procs.js';
import type { Tracked } from './procs.js';
import { runDurableWorkload, writerLines } from './durable.js';

/** `zookeeper` brings the jars (libzookeeper-java), scripts and a sample config, no service. */
export const zookeeperPackages = ['zookeeper'];
/** The package whose files hold ZooKeeper's jar. */
export const zookeeperJarPackage = 'libzookeeper-java';
// -XX:-UsePerfData: no /tmp/hsperfdata_USER left behind by the JVMs
const SERVER_JVM = ['-Xms256m', '-Xmx1g', '-XX:-UsePerfData', '-Dzookeeper.admin.enableServer=false', '-Djava.net.preferIPv4Stack=true'];
const CLIENT_JVM = ['-Xms256m', '-Xmx1g', '-XX:-UsePerfData', '-Djava.net.preferIPv4Stack=true'];
const READY_WITHIN_MS = 90_000;

/** The jar of ZooKeeper itself among the files of `dpkg -L libzookeeper-java`; throws if none. */
export function zookeeperJarFrom(dpkgList: string): string {
  const jar = dpkgList.split('\n').map((l) => l.trim()).find((l) => /\/zookeeper\.jar$/.test(l));
  if (jar === undefined) throw new Error(`the ${zookeeperJarPackage} package lists no zookeeper.jar (dpkg -L ${zookeeperJarPackage})`);
  return jar;
}

/** The servers' and the client's classpath: ZooKeeper's jar (its manifest brings the rest). */
export function zookeeperJar(): string {
  return zookeeperJarFrom(must('dpkg', ['-L', zookeeperJarPackage], 10_000));
}

export function zookeeperVersion(): string {
  const v = run('dpkg-query', ['-W', '-f=${Version}', 'zookeeper'], 10_000).stdout.trim();
  const j = /version "([^"]+)"/.exec(run('java', ['-XX:-UsePerfData', '-version'], 20_000).stderr);
  return `zookeeper ${v || '?'} java ${j?.[1] ?? '?'}`;
}

/** Build the Java client; returns the classes folder. */
export function buildZkClient(src: string, work: string): string {
  const classes = join(work, 'zk-classes');
  mkdirSync(classes, { recursive: true });
  must('javac', ['-J-XX:-UsePerfData', '-nowarn', '-cp', zookeeperJar(), '-d', classes, src], 180_000);
  return classes;
}

/** Ports of one ensemble: server i serves clients on client[i], talks to the leader on quorum[i], elects on election[i]. */
export interface ZkPorts {
  readonly client: readonly number[];
  readonly quorum: readonly number[];
  readonly election: readonly number[];
}

/** zoo.cfg of server `i` (myid i + 1). */
export function zooCfg(i: number, ports: ZkPorts, dataDir: string): string {
  return [
    'tickTime=2000',
    'initLimit=10',
    'syncLimit=5',
    `dataDir=${dataDir}`,
    `clientPort=${ports.client[i]}`,
    'clientPortAddress=127.0.0.1',
    ...ports.quorum.map((q, j) => `server.${j + 1}=127.0.0.1:${q}:${ports.election[j]}`),
    // the default, written out: fsync the transaction log before acknowledging
    'forceSync=yes',
    'admin.enableServer=false',
    '4lw.commands.whitelist=srvr',
    'autopurge.purgeInterval=0',
    '',
  ].join('\n');
}

/** The `Mode:` of a `srvr` answer (leader, follower, standalone...), or null. */
export function srvrMode(answer: string): string | null {
  return /^Mode:\s*(\S+)/m.exec(answer)?.[1] ?? null;
}

/** Send a four-letter word to 127.0.0.1:port; its answer ('' on error), bounded by `ms`. */
function fourLetters(port: number, word: string, ms: number): Promise<string> {
  return new Promise((resolve) => {
    let text = '';
    const s = connect(port, '127.0.0.1', () => s.end(word));
    const timer = setTimeout(() => s.destroy(), ms);
    s.on('data', (b: Buffer) => (text += b.toString('utf8')));
    s.on('close', () => {
      clearTimeout(timer);
      resolve(text);
    });
    s.on('error', () => undefined); // 'close' follows
  });
}

/** Wait until the servers' modes are one leader and followers, or a server exits, or READY_WITHIN_MS passed; the leader's index. */
async function waitReady(ports: ZkPorts, servers: readonly Tracked[], errFile: (i: number) => string): Promise<number> {
  const by = Date.now() + READY_WITHIN_MS;
  for (;;) {
    const dead = servers.findIndex((s) => s.done);
    if (dead >= 0) throw new Error(`zookeeper server ${dead + 1} exited: ${readFileSync(errFile(dead), 'utf8').trim().slice(-1000)}`);
    const modes = await Promise.all(ports.client.map(async (p) => srvrMode(await fourLetters(p, 'srvr', 2_000))));
    if (modes.filter((m) => m === 'leader').length === 1 && modes.filter((m) => m === 'follower').length === MEMBERS - 1) return modes.indexOf('leader');
    if (Date.now() > by) throw new Error(`the ZooKeeper ensemble was not ready within ${READY_WITHIN_MS / 1000} s (modes: ${modes.join(', ')})`);
    await sleep(300);
  }
}

/** Run every point; returns the RESULT lines (NaN for the points that failed). */
export async function runZookeeper(o: PeersOptions, work: string, classes: string): Promise<string[]> {
  const dir = join(work, 'zookeeper');
  mkdirSync(dir, { recursive: true });
  const jar = zookeeperJar();
  const fs = fsType(dir);
  if (memoryFs(fs)) log(`zookeeper: WARNING the work folder ${dir} is on ${fs}: fsync costs nothing there, the figures are NOT durable writes`);
  const config = `zab3-forcesync${memoryFs(fs) ? `-${fs}-NOT-DURABLE` : ''}`;
  let runNo = 0;

  /** One fresh ensemble, the client, then the ensemble stopped and its data removed; the writers' WRITER lines. */
  const once = async (mode: 'tput' | 'lat', writers: number, size: number, windowS: number): Promise<Map<string, string>[]> => {
    runNo++;
    const base = join(dir, `run${runNo}`);
    mkdirSync(base, { recursive: true });
    const all = await freePorts(3 * MEMBERS);
    const ports: ZkPorts = { client: all.slice(0, MEMBERS), quorum: all.slice(MEMBERS, 2 * MEMBERS), election: all.slice(2 * MEMBERS) };
    const errFile = (i: number): string => join(base, `s${i + 1}.log`);
    const servers: Tracked[] = [];
    let client: Tracked | undefined;
    try {
      for (let i = 0; i < MEMBERS; i++) {
        const data = join(base, `s${i + 1}.data`);
        mkdirSync(data, { recursive: true });
        writeFileSync(join(data, 'myid'), `${i + 1}\n`);
        const cfg = join(base, `s${i + 1}.cfg`);
        writeFileSync(cfg, zooCfg(i, ports, data));
        servers.push(start(`zookeeper server ${i + 1}`, 'java', [...SERVER_JVM, '-cp', jar, 'org.apache.zookeeper.server.quorum.QuorumPeerMain', cfg], errFile(i), errFile(i)));
      }
      const t0 = Date.now();
      const leader = await waitReady(ports, servers, errFile);
      if (runNo === 1) log(`zookeeper: ensemble ready in ${((Date.now() - t0) / 1000).toFixed(1)} s, leader server ${leader + 1} (pids ${servers.map((s) => s.pid).join(', ')})`);
      const targets = mode === 'tput' ? Array.from({ length: writers }, (_, i) => `127.0.0.1:${ports.client[i % MEMBERS]}`) : [`127.0.0.1:${ports.client[leader]}`];
      const warmMs = o.warmupSeconds * 1000;
      const outFile = join(base, 'client.out');
      const clientErr = join(base, 'client.err');
      client = start('zookeeper client', 'java', [...CLIENT_JVM, '-cp', `${classes}:${jar}`, 'ZkWriter', mode, targets.join(','), String(size), String(o.window), String(warmMs), String(windowS * 1000)], outFile, clientErr);
      // bound: the client's own setup bound (60 s) + warm-up + window + its call and drain bounds (2 × 10 s) + margin
      const ok = await waitAll([client], 60_000 + warmMs + windowS * 1000 + 20_000 + 15_000);
      const lines = writerLines(readFileSync(outFile, 'utf8'));
      const expected = mode === 'tput' ? writers : 1;
      if (!ok || lines.length < expected) {
        log(`zookeeper ${mode} writers=${writers} size=${size}: ${lines.length} of ${expected} writers reported: ${readFileSync(clientErr, 'utf8').split('\n').filter((l) => /ZkWriter|halting|Exception/.test(l)).slice(0, 3).join(' / ').slice(0, 600)}`);
      }
      return lines;
    } catch (e) {
      log(`zookeeper ${mode} writers=${writers} size=${size}: ${(e as Error).message}`);
      return [];
    } finally {
      await stopAll(client === undefined ? servers : [client, ...servers], 10_000);
      if (!o.keep) rmSync(base, { recursive: true, force: true });
    }
  };

  return runDurableWorkload(o, 'zookeeper', config, once);
}
