/**
 * The protocol core must be deterministic: no clock, no randomness, no timers and no
 * I/O of its own, so that the simulator can replay any run from its seed (like
 * TigerBeetle's `tidy` check). This test reads the core's sources and fails on any
 * banned construct; a second test replays one scenario twice and compares histories.
 */
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { runScenario } from '../src/sim/scenario.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

test('src/core uses no clock, randomness, timers or node: modules', () => {
  const dir = join(root, 'src', 'core');
  const banned = [/Date\.now/, /new Date\(/, /Math\.random/, /performance\.now/, /setTimeout/, /setInterval/, /setImmediate/, /from 'node:/, /require\(/, /process\./];
  const offences: string[] = [];
  for (const f of readdirSync(dir)) {
    if (!f.endsWith('.ts')) continue;
    const lines = readFileSync(join(dir, f), 'utf8').split('\n');
    lines.forEach((line, i) => {
      for (const b of banned) if (b.test(line)) offences.push(`${f}:${i + 1}: ${line.trim()}`);
    });
  }
  assert.deepEqual(offences, []);
});

test('one seed replays exactly', async () => {
  const a = await runScenario({ seed: 4242 });
  const b = await runScenario({ seed: 4242 });
  assert.equal(a.events, b.events);
  assert.deepEqual(a.histories, b.histories);
});
