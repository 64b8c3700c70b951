/**
 * `cohort check FILE...`: judge `cohort member` outputs (one file per member) on the
 * guarantees G1-G11; says which guarantee failed where, exit 1 on any violation.
 */
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { parseArgs } from 'node:util';
import { checkHistories, formatViolations } from '../check/checker.js';
import type { MemberHistory } from '../check/history.js';
import { MemberLogError, parseMemberLog } from '../check/member-log.js';
import { ExitCode } from './exit.js';
import { UsageError } from './usage.js';

/** The help text of `cohort check`. */
export const checkUsage = `usage: cohort check [--quiescent] [--crashed FILE]... FILE...

  Judges cohort member outputs (one file of JSON lines per member process) on the
  guarantees G1-G11 and prints each violation. Exit code 0 when there is none, 1 when
  there is any, 2 for bad flags or a file that cannot be read or is not member output.

  --quiescent     the run ended with every fault healed: also demand convergence (G7)
  --crashed FILE  this member's process was killed (may be given several times)`;

/** Run `cohort check`: judge `cohort member` outputs; resolves with the exit code. */
export async function check(argv: readonly string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: [...argv],
    options: {
      quiescent: { type: 'boolean' },
      crashed: { type: 'string', multiple: true },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
    allowPositionals: true,
  });
  if (values.help === true) {
    process.stdout.write(`${checkUsage}\n`);
    return ExitCode.ok;
  }
  if (positionals.length === 0) throw new UsageError('no files to check');
  const crashed = new Set(values.crashed ?? []);
  const histories: MemberHistory[] = [];
  for (const file of positionals) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      throw new UsageError(`cannot read ${file}: ${(err as Error).message}`);
    }
    try {
      histories.push(...parseMemberLog(text, basename(file), { crashed: crashed.has(file) }));
    } catch (err) {
      if (err instanceof MemberLogError) throw new UsageError(err.message);
      throw err;
    }
  }
  const violations = checkHistories(histories, { quiescent: values.quiescent === true });
  if (violations.length > 0) {
    process.stdout.write(`${formatViolations(violations)}\n`);
    return ExitCode.failure;
  }
  process.stdout.write(`ok: ${histories.length} histories from ${positionals.length} files, no violation of G1-G11\n`);
  return ExitCode.ok;
}
