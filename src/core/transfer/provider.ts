/**
 * State transfer, the provider's side: stream a checkpoint to a joiner in chunks,
 * within a window of unacknowledged bytes (`stateWindowChunks × stateChunkBytes`).
 *
 * The checkpoint is taken at exactly the joiner's join position (the application
 * answers a `state-request` event in order), so it needs no log replay. Acks carry the
 * contiguous prefix the joiner holds; when they stall for two retransmission intervals
 * the provider goes back to the last acknowledged offset (lost chunks). An empty state
 * is one empty chunk. The transfer ends when the joiner acknowledges the whole of it,
 * when its `stateDone` entry is delivered, or when it leaves the view.
 */
import type { CoreContext } from '../context.js';
import { comparePositions, memberKey, memberRef } from '../types.js';
import type { MemberInfo, MemberRef, Position } from '../types.js';

interface OutgoingTransfer {
  readonly group: string;
  readonly joiner: MemberInfo;
  readonly pos: Position;
  readonly data: Uint8Array;
  acked: number;
  sentUpTo: number;
  lastSentAt: number;
  /** When the checkpoint was handed over (for the duration counter). */
  readonly startedAt: number;
}

/** The key of one transfer: a group and its joiner. */
function transferKey(group: string, joiner: MemberRef): string {
  return `${group}\n${memberKey(joiner)}`;
}

/** The transfers this member provides (see the module comment). */
export class StateProvider {
  /** In the order the checkpoints were handed over: chunks go out in that order. */
  private readonly outgoing = new Map<string, OutgoingTransfer>();

  constructor(private readonly ctx: CoreContext) {}

  /** The application's checkpoint of `group` for `joiner`, taken at `pos`. */
  start(now: number, group: string, joiner: MemberInfo, pos: Position, data: Uint8Array): void {
    this.outgoing.set(transferKey(group, joiner), { group, joiner, pos, data, acked: 0, sentUpTo: 0, lastSentAt: now, startedAt: now });
  }

  /** The joiner's `stateDone` for `pos` is delivered: its state is complete. */
  onStateDone(group: string, joiner: MemberRef, pos: Position): void {
    const key = transferKey(group, joiner);
    const t = this.outgoing.get(key);
    if (t !== undefined && comparePositions(t.pos, pos) === 0) this.outgoing.delete(key);
  }

  /** The joiner holds `offset` bytes. Returns whether more may go now (`pump`). */
  onStateAck(now: number, from: MemberRef, group: string, pos: Position, offset: number): boolean {
    const key = transferKey(group, from);
    const t = this.outgoing.get(key);
    if (t === undefined || comparePositions(t.pos, pos) !== 0) return false;
    if (offset >= t.data.length) {
      // Complete (or not wanted): nothing more to send.
      this.outgoing.delete(key);
      if (offset === t.data.length) {
        const c = this.ctx.counters;
        c.statesProvided++;
        c.stateBytesProvided += t.data.length;
        c.stateProvideMsLast = now - t.startedAt;
      }
      return false;
    }
    if (offset > t.acked) t.acked = offset;
    return true;
  }

  /** Send what each window allows; go back where acks stall; drop joiners no longer in `rank`. */
  pump(now: number, rank: ReadonlyMap<string, number>): void {
    const cfg = this.ctx.cfg;
    const chunk = cfg.stateChunkBytes;
    const window = chunk * cfg.stateWindowChunks;
    for (const [key, t] of this.outgoing) {
      if (!rank.has(memberKey(t.joiner))) {
        this.outgoing.delete(key);
        continue;
      }
      const stalled = now - t.lastSentAt >= cfg.retransmitMs * 2;
      if (t.data.length === 0) {
        // An empty state is one empty chunk, repeated until acknowledged.
        if (t.sentUpTo === 0 || stalled) this.sendChunk(t, 0, 0, now);
        t.sentUpTo = 1;
        continue;
      }
      // Go back to the last acknowledged offset when acks stall (lost chunks).
      const resendUpTo = t.sentUpTo;
      if (stalled && t.sentUpTo > t.acked) t.sentUpTo = t.acked;
      while (t.sentUpTo < t.data.length && t.sentUpTo - t.acked < window) {
        const len = Math.min(chunk, t.data.length - t.sentUpTo);
        if (t.sentUpTo < resendUpTo) this.ctx.counters.stateChunksResent++;
        this.sendChunk(t, t.sentUpTo, len, now);
        t.sentUpTo += len;
      }
    }
  }

  private sendChunk(t: OutgoingTransfer, offset: number, len: number, now: number): void {
    t.lastSentAt = now;
    this.ctx.out.send(t.joiner.addr, {
      t: 'state-chunk',
      from: this.ctx.self,
      group: t.group,
      joiner: memberRef(t.joiner),
      pos: t.pos,
      offset,
      total: t.data.length,
      data: t.data.subarray(offset, offset + len),
    });
  }
}
