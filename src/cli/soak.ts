/**
 * `npm run sim:soak -- --seeds N [--from S] [--jobs J] [--kind swarm|scenario]`: runs a
 * range of seeds in parallel worker threads (one run at a time per worker, default one
 * worker per CPU), with a progress line on standard error (seeds done, rate, failures
 * so far). At the end it prints every failing seed with its replay command and the
 * first violations, then a table of the failures by class (the guarantees broken, or
 * the assertion that crashed the run), and exits 1 when any seed failed.
 *
 * Work is handed out one seed at a time, so a slow seed holds up one worker only. A
 * seed that runs longer than `--timeout-s` of real time (a hang, not a slow run: a run
 * of many virtual seconds takes well under a second) is counted as failed, its worker
 * terminated and replaced.
 */
import { availableParallelism } from 'node:os';
import { parseArgs } from 'node:util';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import type { Violation } from '../check/history.js';
import { runScenario } from '../sim/scenario.js';
import { runSwarm } from '../sim/swarm.js';
import { parseFaultKinds } from '../sim/swarm-shape.js';
import type { FaultKind } from '../sim/swarm-shape.js';
import { formatFirstViolations, scenarioReplayCommand, swarmReplayCommand } from './replay.js';
import { ExitCode } from './exit.js';

const usage = `usage: npm run sim:soak -- --seeds N [--from S] [--jobs J] [--kind swarm|scenario] [--kinds K1,K2,...|all] [--timeout-s T]

Runs seeds S .. S+N-1 (default 1 .. 1000) of the swarm simulation (or of the seeded
fault scenarios) in J worker threads (default: one per CPU), prints every failing
seed with the command that replays it, and a table of failures by class.
--kinds limits the swarm to these fault kinds (see npm run sim -- --help).`;

/** What the soak runs. */
type Kind = 'swarm' | 'scenario';

/** What a worker is told at start. */
interface WorkerConfig {
  readonly kind: Kind;
  readonly kinds: readonly FaultKind[] | undefined;
}

/** A worker's answer for one seed. */
interface SeedOutcome {
  readonly seed: number;
  readonly wallMs: number;
  readonly description: string;
  readonly violations: readonly Violation[];
  readonly livenessChecked: boolean;
}

/**
 * The class of a failed run, for the summary table: the assertion that crashed it
 * (numbers and ids blurred, so that one bug is one class), else the guarantees it
 * broke.
 */
function classify(violations: readonly Violation[]): string {
  const crash = violations.find((v) => v.guarantee === 'crash');
  if (crash !== undefined) {
    const line = (crash.message.replace(/^the run threw: /, '').split('\n')[0] ?? '').replace(/\b[a-z]+\d+#\d+\b/g, 'M').replace(/\d+/g, 'N');
    return `crash: ${line.slice(0, 120)}`;
  }
  const gs = [...new Set(violations.map((v) => v.guarantee))].sort((a, b) => Number(a.slice(1)) - Number(b.slice(1)));
  const convergence = violations.some((v) => v.guarantee === 'G7' && v.message.startsWith('not converged'));
  return gs.join('+') + (convergence ? ' (not converged)' : '');
}

async function runSeed(config: WorkerConfig, seed: number): Promise<SeedOutcome> {
  const started = performance.now();
  if (config.kind === 'scenario') {
    const r = await runScenario({ seed });
    return { seed, wallMs: performance.now() - started, description: r.shape, violations: r.violations, livenessChecked: r.livenessChecked };
  }
  const r = await runSwarm({ seed, ...(config.kinds === undefined ? {} : { kinds: config.kinds }) });
  return { seed, wallMs: performance.now() - started, description: r.description, violations: r.violations, livenessChecked: r.livenessChecked };
}

// ---------------------------------------------------------------- worker side

function workerMain(): void {
  const config = workerData as WorkerConfig;
  const port = parentPort!;
  port.on('message', (seed: number) => {
    runSeed(config, seed).then(
      (outcome) => port.postMessage(outcome),
      (err: unknown) =>
        port.postMessage({
          seed,
          wallMs: 0,
          description: '',
          violations: [{ guarantee: 'crash', message: `the run threw: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}` }],
          livenessChecked: false,
        } satisfies SeedOutcome),
    );
  });
}

// ---------------------------------------------------------------- main side

interface Options {
  readonly from: number;
  readonly count: number;
  readonly jobs: number;
  readonly timeoutMs: number;
  readonly config: WorkerConfig;
}

function parseOptions(argv: readonly string[]): Options | 'help' {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      seeds: { type: 'string' },
      from: { type: 'string' },
      jobs: { type: 'string' },
      kind: { type: 'string' },
      kinds: { type: 'string' },
      'timeout-s': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help === true) return 'help';
  const int = (name: string, v: string | undefined, fallback: number, min: number): number => {
    if (v === undefined) return fallback;
    const n = Number(v);
    if (!Number.isSafeInteger(n) || n < min) throw new Error(`--${name} must be an integer >= ${min}`);
    return n;
  };
  const kind = values.kind ?? 'swarm';
  if (kind !== 'swarm' && kind !== 'scenario') throw new Error('--kind must be swarm or scenario');
  if (values.kinds !== undefined && kind !== 'swarm') throw new Error('--kinds is for --kind swarm');
  return {
    from: int('from', values.from, 1, 0),
    count: int('seeds', values.seeds, 1000, 1),
    jobs: int('jobs', values.jobs, availableParallelism(), 1),
    timeoutMs: int('timeout-s', values['timeout-s'], 300, 1) * 1000,
    config: { kind, kinds: values.kinds === undefined ? undefined : parseFaultKinds(values.kinds) },
  };
}

/** The progress line: seeds done, rate, failures so far, time left. */
class Progress {
  private readonly started = performance.now();
  private lastPrint = 0;
  private readonly tty = process.stderr.isTTY === true;

  constructor(private readonly total: number) {}

  update(done: number, failed: number, unjudged: number, final = false): void {
    const now = performance.now();
    if (!final && now - this.lastPrint < (this.tty ? 200 : 5_000)) return;
    this.lastPrint = now;
    const secs = (now - this.started) / 1000;
    const rate = done / Math.max(secs, 0.001);
    const left = rate > 0 ? (this.total - done) / rate : 0;
    const line = `soak: ${done}/${this.total} seeds, ${rate.toFixed(1)} seeds/s, ${failed} failed, ${unjudged} without liveness verdict, ${secs.toFixed(0)} s elapsed, ~${left.toFixed(0)} s left`;
    if (this.tty) process.stderr.write(`\r${line}\x1b[K${final ? '\n' : ''}`);
    else process.stderr.write(`${line}\n`);
  }
}

async function soak(opts: Options): Promise<number> {
  const seeds = Array.from({ length: opts.count }, (_, i) => opts.from + i);
  const outcomes: SeedOutcome[] = [];
  const progress = new Progress(seeds.length);
  let next = 0;
  let failed = 0;
  let unjudged = 0;
  const record = (o: SeedOutcome): void => {
    outcomes.push(o);
    if (o.violations.length > 0) {
      failed++;
      // At once, not only in the summary: a soak stopped early still names its failures.
      process.stderr.write(`soak: seed ${o.seed} FAILED (${o.violations[0]!.guarantee}); replay: ${replay(opts, o.seed)}\n`);
    }
    if (!o.livenessChecked) unjudged++;
    progress.update(outcomes.length, failed, unjudged);
  };

  await new Promise<void>((resolveAll) => {
    let running = 0;
    const spawn = (): void => {
      const worker = new Worker(new URL(import.meta.url), { workerData: opts.config });
      running++;
      let current: number | null = null;
      let timer: NodeJS.Timeout | null = null;
      const giveNext = (): void => {
        if (next >= seeds.length) {
          current = null;
          void worker.terminate();
          return;
        }
        current = seeds[next++]!;
        const seed = current;
        timer = setTimeout(() => {
          record({ seed, wallMs: opts.timeoutMs, description: '', violations: [{ guarantee: 'crash', message: `the run threw: hung: no verdict after ${opts.timeoutMs / 1000} s of real time` }], livenessChecked: false });
          current = null;
          void worker.terminate();
          spawn();
        }, opts.timeoutMs);
        worker.postMessage(seed);
      };
      worker.on('message', (o: SeedOutcome) => {
        if (timer !== null) clearTimeout(timer);
        if (o.seed !== current) return; // the answer of a seed already given up on
        record(o);
        giveNext();
      });
      worker.on('error', (err) => {
        if (timer !== null) clearTimeout(timer);
        if (current !== null) {
          record({ seed: current, wallMs: 0, description: '', violations: [{ guarantee: 'crash', message: `the run threw: worker died: ${err.message}` }], livenessChecked: false });
          current = null;
          spawn();
        }
      });
      worker.on('exit', () => {
        running--;
        if (running === 0) resolveAll();
      });
      giveNext();
    };
    for (let i = 0; i < Math.min(opts.jobs, seeds.length); i++) spawn();
  });
  progress.update(outcomes.length, failed, unjudged, true);
  return summarize(opts, outcomes);
}

function replay(opts: Options, seed: number): string {
  return opts.config.kind === 'scenario' ? scenarioReplayCommand(seed) : swarmReplayCommand(seed, opts.config.kinds);
}

function summarize(opts: Options, outcomes: SeedOutcome[]): number {
  outcomes.sort((a, b) => a.seed - b.seed);
  const failures = outcomes.filter((o) => o.violations.length > 0);
  for (const o of failures) {
    console.log(`FAILED seed ${o.seed}; replay: ${replay(opts, o.seed)}${o.description === '' ? '' : `\n  ${o.description}`}\n${formatFirstViolations(o.violations, 3)}\n`);
  }
  const walls = outcomes.map((o) => o.wallMs).sort((a, b) => a - b);
  const pct = (p: number): string => (walls[Math.min(walls.length - 1, Math.floor(p * walls.length))] ?? 0).toFixed(0);
  const cpuSecs = walls.reduce((s, x) => s + x, 0) / 1000;
  console.log(
    `${opts.config.kind} seeds ${opts.from}..${opts.from + opts.count - 1}: ${outcomes.length - failures.length} passed, ${failures.length} failed; ` +
      `liveness judged in ${outcomes.filter((o) => o.livenessChecked).length}; wall ms per seed: median ${pct(0.5)}, p99 ${pct(0.99)}, max ${pct(1)}; ${cpuSecs.toFixed(0)} s of runs in total`,
  );
  const slowest = [...outcomes].sort((a, b) => b.wallMs - a.wallMs).slice(0, 3);
  console.log(`slowest seeds: ${slowest.map((o) => `${o.seed} (${o.wallMs.toFixed(0)} ms)`).join(', ')}`);
  if (failures.length > 0) {
    const classes = new Map<string, number[]>();
    for (const o of failures) {
      const k = classify(o.violations);
      classes.set(k, [...(classes.get(k) ?? []), o.seed]);
    }
    console.log('failures by class (count, class, example seeds):');
    for (const [k, ss] of [...classes].sort((a, b) => b[1].length - a[1].length)) {
      console.log(`  ${String(ss.length).padStart(5)}  ${k}  e.g. ${ss.slice(0, 3).join(', ')}`);
    }
  }
  return failures.length === 0 ? ExitCode.ok : ExitCode.failure;
}

async function main(): Promise<number> {
  let opts: Options | 'help';
  try {
    opts = parseOptions(process.argv.slice(2));
  } catch (err) {
    console.error(`sim:soak: ${(err as Error).message.split('\n')[0]} (try npm run sim:soak -- --help)`);
    return ExitCode.usage;
  }
  if (opts === 'help') {
    console.log(usage);
    return ExitCode.ok;
  }
  return soak(opts);
}

if (isMainThread) process.exitCode = await main();
else workerMain();
