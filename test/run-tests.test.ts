/**
 * `npm test` tidies up and speaks up (scripts/run-tests.js). Goal: the end-of-run summary
 * counts what passed, failed and was skipped, names each skipped test with its file and
 * reason, and gives the command that runs everything with exactly the packages CI
 * installs; files left in the tests' private TMPDIR, or named like ours in the system
 * temp folder, are listed and fail an otherwise passing run; a test process removes its
 * temp folders (test/temp.ts) also when its tests fail. Method: the formatting on made-up
 * outcomes, then the real reporter and runner on small test files written to a temp
 * folder, each run a child process bounded in time.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { tempDir } from './temp.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** The environment of a nested test run: without the marker that makes node --test skip running files inside a test file. */
function nestedEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, ...extra };
  delete env['NODE_TEST_CONTEXT'];
  return env;
}

interface Outcome {
  kind: 'pass' | 'fail' | 'skip' | 'todo';
  name: string;
  file: string | null;
  nesting: number;
  suite: boolean;
  reason?: string;
}
interface Summary {
  ciPackages: string[];
  fullRunCommand(root: boolean): string;
  parseOutcomes(text: string): Outcome[];
  formatSummary(outcomes: Outcome[], opts: { cwd: string; root: boolean }): string;
  entries(dir: string): { name: string; bytes: number }[];
  formatLeftovers(where: string, left: { name: string; bytes: number }[]): string;
  looksOurs(name: string): boolean;
  newOurs(before: readonly string[], after: readonly string[]): string[];
  packagesOfCiRun(file: string): string[];
  otherTestRuns(systemTmp: string, exclude: ReadonlySet<number>): Map<number, string>;
  selfAndAncestors(): Set<number>;
}
// Plain JavaScript (the runner must work before anything is compiled), loaded by path.
const s = (await import(pathToFileURL(join(root, 'scripts', 'test-summary.js')).href)) as Summary;

test('the summary counts outcomes, lists each skipped test with its file and reason, and gives the full-run command', () => {
  const file = join(root, 'dist', 'test', 'netns.test.js');
  const outcomes: Outcome[] = [
    { kind: 'pass', name: 'a', file, nesting: 0, suite: false },
    { kind: 'pass', name: 'b', file, nesting: 1, suite: false },
    { kind: 'fail', name: 'c', file, nesting: 0, suite: false, reason: 'expected 1\nmore detail' },
    { kind: 'skip', name: 'partition heals', file, nesting: 0, suite: false, reason: 'needs nft' },
    { kind: 'skip', name: 'ATC web demo in a browser', file: join(root, 'dist', 'test', 'atc-browser.test.js'), nesting: 0, suite: true, reason: 'no chromium' },
    { kind: 'skip', name: 'bare', file: null, nesting: 0, suite: false, reason: '' },
    { kind: 'todo', name: 'later', file, nesting: 0, suite: false, reason: '' },
  ];
  const text = s.formatSummary(outcomes, { cwd: root, root: false });
  assert.match(text, /^6 tests: 2 passed, 1 failed, 2 skipped, 1 todo; 1 skipped suite \(their tests did not run\)$/m);
  assert.match(text, /^ {2}✖ c — test\/netns\.test\.ts: expected 1$/m);
  assert.match(text, /^ {2}- "partition heals" — test\/netns\.test\.ts: needs nft$/m);
  assert.match(text, /^ {2}- suite "ATC web demo in a browser" — test\/atc-browser\.test\.ts: no chromium$/m);
  assert.match(text, /^ {2}- "bare" — \(unknown file\): \(no reason given\)$/m);
  assert.ok(text.includes(`  sudo apt-get install -y --no-install-recommends nftables iproute2 openssl chromium && sudo env CI=true npm test`), text);
  // As root, no sudo; with nothing skipped, no command.
  assert.ok(s.formatSummary(outcomes, { cwd: root, root: true }).includes('\n  apt-get install'));
  const clean = s.formatSummary(outcomes.filter((o) => o.kind === 'pass'), { cwd: root, root: false });
  assert.match(clean, /^2 tests: 2 passed, 0 failed, 0 skipped, 0 todo$/m);
  assert.match(clean, /^nothing skipped$/m);
  assert.doesNotMatch(clean, /apt-get/);
  // A line cut short by a killed run is dropped, the others kept.
  assert.deepEqual(s.parseOutcomes('{"kind":"pass","name":"x","file":null,"nesting":0,"suite":false}\n{"kind":"pa').length, 1);
});

test('the full-run command installs exactly the packages .ci/run installs', () => {
  const ci = s.packagesOfCiRun(join(root, '.ci', 'run'));
  assert.ok(ci.length > 0, 'no apt-get install line found in .ci/run');
  assert.deepEqual([...s.ciPackages].sort(), [...ci].sort());
});

test('leftovers: top-level names with sizes, biggest first; in the system temp folder only new names with "cohort" count', () => {
  const dir = tempDir('cohort-leftovers-');
  mkdirSync(join(dir, 'cohort-flow-abc', 'deep'), { recursive: true });
  writeFileSync(join(dir, 'cohort-flow-abc', 'deep', 'a.jsonl'), 'x'.repeat(3000));
  writeFileSync(join(dir, 'small'), 'yz');
  const left = s.entries(dir);
  assert.deepEqual(left.map((e) => e.name), ['cohort-flow-abc', 'small']);
  assert.ok(left[0]!.bytes >= 3000, JSON.stringify(left));
  assert.equal(left[1]!.bytes, 2);
  const text = s.formatLeftovers('TMPDIR', left);
  assert.match(text, /^✖ the tests left 2 entries \(.*\) in TMPDIR/);
  assert.match(text, /^ +2 B {2}small$/m);
  assert.deepEqual(s.entries(join(dir, 'missing')), []);
  assert.deepEqual(s.newOurs(['old-cohort-x', 'a'], ['old-cohort-x', 'a', 'cohort-new', 'Cohort-Bench', 'systemd-private-1', 'cohort-test-OTHER']), ['cohort-new', 'Cohort-Bench']);
  assert.equal(s.looksOurs('cohort-test-abc'), false, "another run's private folder is that run's");
});

/** `node --test` on `files` with the summary reporter; its outcomes and output. */
function runReporter(files: readonly string[], cwd: string): { outcomes: Outcome[]; status: number | null; output: string } {
  const out = join(cwd, 'outcomes.jsonl');
  const r = spawnSync(
    process.execPath,
    ['--test', '--test-reporter=tap', '--test-reporter-destination=stdout', `--test-reporter=${join(root, 'scripts', 'summary-reporter.js')}`, `--test-reporter-destination=${out}`, ...files],
    { cwd, encoding: 'utf8', timeout: 60_000, killSignal: 'SIGKILL', env: nestedEnv() },
  );
  return { outcomes: s.parseOutcomes(existsSync(out) ? readFileSync(out, 'utf8') : ''), status: r.status, output: `${r.stdout}${r.stderr}` };
}

test("the reporter records passes, failures (not their parents), skips with their reasons, skipped suites and todos from node's runner", () => {
  const dir = tempDir('cohort-reporter-');
  writeFileSync(
    join(dir, 'a.test.mjs'),
    [
      "import { describe, it, test } from 'node:test';",
      "test('passes', () => {});",
      "test('skipped with a reason', { skip: 'no nft' }, () => {});",
      "test('skipped at run time', (t) => { t.skip('no root'); });",
      "test('skipped without a reason', { skip: true }, () => {});",
      "describe('a skipped suite', { skip: 'no chromium' }, () => { it('inner', () => {}); });",
      "test('fails', () => { throw new Error('boom'); });",
      "test('parent', async (t) => { await t.test('child fails', () => { throw new Error('deep'); }); });",
      "test('later', { todo: 'not yet' }, () => {});",
    ].join('\n'),
  );
  writeFileSync(join(dir, 'b.test.mjs'), "throw new Error('the file does not load');\n");
  const r = runReporter(['a.test.mjs', 'b.test.mjs'], dir);
  assert.equal(r.status, 1, r.output);
  const by = (kind: Outcome['kind']) => r.outcomes.filter((o) => o.kind === kind).map((o) => `${o.suite ? 'suite ' : ''}${o.name}${o.reason === undefined ? '' : ` [${o.reason}]`}`);
  assert.deepEqual(by('pass'), ['passes']);
  assert.deepEqual(by('skip'), ['skipped with a reason [no nft]', 'skipped at run time [no root]', 'skipped without a reason []', 'suite a skipped suite [no chromium]']);
  assert.deepEqual(by('todo'), ['later [not yet]']);
  const failed = r.outcomes.filter((o) => o.kind === 'fail');
  assert.deepEqual(failed.map((o) => o.name), ['fails', 'child fails', join(dir, 'b.test.mjs')], 'the parent of a failed subtest is not a failure of its own');
  assert.match(failed[0]!.reason!, /boom/);
  assert.ok(r.outcomes.every((o) => o.file === join(dir, 'a.test.mjs') || o.file === join(dir, 'b.test.mjs')), JSON.stringify(r.outcomes));
});

test('a test process removes its temp folders when its tests fail, and the runner fails a passing run that leaves files behind', () => {
  const dir = tempDir('cohort-runner-');
  const temp = pathToFileURL(join(root, 'dist', 'test', 'temp.js')).href;
  // Fails after filling a temp folder: test/temp.ts removes it anyway.
  writeFileSync(
    join(dir, 'fails-tidily.test.js'),
    `import { test } from 'node:test';\nimport { writeFileSync } from 'node:fs';\nimport { join } from 'node:path';\nimport { tempDir } from '${temp}';\n` +
      `test('fills a temp folder, then fails', () => { const d = tempDir('cohort-fixture-'); writeFileSync(join(d, 'out.jsonl'), 'x'.repeat(10000)); throw new Error('on purpose'); });\n`,
  );
  // Passes but leaves a folder in TMPDIR and one named like ours in the system temp folder.
  writeFileSync(
    join(dir, 'leaks.test.js'),
    `import { test } from 'node:test';\nimport { mkdtempSync, mkdirSync } from 'node:fs';\nimport { tmpdir } from 'node:os';\nimport { join } from 'node:path';\n` +
      `test('leaks', () => { mkdtempSync(join(tmpdir(), 'cohort-leak-')); mkdtempSync(join(process.env.FAKE_SYSTEM_TMP, 'cohort-hardcoded-')); });\n`,
  );
  writeFileSync(join(dir, 'tidy.test.js'), `import { test } from 'node:test';\ntest('tidy', () => {});\n`);
  // The runner's "system temp folder" is a fresh one here, so the check sees only this run.
  const systemTmp = join(dir, 'system-tmp');
  mkdirSync(systemTmp);
  const run = (file: string) => {
    const r = spawnSync(process.execPath, [join(root, 'scripts', 'run-tests.js'), join(dir, file)], {
      cwd: root,
      encoding: 'utf8',
      timeout: 60_000,
      killSignal: 'SIGKILL',
      env: nestedEnv({ TMPDIR: systemTmp, FAKE_SYSTEM_TMP: systemTmp, COHORT_KEEP_TEMP: '' }),
    });
    return { status: r.status, output: `${r.stdout}${r.stderr}` };
  };

  const failing = run('fails-tidily.test.js');
  assert.equal(failing.status, 1, failing.output);
  assert.match(failing.output, /^1 test: 0 passed, 1 failed, 0 skipped, 0 todo$/m);
  assert.match(failing.output, /^✔ temporary folder: the tests left nothing behind$/m);

  const leaking = run('leaks.test.js');
  assert.equal(leaking.status, 1, `a passing run that leaks fails:\n${leaking.output}`);
  assert.match(leaking.output, /^1 test: 1 passed, 0 failed, 0 skipped, 0 todo$/m);
  assert.match(leaking.output, /^✖ the tests left 1 entry \(.*\) in the tests' temporary folder .*\n +\d+(\.\d)? [KM]?B {2}cohort-leak-\w+$/m);
  assert.match(leaking.output, /^✖ the tests left 1 entry \(.*\) in .*system-tmp \(ignoring TMPDIR\).*\n +\d+(\.\d)? [KM]?B {2}cohort-hardcoded-\w+$/m);

  const tidy = run('tidy.test.js');
  assert.equal(tidy.status, 0, tidy.output);
  assert.match(tidy.output, /^nothing skipped$/m);
  // Each run removed its private folder, whatever happened; only the planted leak is left.
  assert.deepEqual(readdirSync(systemTmp).map((n) => n.replace(/-\w+$/, '')), ['cohort-hardcoded']);
});

/** A process that looks like a test run (`--test` on its command line) with TMPDIR `tmp`, until killed. */
function fakeRun(tmp: string): ChildProcess {
  return spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60_000)', '--', '--test'], { stdio: 'ignore', env: nestedEnv({ TMPDIR: tmp }) });
}

test('another test run sharing the system temp folder is seen, and what appears there named like ours is then not failed', { skip: existsSync('/proc/self/cmdline') ? false : 'no /proc to see other processes' }, async () => {
  const dir = tempDir('cohort-other-runs-');
  const systemTmp = join(dir, 'system-tmp');
  mkdirSync(systemTmp);
  const self = s.selfAndAncestors();
  assert.ok(self.has(process.pid) && self.has(process.ppid), [...self].join(' '));
  const sharing = fakeRun(systemTmp);
  const elsewhere = fakeRun(join(dir, 'elsewhere'));
  try {
    await Promise.all([sharing, elsewhere].map((c) => new Promise((resolve) => c.once('spawn', resolve))));
    const seen = s.otherTestRuns(systemTmp, self);
    assert.ok(seen.has(sharing.pid!), `the run sharing ${systemTmp} is seen: ${JSON.stringify([...seen])}`);
    assert.ok(!seen.has(elsewhere.pid!), 'a run with its own TMPDIR is not');
    assert.ok(!s.otherTestRuns(systemTmp, new Set([...self, sharing.pid!])).has(sharing.pid!), 'an excluded PID is not');

    writeFileSync(
      join(dir, 'leaks.test.js'),
      `import { test } from 'node:test';\nimport { mkdtempSync } from 'node:fs';\nimport { join } from 'node:path';\n` +
        `test('leaks', () => { mkdtempSync(join(process.env.FAKE_SYSTEM_TMP, 'cohort-hardcoded-')); });\n`,
    );
    const r = spawnSync(process.execPath, [join(root, 'scripts', 'run-tests.js'), join(dir, 'leaks.test.js')], {
      cwd: root,
      encoding: 'utf8',
      timeout: 60_000,
      killSignal: 'SIGKILL',
      env: nestedEnv({ TMPDIR: systemTmp, FAKE_SYSTEM_TMP: systemTmp, COHORT_KEEP_TEMP: '' }),
    });
    const output = `${r.stdout}${r.stderr}`;
    assert.equal(r.status, 0, output);
    assert.match(output, new RegExp(`^⚠ 1 entry named like ours appeared in .*system-tmp, but other test runs were going on \\(PID ${sharing.pid} in .*\\): not counted`, 'm'));
  } finally {
    for (const c of [sharing, elsewhere]) if (c.pid !== undefined && c.exitCode === null) process.kill(c.pid, 'SIGKILL');
  }
});
