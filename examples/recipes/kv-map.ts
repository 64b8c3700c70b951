// A replicated key–value map. Writes are multicast and applied on delivery, so every
// member applies the same writes in the same order and holds the same map; a joiner
// starts from a checkpoint taken at exactly its join point, then applies what follows.
import type { Endpoint, Group, GroupEvent } from '../../src/index.js';

type Write = { op: 'set'; key: string; value: string } | { op: 'delete'; key: string };

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export class ReplicatedMap {
  private entries = new Map<string, string>();
  private group: Group | undefined;
  /** Set if applying a write failed here: this replica may differ, so it stops answering. */
  private failure: Error | null = null;

  /**
   * Join (or create) the map called `name`; resolves once this member holds its state,
   * or rejects after `timeoutMs` (ERR_TIMEOUT, saying what it waited for).
   */
  static async join(endpoint: Endpoint, name: string, timeoutMs = 30_000): Promise<ReplicatedMap> {
    const map = new ReplicatedMap();
    map.group = await endpoint.join(name, {
      onEvent: (event) => map.onEvent(event),
      checkpoint: () => encoder.encode(JSON.stringify([...map.entries])),
      // onEvent threw: this member left the group (the others see why); join again to recover.
      onError: (err) => void (map.failure = err),
      timeoutMs,
    });
    return map;
  }

  /** The value as of the last write applied here. */
  get(key: string): string | undefined {
    if (this.failure !== null) throw this.failure;
    return this.entries.get(key);
  }

  /** The whole map, sorted by key (to compare replicas). */
  snapshot(): [string, string][] {
    return [...this.entries].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  }

  /** Resolves once the write is applied here, so a read after it sees it. */
  set(key: string, value: string): Promise<void> {
    return this.write({ op: 'set', key, value });
  }

  /** Resolves once the delete is applied here. */
  delete(key: string): Promise<void> {
    return this.write({ op: 'delete', key });
  }

  /**
   * Set many keys without awaiting each write, as fast as the group takes them: past
   * the endpoint's bound on writes in flight, `ready()` waits for room. Resolves once all
   * are applied here (own writes are delivered in the order they were sent).
   */
  async setMany(pairs: Iterable<readonly [string, string]>): Promise<void> {
    const group = this.requireGroup();
    let failed: unknown = null;
    let last: Promise<void> = Promise.resolve();
    for (const [key, value] of pairs) {
      await group.ready();
      if (failed !== null) break;
      last = this.write({ op: 'set', key, value }).catch((err: unknown) => void (failed ??= err));
    }
    await last;
    if (failed !== null) throw failed;
  }

  /** Stop replicating the map (the others see a view without this member). */
  leave(): Promise<void> {
    return this.requireGroup().leave();
  }

  private write(w: Write): Promise<void> {
    // Never change `entries` here: only delivery does, in the group's order.
    return this.requireGroup().multicast(encoder.encode(JSON.stringify(w)));
  }

  private onEvent(event: GroupEvent): void {
    switch (event.type) {
      case 'state': // the founder's state is empty
        this.entries = new Map(event.data.length === 0 ? [] : (JSON.parse(decoder.decode(event.data)) as [string, string][]));
        break;
      case 'message': {
        const w = JSON.parse(decoder.decode(event.data)) as Write;
        if (w.op === 'set') this.entries.set(w.key, w.value);
        else this.entries.delete(w.key);
        break;
      }
      default: // a view or `blocked` changes nothing; after `excluded`, the endpoint rejoins and a fresh `state` follows
        break;
    }
  }

  private requireGroup(): Group {
    if (this.group === undefined) throw new Error('not joined yet');
    return this.group;
  }
}
