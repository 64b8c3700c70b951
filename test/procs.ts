/**
 * Test helpers for real `cohort member` processes on loopback: spawn, feed standard
 * input, wait for an output line that matches (an awaited event, bounded in time, not
 * a sleep), signal by PID, and always clean up.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { createWriteStream, readFileSync } from 'node:fs';
import type { Readable, Writable } from 'node:stream';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const cohortBin = join(root, 'bin', 'cohort.js');

/** A parsed output line of `cohort member`. */
export type Line = Record<string, unknown> & { event: string };

export class MemberProc {
  readonly id: string;
  readonly port: number;
  readonly file: string;
  readonly lines: Line[] = [];
  readonly stderr: string[] = [];
  readonly proc: ChildProcess;
  exitCode: number | null = null;
  private readonly exited: Promise<number | null>;
  private waiters: { pred: (l: Line) => boolean; from: number; resolve: (l: Line) => void }[] = [];

  /** @param command - the script and its arguments, instead of `cohort member` with these (a test's own child). */
  constructor(id: string, port: number, seeds: readonly number[], dir: string, extra: readonly string[] = [], command?: readonly string[]) {
    this.id = id;
    this.port = port;
    this.file = join(dir, `${id}.jsonl`);
    const args = command !== undefined ? [...command] : [cohortBin, 'member', '--id', id, '--listen', `127.0.0.1:${port}`, '--group', 'atc/sector-xyz', ...extra];
    if (command === undefined && seeds.length > 0) args.push('--seeds', seeds.map((p) => `127.0.0.1:${p}`).join(','));
    this.proc = spawn(process.execPath, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    const out = createWriteStream(this.file);
    onLines(this.proc.stdout!, out, (text) => {
      const line = JSON.parse(text) as Line;
      this.lines.push(line);
      this.waiters = this.waiters.filter((w) => {
        if (w.pred(line)) {
          w.resolve(line);
          return false;
        }
        return true;
      });
    });
    const errFile = createWriteStream(join(dir, `${id}.stderr`));
    this.proc.stderr!.on('data', (chunk: Buffer) => {
      this.stderr.push(chunk.toString('utf8'));
      errFile.write(chunk);
    });
    this.proc.stderr!.on('end', () => errFile.end());
    this.exited = new Promise((resolve) =>
      this.proc.on('exit', (code) => {
        this.exitCode = code;
        out.end();
        resolve(code);
      }),
    );
  }

  /** Wait for an output line (from index `from` on) that matches, at most `timeoutMs`. */
  waitFor(pred: (l: Line) => boolean, timeoutMs: number, what: string, from = 0): Promise<Line> {
    const seen = this.lines.slice(from).find(pred);
    if (seen !== undefined) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${this.id}: no ${what} within ${timeoutMs} ms; stderr:\n${this.stderr.join('').slice(-2000)}`)), timeoutMs);
      this.waiters.push({
        pred,
        from,
        resolve: (l) => {
          clearTimeout(timer);
          resolve(l);
        },
      });
    });
  }

  send(text: string): void {
    this.proc.stdin!.write(`${text}\n`);
  }

  /** End standard input: the member leaves gracefully and exits. */
  async end(timeoutMs = 10_000): Promise<number | null> {
    this.proc.stdin!.end();
    return this.wait(timeoutMs);
  }

  async wait(timeoutMs: number): Promise<number | null> {
    return withTimeout(this.exited, timeoutMs, () => `${this.id} did not exit within ${timeoutMs} ms`);
  }

  /**
   * Write `count` lines made by `line(i)` to standard input as fast as the member takes
   * them (waiting for 'drain': its own flow control paces us), until `stop()` says so.
   * Resolves with the number written.
   */
  async pump(line: (i: number) => string, count: number, stop: () => boolean): Promise<number> {
    const stdin = this.proc.stdin!;
    let i = 0;
    while (i < count && !stop() && this.exitCode === null) {
      if (!stdin.write(`${line(i++)}\n`)) {
        await new Promise<void>((resolve) => {
          const done = (): void => {
            stdin.off('drain', done);
            this.proc.off('exit', done);
            resolve();
          };
          stdin.once('drain', done);
          this.proc.once('exit', done);
        });
      }
    }
    return i;
  }

  /** Resident memory of the process now, bytes (Linux `/proc`). */
  rssBytes(): number {
    const status = readFileSync(`/proc/${this.proc.pid}/status`, 'utf8');
    const kb = /^VmRSS:\s+(\d+) kB/m.exec(status);
    if (kb === null) throw new Error(`no VmRSS for ${this.id}`);
    return Number(kb[1]) * 1024;
  }

  /** Last delivered message count, 0 before any. */
  count(): number {
    return this.lastState()?.count ?? 0;
  }

  signal(sig: NodeJS.Signals): void {
    if (this.exitCode === null && this.proc.pid !== undefined) process.kill(this.proc.pid, sig);
  }

  /** Last message line's count and digest. */
  lastState(): { count: number; digest: string } | undefined {
    for (let i = this.lines.length - 1; i >= 0; i--) {
      const l = this.lines[i]!;
      if (l.event === 'message' || l.event === 'state') return { count: l.count as number, digest: l.digest as string };
    }
    return undefined;
  }
}

/** Copy `stream` to `file` and call `onLine` with each complete text line it carries. */
export function onLines(stream: Readable, file: Writable, onLine: (text: string) => void): void {
  let buf = '';
  stream.on('data', (chunk: Buffer) => {
    file.write(chunk);
    buf += chunk.toString('utf8');
    for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
      const text = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      onLine(text);
    }
  });
}

/** `promise`, or a rejection with `what()` once `timeoutMs` passed first. */
export async function withTimeout<T>(promise: Promise<T>, timeoutMs: number, what: () => string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(what())), timeoutMs);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Resolves once `cond()` holds (checked every 5 ms), rejects after `ms`: for state that no event announces. */
export async function until(cond: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = performance.now() + ms;
  while (!cond()) {
    if (performance.now() > deadline) throw new Error(`not within ${ms} ms: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** A fresh temp folder for a test's output files, removed when the test process exits (see `temp.ts`). */
export { tempDir } from './temp.js';

/** Kill (SIGKILL, by PID) every process still running; for `after` hooks. */
export function killAll(procs: readonly MemberProc[]): void {
  for (const p of procs) {
    try {
      p.signal('SIGCONT');
      p.signal('SIGKILL');
    } catch {
      // already gone
    }
  }
}

/** Free TCP ports on 127.0.0.1 (see `src/tools/ports.ts`). */
export { freePorts } from '../src/tools/ports.js';
