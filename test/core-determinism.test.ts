/**
 * The protocol core must be deterministic: no clock, no randomness, no timers and no
 * I/O of its own, so that the simulator can replay any run from its seed (like
 * TigerBeetle's `tidy` check). This test reads the core's sources and fails on any
 * banned construct; a second test replays one scenario twice and compares histories
 * and golden digests (across builds, the seeded suites compare with `test/golden/`).
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
  // Recursive: the core's parts live in folders of their own (src/core/<part>/).
  const files = readdirSync(dir, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.ts'));
  assert.ok(files.length > 5, `found only ${files.length} core files under ${dir}`);
  for (const f of files) {
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
  assert.equal(a.golden, b.golden);
});
