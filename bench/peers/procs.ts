/**
 * Processes and clean-up for `npm run bench:peers`: every external command is bounded
 * in time, every long-lived process is tracked by PID and ended by PID, and clean-up
 * steps (kill processes, delete namespaces, remove the work folder) run on normal
 * exit, on an error and on SIGINT/SIGTERM/SIGHUP. Clean-up is synchronous so that it
 * also runs from the process's 'exit' hook.
 */
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';

/** Log a progress line on standard error (standard output carries RESULT lines only). */
export function log(msg: string): void {
  process.stderr.write(`[bench:peers ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
}

export interface CommandResult {
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Run a command to completion, bounded by `timeoutMs` (then SIGKILL); never throws. */
export function run(cmd: string, args: readonly string[], timeoutMs: number, env?: NodeJS.ProcessEnv): CommandResult {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: timeoutMs, killSignal: 'SIGKILL', env: env ?? process.env, maxBuffer: 64 * 1024 * 1024 });
  const why = r.error === undefined ? '' : `${r.error.message}\n`;
  return { status: r.status, stdout: r.stdout ?? '', stderr: `${why}${r.stderr ?? ''}` };
}

/** Run a command that must succeed; throws with its standard error otherwise. */
export function must(cmd: string, args: readonly string[], timeoutMs = 30_000, env?: NodeJS.ProcessEnv): string {
  const r = run(cmd, args, timeoutMs, env);
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (status ${r.status}): ${r.stderr.trim().slice(-2000)}`);
  return r.stdout;
}

/** Sleep without the event loop (clean-up runs in the 'exit' hook too). */
export function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/**
 * Whether `pid` still runs. A child that ended but was not reaped yet (a zombie: its
 * exit is reaped by the event loop, which synchronous clean-up does not give a turn)
 * counts as ended.
 */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

/** SIGTERM, up to `graceMs` for it to go, then SIGKILL; by PID only. */
export function endPid(pid: number, graceMs = 3_000): void {
  if (!alive(pid)) return;
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    return;
  }
  for (let waited = 0; waited < graceMs && alive(pid); waited += 50) sleepSync(50);
  if (alive(pid)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone meanwhile
    }
  }
}

/** A process started by the benchmark; its output goes to files. */
export interface Tracked {
  readonly pid: number;
  readonly name: string;
  /** Resolves with the exit status (null: killed by a signal) once it ended. */
  readonly exited: Promise<number | null>;
  done: boolean;
}

const tracked = new Set<Tracked>();

/**
 * Start `cmd` with standard output and error appended to files. It runs in its own
 * process group (detached) so that a terminal's Ctrl-C reaches only the driver, which
 * then ends it by PID.
 */
export function start(name: string, cmd: string, args: readonly string[], stdoutFile: string, stderrFile: string, env?: NodeJS.ProcessEnv): Tracked {
  const out = openSync(stdoutFile, 'a');
  const err = openSync(stderrFile, 'a');
  const child = spawn(cmd, args, { stdio: ['ignore', out, err], detached: true, env: env ?? process.env });
  closeSync(out);
  closeSync(err);
  if (child.pid === undefined) throw new Error(`could not start ${name} (${cmd})`);
  const t: Tracked = {
    pid: child.pid,
    name,
    done: false,
    exited: new Promise((resolve) => {
      child.on('exit', (code) => {
        t.done = true;
        tracked.delete(t);
        resolve(code);
      });
      child.on('error', () => {
        t.done = true;
        tracked.delete(t);
        resolve(null);
      });
    }),
  };
  tracked.add(t);
  return t;
}

/** Wait until every process ended or `timeoutMs` passed; then end the rest by PID. True if all ended on their own. */
export async function waitAll(ps: readonly Tracked[], timeoutMs: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), timeoutMs)));
  const r = await Promise.race([Promise.all(ps.map((p) => p.exited)).then(() => 'ok' as const), deadline]);
  clearTimeout(timer);
  if (r === 'ok') return true;
  for (const p of ps) {
    if (!p.done) {
      log(`${p.name} (pid ${p.pid}) still running at its deadline: ending it`);
      endPid(p.pid, 1_000);
    }
  }
  // 'exit' events arrive once the kills took effect; bounded all the same
  await Promise.race([Promise.all(ps.map((p) => p.exited)), new Promise((r2) => setTimeout(r2, 5_000).unref())]);
  return false;
}

/** SIGTERM each process still running, wait (on the event loop) up to `graceMs` for all, then SIGKILL the rest; by PID. */
export async function stopAll(ps: readonly Tracked[], graceMs: number): Promise<void> {
  for (const p of ps) {
    if (p.done) continue;
    try {
      process.kill(p.pid, 'SIGTERM');
    } catch {
      // gone meanwhile
    }
  }
  await waitAll(ps, graceMs);
}

/** End every tracked process still running, by PID. */
export function endAllTracked(): void {
  for (const p of [...tracked]) if (!p.done) endPid(p.pid, 2_000);
}

/** Wait `ms` on the event loop. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

const cleanups: (() => void)[] = [];
let cleaned = false;

/** Register a synchronous clean-up step; steps run in reverse order, once. */
export function onCleanup(step: () => void): void {
  cleanups.push(step);
}

/** Run the clean-up steps now (idempotent); each step's failure is logged, not thrown. */
export function cleanup(): void {
  if (cleaned) return;
  cleaned = true;
  endAllTracked();
  for (const step of cleanups.reverse()) {
    try {
      step();
    } catch (e) {
      log(`clean-up step failed: ${(e as Error).message}`);
    }
  }
}

/** Clean up on exit and turn SIGINT/SIGTERM/SIGHUP into a cleaned-up exit. */
export function installExitHooks(): void {
  process.on('exit', cleanup);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(sig, () => {
      log(`${sig}: cleaning up`);
      cleanup();
      process.exit(130);
    });
  }
}
