/**
 * The exit codes of every `cohort` command, and how a command reports an error: one
 * place, so that every subcommand means the same thing by the same number (documented
 * in docs/cli.md).
 */
import { CohortError } from '../errors.js';
import { UsageError } from './usage.js';

/** The exit codes of the `cohort` command and its subcommands. */
export const ExitCode = {
  /** The command did what was asked: an answer, no violation, a clean end of input. */
  ok: 0,
  /**
   * The command ran and failed: a probe got no answer (unreachable, refused, silent),
   * `cohort check` or `cohort sim` found a violation, the demo's digests differ, a
   * member could not go on.
   */
  failure: 1,
  /** A usage mistake: an unknown command or flag, a missing or malformed argument. */
  usage: 2,
  /** An invariant of Cohort itself broke in `cohort member` (a bug): BSD's EX_SOFTWARE. */
  software: 70,
} as const;
/** One of the {@link ExitCode} values. */
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

/** The `code` of a usage mistake in a JSON error. */
export const USAGE_ERROR_CODE = 'ERR_USAGE';

/** An error as a `--json` command prints it on standard output: one line. */
export interface JsonError {
  readonly error: {
    /** `ERR_USAGE`, a Cohort error code (`ERR_UNREACHABLE`, `ERR_REFUSED`, `ERR_TIMEOUT`, ...), or `ERR_INTERNAL`. */
    readonly code: string;
    /** The same sentence as the line on standard error, without the command's name. */
    readonly message: string;
  };
}

/** True when `err` is a command-line mistake: ours, or `node:util` `parseArgs`'s. */
export function isUsageError(err: unknown): boolean {
  if (err instanceof UsageError) return true;
  return err instanceof TypeError && 'code' in err && String((err as { code: unknown }).code).startsWith('ERR_PARSE_ARGS');
}

/** The exit code for an error that ended a command: usage mistakes 2, anything else 1. */
export function exitCodeOf(err: unknown): ExitCode {
  return isUsageError(err) ? ExitCode.usage : ExitCode.failure;
}

/** The message of an error, one line for a usage mistake (parseArgs adds advice on more lines). */
export function messageOf(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  if (!isUsageError(err)) return message;
  // parseArgs's advice about positionals after `--` is not the user's mistake.
  return (message.split('\n')[0] ?? '').replace(/\. To specify a positional argument.*$/, '');
}

/** An error as {@link JsonError}: the code of a usage mistake, a Cohort error, else `ERR_INTERNAL`. */
export function jsonError(err: unknown): JsonError {
  const code = isUsageError(err) ? USAGE_ERROR_CODE : err instanceof CohortError ? err.code : 'ERR_INTERNAL';
  return { error: { code, message: messageOf(err) } };
}

/**
 * Reports an error that a command met: one line `cohort CMD: MESSAGE` on standard
 * error, always; with `json`, also the {@link JsonError} as one line on standard output
 * (standard output then holds JSON only). A usage mistake's line ends with where the
 * help is: `(try HELP)`, by default `COMMAND --help`.
 */
export function reportError(command: string, err: unknown, json: boolean, help = `${command} --help`): void {
  const hint = isUsageError(err) ? ` (try ${help})` : '';
  process.stderr.write(`${command}: ${messageOf(err)}${hint}\n`);
  if (json) process.stdout.write(`${JSON.stringify(jsonError(err))}\n`);
}

/** True when `argv` asks for `--json` (before a `--` that ends the flags). */
export function wantsJson(argv: readonly string[]): boolean {
  const end = argv.indexOf('--');
  return (end < 0 ? argv : argv.slice(0, end)).some((a) => a === '--json' || a.startsWith('--json='));
}
