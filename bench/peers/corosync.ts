/**
 * Corosync's side of `npm run bench:peers`: 3 Corosync daemons on one machine, each in
 * network and mount namespaces of its own, and one `cpg-member` client per daemon.
 *
 * Layout (made here, always deleted; names carry this process's PID):
 * - namespace `NAME-br` holds the bridge `br0`; namespaces `NAME-n1..3` each have an
 *   `eth0` with `10.250.77.i/24`, the other end of its veth pair a port of `br0`. The
 *   veth pairs are created inside the namespaces (`ip -n ... link add ... peer ...
 *   netns NAME-br`), so the root namespace is never touched and the addresses exist
 *   only inside the lab: no route leads out.
 * - each daemon: `ip netns exec NAME-ni unshare --mount --propagation private sh -c
 *   'mount tmpfs on /dev/shm /run /var/lib/corosync /var/log/corosync; exec corosync
 *   -f'`. The private /run matters (Corosync takes the lock file /run/corosync.pid, so
 *   two daemons in one mount namespace refuse to start); libqb's IPC uses abstract
 *   unix sockets (scoped by the network namespace) and /dev/shm ring buffers (scoped
 *   by the private tmpfs). `ip netns exec`, `unshare` without --fork and `sh -c exec`
 *   all exec, so the spawned PID is the daemon's own.
 * - clients join their daemon's namespaces with `nsenter -t PID -m -n`, which execs too.
 * - corosync.conf: transport knet (the default), no crypto, token timeouts at their
 *   defaults, `sched_rr: no` (the default, real-time priority for 3 daemons, would
 *   starve the clients on a small machine), logging to standard error; each key on a
 *   line of its own (the parser refuses `node { ring0_addr: ... }` on one line).
 * - the membership is ready when `corosync-cmapctl -b runtime.members` shows 3 joined
 *   members on every node (polled, bounded).
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { MEMBERS } from './options.js';
import type { PeersOptions } from './options.js';
import { alive, endPid, log, must, onCleanup, run, sleep, start, stopAll, waitAll } from './procs.js';
import type { Tracked } from './procs.js';
import { memberLines, runWorkload } from './results.js';

export const corosyncPackages = ['corosync', 'libcpg-dev', 'libcorosync-common-dev', 'libqb-dev', 'gcc', 'libc6-dev', 'iproute2', 'util-linux'];
/** The RESULT lines' config: transport, delivery order, scheduling. */
export const corosyncConfig = 'knet-agreed-rr_no';
const NET = '10.250.77';
/** Namespaces of this benchmark: `cohortpeers-OWNERPID-...`. */
const PREFIX = 'cohortpeers';

function ipCmd(args: readonly string[]): string {
  return must('ip', args, 10_000);
}

function namespaces(): string[] {
  const r = run('ip', ['netns', 'list'], 10_000);
  return r.stdout
    .split('\n')
    .map((l) => l.split(' ')[0] ?? '')
    .filter((n) => n !== '');
}

/** Delete a namespace: first end (by PID) whatever still runs inside it, else it outlives `ip netns del`. */
function deleteNamespace(ns: string): void {
  const pids = run('ip', ['netns', 'pids', ns], 10_000).stdout.split(/\s+/).filter((p) => /^\d+$/.test(p));
  for (const p of pids) endPid(Number(p), 2_000);
  run('ip', ['netns', 'del', ns], 10_000);
}

/** Namespaces left by an earlier run that was SIGKILLed (its owner PID is gone): remove them. */
function reapStale(): void {
  for (const ns of namespaces()) {
    const m = new RegExp(`^${PREFIX}-(\\d+)-`).exec(ns);
    if (m !== null && !alive(Number(m[1]))) {
      log(`removing namespace ${ns} left by a dead run (pid ${m[1]})`);
      deleteNamespace(ns);
    }
  }
}

function corosyncConf(): string {
  const nodes = [1, 2, 3].map((i) => ['\tnode {', `\t\tring0_addr: ${NET}.${i}`, `\t\tnodeid: ${i}`, `\t\tname: n${i}`, '\t}'].join('\n')).join('\n');
  return [
    'totem {',
    '\tversion: 2',
    '\tcluster_name: cohortpeers',
    '\ttransport: knet',
    '\tcrypto_cipher: none',
    '\tcrypto_hash: none',
    '}',
    'nodelist {',
    nodes,
    '}',
    'system {',
    '\tsched_rr: no',
    '\tmove_to_root_cgroup: no',
    '}',
    'logging {',
    '\tto_stderr: yes',
    '\tto_syslog: no',
    '\tto_logfile: no',
    '\ttimestamp: hires',
    '}',
    '',
  ].join('\n');
}

/** Build the C client; returns its path. */
export function buildCpgClient(src: string, work: string): string {
  const bin = join(work, 'cpg-member');
  must('gcc', ['-O2', '-Wall', '-o', bin, src, '-lcpg', '-lm'], 120_000);
  return bin;
}

export function corosyncVersion(): string {
  const r = run('corosync', ['-v'], 10_000);
  const m = /version\s+'?([\d.]+)/.exec(r.stdout + r.stderr);
  return `corosync ${m?.[1] ?? '?'}`;
}

/** Run every point; returns the RESULT lines (NaN for the points that failed). */
export async function runCorosync(o: PeersOptions, work: string, client: string): Promise<string[]> {
  reapStale();
  const lab = `${PREFIX}-${process.pid}`;
  const ns = { br: `${lab}-br`, n: [1, 2, 3].map((i) => `${lab}-n${i}`) };
  const dir = join(work, 'corosync');
  mkdirSync(dir, { recursive: true });
  const daemons: Tracked[] = [];
  // Registered before anything is created: the daemons first (by PID), then the namespaces.
  onCleanup(() => {
    for (const n of [...ns.n, ns.br]) if (namespaces().includes(n)) deleteNamespace(n);
  });
  onCleanup(() => {
    for (const d of daemons) if (!d.done) endPid(d.pid, 5_000);
  });

  // From here on the daemons and the namespaces go whatever happens (the exit hook's
  // clean-up steps stay as a last resort for signals).
  try {
    // The lab's network.
    ipCmd(['netns', 'add', ns.br]);
    ipCmd(['-n', ns.br, 'link', 'set', 'lo', 'up']);
    ipCmd(['-n', ns.br, 'link', 'add', 'br0', 'type', 'bridge']);
    ipCmd(['-n', ns.br, 'link', 'set', 'br0', 'up']);
    for (let i = 1; i <= 3; i++) {
      const n = ns.n[i - 1]!;
      ipCmd(['netns', 'add', n]);
      ipCmd(['-n', n, 'link', 'set', 'lo', 'up']);
      ipCmd(['-n', n, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', `v${i}`, 'netns', ns.br]);
      ipCmd(['-n', ns.br, 'link', 'set', `v${i}`, 'master', 'br0', 'up']);
      ipCmd(['-n', n, 'addr', 'add', `${NET}.${i}/24`, 'dev', 'eth0']);
      ipCmd(['-n', n, 'link', 'set', 'eth0', 'up']);
    }

    // The daemons.
    for (let i = 1; i <= 3; i++) {
      const nd = join(dir, `n${i}`);
      mkdirSync(nd, { recursive: true });
      const conf = join(nd, 'corosync.conf');
      writeFileSync(conf, corosyncConf());
      const script = `mount -t tmpfs tmpfs /dev/shm && mount -t tmpfs tmpfs /run && mount -t tmpfs tmpfs /var/lib/corosync && mount -t tmpfs tmpfs /var/log/corosync && exec corosync -f -c '${conf}'`;
      daemons.push(start(`corosync n${i}`, 'ip', ['netns', 'exec', ns.n[i - 1]!, 'unshare', '--mount', '--propagation', 'private', '--', '/bin/sh', '-c', script], join(nd, 'corosync.log'), join(nd, 'corosync.log')));
    }
    // Membership: 3 joined members seen from every node, within 60 s.
    const formedBy = Date.now() + 60_000;
    for (;;) {
      const dead = daemons.find((d) => d.done);
      if (dead !== undefined) throw new Error(`${dead.name} exited; see ${join(dir, 'n*', 'corosync.log')}:\n${readFileSync(join(dir, `n${daemons.indexOf(dead) + 1}`, 'corosync.log'), 'utf8').slice(-1500)}`);
      const joined = daemons.map((d) => (run('nsenter', ['-t', String(d.pid), '-m', '-n', 'corosync-cmapctl', '-b', 'runtime.members'], 10_000).stdout.match(/status \(str\) = joined/g) ?? []).length);
      if (joined.every((j) => j === MEMBERS)) break;
      if (Date.now() > formedBy) throw new Error(`the Corosync membership did not form within 60 s (joined: ${joined.join(', ')}); see ${dir}/n*/corosync.log`);
      await sleep(500);
    }
    log(`corosync: 3 daemons up in namespaces ${lab}-n1..3 (pids ${daemons.map((d) => d.pid).join(', ')})`);

    /** One run of the 3 clients; their MEMBER lines (fewer than 3 if one failed). */
    let runNo = 0;
    const once = async (mode: 'tput' | 'lat', senders: number, size: number, windowS: number): Promise<Map<string, string>[]> => {
      runNo++;
      const warmMs = o.warmupSeconds * 1000;
      const clients = daemons.map((d, i) =>
        start(`cpg-member ${i}`, 'nsenter', ['-t', String(d.pid), '-m', '-n', client, mode, String(i), String(MEMBERS), String(senders), String(size), String(warmMs), String(windowS * 1000)], join(dir, `run${runNo}.${i}.out`), join(dir, `run${runNo}.${i}.err`)),
      );
      // bound: the clients' own barrier bound (60 s) + warm-up + window + linger + margin
      const ok = await waitAll(clients, 60_000 + warmMs + windowS * 1000 + 15_000);
      const lines = clients.flatMap((_, i) => memberLines(readFileSync(join(dir, `run${runNo}.${i}.out`), 'utf8')));
      if (!ok || lines.length < MEMBERS) {
        const errs = clients.map((_, i) => readFileSync(join(dir, `run${runNo}.${i}.err`), 'utf8').trim()).filter((e) => e !== '');
        log(`corosync ${mode} senders=${senders} size=${size}: ${lines.length} of ${MEMBERS} members reported${errs.length > 0 ? `: ${errs.join(' | ').slice(0, 500)}` : ''}`);
      }
      return lines;
    };

    return await runWorkload(o, 'corosync', { tput: corosyncConfig, lat: corosyncConfig }, MEMBERS, once);
  } finally {
    await stopAll(daemons, 10_000);
    for (const n of [...ns.n, ns.br]) if (namespaces().includes(n)) deleteNamespace(n);
  }
}
