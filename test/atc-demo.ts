/**
 * Test helper for the ATC web demo: runs its supervisor (examples/atc/launch.ts) as
 * `npm start` does, collects the pages' addresses it prints, reads a controller's
 * state over HTTP, and stops it as Ctrl-C does.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const launchJs = join(root, 'dist', 'examples', 'atc', 'launch.js');

/** The supervisor's process and the pages' addresses it printed. */
export class Demo {
  readonly proc: ChildProcess;
  readonly urls = new Map<string, string>();
  /** The controllers' PIDs, as printed. */
  readonly pids: number[] = [];
  readonly output: string[] = [];
  private waiters: (() => void)[] = [];

  constructor(args: readonly string[]) {
    this.proc = spawn(process.execPath, [launchJs, '--base-port', '0', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let buf = '';
    this.proc.stdout!.on('data', (chunk: Buffer) => {
      buf += chunk.toString('utf8');
      for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        this.output.push(line);
        const m = /^(ctl-\d+)\s+(http:\/\/\S+).*PID (\d+)/.exec(line);
        if (m !== null) {
          this.urls.set(m[1]!, m[2]!);
          this.pids.push(Number(m[3]));
        }
        for (const w of this.waiters.splice(0)) w();
      }
    });
    this.proc.stderr!.on('data', (chunk: Buffer) => this.output.push(chunk.toString('utf8').trimEnd()));
  }

  /** Resolves once `n` pages' addresses were printed. */
  async urlsFor(n: number, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.urls.size < n) {
      if (Date.now() > deadline || this.proc.exitCode !== null) throw new Error(`supervisor printed ${this.urls.size} of ${n} addresses:\n${this.output.join('\n')}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.max(0, deadline - Date.now()));
        this.waiters.push(() => (clearTimeout(t), resolve()));
      });
    }
  }

  /** Stops the demo as Ctrl-C does and waits for it (it kills every controller by PID); SIGKILL if it hangs. */
  async stop(): Promise<number | null> {
    if (this.proc.exitCode !== null || this.proc.signalCode !== null) return this.proc.exitCode;
    const exited = new Promise<number | null>((r) => this.proc.once('exit', (code) => r(code)));
    this.proc.kill('SIGINT');
    const timer = setTimeout(() => this.proc.kill('SIGKILL'), 10_000);
    const code = await exited;
    clearTimeout(timer);
    return code;
  }
}

/** A controller's replica as its page gets it (`GET /state`). */
export interface ControllerState {
  self: string;
  status: string;
  members: string[];
  count: number;
  digest: string;
  sectorDigest: string;
  aircraft: { callsign: string; owner: string }[];
  directory: { id: string; pid: number; status: string; cut: boolean }[];
  netns: boolean;
  recent: [number, string][];
}

/** GET /state of a page; null when the controller does not answer within a second. */
export async function stateOf(url: string): Promise<ControllerState | null> {
  try {
    const res = await fetch(`${url}state`, { signal: AbortSignal.timeout(1000) });
    return (await res.json()) as ControllerState;
  } catch {
    return null;
  }
}

/** POST a page's action; returns the reply. */
export async function act(url: string, path: string, body: Record<string, unknown>): Promise<{ ok: boolean; message?: string; error?: string }> {
  const res = await fetch(`${url}api/${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), signal: AbortSignal.timeout(45_000) });
  return (await res.json()) as { ok: boolean; message?: string; error?: string };
}

/** Polls `probe` every 100 ms until it returns a value, at most `timeoutMs`. */
export async function poll<T>(probe: () => Promise<T | undefined>, timeoutMs: number, what: () => string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (let i = 0; i < Math.ceil(timeoutMs / 100) + 1; i++) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`not within ${timeoutMs} ms: ${what()}`);
}

/** Every PID is gone (the supervisor killed its controllers). */
export function assertGone(pids: readonly number[]): void {
  for (const pid of pids) {
    let alive = true;
    try {
      process.kill(pid, 0);
    } catch {
      alive = false;
    }
    assert.equal(alive, false, `controller PID ${pid} still runs after the supervisor stopped`);
  }
}
