/**
 * Durable groups: how far each member's delivered stream is on disk, told to the view.
 *
 * Intuition: the shell flushes this member's log and says how far it got
 * (`EndpointCore.persisted`); this part tells every member of the view once that is
 * further than told before, and hands every such report (its own too) to the shell as a
 * `persisted` event, where durable multicasts wait on them. A member never tells a
 * position at or past a group's state it still awaits: without that state on disk, its
 * entries after the join restore nothing.
 */
import type { CoreContext } from './context.js';
import { comparePositions, positionBefore, sameMember } from './types.js';
import type { EndpointView, MemberRef, Message, Position } from './types.js';

/** This member's reports of its disk, and the view's (see the module comment). */
export class PersistReports {
  /** The position last told on disk here. */
  private told: Position | null = null;

  constructor(private readonly ctx: CoreContext) {}

  /** Everything delivered up to `pos` is on disk here; `awaited` is the earliest state still awaited, if any. */
  tell(pos: Position, view: EndpointView, awaited: Position | null): void {
    const { persist, self, out } = this.ctx;
    if (!persist) return;
    const at = awaited !== null && comparePositions(awaited, pos) <= 0 ? positionBefore(awaited) : pos;
    if (this.told !== null && comparePositions(at, this.told) <= 0) return;
    this.told = at;
    out.emit({ type: 'persisted', member: self, pos: at });
    const msg: Message = { t: 'persisted', from: self, epoch: view.epoch, pos: at };
    for (const m of view.members) if (!sameMember(m, self)) out.send(m.addr, msg);
  }

  /** A member of this epoch told how far its stream is on disk. */
  onReport(from: MemberRef, pos: Position): void {
    if (this.ctx.persist) this.ctx.out.emit({ type: 'persisted', member: from, pos });
  }
}
