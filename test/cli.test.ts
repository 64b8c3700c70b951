/**
 * The `cohort` command as a user meets it: `--help` everywhere, one-line errors with
 * exit code 2 for bad flags, `cohort check` judging member outputs (a good and a bad
 * one), and the terminal demo on real processes ending by itself with equal digests.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { cohortBin, tempDir } from './procs.js';
import { stateProgressLine } from '../src/cli/member.js';

const run = (args: string[], timeout = 30_000) => spawnSync(process.execPath, [cohortBin, ...args], { encoding: 'utf8', timeout });

test('--help on every command; bad flags are one-line errors with exit code 2', () => {
  for (const cmd of [[], ['member'], ['check'], ['demo'], ['sim']]) {
    const r = run([...cmd, '--help']);
    assert.equal(r.status, 0, `${cmd.join(' ')} --help: ${r.stderr}`);
    assert.match(r.stdout, /usage: /);
  }
  for (const args of [['member', '--bogus'], ['member', '--id', 'a'], ['member', '--id', 'a', '--listen', '127.0.0.1:1', '--group', 'g', '--suspect-ms', 'x'], ['check'], ['frob'], ['sim', '--seeds', '-1']]) {
    const r = run(args);
    assert.equal(r.status, 2, `${args.join(' ')}: exit ${r.status} ${r.stderr}`);
    assert.equal(r.stderr.trim().split('\n').length, 1, `one line: ${r.stderr}`);
  }
});

test('cohort check passes a consistent pair of outputs and names the guarantee a bad pair breaks', () => {
  const dir = tempDir('cohort-check-');
  const view = (self: string) => ({ event: 'view', group: 'g', view: 1, members: ['a', 'b'], joined: ['a', 'b'], left: [], failed: [], self });
  const msg = (sender: string, data: string, count: number) => ({ event: 'message', group: 'g', view: 1, sender, data, count, digest: `${count}`.padStart(64, '0') });
  const lines = (xs: object[]) => xs.map((x) => JSON.stringify(x)).join('\n') + '\n';
  const a = join(dir, 'a.jsonl');
  const b = join(dir, 'b.jsonl');
  writeFileSync(a, lines([view('a'), msg('a', 'x', 1), msg('b', 'y', 2)]));
  writeFileSync(b, lines([view('b'), msg('a', 'x', 1), msg('b', 'y', 2)]));
  const good = run(['check', a, b]);
  assert.equal(good.status, 0, good.stdout + good.stderr);
  writeFileSync(b, lines([view('b'), msg('b', 'y', 1), msg('a', 'x', 2)]));
  const bad = run(['check', a, b]);
  assert.equal(bad.status, 1);
  assert.match(bad.stdout, /G2 \(total order\)/);
  writeFileSync(b, 'not json\n');
  const garbage = run(['check', a, b]);
  assert.equal(garbage.status, 2);
  assert.match(garbage.stderr, /b\.jsonl:1/);
});

test('cohort demo runs three controller processes, survives a crash, and ends with equal digests', { timeout: 90_000 }, () => {
  const r = run(['demo'], 80_000);
  assert.equal(r.status, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /FAILED ctl-2/);
  assert.match(r.stdout, /ctl-4 +state transfer/);
  assert.match(r.stdout, /Every live controller holds the same sector/);
});

test('cohort member: a large state gets a progress line per tenth on a pipe, rewritten in place on a terminal, nothing for a small one', () => {
  const piped: string[] = [];
  const onPipe = stateProgressLine({ write: (s: string) => piped.push(s) });
  const total = 4 << 20;
  for (let r = 0; r <= total; r += 64 << 10) onPipe({ group: 'g', received: r, total });
  assert.equal(piped.length, 11, piped.join(''));
  assert.equal(piped[10], 'state of g: 4.0 of 4.0 MiB (100%)\n');
  const tty: string[] = [];
  const onTty = stateProgressLine({ write: (s: string) => tty.push(s), isTTY: true });
  for (let r = 0; r <= total; r += 64 << 10) onTty({ group: 'g', received: r, total });
  assert.ok(tty.length >= 2 && tty.every((s) => s.startsWith('\r')), JSON.stringify(tty.slice(0, 3)));
  assert.ok(tty[tty.length - 1]!.endsWith('(100%)\n'));
  const small: string[] = [];
  stateProgressLine({ write: (s: string) => small.push(s) })({ group: 'g', received: 10, total: 10 });
  assert.deepEqual(small, []);
});
