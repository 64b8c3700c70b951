/**
 * The application's single ordered stream. Every application event of the core goes
 * through here. A joiner's first view of a group, and that group's state, have a
 * place in the stream (a *marker*) fixed by the order when the join is delivered; the
 * state arrives later, by transfer. Until it has arrived and the joiner's `stateDone`
 * is delivered, the marker holds back every later event — of every group, so that the
 * stream keeps one order across groups (G2) — and then they are released in order.
 */
import type { CoreEvent, GroupView, Outbox } from './outbox.js';
import type { Position } from './types.js';

/**
 * A joiner's place in its application stream where its first view of `group` and the
 * state go, once the state has arrived and the order says so (our `stateDone` is
 * delivered). Everything after it waits.
 */
export interface Marker {
  readonly type: 'marker';
  readonly group: string;
  readonly pos: Position;
  readonly view: GroupView;
  state: Uint8Array | null;
  /** Our `stateDone` for `pos` is delivered: every member now counts us as having the state. */
  confirmed: boolean;
}

/** The stream of application events, held behind markers (see the module comment). */
export class AppStream {
  /** Application events held behind markers; empty when no state is awaited. */
  private pending: (CoreEvent | Marker)[] = [];

  constructor(private readonly out: Outbox) {}

  /** An application event: out now, or held behind a marker. */
  emit(e: CoreEvent): void {
    if (this.pending.length > 0) this.pending.push(e);
    else this.out.emit(e);
  }

  /** Place `group`'s first view (and state, once here) in the stream now. */
  hold(group: string, pos: Position, view: GroupView): void {
    this.pending.push({ type: 'marker', group, pos, view, state: null, confirmed: false });
  }

  /** The marker of `group`, while its state is awaited. */
  markerOf(group: string): Marker | undefined {
    for (const e of this.pending) if (e.type === 'marker' && e.group === group) return e;
    return undefined;
  }

  /**
   * Forget a state no longer awaited at that position: its marker and every later held
   * event of its group (from the application's point of view it was not yet in the
   * group then). Returns whether there was a marker.
   */
  dropMarker(group: string): boolean {
    const i = this.pending.findIndex((e) => e.type === 'marker' && e.group === group);
    if (i < 0) return false;
    const kept = this.pending.slice(0, i);
    for (const e of this.pending.slice(i + 1)) {
      if (e.type !== 'log' && e.type !== 'marker' && 'group' in e && e.group === group) continue;
      kept.push(e);
    }
    this.pending = kept;
    this.release();
    return true;
  }

  /** Release held events up to the first marker whose state has not arrived. */
  release(): void {
    let i = 0;
    for (; i < this.pending.length; i++) {
      const e = this.pending[i]!;
      if (e.type === 'marker') {
        if (!e.confirmed || e.state === null) break;
        this.out.emit({ type: 'view', group: e.group, view: e.view });
        this.out.emit({ type: 'state', group: e.group, pos: e.pos, data: e.state });
      } else {
        this.out.emit(e);
      }
    }
    if (i > 0) this.pending = this.pending.slice(i);
  }

  /** Drop everything held (the endpoint was excluded). */
  clear(): void {
    this.pending = [];
  }
}
