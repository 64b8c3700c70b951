/**
 * Calling a group's `checkpoint()`: for a joiner's state (`delivery-queue.ts`), and for
 * a durable endpoint's log, in a checkpoint round (`DurableStore`).
 *
 * Intuition: both take the application's state at exactly a position in the delivery
 * order, so both run as jobs of the delivery queue, in their turn; they differ in what
 * a failure means. For a joiner, a failed checkpoint makes this member leave the group
 * (it cannot provide the state); for the log, it only spoils that round (the log is not
 * truncated, and the next round tries again).
 */
import type { Position } from '../core/types.js';
import type { Group } from './group.js';

/** Where a durable endpoint's log checkpoints go (see `DurableStore`). */
export interface LogCheckpoints {
  add(group: string, pos: Position, data: Uint8Array): void;
  skip(group: string, pos: Position): void;
  fail(pos: Position): void;
}

/**
 * Call a group's `checkpoint()` (an empty state without one, as for a stateless group):
 * `give` gets its bytes, `failed` how it failed; a promise when it must be awaited.
 */
export function callCheckpoint(
  take: (() => Uint8Array | Promise<Uint8Array>) | undefined,
  give: (data: Uint8Array) => void,
  failed: (how: string, err: unknown) => void,
): Promise<void> | undefined {
  if (take === undefined) {
    give(new Uint8Array(0));
    return undefined;
  }
  const why = (err: unknown): string => (err instanceof Error ? err.message : String(err));
  let r: Uint8Array | Promise<Uint8Array>;
  try {
    r = take();
  } catch (err) {
    failed(`threw (${why(err)})`, err);
    return undefined;
  }
  if (r instanceof Uint8Array) {
    give(r);
    return undefined;
  }
  return Promise.resolve(r).then(give, (err: unknown) => failed(`rejected (${why(err)})`, err));
}

/**
 * Take `group`'s checkpoint for the log's round at `pos` (awaited when it is a
 * promise). A group left meanwhile (`g` undefined or left) needs none; one whose
 * handler failed, or whose `checkpoint()` fails, spoils the round, with a warning.
 */
export function takeLogCheckpoint(group: string, pos: Position, g: Group | undefined, to: LogCheckpoints, warn: (line: string) => void): Promise<void> | undefined {
  if (g === undefined || g.left) {
    to.skip(group, pos);
    return undefined;
  }
  const failed = (how: string): void => {
    warn(`checkpoint of group ${group} for the durable log ${how}: the log is not truncated this round`);
    to.fail(pos);
  };
  if (g.failed !== null) {
    failed('not taken (its handler failed)');
    return undefined;
  }
  const give = (data: Uint8Array): void => {
    if (!(data instanceof Uint8Array)) return failed(`returned ${typeof data}, not a Uint8Array`);
    to.add(group, pos, data);
  };
  return callCheckpoint(g.handlers.checkpoint, give, failed);
}
