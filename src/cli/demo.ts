/**
 * `cohort demo`: the air traffic control sector in the terminal, on real processes.
 * Three controller processes (`cohort member`) replicate sector XYZ's flight plans
 * over loopback TCP; flight plans are filed concurrently; one controller's process is
 * killed (SIGKILL) and the others show the same agreed view change; a fourth
 * controller starts and receives the sector by state transfer; every live controller
 * shows the same digest. It ends by itself. `--simulated` runs the same story on the
 * deterministic simulator instead.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { freePorts } from '../tools/ports.js';
import { ExitCode } from './exit.js';
import { UsageError } from './usage.js';

/** The help text of `cohort demo`. */
export const demoUsage = `usage: cohort demo [--simulated [--seed N]]

  The air traffic control sector, replicated on three local controller processes:
  concurrent flight plans, a crash (SIGKILL), a joining controller that receives the
  sector by state transfer, and equal digests at the end. Ends by itself: exit code 0
  when the digests are equal, 1 when not (or after 60 s), 2 for bad flags.

  --simulated   run on the deterministic simulator instead of real processes
  --seed N      the simulation seed (with --simulated)`;

const bin = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'bin', 'cohort.js');

interface Line {
  event: string;
  view?: number;
  members?: string[];
  joined?: string[];
  failed?: string[];
  left?: string[];
  count?: number;
  digest?: string;
}

class Controller {
  readonly id: string;
  readonly port: number;
  readonly proc: ChildProcess;
  readonly lines: Line[] = [];
  private waiters: { pred: (l: Line) => boolean; resolve: () => void }[] = [];

  constructor(id: string, port: number, seeds: readonly number[], say: (who: string, what: string) => void) {
    this.id = id;
    this.port = port;
    const args = [bin, 'member', '--id', id, '--listen', `127.0.0.1:${port}`, '--group', 'atc/sector-xyz', '--quiet'];
    if (seeds.length > 0) args.push('--seeds', seeds.map((p) => `127.0.0.1:${p}`).join(','));
    this.proc = spawn(process.execPath, args, { stdio: ['pipe', 'pipe', 'inherit'] });
    let buf = '';
    this.proc.stdout!.on('data', (chunk: Buffer) => {
      buf += chunk.toString('utf8');
      for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
        const line = JSON.parse(buf.slice(0, nl)) as Line;
        buf = buf.slice(nl + 1);
        this.lines.push(line);
        if (line.event === 'view') {
          const why = [
            (line.joined ?? []).length > 0 ? `joined ${line.joined!.join(',')}` : '',
            (line.failed ?? []).length > 0 ? `FAILED ${line.failed!.join(',')}` : '',
            (line.left ?? []).length > 0 ? `left ${line.left!.join(',')}` : '',
          ].filter((x) => x !== '');
          if (why.length > 0) say(id, `view ${line.view} [${(line.members ?? []).join(' ')}] ${why.join('; ')}`);
        } else if (line.event === 'state') {
          say(id, `state transfer: ${line.count} updates applied, digest ${line.digest!.slice(0, 16)}`);
        } else if (line.event === 'blocked' || line.event === 'excluded') {
          say(id, line.event);
        }
        this.waiters = this.waiters.filter((w) => {
          if (!w.pred(line)) return true;
          w.resolve();
          return false;
        });
      }
    });
  }

  waitFor(pred: (l: Line) => boolean, timeoutMs: number, what: string): Promise<void> {
    if (this.lines.some(pred)) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`${this.id}: no ${what} after ${timeoutMs} ms`)), timeoutMs);
      this.waiters.push({ pred, resolve: () => (clearTimeout(t), resolve()) });
    });
  }

  send(update: string): void {
    this.proc.stdin!.write(`${update}\n`);
  }

  last(): Line | undefined {
    return [...this.lines].reverse().find((l) => l.event === 'message' || l.event === 'state');
  }

  kill(): void {
    if (this.proc.exitCode !== null || this.proc.signalCode !== null || this.proc.pid === undefined) return;
    try {
      process.kill(this.proc.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

/** Prints one line of the story: seconds since the start, who, what. */
type Say = (who: string, what: string) => void;

/** Run the demo; resolves with the exit code. */
export async function demo(argv: readonly string[]): Promise<number> {
  const { values } = parseArgs({
    args: [...argv],
    options: { simulated: { type: 'boolean' }, seed: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
    strict: true,
  });
  if (values.help === true) {
    process.stdout.write(`${demoUsage}\n`);
    return ExitCode.ok;
  }
  if (values.seed !== undefined && values.simulated !== true) throw new UsageError('--seed goes with --simulated');
  if (values.seed !== undefined && !/^\d+$/.test(values.seed)) throw new UsageError(`--seed must be a non-negative integer, got "${values.seed}"`);
  if (values.simulated === true) {
    process.argv = [process.argv[0]!, 'demo', ...(values.seed === undefined ? [] : ['--seed', values.seed])];
    await import('../../examples/atc-sector.js');
    return typeof process.exitCode === 'number' ? process.exitCode : ExitCode.ok;
  }
  const started = performance.now();
  const say: Say = (who, what) => {
    process.stdout.write(`${((performance.now() - started) / 1000).toFixed(2).padStart(6)}s  ${who.padEnd(6)} ${what}\n`);
  };
  const controllers: Controller[] = [];
  const deadline = setTimeout(() => {
    process.stderr.write('demo: did not finish within 60 s\n');
    for (const c of controllers) c.kill();
    process.exit(ExitCode.failure);
  }, 60_000);
  try {
    console.log('Sector XYZ over Paris, replicated on three controller processes (cohort member, loopback TCP).\n');
    await startThree(controllers, say);
    let n = await fileConcurrently(controllers, say);
    console.log('');
    const live = await crashOne(controllers, say);
    n = sendTakeovers(live, n);
    console.log('');
    const everyone = await joinFourth(controllers, live, say, n);
    console.log('');
    return await compareDigests(everyone, say);
  } finally {
    clearTimeout(deadline);
    for (const c of controllers) c.kill();
  }
}

/** Act 1: three controllers start and share one view. */
async function startThree(controllers: Controller[], say: Say): Promise<void> {
  const ports = await freePorts(3);
  const ids = ['ctl-1', 'ctl-2', 'ctl-3'];
  for (const [i, id] of ids.entries()) controllers.push(new Controller(id, ports[i]!, ports.filter((_, j) => j !== i), say));
  await Promise.all(controllers.map((c) => c.waitFor((l) => l.event === 'view' && l.members!.length === 3, 20_000, 'a view of three')));
  say('all', 'three controllers share one view of the sector');
}

/** Act 2: twelve flight plans filed concurrently, applied in one order; returns the updates so far. */
async function fileConcurrently(controllers: readonly Controller[], say: Say): Promise<number> {
  const routes = ['LFPG-EGLL', 'LFPO-LIRF', 'LFPG-KJFK', 'LFPB-EDDF', 'LFPG-LEMD', 'LFPO-EHAM'];
  let n = 0;
  for (let i = 0; i < 12; i++) {
    const c = controllers[i % 3]!;
    c.send(`plan AFR${100 + i} ${routes[i % routes.length]} FL${300 + 10 * (i % 8)} by ${c.id}`);
    n += 1;
  }
  await Promise.all(controllers.map((c) => c.waitFor((l) => l.count === n, 10_000, `${n} updates`)));
  say('all', `12 flight plans filed concurrently by three controllers; all applied them in one order`);
  for (const c of controllers) say(c.id, `${c.last()!.count} updates, digest ${c.last()!.digest!.slice(0, 16)}`);
  return n;
}

/** Act 3: one controller is killed; the others agree on one view without it. Returns them. */
async function crashOne(controllers: readonly Controller[], say: Say): Promise<Controller[]> {
  const victim = controllers[1]!;
  say(victim.id, 'process killed (SIGKILL)');
  const killedAt = performance.now();
  victim.kill();
  const live = [controllers[0]!, controllers[2]!];
  await Promise.all(live.map((c) => c.waitFor((l) => l.event === 'view' && (l.failed ?? []).includes(victim.id), 10_000, 'the view without the victim')));
  say('all', `one agreed view change, ${((performance.now() - killedAt) / 1000).toFixed(2)} s after the crash (suspicion timeout 1 s)`);
  return live;
}

/** The survivors take over four flights; returns the updates so far. */
function sendTakeovers(live: readonly Controller[], n: number): number {
  for (let i = 0; i < 4; i++) {
    live[i % 2]!.send(`takeover AFR${101 + 3 * i} by ${live[i % 2]!.id}`);
    n += 1;
  }
  return n;
}

/** Act 4: a fourth controller joins by state transfer, and everyone files level changes. Returns everyone live. */
async function joinFourth(controllers: Controller[], live: readonly Controller[], say: Say, n: number): Promise<Controller[]> {
  say('ctl-4', 'a new controller starts and joins the sector');
  const p4 = (await freePorts(1))[0]!;
  const joiner = new Controller('ctl-4', p4, [controllers[0]!.port, controllers[2]!.port], say);
  controllers.push(joiner);
  await joiner.waitFor((l) => l.event === 'state', 20_000, 'its state');
  const everyone = [...live, joiner];
  for (let i = 0; i < 6; i++) {
    everyone[i % 3]!.send(`level AFR${100 + i} FL${350 + i * 10} by ${everyone[i % 3]!.id}`);
    n += 1;
  }
  await Promise.all(everyone.map((c) => c.waitFor((l) => l.count === n, 10_000, `${n} updates`)));
  return everyone;
}

/** The end: every live controller's digest, then their end of input; 0 when all are equal. */
async function compareDigests(everyone: readonly Controller[], say: Say): Promise<number> {
  const digests = new Set<string>();
  for (const c of everyone) {
    const l = c.last()!;
    digests.add(l.digest!);
    say(c.id, `${l.count} updates, digest ${l.digest!.slice(0, 16)}`);
  }
  for (const c of everyone) c.proc.stdin!.end();
  await Promise.all(everyone.map((c) => new Promise((r) => (c.proc.exitCode !== null ? r(null) : c.proc.once('exit', r)))));
  console.log(digests.size === 1 ? '\nEvery live controller holds the same sector.' : '\nDIVERGENCE: the controllers disagree!');
  return digests.size === 1 ? ExitCode.ok : ExitCode.failure;
}
