/**
 * A digest helper for applications and tools: the digest state of the examples and of
 * `cohort member` is a chain of SHA-256 hashes over the messages delivered, so that two
 * members agree on their histories exactly when their digests are equal.
 */
import { createHash } from 'node:crypto';

/** SHA-256 of a string, in hex: used by the digest state of the examples and the tool. */
export function sha256hex(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}
