// A lock, and a leader, from the group's order alone. Every member applies the same
// `acquire` and `release` messages and the same views in the same order, so they all
// hold the same queue at every point of the order: its head holds the lock. A holder
// that leaves or fails is dropped by the view that removes it, and the lock passes on.
// No lock server, no lease, no clock.
import type { Endpoint, Group, GroupEvent, View } from '../../src/index.js';

/** The simplest leader: the oldest member of the current view, the same everywhere. */
export function leaderOf(view: View): string | undefined {
  return view.members[0];
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export class GroupLock {
  /** Waiting members as `id#incarnation`, in the order of their `acquire`; the head holds the lock. */
  private queue: string[] = [];
  private group: Group | undefined;
  private granted: (() => void) | undefined;

  private constructor(
    private readonly endpoint: Endpoint,
    private readonly onChange: (holder: string | undefined) => void,
  ) {}

  /** Join the lock's group; `onChange` sees the holder (a member id) after every change, in order. */
  static async join(endpoint: Endpoint, name: string, onChange: (holder: string | undefined) => void = () => {}): Promise<GroupLock> {
    const lock = new GroupLock(endpoint, onChange);
    lock.group = await endpoint.join(name, {
      onEvent: (event) => lock.onEvent(event),
      checkpoint: () => encoder.encode(JSON.stringify(lock.queue)),
    });
    return lock;
  }

  /** The member id holding the lock, as of the last event applied here. */
  holder(): string | undefined {
    return this.queue[0]?.replace(/#\d+$/, '');
  }

  /** Resolves once this member holds the lock (one `acquire` at a time). */
  acquire(): Promise<void> {
    if (this.queue[0] === this.self()) return Promise.resolve();
    const granted = new Promise<void>((resolve) => (this.granted = resolve));
    void this.requireGroup().multicast(encoder.encode('acquire'));
    return granted;
  }

  /** Give the lock up (or stop waiting for it); resolves once applied here. */
  release(): Promise<void> {
    return this.requireGroup().multicast(encoder.encode('release'));
  }

  private onEvent(event: GroupEvent): void {
    const before = this.queue[0];
    switch (event.type) {
      case 'state':
        this.queue = event.data.length === 0 ? [] : (JSON.parse(decoder.decode(event.data)) as string[]);
        break;
      case 'view': {
        // Whoever left or failed waits no more, and holds nothing.
        const alive = new Set(event.view.refs.members.map((m) => `${m.id}#${m.inc}`));
        this.queue = this.queue.filter((m) => alive.has(m));
        break;
      }
      case 'message': {
        const who = `${event.sender}#${event.senderInc}`;
        const op = decoder.decode(event.data);
        if (op === 'acquire' && !this.queue.includes(who)) this.queue.push(who);
        if (op === 'release') this.queue = this.queue.filter((m) => m !== who);
        break;
      }
      default:
        break;
    }
    if (this.queue[0] === before) return;
    this.onChange(this.holder());
    if (this.queue[0] === this.self()) {
      this.granted?.();
      this.granted = undefined;
    }
  }

  private self(): string {
    return `${this.endpoint.id}#${this.endpoint.incarnation}`;
  }

  private requireGroup(): Group {
    if (this.group === undefined) throw new Error('not joined yet');
    return this.group;
  }
}
