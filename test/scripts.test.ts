/**
 * Scripted golden tests of the protocol core: each `test/scripts/<name>.txt` is a
 * script of commands and the trace each one produced (format and commands:
 * `test/script-harness.ts`). The run must reproduce every file byte for byte. A
 * deliberate protocol change rewrites them in place, for review as a diff:
 *
 *     npx tsc -p tsconfig.json && COHORT_REWRITE=1 node --test dist/test/scripts.test.js
 *
 * `COHORT_SCRIPT=<name>` runs just that script.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parseScript, renderScript, runScript } from './script-harness.js';

// Compiled to dist/test/: the sources are two levels up, under test/scripts.
const scriptDir = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'test', 'scripts');
const rewriteCommand = 'npx tsc -p tsconfig.json && COHORT_REWRITE=1 node --test dist/test/scripts.test.js';

/** Where `got` first differs from `want`, with the command it belongs to, as a readable message. */
function firstDifference(name: string, want: string, got: string): string {
  const w = want.split('\n');
  const g = got.split('\n');
  let i = 0;
  while (i < w.length && i < g.length && w[i] === g[i]) i++;
  // The command whose trace holds the line: the last line above it that is followed by `----`.
  let cmd = '';
  for (let j = Math.min(i, g.length - 1); j >= 0; j--) {
    if (g[j + 1] === '----' && g[j] !== '----') {
      cmd = `${j + 1}: ${g[j]!}`;
      break;
    }
  }
  const show = (s: string | undefined): string => (s === undefined ? '(end of file)' : JSON.stringify(s));
  return (
    `test/scripts/${name}.txt: the trace differs from the stored one at line ${i + 1}` +
    (cmd === '' ? '' : ` (in the trace of command at line ${cmd})`) +
    `:\n  expected: ${show(w[i])}\n  actual:   ${show(g[i])}\n` +
    `If this is a deliberate protocol change, rewrite the traces and review the diff:\n  ${rewriteCommand}\n  git diff test/scripts`
  );
}

const only = process.env.COHORT_SCRIPT;
const names = readdirSync(scriptDir)
  .filter((f) => f.endsWith('.txt'))
  .map((f) => f.slice(0, -'.txt'.length))
  .filter((n) => only === undefined || n === only)
  .sort();

test('there are scripts to run', () => {
  assert.ok(names.length > 0, `no scripts in ${scriptDir}${only === undefined ? '' : ` named ${only}`}`);
});

for (const name of names) {
  test(`script ${name}`, () => {
    const file = join(scriptDir, `${name}.txt`);
    const want = readFileSync(file, 'utf8');
    const items = parseScript(want);
    const got = renderScript(items, runScript(items));
    // Twice: the same script gives the same text, byte for byte.
    assert.equal(renderScript(items, runScript(items)), got, `${name}: two runs of the same script differ`);
    if (process.env.COHORT_REWRITE === '1') {
      if (got !== want) writeFileSync(file, got);
      return;
    }
    const missing = items.find((it) => it.kind === 'command' && it.expected === null);
    if (missing !== undefined && missing.kind === 'command') {
      assert.fail(`test/scripts/${name}.txt line ${missing.lineNo}: "${missing.line}" has no stored trace (no ---- after it); write it with\n  ${rewriteCommand}`);
    }
    if (got !== want) assert.fail(firstDifference(name, want, got));
  });
}
