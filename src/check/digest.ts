/**
 * The `cohort member` digest convention: the replicated state of the reference
 * application is a running digest of the delivered stream. `count` starts at 0 and
 * `digest` at 64 zeros; each delivered message sets
 * `digest = sha256hex(digest + "\n" + sender + "\n" + data)` and adds one to `count`.
 *
 * Intuition: equal positions in the total order must show equal digests, so the digest
 * is a cheap witness of virtual synchrony and of state transfer (G10). One definition
 * serves the `cohort member` process (`cli/member.ts`), the simulator's applications
 * (`sim/scenario-app.ts`, `sim/swarm-app.ts`, with `sim/digest-app.ts`) and the checker, which must agree
 * byte for byte. (`examples/atc/sector.ts` keeps its own copy: the examples stand alone.)
 */
import { createHash } from 'node:crypto';

/** The digest of a new group's empty state (64 zeros), with `count` 0. */
export const INITIAL_DIGEST = '0'.repeat(64);

/**
 * The digest after delivering one message: SHA-256, in hex, of
 * `digest + "\n" + sender + "\n" + data` (UTF-8).
 *
 * @param digest the digest before the message ({@link INITIAL_DIGEST} at first).
 * @param sender the sender as the application names it (`cohort member` prints the
 *   member id; the simulator uses `id#incarnation`).
 * @param data the message's text.
 * @example
 * ```ts
 * let state = { count: 0, digest: INITIAL_DIGEST };
 * state = { count: state.count + 1, digest: digestStep(state.digest, 'a', 'hello') };
 * ```
 */
export function digestStep(digest: string, sender: string, data: string): string {
  return createHash('sha256').update(`${digest}\n${sender}\n${data}`).digest('hex');
}
