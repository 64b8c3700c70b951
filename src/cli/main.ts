/**
 * The `cohort` command: `member`, `status`, `check`, `demo` and `sim`. `--help` on every
 * command; a bad flag is a one-line error and exit code 2.
 */
import { UsageError } from './usage.js';

const usage = `usage: cohort <command> [options]

commands:
  member   run one group member as a process (stdin lines in, JSON events out)
  status   probe a running endpoint: view, groups, rates, flow control, view changes
  check    judge cohort member outputs on the guarantees G1-G11
  demo     the air traffic control sector, replicated on three local processes
  sim      seeded fault simulations: --seeds N to soak, --seed S to replay

cohort <command> --help shows the command's options.`;

/** Run the command line; resolves with the exit code. */
export async function main(argv: readonly string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case undefined:
      case '--help':
      case '-h':
      case 'help':
        process.stdout.write(`${usage}\n`);
        return command === undefined ? 2 : 0;
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
        process.argv = [process.argv[0]!, 'sim', ...rest];
        await import('./sim.js');
        return typeof process.exitCode === 'number' ? process.exitCode : 0;
      }
      default:
        throw new UsageError(`unknown command "${command}" (try cohort --help)`);
    }
  } catch (err) {
    if (err instanceof UsageError || (err instanceof TypeError && 'code' in err && String((err as { code: unknown }).code).startsWith('ERR_PARSE_ARGS'))) {
      process.stderr.write(`cohort ${command ?? ''}: ${(err as Error).message.split('\n')[0]}\n`);
      return 2;
    }
    process.stderr.write(`cohort ${command ?? ''}: ${(err as Error).message}\n`);
    return 1;
  }
}
