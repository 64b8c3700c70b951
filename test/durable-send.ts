/**
 * A test helper of the durable simulations: a multicast at `durable: 'majority'` from
 * a member that may be down or going down.
 */
import type { Group } from '../src/index.js';

const enc = new TextEncoder();

/** Multicast `text` to `group` at `'majority'`; null when the handle takes nothing (closed or full: the member is down or going down). */
export function multicastDurable(group: Group, text: string): Promise<void> | null {
  try {
    return group.multicast(enc.encode(text), { durable: 'majority' });
  } catch {
    return null;
  }
}
