// The pieces of `npm test`'s ending (scripts/run-tests.js), kept apart so that
// test/run-tests.test.ts can check them on made-up input: the summary of what passed,
// failed and was skipped, and the temporary files the tests left behind.
import { existsSync, lstatSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { join, relative, resolve, sep } from 'node:path';

/** The packages `.ci/run` installs so that no test skips (test/run-tests.test.ts checks they match). */
export const ciPackages = ['nftables', 'iproute2', 'openssl', 'chromium'];

/**
 * The one command that runs every test: as root, with the packages CI installs, and
 * with CI set so that a missing prerequisite fails its tests instead of skipping them.
 * @param {boolean} root whether we already are root (then without sudo)
 */
export function fullRunCommand(root) {
  const sudo = root ? '' : 'sudo ';
  return `${sudo}apt-get install -y --no-install-recommends ${ciPackages.join(' ')} && ${sudo}env CI=true npm test`;
}

/**
 * @typedef {{ kind: 'pass' | 'fail' | 'skip' | 'todo', name: string, file: string | null, nesting: number, suite: boolean, reason?: string }} Outcome
 */

/**
 * The reporter's JSON lines (scripts/summary-reporter.js); a line cut short by a killed
 * run is ignored.
 * @param {string} text
 * @returns {Outcome[]}
 */
export function parseOutcomes(text) {
  /** @type {Outcome[]} */
  const out = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    try {
      out.push(JSON.parse(line));
    } catch {
      // the last line of an interrupted run
    }
  }
  return out;
}

/**
 * `dist/test/x.test.js` -> `test/x.test.ts` when that source exists (what a reader
 * opens); otherwise the path relative to `cwd`.
 * @param {string | null} file
 * @param {string} cwd
 */
export function sourceName(file, cwd) {
  if (file === null) return '(unknown file)';
  const rel = relative(cwd, file).split(sep).join('/');
  const m = /^dist\/(.*)\.js$/.exec(rel);
  if (m !== null && existsSync(join(cwd, `${m[1]}.ts`))) return `${m[1]}.ts`;
  return rel;
}

/**
 * The summary printed at the end of `npm test`.
 * @param {Outcome[]} outcomes
 * @param {{ cwd: string, root: boolean }} opts
 * @returns {string}
 */
export function formatSummary(outcomes, opts) {
  const count = (/** @type {Outcome['kind']} */ kind) => outcomes.filter((o) => o.kind === kind).length;
  const tests = outcomes.filter((o) => !o.suite).length;
  const skipped = outcomes.filter((o) => o.kind === 'skip');
  const failed = outcomes.filter((o) => o.kind === 'fail');
  const skippedSuites = skipped.filter((o) => o.suite).length;
  const lines = ['', '── summary ──'];
  lines.push(
    `${tests} test${tests === 1 ? '' : 's'}: ${count('pass')} passed, ${count('fail')} failed, ${skipped.length - skippedSuites} skipped, ${count('todo')} todo` +
      (skippedSuites > 0 ? `; ${skippedSuites} skipped suite${skippedSuites === 1 ? '' : 's'} (their tests did not run)` : ''),
  );
  if (failed.length > 0) {
    lines.push('', `failed (${failed.length}):`);
    for (const o of failed) lines.push(`  ✖ ${o.name} — ${sourceName(o.file, opts.cwd)}${o.reason ? `: ${firstLine(o.reason)}` : ''}`);
  }
  if (skipped.length > 0) {
    lines.push('', `skipped (${skipped.length}):`);
    for (const o of skipped) {
      lines.push(`  - ${o.suite ? 'suite ' : ''}"${o.name}" — ${sourceName(o.file, opts.cwd)}: ${o.reason ? firstLine(o.reason) : '(no reason given)'}`);
    }
    lines.push('', 'to run everything (as root, with the packages CI installs; CI=true fails what cannot run):', `  ${fullRunCommand(opts.root)}`);
  } else {
    lines.push('nothing skipped');
  }
  return lines.join('\n');
}

/** @param {string} s */
function firstLine(s) {
  const l = s.split('\n').find((x) => x.trim() !== '') ?? '';
  return l.length > 200 ? `${l.slice(0, 197)}...` : l;
}

/**
 * Bytes under `path` (not following symbolic links); 0 for what cannot be read.
 * @param {string} path
 * @returns {number}
 */
export function sizeOf(path) {
  let st;
  try {
    st = lstatSync(path);
  } catch {
    return 0;
  }
  if (!st.isDirectory()) return st.size;
  let total = st.size;
  let names = [];
  try {
    names = readdirSync(path);
  } catch {
    return total;
  }
  for (const n of names) total += sizeOf(join(path, n));
  return total;
}

/**
 * The top-level entries of `dir` with their sizes, biggest first.
 * @param {string} dir
 * @param {(name: string) => boolean} [keep] which names count (all by default)
 * @returns {{ name: string, bytes: number }[]}
 */
export function entries(dir, keep = () => true) {
  let names = [];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  return names
    .filter(keep)
    .map((name) => ({ name, bytes: sizeOf(join(dir, name)) }))
    .sort((a, b) => b.bytes - a.bytes || a.name.localeCompare(b.name));
}

/**
 * The rule for the system temp folder, which other processes write to as well: an
 * entry created during the run counts as the tests' (and fails the run) when its name
 * contains "cohort" (every folder the tests, the CLI, the benchmark and the examples make
 * is named cohort-...). The private folders of other `npm test` runs (`cohort-test-...`,
 * see run-tests.js) belong to those runs and do not count; and run-tests.js does not
 * fail on such entries while another test run shares the folder (`otherTestRuns`).
 * @param {string} name
 */
export function looksOurs(name) {
  return /cohort/i.test(name) && !name.startsWith(privatePrefix);
}

/** Prefix of the private temp folder of one `npm test` run. */
export const privatePrefix = 'cohort-test-';

/**
 * Entries of the system temp folder that appeared during the run and look like ours.
 * @param {readonly string[]} before names before the run
 * @param {readonly string[]} after names after it
 */
export function newOurs(before, after) {
  const had = new Set(before);
  return after.filter((n) => !had.has(n) && looksOurs(n));
}

/** @param {number} n */
export function humanBytes(n) {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KB`;
  return `${(n / 1024 / 1024).toFixed(1)} MB`;
}

/**
 * The failure report for files left behind in `where`.
 * @param {string} where
 * @param {{ name: string, bytes: number }[]} left
 */
export function formatLeftovers(where, left) {
  const total = left.reduce((s, e) => s + e.bytes, 0);
  const lines = [`✖ the tests left ${left.length} entr${left.length === 1 ? 'y' : 'ies'} (${humanBytes(total)}) in ${where}; each test must remove its temporary files, also when it fails:`];
  for (const e of left) lines.push(`  ${humanBytes(e.bytes).padStart(9)}  ${e.name}`);
  return lines.join('\n');
}

/**
 * The CI script's package list, as installed by its apt-get line (for the test that
 * keeps `ciPackages` in step with it).
 * @param {string} ciRunFile
 * @returns {string[]}
 */
export function packagesOfCiRun(ciRunFile) {
  const m = /apt-get install -y(?: --no-install-recommends)? ([^\n}]+)/.exec(readFileSync(ciRunFile, 'utf8'));
  return m === null ? [] : m[1].trim().split(/\s+/);
}

/**
 * Other test runs going on on this machine that write to the same system temp folder
 * (Linux: read from /proc; elsewhere none are seen). A process is a test run when its
 * command line has `--test` or runs a `run-tests.js`; it shares the folder when its
 * TMPDIR (or TMP, TEMP, else /tmp, as os.tmpdir() reads them) is that folder.
 * Processes in `exclude` (this run's ancestors) are skipped. Used to tell our leaks in the system temp folder from another run's.
 * @param {string} systemTmp
 * @param {ReadonlySet<number>} exclude
 * @returns {Map<number, string>} PID -> its working directory
 */
export function otherTestRuns(systemTmp, exclude) {
  /** @type {Map<number, string>} */
  const found = new Map();
  let pids = [];
  try {
    pids = readdirSync('/proc').filter((n) => /^\d+$/.test(n)).map(Number);
  } catch {
    return found;
  }
  for (const pid of pids) {
    if (exclude.has(pid)) continue;
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
      if (!cmd.some((a) => a === '--test' || /(^|[\s/])run-tests\.js(\s|$)/.test(a))) continue;
      const env = readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
      // Its temp folder as node's os.tmpdir() would find it.
      const get = (/** @type {string} */ k) => env.find((e) => e.startsWith(`${k}=`))?.slice(k.length + 1) ?? '';
      const tmp = get('TMPDIR') || get('TMP') || get('TEMP') || '/tmp';
      if (resolve(tmp) !== resolve(systemTmp)) continue;
      let cwd = '?';
      try {
        cwd = readlinkSync(`/proc/${pid}/cwd`);
      } catch {
        // not ours to read
      }
      found.set(pid, cwd);
    } catch {
      // gone, or not readable
    }
  }
  return found;
}

/**
 * This process and its ancestors (Linux /proc; just this process elsewhere).
 * @returns {Set<number>}
 */
export function selfAndAncestors() {
  const out = new Set([process.pid]);
  let pid = process.ppid;
  for (let i = 0; i < 64 && pid > 1 && !out.has(pid); i++) {
    out.add(pid);
    try {
      // /proc/PID/stat: "pid (comm) state ppid ..."; comm may hold spaces and parentheses.
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      pid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    } catch {
      break;
    }
  }
  return out;
}
