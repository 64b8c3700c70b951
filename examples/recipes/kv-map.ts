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

  /** Join (or create) the map called `name`; resolves once this member holds its state. */
  static async join(endpoint: Endpoint, name: string): Promise<ReplicatedMap> {
    const map = new ReplicatedMap();
    map.group = await endpoint.join(name, {
      onEvent: (event) => map.onEvent(event),
      checkpoint: () => encoder.encode(JSON.stringify([...map.entries])),
    });
    return map;
  }

  /** The value as of the last write applied here. */
  get(key: string): string | undefined {
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
