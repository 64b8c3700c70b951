/**
 * `npm run bench:peers`: Corosync and JGroups on the workload of `npm run bench`, so
 * that `npm run bench:matrix -- --peers` can put them beside Cohort in one table.
 *
 * Named with --only, it also runs etcd and ZooKeeper, for durable replicated writes
 * (etcd.ts, zookeeper.ts; their accounting is durable.ts's, not the multicast one).
 *
 * Steps: refuse to run without root (exit 2, with the command to use); install the
 * Debian packages that are missing; build the C client (cpg-member.c, against libcpg)
 * and the Java clients (JgroupsMember.java against the JGroups jar, ZkWriter.java
 * against ZooKeeper's) in a work folder under the temporary folder; run Corosync
 * (namespaces, see corosync.ts) then JGroups (loopback, see jgroups.ts), then etcd and
 * ZooKeeper when named; print one RESULT line per point on standard output and
 * write them, with a `# MACHINE` line per system, to the results file. Progress goes
 * to standard error. The work folder is removed at the end unless --keep.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { buildCpgClient, corosyncPackages, corosyncVersion, runCorosync } from './corosync.js';
import { etcdPackages, etcdVersion, runEtcd } from './etcd.js';
import { buildJgroupsClient, jgroupsPackages, jgroupsVersion, runJgroups } from './jgroups.js';
import { buildZkClient, runZookeeper, zookeeperPackages, zookeeperVersion } from './zookeeper.js';
import { estimateSeconds, parsePeersArgs, rootRefusal, sourcesDir, usage, UsageError } from './options.js';
import type { PeerSystem } from './options.js';
import { cleanup, installExitHooks, log, onCleanup, run } from './procs.js';
import { machineLine, mergeResults } from './results.js';

/** Debian packages among `pkgs` that are not installed. */
function missingPackages(pkgs: readonly string[]): string[] {
  return pkgs.filter((p) => !/install ok installed/.test(run('dpkg-query', ['-W', '-f=${Status}', p], 10_000).stdout));
}

function onPath(cmd: string): boolean {
  return run('sh', ['-c', `command -v ${cmd}`], 5_000).status === 0;
}

/** Install what is missing with apt-get (after `apt-get update` if the first try fails). */
function ensurePackages(pkgs: readonly string[]): void {
  const missing = missingPackages(pkgs);
  if (missing.length === 0) return;
  log(`installing Debian packages: ${missing.join(' ')}`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const install = (): boolean => {
    const r = run('apt-get', ['install', '-y', '--no-install-recommends', ...missing], 15 * 60_000, env);
    if (r.status !== 0) log(`apt-get install failed: ${r.stderr.trim().split('\n').slice(-3).join(' / ')}`);
    return r.status === 0;
  };
  if (install()) return;
  log('apt-get update, then again');
  run('apt-get', ['update'], 10 * 60_000, env);
  if (!install()) throw new Error(`could not install ${missing.join(' ')} with apt-get`);
}

async function main(argv: readonly string[]): Promise<number> {
  let o;
  try {
    o = parsePeersArgs(argv);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    process.stderr.write(`bench:peers: ${e.message}\n${usage}\n`);
    return 2;
  }
  if (o.help) {
    process.stdout.write(`${usage}\n`);
    return 0;
  }
  const refusal = rootRefusal(process.getuid?.() ?? -1, argv);
  if (refusal !== null) {
    process.stderr.write(`${refusal}\n`);
    return 2;
  }
  installExitHooks();
  log(`systems ${o.systems.join(', ')}; sizes ${o.sizes.join(',')}; senders ${o.senders.join(',')}; ${o.tput ? `throughput ${o.seconds} s` : ''}${o.tput && o.lat ? ', ' : ''}${o.lat ? `latency ${o.latSeconds} s` : ''}; ${o.reps} rep(s); about ${Math.ceil(estimateSeconds(o) / 60)} min`);

  const packages: string[] = [];
  if (o.systems.includes('corosync')) packages.push(...corosyncPackages);
  if (o.systems.includes('jgroups')) packages.push(...jgroupsPackages);
  if (o.systems.includes('etcd')) packages.push(...etcdPackages);
  if (o.systems.includes('zookeeper')) packages.push(...zookeeperPackages);
  if ((o.systems.includes('jgroups') || o.systems.includes('zookeeper')) && !onPath('javac')) packages.push('default-jdk-headless');
  ensurePackages(packages);

  const work = mkdtempSync(join(tmpdir(), 'cohort-peers-'));
  onCleanup(() => {
    if (o.keep) log(`work folder kept: ${work}`);
    else rmSync(work, { recursive: true, force: true });
  });
  log(`work folder ${work}`);

  const fresh: string[] = [];
  const ran: PeerSystem[] = [];
  let failed = false;
  for (const system of o.systems) {
    const startedAt = new Date();
    let lines: string[];
    let software: string;
    try {
      if (system === 'corosync') {
        const client = buildCpgClient(join(sourcesDir, 'cpg-member.c'), work);
        software = corosyncVersion();
        lines = await runCorosync(o, work, client);
      } else if (system === 'jgroups') {
        const classes = buildJgroupsClient(join(sourcesDir, 'JgroupsMember.java'), work);
        software = jgroupsVersion();
        lines = await runJgroups(o, work, classes);
      } else if (system === 'etcd') {
        software = etcdVersion();
        lines = await runEtcd(o, work);
      } else {
        const classes = buildZkClient(join(sourcesDir, 'ZkWriter.java'), work);
        software = zookeeperVersion();
        lines = await runZookeeper(o, work, classes);
      }
    } catch (e) {
      log(`${system} failed: ${(e as Error).message}`);
      failed = true;
      continue;
    }
    log(`${system}: ${lines.length} points in ${Math.round((Date.now() - startedAt.getTime()) / 1000)} s`);
    if (lines.some((l) => /=NaN\b/.test(l))) failed = true;
    fresh.push(machineLine(system, startedAt, software), ...lines);
    ran.push(system);
  }
  if (ran.length > 0) {
    mkdirSync(dirname(o.out), { recursive: true });
    const previous = existsSync(o.out) ? readFileSync(o.out, 'utf8') : '';
    writeFileSync(o.out, mergeResults(previous, ran, fresh));
    log(`results written to ${o.out}${ran.length < o.systems.length ? ' (failed systems left as they were)' : ''}`);
  }
  return failed ? 1 : 0;
}

let code: number;
try {
  code = await main(process.argv.slice(2));
} catch (e) {
  log(`failed: ${(e as Error).stack ?? String(e)}`);
  code = 1;
}
cleanup();
process.exitCode = code;
