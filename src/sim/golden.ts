/**
 * Golden traces: two digests that pin a seeded run byte for byte across builds.
 *
 * Intuition: a refactoring that keeps behaviour keeps every message on the wire and
 * every history identical, which is stronger than "G1–G11 still hold". The wire digest
 * is a SHA-256 over every message the simulated network carried, in send order (sender,
 * destination and the message's wire encoding, also for runs that skip the codec and
 * for messages that were then lost); the history digest is a SHA-256 over the histories
 * the checker judged. The suites compare both per seed with `test/golden/*.txt`; a
 * deliberate protocol change rewrites them (`COHORT_REWRITE=1`) in a commit of its own.
 */
import { createHash, type Hash } from 'node:crypto';
import type { MemberHistory } from '../check/history.js';
import type { Message } from '../core/types.js';
import { encodeMessage } from '../wire/codec.js';

/** Hex characters kept of each SHA-256 digest: 64 bits tell builds apart and keep the golden files small. */
const DIGEST_HEX = 16;

/** A running digest of the messages a simulated network carries (see `SimNetworkOptions.onSend`). */
export class WireDigest {
  private readonly hash: Hash = createHash('sha256');
  private count = 0;

  /** Add one message as the network saw it; `bytes` is its encoding when the run has a codec. */
  add(from: string, to: string, msg: Message, bytes: Uint8Array | null): void {
    const b = bytes ?? encodeMessage(msg);
    this.hash.update(`${from}\n${to}\n${b.length}\n`);
    this.hash.update(b);
    this.count++;
  }

  /** The digest so far (the hash goes on), with the number of messages. */
  digest(): string {
    return `${this.count}:${this.hash.copy().digest('hex').slice(0, DIGEST_HEX)}`;
  }
}

/** A digest of histories in the checker's form (plain data, so JSON is canonical enough). */
export function historyDigest(histories: readonly MemberHistory[]): string {
  return createHash('sha256').update(JSON.stringify(histories)).digest('hex').slice(0, DIGEST_HEX);
}

/** The golden line of one seeded run. */
export function goldenLine(seed: number, wire: string, histories: readonly MemberHistory[]): string {
  return `${seed} ${wire} ${historyDigest(histories)}`;
}
