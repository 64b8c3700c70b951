/**
 * The `cohort` command: `member`, `status`, `check`, `demo` and `sim`, plus `--version`.
 * `--help` on every command prints its usage on standard output and exits 0; a usage
 * mistake is one line on standard error and exit code 2; a command with `--json`
 * reports every error as one JSON line on standard output too. The exit codes are
 * {@link ExitCode}'s, documented in docs/cli.md.
 */
import { readFileSync } from 'node:fs';
import { ExitCode, exitCodeOf, reportError, wantsJson } from './exit.js';
import { UsageError } from './usage.js';

const usage = `usage: cohort <command> [options]
       cohort --version | --help

commands:
  member   run one group member as a process (stdin lines in, JSON events out)
  status   probe a running endpoint: view, groups, rates, flow control, view changes
  check    judge cohort member outputs on the guarantees G1-G11
  demo     the air traffic control sector, replicated on three local processes
  sim      seeded fault simulations: --seeds N to soak, --seed S to replay

  -V, --version   print the version of cohort-vsync and exit
  -h, --help      print this help and exit

cohort <command> --help shows the command's options. Exit codes: 0 success, 1 failure
(no answer, a violation), 2 a usage mistake, 70 (cohort member) a bug in Cohort.`;

/** The subcommands that take `--json`: their errors are JSON lines on standard output too. */
const jsonCommands: ReadonlySet<string> = new Set(['status']);

/** The version of the installed package, read from its package.json (beside bin/ and dist/). */
export function packageVersion(): string {
  // This file is dist/src/cli/main.js: the package's root is three levels up.
  const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version?: unknown };
  if (typeof pkg.version !== 'string') throw new Error('package.json has no version');
  return pkg.version;
}

/** Run the command line; resolves with the exit code. */
export async function main(argv: readonly string[]): Promise<number> {
  const [command, ...rest] = argv;
  const json = command !== undefined && jsonCommands.has(command) && wantsJson(rest);
  const name = command === undefined || !knownCommands.has(command) ? 'cohort' : `cohort ${command}`;
  try {
    return await run(command, rest);
  } catch (err) {
    reportError(name, err, json);
    return exitCodeOf(err);
  }
}

const knownCommands: ReadonlySet<string> = new Set(['member', 'status', 'check', 'demo', 'sim']);

async function run(command: string | undefined, rest: readonly string[]): Promise<number> {
  switch (command) {
    case undefined:
      // No command is a usage mistake: the usage goes to standard error.
      process.stderr.write(`${usage}\n`);
      return ExitCode.usage;
    case '--help':
    case '-h':
    case 'help':
      process.stdout.write(`${usage}\n`);
      return ExitCode.ok;
    case '--version':
    case '-V':
    case 'version':
      process.stdout.write(`${packageVersion()}\n`);
      return ExitCode.ok;
    case 'member': {
      const { member } = await import('./member.js');
      return await member(rest);
    }
    case 'status': {
      const { status } = await import('./status.js');
      return await status(rest);
    }
    case 'check': {
      const { check } = await import('./check.js');
      return await check(rest);
    }
    case 'demo': {
      const { demo } = await import('./demo.js');
      return await demo(rest);
    }
    case 'sim': {
      const { sim } = await import('./sim.js');
      return await sim(rest, 'cohort sim');
    }
    default:
      throw new UsageError(`unknown command "${command}"`);
  }
}
