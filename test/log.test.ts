/**
 * Structured logs: the logger's level filter and record shapes (JSON and text), the
 * levels every diagnostic carries from its source, pino as the `logger`, an endpoint's
 * `logger` option beside the older `onLog` (both receive every diagnostic), and the
 * `cohort member` process: `--log-level` decides what reaches standard error, every
 * line there is a JSON record, and standard output carries its JSON events only.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { Endpoint } from '../src/endpoint.js';
import { OptionError } from '../src/errors.js';
import { Logger, logLevels } from '../src/log.js';
import { Simulation } from '../src/sim/simulation.js';
import type { LogLevel } from '../src/log.js';
import { cohortBin } from './procs.js';

const fixed = new Date('2026-11-27T08:00:00.000Z');

test('the logger writes records at or above its level, as JSON lines or readable text', () => {
  const lines: string[] = [];
  const log = new Logger({ level: 'warn', format: 'json', member: 'm1', write: (l) => lines.push(l), now: () => fixed });
  log.debug('not shown');
  log.info('not shown either');
  log.warn('suspect m2#7 after 1003 ms of silence', { peer: 'm2#7', msg: 'no override', level: 'no override' });
  log.error('handler failed: boom');
  assert.equal(lines.length, 2);
  assert.deepEqual(JSON.parse(lines[0]!), { ts: '2026-11-27T08:00:00.000Z', level: 'warn', member: 'm1', msg: 'suspect m2#7 after 1003 ms of silence', peer: 'm2#7' });
  assert.deepEqual(Object.keys(JSON.parse(lines[0]!) as object).slice(0, 4), ['ts', 'level', 'member', 'msg'], 'the fixed fields come first');
  assert.equal((JSON.parse(lines[1]!) as { level: string }).level, 'error');
  assert.equal(log.enabled('info'), false);
  assert.equal(log.enabled('error'), true);

  const all: Record<LogLevel, number> = { error: 0, warn: 0, info: 0, debug: 0 };
  for (const level of ['error', 'warn', 'info', 'debug'] as const) {
    const out: string[] = [];
    const l = new Logger({ level, format: 'json', write: (x) => out.push(x) });
    for (const at of ['error', 'warn', 'info', 'debug'] as const) l.log(at, at);
    all[level] = out.length;
    for (const x of out) assert.equal('member' in (JSON.parse(x) as object), false, 'no member field without a member');
  }
  assert.deepEqual(all, { error: 1, warn: 2, info: 3, debug: 4 });

  const text: string[] = [];
  const t = new Logger({ level: 'debug', format: 'text', member: 'm1', write: (l) => text.push(l), now: () => fixed });
  t.info('view 2: a#1 b#2\nsecond line', { epoch: 2 });
  assert.deepEqual(text, ['2026-11-27T08:00:00.000Z INFO  [m1] view 2: a#1 b#2\\nsecond line epoch=2']);
  assert.throws(() => new Logger({ level: 'loud' as never }), TypeError);
  assert.throws(() => new Logger({ format: 'xml' as never }), TypeError);
});

test('every diagnostic carries the level its source gave it', async () => {
  // Three members; one crashes: suspicions are warnings, views information, the
  // protocol's chatter debug. Levels come from where each line is made, not its text.
  const sim = new Simulation({ seed: 4, endpoint: { suspectTimeoutMs: 1000 } });
  const seen: [string, LogLevel][] = [];
  const eps = ['a', 'b', 'c'].map((id) => sim.open(id, ['a', 'b', 'c'].filter((x) => x !== id), { onLog: (line: string, level: LogLevel) => seen.push([line, level]) }));
  await sim.run(Promise.all(eps.map((ep) => ep.ready)));
  sim.crash('c');
  await sim.runUntil(() => eps[0]!.view.members.length === 2, 10_000);
  const levelOf = (re: RegExp): LogLevel[] => [...new Set(seen.filter(([l]) => re.test(l)).map(([, lv]) => lv))];
  assert.deepEqual(levelOf(/\] view \d+: /), ['info']);
  assert.deepEqual(levelOf(/\] propose epoch /), ['info']);
  assert.deepEqual(levelOf(/\] suspect c#/), ['warn']);
  assert.ok(seen.every(([, lv]) => (logLevels as readonly string[]).includes(lv)));
});

test('option logger takes pino (or any debug/info/warn/error(fields, msg) object) as it is', async () => {
  const { pino } = await import('pino');
  const chunks: string[] = [];
  const log = pino({ level: 'info' }, { write: (s: string) => void chunks.push(s) });
  const sim = new Simulation({ seed: 5, endpoint: { suspectTimeoutMs: 1000 } });
  const ep = sim.open('p', [], { logger: log });
  await sim.run(ep.ready);
  const records = chunks.map((c) => JSON.parse(c) as { level: number; msg: string; member: string });
  const view = records.find((r) => /^view 1: p#/.test(r.msg));
  assert.ok(view !== undefined, chunks.join(''));
  assert.equal(view.level, 30, 'info is pino level 30');
  assert.equal(view.member, 'p');
  assert.ok(records.every((r) => r.level >= 30), 'debug records stay out at level info');
});

test('an endpoint logs through option logger and still calls onLog with every line', async () => {
  const records: { level: string; member: string; msg: string }[] = [];
  const plain: string[] = [];
  const logger = new Logger({ level: 'debug', format: 'json', member: 'solo', write: (l) => records.push(JSON.parse(l) as never) });
  await assert.rejects(Endpoint.start({ id: 'x', listen: '127.0.0.1:0', logLevel: 'loud' as never }), OptionError);
  await assert.rejects(Endpoint.start({ id: 'x', listen: '127.0.0.1:0', logLevel: 'info', logger }), OptionError);
  await assert.rejects(Endpoint.start({ id: 'x', listen: '127.0.0.1:0', logger: { log() {} } as never }), OptionError);
  const ep = await Endpoint.start({ id: 'solo', listen: '127.0.0.1:0', logger, onLog: (l) => plain.push(l) });
  try {
    const g = await ep.join('g');
    await g.multicast(new Uint8Array(1));
  } finally {
    await ep.stop();
  }
  const view = records.find((r) => /^view 1: solo#\d+$/.test(r.msg));
  assert.ok(view !== undefined, `a view record: ${JSON.stringify(records)}`);
  assert.equal(view.level, 'info');
  assert.equal(view.member, 'solo');
  assert.ok(plain.includes(`[solo] ${view.msg}`), 'onLog got the same line, as before');
  // The endpoint's lines reach onLog with the `[id] ` prefix (as before), the
  // transport's without; the logger has the member in its own field.
  assert.deepEqual(
    records.map((r) => r.msg),
    plain.map((l) => l.replace(/^\[solo\] /, '')),
    'every diagnostic went to both',
  );
});

/** Run a one-member `cohort member` to completion: two lines in, events out. */
function runMember(extra: string[]): { status: number | null; stdout: string[]; stderr: string[] } {
  const r = spawnSync(process.execPath, [cohortBin, 'member', '--id', 'm1', '--listen', '127.0.0.1:0', '--group', 'g', ...extra], {
    input: 'one\ntwo\n',
    encoding: 'utf8',
    timeout: 30_000,
    killSignal: 'SIGKILL',
  });
  const lines = (s: string): string[] => s.split('\n').filter((l) => l !== '');
  return { status: r.status, stdout: lines(r.stdout ?? ''), stderr: lines(r.stderr ?? '') };
}

/** Standard output holds the member's JSON events and nothing else. */
function checkStdout(stdout: string[]): void {
  const events = stdout.map((l) => (JSON.parse(l) as { event: string }).event);
  assert.deepEqual(events, ['view', 'message', 'message'], stdout.join('\n'));
}

test('cohort member --log-level: JSON records on standard error at that level and above, events alone on standard output', { timeout: 90_000 }, () => {
  const levels = (stderr: string[]): string[] =>
    stderr.map((l) => {
      const r = JSON.parse(l) as { ts: string; level: string; member: string; msg: string };
      assert.equal(typeof r.msg, 'string');
      assert.equal(r.member, 'm1');
      assert.ok(!Number.isNaN(Date.parse(r.ts)), r.ts);
      return r.level;
    });

  const debug = runMember(['--log-level', 'debug', '--metrics', '127.0.0.1:0']);
  assert.equal(debug.status, 0, debug.stderr.join('\n'));
  checkStdout(debug.stdout);
  const dl = levels(debug.stderr);
  assert.ok(dl.includes('debug'), `debug records: ${debug.stderr.join('\n')}`);
  assert.ok(dl.includes('info'), 'info records');
  assert.ok(debug.stderr.some((l) => /"msg":"metrics at http:\/\/127\.0\.0\.1:\d+\/metrics"/.test(l)), 'the metrics address is logged');

  const info = runMember([]);
  assert.equal(info.status, 0, info.stderr.join('\n'));
  checkStdout(info.stdout);
  const il = levels(info.stderr);
  assert.ok(il.includes('info') && !il.includes('debug'), `default level info: ${il.join(',')}`);

  const warn = runMember(['--log-level', 'warn']);
  assert.equal(warn.status, 0, warn.stderr.join('\n'));
  checkStdout(warn.stdout);
  assert.deepEqual(levels(warn.stderr).filter((l) => l !== 'warn' && l !== 'error'), [], warn.stderr.join('\n'));

  const text = runMember(['--log-format', 'text']);
  assert.equal(text.status, 0);
  checkStdout(text.stdout);
  assert.ok(text.stderr.length > 0 && text.stderr.every((l) => /^\S+Z (ERROR|WARN |INFO |DEBUG) \[m1\] /.test(l)), text.stderr.join('\n'));

  const quiet = runMember(['--quiet', '--log-level', 'debug']);
  assert.equal(quiet.status, 0);
  checkStdout(quiet.stdout);
  assert.deepEqual(quiet.stderr, []);

  for (const bad of [['--log-level', 'loud'], ['--log-format', 'xml'], ['--metrics', 'nowhere']]) {
    const r = runMember(bad);
    assert.equal(r.status, 2, `${bad.join(' ')}: ${r.stderr.join('\n')}`);
    assert.equal(r.stderr.length, 1, `one line: ${r.stderr.join('\n')}`);
    assert.deepEqual(r.stdout, []);
  }
});
