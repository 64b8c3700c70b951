// Work partitioned by view. Each member owns the items whose hash, modulo the number
// of members, is its rank in the view. Every member sees the same views at the same
// points of the stream, so all compute the same owners without a word exchanged, and
// on every view change (a join, a leave, a crash) the items are reassigned the same
// way everywhere. An item is never owned by two members of one view, nor by none.
import type { Endpoint, Group, View } from '../../src/index.js';

/** FNV-1a, 32 bits: a hash that is the same in every process (unlike a seeded one). */
export function hash32(text: string): number {
  let h = 0x811c9dc5;
  for (const byte of new TextEncoder().encode(text)) h = Math.imul(h ^ byte, 0x01000193) >>> 0;
  return h;
}

/** The member of `view` that owns `item`. */
export function ownerOf(item: string, view: View): string {
  const owner = view.members[hash32(item) % view.members.length];
  if (owner === undefined) throw new Error('a view has at least one member');
  return owner;
}

export class WorkPartition {
  private current: View | undefined;

  private constructor(
    private readonly self: string,
    private readonly items: readonly string[],
    private readonly onAssign: (view: View, mine: string[]) => void,
  ) {}

  /** Join the work group; `onAssign` gets this member's share of `items` in every view. */
  static async join(
    endpoint: Endpoint,
    name: string,
    items: readonly string[],
    onAssign: (view: View, mine: string[]) => void,
  ): Promise<{ partition: WorkPartition; group: Group }> {
    const partition = new WorkPartition(endpoint.id, items, onAssign);
    const group = await endpoint.join(name, {
      onEvent: (event) => {
        if (event.type === 'view') partition.onView(event.view);
      },
    });
    return { partition, group };
  }

  /** This member's items in the current view. */
  mine(): string[] {
    const view = this.current;
    return view === undefined ? [] : this.items.filter((item) => ownerOf(item, view) === this.self);
  }

  private onView(view: View): void {
    this.current = view;
    this.onAssign(view, this.mine());
  }
}
