/**
 * The `cohort` command behaves like the tools users know. Goal: `--version` prints the
 * package's version; every help text names the command as the user runs it and goes to
 * standard output with exit 0; every usage mistake is one line on standard error with
 * exit 2; with `cohort status --json`, every error — a usage mistake, an unreachable
 * endpoint — is one JSON object on standard output with a non-zero exit; and the exit
 * codes docs/cli.md documents are the ones src/cli/exit.ts defines. Method: run
 * bin/cohort.js (and the npm script's file, dist/src/cli/sim.js) as processes, each
 * bounded by a timeout; the unreachable target is a loopback port just found free.
 * And a `cohort member` told SIGTERM while its standard input stays open leaves and
 * exits 0 (standard input must not keep it alive); the protocol's tables in docs/cli.md
 * name exactly the fields a member prints, and its examples follow the digest rule.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ExitCode } from '../src/cli/exit.js';
import { INITIAL_DIGEST, digestStep } from '../src/check/digest.js';
import { MemberProc, cohortBin, freePorts, killAll, tempDir } from './procs.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const run = (args: readonly string[], file = cohortBin) => spawnSync(process.execPath, [file, ...args], { encoding: 'utf8', timeout: 30_000 });
const version = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string }).version;

test('cohort --version, -V and version print the version in package.json, and exit 0', () => {
  assert.match(version, /^\d+\.\d+\.\d+/);
  for (const flag of ['--version', '-V', 'version']) {
    const r = run([flag]);
    assert.equal(r.status, ExitCode.ok, `${flag}: ${r.stderr}`);
    assert.equal(r.stdout, `${version}\n`, flag);
    assert.equal(r.stderr, '', flag);
  }
});

test('every --help names the command as the user runs it, on standard output, exit 0', () => {
  for (const cmd of ['member', 'status', 'check', 'demo', 'sim']) {
    const r = run([cmd, '--help']);
    assert.equal(r.status, ExitCode.ok, `${cmd} --help: ${r.stderr}`);
    assert.equal(r.stderr, '');
    assert.match(r.stdout, new RegExp(`^usage: cohort ${cmd}\\b`), `${cmd} --help: ${r.stdout}`);
    // Every usage line names the command, never the npm script or a file.
    for (const line of r.stdout.split('\n\n')[0]!.split('\n')) assert.match(line, new RegExp(`^(usage: | {7})cohort ${cmd}\\b|^ {20,}`), `${cmd}: ${line}`);
  }
  const sim = run(['sim', '--help']);
  assert.doesNotMatch(sim.stdout, /usage: npm/);
  // The npm script runs the same file: its help names the script.
  const script = run(['--help'], join(root, 'dist', 'src', 'cli', 'sim.js'));
  assert.equal(script.status, ExitCode.ok, script.stderr);
  assert.match(script.stdout, /^usage: npm run sim -- --seeds N/);
  const top = run(['--help']);
  assert.equal(top.status, ExitCode.ok);
  assert.match(top.stdout, /^usage: cohort <command>/);
  assert.match(top.stdout, /--version/);
});

test('a usage mistake is one line on standard error naming the command, nothing on standard output, exit 2', () => {
  const cases: [string[], RegExp][] = [
    [['frob'], /^cohort: unknown command "frob" \(try cohort --help\)$/],
    [['member', '--bogus'], /^cohort member: Unknown option '--bogus' \(try cohort member --help\)$/],
    [['status'], /^cohort status: HOST:PORT .* \(try cohort status --help\)$/],
    [['check'], /^cohort check: no files to check \(try cohort check --help\)$/],
    [['demo', '--seed', 'x', '--simulated'], /^cohort demo: --seed must be .* \(try cohort demo --help\)$/],
    [['sim', '--from', 'x'], /^cohort sim: --from must be .* \(try cohort sim --help\)$/],
    [['sim', '--swarm', '--kinds', 'nope', '--seed', '1'], /^cohort sim: --kinds: unknown fault kind "nope".* \(try cohort sim --help\)$/],
  ];
  for (const [args, message] of cases) {
    const r = run(args);
    assert.equal(r.status, ExitCode.usage, `${args.join(' ')}: exit ${r.status} ${r.stderr}`);
    assert.equal(r.stdout, '', args.join(' '));
    assert.match(r.stderr.trimEnd(), message);
    assert.equal(r.stderr.trim().split('\n').length, 1, `one line: ${r.stderr}`);
  }
  const bare = run([]);
  assert.equal(bare.status, ExitCode.usage);
  assert.equal(bare.stdout, '');
  assert.match(bare.stderr, /^usage: cohort <command>/);
  const script = run(['--bogus'], join(root, 'dist', 'src', 'cli', 'sim.js'));
  assert.equal(script.status, ExitCode.usage);
  assert.match(script.stderr, /^sim: Unknown option '--bogus' \(try npm run sim -- --help\)\n$/);
});

/** The one JSON line of standard output, parsed as an error. */
function jsonError(stdout: string): { code: string; message: string } {
  const lines = stdout.split('\n').filter((l) => l !== '');
  assert.equal(lines.length, 1, `one line on standard output: ${stdout}`);
  const doc = JSON.parse(lines[0]!) as { error?: { code?: unknown; message?: unknown } };
  assert.deepEqual(Object.keys(doc), ['error']);
  assert.equal(typeof doc.error?.code, 'string');
  assert.equal(typeof doc.error?.message, 'string');
  return doc.error as { code: string; message: string };
}

test('cohort status --json: an unreachable endpoint and a usage mistake are JSON on standard output, with exit 1 and 2', async () => {
  const [port] = await freePorts(1);
  const gone = run(['status', `127.0.0.1:${port}`, '--json', '--timeout-ms', '2000']);
  assert.equal(gone.status, ExitCode.failure, gone.stderr);
  const e = jsonError(gone.stdout);
  assert.equal(e.code, 'ERR_UNREACHABLE');
  assert.match(e.message, new RegExp(`127\\.0\\.0\\.1:${port}`));
  // People still read the reason on standard error.
  assert.match(gone.stderr, /^cohort status: .*\(ERR_UNREACHABLE\)\n$/);
  for (const args of [['status', '--json'], ['status', '--json', '127.0.0.1:1', '--bogus'], ['status', '127.0.0.1:1', '--json', '--timeout-ms', 'x'], ['status', '--json', '10.1.2.3:7000']]) {
    const r = run(args);
    assert.equal(r.status, ExitCode.usage, `${args.join(' ')}: ${r.stderr}`);
    assert.equal(jsonError(r.stdout).code, 'ERR_USAGE', args.join(' '));
  }
  // Without --json, standard output stays empty.
  const plain = run(['status', `127.0.0.1:${port}`]);
  assert.equal(plain.status, ExitCode.failure);
  assert.equal(plain.stdout, '');
});

test('docs/cli.md documents exactly the exit codes src/cli/exit.ts defines', () => {
  const doc = readFileSync(join(root, 'docs', 'cli.md'), 'utf8');
  const section = doc.split(/^## /m).find((s) => s.startsWith('Exit codes'));
  assert.ok(section !== undefined, 'docs/cli.md has no "## Exit codes" section');
  const documented = [...section.matchAll(/^\| `(\d+)` \|/gm)].map((m) => Number(m[1]));
  assert.deepEqual(documented.sort((a, b) => a - b), Object.values(ExitCode).sort((a, b) => a - b));
});

test('cohort member: SIGTERM with standard input still open leaves the group and exits 0', { timeout: 30_000 }, async () => {
  const dir = tempDir('cohort-member-sigterm-');
  let m: MemberProc | undefined;
  try {
    m = new MemberProc('t1', 0, [], dir);
    await m.waitFor((l) => l.event === 'view', 15_000, 'its first view');
    m.signal('SIGTERM');
    assert.equal(await m.wait(10_000), ExitCode.ok, m.stderr.join(''));
  } finally {
    if (m !== undefined) killAll([m]);
    rmSync(dir, { recursive: true, force: true });
  }
});

/** The field names of the table that follows `**\`EVENT\`**` in docs/cli.md's protocol. */
function documentedFields(doc: string, heading: string): string[] {
  const at = doc.indexOf(heading);
  assert.ok(at >= 0, `docs/cli.md has no ${heading}`);
  const table = doc.slice(at).split('\n\n').find((p) => p.startsWith('| field |'));
  assert.ok(table !== undefined, `no table after ${heading}`);
  return [...table.matchAll(/^\| `([a-zA-Z]+)` \|/gm)].map((m) => m[1]!);
}

test('docs/cli.md: the protocol tables list exactly the fields cohort member prints, and the examples follow the digest convention', { timeout: 30_000 }, () => {
  const doc = readFileSync(join(root, 'docs', 'cli.md'), 'utf8');
  // A member alone, fed two lines: its view and message lines as they are printed.
  const r = spawnSync(process.execPath, [cohortBin, 'member', '--id', 'd1', '--listen', '127.0.0.1:0', '--group', 'g', '--quiet'], { input: 'a\n\n', encoding: 'utf8', timeout: 20_000 });
  assert.equal(r.status, ExitCode.ok, r.stderr);
  const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  const view = lines.find((l) => l.event === 'view')!;
  const message = lines.find((l) => l.event === 'message')!;
  assert.deepEqual(documentedFields(doc, '**`view`**').sort(), Object.keys(view).sort());
  // `restored` is printed only on messages replayed from the log after a restart (--data-dir).
  const messageFields = documentedFields(doc, '**`message`**');
  assert.ok(messageFields.includes('restored'), 'the message table documents restored');
  assert.deepEqual(messageFields.filter((f) => f !== 'restored').sort(), Object.keys(message).sort());
  assert.deepEqual(documentedFields(doc, '**`state`**').sort(), ['count', 'digest', 'event', 'group']);
  assert.deepEqual(documentedFields(doc, 'An entry of `failures`').sort(), ['cause', 'incarnation', 'member', 'silentMs', 'suspectedBy', 'verified']);
  // The worked examples: every message line's digest follows from the one before it.
  const examples = [...doc.matchAll(/```jsonl\n([\s\S]*?)```/g)].flatMap((m) => m[1]!.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>));
  let state = { count: 0, digest: INITIAL_DIGEST };
  let checked = 0;
  for (const e of examples) {
    if (e.event === 'state') assert.deepEqual({ count: e.count, digest: e.digest }, state, 'a state line equals the state at its join point');
    if (e.event !== 'message') continue;
    state = { count: state.count + 1, digest: digestStep(state.digest, String(e.sender), String(e.data)) };
    assert.deepEqual({ count: e.count, digest: e.digest }, state);
    checked += 1;
  }
  assert.ok(checked >= 3, `${checked} example messages`);
});
