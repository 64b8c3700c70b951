/**
 * The benchmark's contract (docs/benchmarks.md): `node dist/bench/bench.js`
 * runs real member processes and prints exactly one JSON line with the agreed keys, in
 * order, as numbers (or null). Goal: the harness works end to end — processes start,
 * traffic flows, every member's stream is checked, nothing is left behind — in each
 * mode. No performance thresholds: the numbers belong to the benchmark, not the tests.
 * Every run is a child process bounded in time and killed by PID if it overruns.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, test } from 'node:test';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const benchJs = join(root, 'dist', 'bench', 'bench.js');
const keys = ['members', 'senders', 'size', 'msgs_per_s', 'mb_per_s', 'p50_ms', 'p99_ms'];

const live = new Set<ChildProcess>();
after(() => {
  for (const c of live) if (c.pid !== undefined && c.exitCode === null && c.signalCode === null) process.kill(c.pid, 'SIGKILL');
});

interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Run the benchmark; past `timeoutMs` it gets SIGTERM (it kills its members), then SIGKILL. */
function bench(args: readonly string[], timeoutMs: number): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [benchJs, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    live.add(child);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => (stdout += b.toString('utf8')));
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString('utf8')));
    let overran = false;
    const timer = setTimeout(() => {
      overran = true;
      child.kill('SIGTERM');
      setTimeout(() => child.kill('SIGKILL'), 5_000).unref();
    }, timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      live.delete(child);
      if (overran) reject(new Error(`bench ${args.join(' ')} overran ${timeoutMs} ms; stderr:\n${stderr.slice(-3000)}`));
      else resolve({ code, stdout, stderr });
    });
  });
}

/** The one JSON line of a successful run, checked against the contract. */
function parseLine(r: Run, members: number, senders: number, size: number): Record<string, number | null> {
  assert.equal(r.code, 0, `exit status ${r.code}; stderr:\n${r.stderr.slice(-3000)}`);
  const lines = r.stdout.split('\n').filter((l) => l !== '');
  assert.equal(lines.length, 1, `exactly one line on standard output, got:\n${r.stdout}`);
  const obj = JSON.parse(lines[0]!) as Record<string, number | null>;
  assert.deepEqual(Object.keys(obj), keys);
  assert.equal(obj.members, members);
  assert.equal(obj.senders, senders);
  assert.equal(obj.size, size);
  for (const k of ['msgs_per_s', 'mb_per_s'] as const) {
    assert.equal(typeof obj[k], 'number', `${k} is a number`);
    assert.ok(Number.isFinite(obj[k]), `${k} is finite`);
  }
  assert.ok(obj.msgs_per_s! > 0, `msgs_per_s > 0: ${lines[0]}`);
  // MB = 10^6 bytes of payload: the two figures say the same thing.
  assert.ok(Math.abs(obj.mb_per_s! - (obj.msgs_per_s! * size) / 1e6) <= 0.002 + obj.mb_per_s! * 1e-3, lines[0]);
  return obj;
}

const runMs = 60_000;

test('throughput: 3 members, 3 senders, 100 B, 1 s', { timeout: runMs + 10_000 }, async () => {
  // This checks the harness, not failure detection: a generous suspicion timeout keeps a
  // flooded coordinator on a CPU shared with other test files from being suspected for its
  // own event-loop stalls (seen up to ~1.2 s; a known performance issue, see the README).
  const r = await bench(['--members', '3', '--senders', '3', '--size', '100', '--seconds', '1', '--suspect-ms', '10000'], runMs);
  const obj = parseLine(r, 3, 3, 100);
  assert.equal(obj.p50_ms, null);
  assert.equal(obj.p99_ms, null);
  assert.match(r.stderr, /delivered the same \d+ messages/);
});

test('latency: one message at a time, 1024 B, 1 s', { timeout: runMs + 10_000 }, async () => {
  const r = await bench(['--members', '3', '--size', '1024', '--seconds', '1', '--latency', '--suspect-ms', '10000'], runMs);
  const obj = parseLine(r, 3, 1, 1024);
  assert.equal(typeof obj.p50_ms, 'number');
  assert.equal(typeof obj.p99_ms, 'number');
  assert.ok(obj.p50_ms! > 0 && obj.p99_ms! >= obj.p50_ms!, JSON.stringify(obj));
});

test('raw TCP mesh: 3 members, 3 senders, 100 B, 1 s', { timeout: runMs + 10_000 }, async () => {
  const r = await bench(['--members', '3', '--senders', '3', '--size', '100', '--seconds', '1', '--raw'], runMs);
  const obj = parseLine(r, 3, 3, 100);
  assert.equal(obj.p50_ms, null);
});

test('bad usage: one line on standard error, exit status 2, nothing on standard output', { timeout: 20_000 }, async () => {
  for (const args of [['--bogus'], ['--size', '0'], ['--senders', '4'], ['--seconds', 'x'], ['--raw', '--safe'], ['extra']]) {
    const r = await bench(args, 10_000);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.equal(r.stdout, '');
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  }
  const help = await bench(['--help'], 10_000);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /10\^6 bytes/);
});
