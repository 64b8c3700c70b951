#!/usr/bin/env node
// Runs every compiled test file with node's test runner (Node 20 has no glob for --test),
// then says what happened and what was left behind:
//
// - The tests run with TMPDIR set to a fresh private folder (SYSTEM_TMP/cohort-test-XXXXXX/tmp).
//   Whatever is left in it after the run is a leak: it is listed (top-level names and
//   sizes) and fails the run. The folder is removed in every case.
// - Code that ignores TMPDIR (a hard-coded /tmp) is caught by comparing the system temp
//   folder before and after: a new entry whose name contains "cohort" fails the run (other
//   processes write there too, so other names are only counted; see looksOurs in
//   scripts/test-summary.js) — unless another test run using that folder (an older
//   checkout's, say) was going on meanwhile: then they are listed as maybe its, not failed.
// - A summary (scripts/summary-reporter.js beside the usual spec reporter): how many
//   tests passed, failed and were skipped, each skipped test with its file and reason,
//   and the one command that runs everything.
//
// The exit status is the test run's, or 1 if it passed but left files behind.
// COHORT_KEEP_TEMP=1 keeps the tests' temporary folders (to read member outputs after a
// failure): the private folder is then kept, its path printed, and leftovers do not fail.
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { entries, formatLeftovers, formatSummary, humanBytes, looksOurs, newOurs, otherTestRuns, parseOutcomes, privatePrefix, selfAndAncestors } from './test-summary.js';

const here = dirname(fileURLToPath(import.meta.url));
const keep = (process.env.COHORT_KEEP_TEMP ?? '') !== '' && process.env.COHORT_KEEP_TEMP !== '0';

// Arguments are passed to node's test runner; test files among them (`*.test.js`) run
// instead of all of them: `node scripts/run-tests.js dist/test/cli.test.js`.
const picked = process.argv.slice(2).filter((a) => !a.startsWith('-') && a.endsWith('.test.js'));
const options = process.argv.slice(2).filter((a) => !picked.includes(a));
const dir = join('dist', 'test');
const files = picked.length > 0 ? picked : readdirSync(dir).filter((f) => f.endsWith('.test.js')).sort().map((f) => join(dir, f));

const systemTmp = tmpdir();
const before = safeList(systemTmp);
const privateRoot = mkdtempSync(join(systemTmp, privatePrefix));
const testTmp = join(privateRoot, 'tmp');
mkdirSync(testTmp);
const outcomesFile = join(privateRoot, 'outcomes.jsonl');

// Two files at a time: the simulation suite is split in four to use both cores.
const args = [
  '--test',
  '--test-concurrency=2',
  '--test-reporter=spec',
  '--test-reporter-destination=stdout',
  `--test-reporter=${join(here, 'summary-reporter.js')}`,
  `--test-reporter-destination=${outcomesFile}`,
  ...options,
  ...files,
];
const child = spawn(process.execPath, args, { stdio: 'inherit', env: { ...process.env, TMPDIR: testTmp } });
// Ctrl-C reaches the test runner from the terminal; this process waits for it to stop,
// then still reports and cleans up. SIGTERM is passed on.
let interrupted = false;
process.on('SIGINT', () => {
  interrupted = true;
});
process.on('SIGTERM', () => {
  interrupted = true;
  child.kill('SIGTERM');
});
// Other test runs sharing the system temp folder, seen at any moment of this one: what
// appears there named like ours may be theirs (an older checkout writes to /tmp).
const self = selfAndAncestors();
/** @type {Map<number, string>} */
const others = new Map();
const look = () => {
  for (const [pid, cwd] of otherTestRuns(systemTmp, self)) others.set(pid, cwd);
};
look();
const watch = setInterval(look, 2_000);
const status = await new Promise((resolve) => {
  child.on('error', (err) => {
    console.error(`run-tests: could not start node: ${err.message}`);
    resolve(1);
  });
  child.on('exit', (code, signal) => resolve(code ?? (signal === 'SIGINT' ? 130 : 1)));
});
clearInterval(watch);
look();

let leaked = false;
try {
  let outcomesText = '';
  try {
    outcomesText = readFileSync(outcomesFile, 'utf8');
  } catch {
    // the runner did not get as far as writing it
  }
  console.log(formatSummary(parseOutcomes(outcomesText), { cwd: process.cwd(), root: process.getuid?.() === 0 }));
  if (interrupted) console.log('✖ interrupted: the counts cover only what ran');

  console.log('');
  const left = entries(testTmp);
  if (left.length > 0) {
    leaked = !keep;
    console.log(formatLeftovers(`the tests' temporary folder (TMPDIR=${testTmp})`, left));
  } else {
    console.log(`✔ temporary folder: the tests left nothing behind`);
  }
  const created = newOurs(before, safeList(systemTmp)).filter((n) => join(systemTmp, n) !== privateRoot);
  if (created.length > 0) {
    const sized = created.map((name) => ({ name, bytes: entries(systemTmp, (n) => n === name)[0]?.bytes ?? 0 }));
    if (others.size === 0) {
      leaked = !keep;
      console.log(formatLeftovers(`${systemTmp} (ignoring TMPDIR)`, sized));
    } else {
      const runs = [...others].map(([pid, cwd]) => `PID ${pid} in ${cwd}`).join(', ');
      console.log(`⚠ ${created.length} entr${created.length === 1 ? 'y' : 'ies'} named like ours appeared in ${systemTmp}, but other test runs were going on (${runs}): not counted, they may be theirs`);
      for (const e of sized) console.log(`  ${humanBytes(e.bytes).padStart(9)}  ${e.name}`);
    }
  }
  const strangers = safeList(systemTmp).filter((n) => !before.includes(n) && !looksOurs(n) && join(systemTmp, n) !== privateRoot);
  if (strangers.length > 0) console.log(`ℹ ${strangers.length} other new entr${strangers.length === 1 ? 'y' : 'ies'} in ${systemTmp} not named like ours (other processes write there too): not counted`);
} finally {
  if (keep) {
    console.log(`ℹ COHORT_KEEP_TEMP: the tests' temporary folders are kept in ${testTmp} (${humanBytes(entries(testTmp).reduce((s, e) => s + e.bytes, 0))}); remove it when done`);
  } else {
    rmSync(privateRoot, { recursive: true, force: true, maxRetries: 3 });
  }
}
if (status === 0 && leaked) console.log('✖ the tests passed but left files behind: failing the run');
process.exit(status !== 0 ? status : interrupted ? 130 : leaked ? 1 : 0);

/** @param {string} d */
function safeList(d) {
  try {
    return readdirSync(d);
  } catch {
    return [];
  }
}
