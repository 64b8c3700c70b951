/**
 * The command line of `npm run bench:peers`, and the refusal to run without root.
 * Pure functions (no process state), so that the tests run them without root.
 */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

/** The project's root: this file is `dist/bench/peers/options.js` once compiled. */
export const projectRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
/** Where the peers' RESULT lines go unless `--out` says otherwise (git-ignored). */
export const defaultResultsFile = join(projectRoot, 'bench', 'peers', 'results', 'latest.txt');
/** The clients' sources (not compiled by tsc: gcc and javac build them in the work folder). */
export const sourcesDir = join(projectRoot, 'bench', 'peers');

export const peerSystems = ['corosync', 'jgroups', 'etcd', 'zookeeper'] as const;
export type PeerSystem = (typeof peerSystems)[number];
/** What runs without --only: the multicast peers. The durable ones (etcd, ZooKeeper) run only when named. */
export const defaultSystems: readonly PeerSystem[] = ['corosync', 'jgroups'];
/** The durable-write peers: their RESULT lines say kind=durable (see durable.ts). */
export const durableSystems: readonly PeerSystem[] = ['etcd', 'zookeeper'];
/**
 * Outstanding writes per writer for the durable systems' throughput (--window). 256,
 * measured (1 KiB, 3 writers, 2-core machine, 5 s windows, runs ±20% apart): the peers'
 * acknowledged rate grows up to about there and not clearly beyond, so a smaller window
 * would understate the peers Cohort is compared with. ZooKeeper (--warmup 10): 3.3k/s
 * at 16, 4.4-5.5k at 64, 6.2-8.3k at 256, 7.8k at 1024; etcd over gRPC: 3.2k, 3.9-5.7k,
 * 5.0-7.0k, 7.3k; etcd through the JSON gateway: 2.4k at 16, then 2.5-3.2k from 64 on
 * (there each outstanding put holds an HTTP/1.1 connection: 768 with 3 writers).
 */
export const DEFAULT_WINDOW = 256;

export const usage = `usage: npm run bench:peers -- [options]        (as root)

Runs Corosync (CPG, agreed order) and JGroups (SEQUENCER total order) on the workload
of \`npm run bench\` and \`npm run bench:matrix\`: 3 members; throughput with 3 senders
and with 1 sender at each size; latency (one message at a time, multicast -> own
delivery) at each size; 1 s warm-up; msgs/s = messages delivered per member per
second, own included, averaged over the members; median of --reps repetitions.

It installs the Debian packages it lacks (corosync, libcpg-dev, gcc, a headless JDK,
libjgroups-java, unzip; etcd-server and zookeeper when those run), builds its C and
Java clients in a work folder under the temporary folder, runs 3 Corosync daemons in
network namespaces it creates (and always deletes) and 3 JGroups JVMs on 127.0.0.1,
and writes one RESULT line per point to standard output and to the results file. Then
\`npm run bench:matrix -- --peers\` runs Cohort's side and prints the comparison.

Durable replicated writes (only when named with --only): etcd (3 members, Raft, WAL
fsynced per batch) and ZooKeeper (3 servers, forceSync=yes), each on 127.0.0.1 with
its data folders in the work folder; one writer per member (--senders), each keeping
--window writes outstanding; msgs/s = writes acknowledged per second summed over the
writers (each fsynced on a majority first), not a per-member delivery rate; latency =
one write at a time, put -> acknowledgement. Their RESULT lines say kind=durable.

options:
  --only LIST       comma-separated systems among corosync, jgroups, etcd, zookeeper
                    (default: corosync,jgroups); the results file keeps the other
                    systems' lines from an earlier run
  --sizes LIST      payload sizes in bytes, comma-separated (default 100,1024,10240)
  --senders LIST    sender counts for throughput (default 3,1)
  --modes LIST      tput, lat or both (default tput,lat)
  --seconds S       measured window per throughput run (default 10)
  --lat-seconds S   measured window per latency run (default 5)
  --warmup S        warm-up before each window (default 1; the JVMs of ZooKeeper need
                    more to reach their compiled speed: 10 is fairer to them)
  --reps N          repetitions per point, median reported (default 3)
  --window W        outstanding writes per writer, etcd and zookeeper (default 256)
  --etcd-api API    gateway (default: JSON over HTTP/1.1, Node's http module) or grpc
                    (protobuf over HTTP/2, one connection per writer, as etcd's own
                    clients talk; the gateway's JSON and extra hop cost etcd CPU)
  --quick           a smoke test: --seconds 2 --lat-seconds 2 --reps 1 (explicit
                    options win)
  --out FILE        results file (default bench/peers/results/latest.txt)
  --keep            keep the work folder (builds, stack files, raw outputs)
  -h, --help        print this text

exit status: 0 every point measured; 1 a point or a setup step failed (its RESULT
line says NaN); 2 bad usage or not root.`;

/** The parsed command line. */
export interface PeersOptions {
  readonly systems: readonly PeerSystem[];
  readonly sizes: readonly number[];
  readonly senders: readonly number[];
  readonly tput: boolean;
  readonly lat: boolean;
  readonly seconds: number;
  readonly latSeconds: number;
  readonly warmupSeconds: number;
  readonly reps: number;
  /** Outstanding writes per writer (etcd, zookeeper). */
  readonly window: number;
  /** How the etcd writers talk to etcd: its JSON gateway (default) or gRPC. */
  readonly etcdApi: 'gateway' | 'grpc';
  readonly out: string;
  readonly keep: boolean;
  readonly help: boolean;
}

/** The group size of the workload (as `npm run bench:matrix`'s default). */
export const MEMBERS = 3;

export class UsageError extends Error {}

function list(name: string, v: string, min: number, max: number): number[] {
  const xs = v.split(',').map((s) => {
    const n = /^\d+$/.test(s) ? Number(s) : NaN;
    if (!Number.isSafeInteger(n) || n < min || n > max) throw new UsageError(`--${name}: each value must be an integer from ${min} to ${max}, got "${s}"`);
    return n;
  });
  return [...new Set(xs)];
}

function posInt(name: string, v: string | undefined, fallback: number, max: number): number {
  if (v === undefined) return fallback;
  const n = /^\d+$/.test(v) ? Number(v) : NaN;
  if (!Number.isSafeInteger(n) || n < 1 || n > max) throw new UsageError(`--${name} must be an integer from 1 to ${max}, got "${v}"`);
  return n;
}

/** Parse the arguments after `--`; throws UsageError with a one-line reason. */
export function parsePeersArgs(argv: readonly string[]): PeersOptions {
  let values;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      options: {
        only: { type: 'string' },
        sizes: { type: 'string' },
        senders: { type: 'string' },
        modes: { type: 'string' },
        seconds: { type: 'string' },
        'lat-seconds': { type: 'string' },
        warmup: { type: 'string' },
        reps: { type: 'string' },
        window: { type: 'string' },
        'etcd-api': { type: 'string' },
        quick: { type: 'boolean' },
        out: { type: 'string' },
        keep: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  let systems: PeerSystem[] = [...defaultSystems];
  if (values.only !== undefined) {
    const named = values.only.split(',');
    for (const s of named) if (!(peerSystems as readonly string[]).includes(s)) throw new UsageError(`--only: each value must be one of ${peerSystems.join(', ')}, got "${s}"`);
    systems = [...new Set(named as PeerSystem[])];
  }
  const modes = values.modes === undefined ? ['tput', 'lat'] : values.modes.split(',');
  for (const m of modes) if (m !== 'tput' && m !== 'lat') throw new UsageError(`--modes: each value must be tput or lat, got "${m}"`);
  const etcdApi = values['etcd-api'] ?? 'gateway';
  if (etcdApi !== 'gateway' && etcdApi !== 'grpc') throw new UsageError(`--etcd-api must be gateway or grpc, got "${etcdApi}"`);
  const quick = values.quick === true;
  const out = values.out ?? defaultResultsFile;
  if (out === '') throw new UsageError('--out needs a file name');
  return {
    systems,
    sizes: values.sizes === undefined ? [100, 1024, 10240] : list('sizes', values.sizes, 8, 60_000),
    senders: values.senders === undefined ? [MEMBERS, 1] : list('senders', values.senders, 1, MEMBERS),
    tput: modes.includes('tput'),
    lat: modes.includes('lat'),
    seconds: posInt('seconds', values.seconds, quick ? 2 : 10, 600),
    latSeconds: posInt('lat-seconds', values['lat-seconds'], quick ? 2 : 5, 600),
    warmupSeconds: posInt('warmup', values.warmup, 1, 600),
    reps: posInt('reps', values.reps, quick ? 1 : 3, 20),
    window: posInt('window', values.window, DEFAULT_WINDOW, 4096),
    etcdApi,
    out,
    keep: values.keep === true,
    help: values.help === true,
  };
}

/**
 * Null when `uid` is root; otherwise why root is needed and the command to run
 * instead (the same arguments). `npm` under sudo needs the caller's PATH to find
 * node, hence `env "PATH=$PATH"`.
 */
export function rootRefusal(uid: number, argv: readonly string[]): string | null {
  if (uid === 0) return null;
  const quoted = argv.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`));
  const cmd = `sudo env "PATH=$PATH" npm run bench:peers${quoted.length > 0 ? ` -- ${quoted.join(' ')}` : ''}`;
  return [
    'bench:peers must run as root: it installs the Debian packages of Corosync and JGroups',
    'with apt-get, and runs the 3 Corosync daemons in network and mount namespaces of',
    'their own (ip netns, unshare), which only root can create. Run it as root:',
    '',
    `  ${cmd}`,
  ].join('\n');
}

/** A rough duration of a run with these options, in seconds (for the log and the docs). */
export function estimateSeconds(o: PeersOptions): number {
  // per run: start (and for JGroups 3 JVMs joining, then leaving) + warm-up + window +
  // linger (1 s); measured with --quick on a loaded 2-core machine
  // (etcd and ZooKeeper: a fresh 3-member cluster per run, started and stopped)
  const perSystem = { corosync: { setup: 10, start: 1 }, jgroups: { setup: 20, start: 12 }, etcd: { setup: 5, start: 3 }, zookeeper: { setup: 15, start: 8 } };
  let total = 0;
  for (const s of o.systems) {
    const c = perSystem[s];
    total += c.setup;
    if (o.tput) total += o.senders.length * o.sizes.length * o.reps * (c.start + o.warmupSeconds + o.seconds + 1);
    if (o.lat) total += o.sizes.length * o.reps * (c.start + o.warmupSeconds + o.latSeconds + 1);
  }
  return total;
}
