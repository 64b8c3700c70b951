/**
 * Answers to members that are behind: one of an older epoch that is not in the view
 * any more learns it is excluded (`not-member`); one that is in the view but missed
 * the decision that began it gets the decision again (a commit, the whole accept, or
 * its welcome).
 *
 * Intuition: a stale sender repeats itself — every heartbeat, every retransmission —
 * so each answer goes out at most once per retransmission interval and key, however
 * often it is asked for: a flood of requests costs one answer per interval. The record
 * of answers is bounded (`ANSWER_KEYS_MAX`): past it, it starts over.
 */
import type { CoreContext } from '../context.js';
import type { Epoch } from '../epoch.js';
import { memberKey, memberRef, sameMember } from '../types.js';
import type { MemberRef } from '../types.js';

/** Keys remembered before the record starts over (each costs one answer per interval at most). */
const ANSWER_KEYS_MAX = 1024;

/** Rate-limited answers to members that are behind (see the module comment). */
export class Replies {
  /** When each answer (by kind and key) last went out. */
  private readonly lastAnswerAt = new Map<string, number>();

  constructor(private readonly ctx: CoreContext) {}

  /** Whether the answer `key` may go out now (at most once per retransmission interval). */
  due(now: number, key: string): boolean {
    const last = this.lastAnswerAt.get(key);
    if (last !== undefined && now - last < this.ctx.cfg.retransmitMs) return false;
    if (this.lastAnswerAt.size >= ANSWER_KEYS_MAX) this.lastAnswerAt.clear();
    this.lastAnswerAt.set(key, now);
    return true;
  }

  /** `to`, at `addr`, is not in `epoch`'s view: it is excluded. */
  notMember(now: number, epoch: Epoch, to: MemberRef, addr: string): void {
    if (this.due(now, memberKey(to))) this.ctx.out.send(addr, { t: 'not-member', from: this.ctx.self, epoch: epoch.roster.view.epoch, to: memberRef(to) });
  }

  /**
   * A member of `epoch`'s view still speaks from the previous epoch: it missed the
   * decision. Tell it again which ballot was chosen (it accepted it, or the proposer
   * will send the whole of it); if neither works it is suspected and removed like a
   * silent one.
   */
  resendCommit(now: number, epoch: Epoch, to: MemberRef, addr: string): void {
    if (epoch.ballot === null) return;
    if (!this.due(now, `commit:${memberKey(to)}`)) return;
    const { out, self } = this.ctx;
    const d = epoch.decision;
    if (d !== null && d.oldEpoch > 0 && d.waiting.has(memberKey(to))) {
      // It may never have accepted: the whole decision, which it installs at once.
      out.send(addr, { t: 'accept', from: self, epoch: d.oldEpoch, ballot: d.ballot, proposal: d.proposal, log: d.log, commit: true });
      return;
    }
    out.send(addr, { t: 'commit', from: self, epoch: epoch.roster.view.epoch - 1, ballot: epoch.ballot });
  }

  /**
   * A member that joined with `epoch`'s view (or founded it) asks for a network: it
   * missed its welcome. Send it again (see `Epoch.decision`); true if `from` is such a
   * member.
   */
  resendWelcome(now: number, epoch: Epoch, from: MemberRef, addr: string): boolean {
    const d = epoch.decision;
    const k = memberKey(from);
    if (d === null || !d.waiting.has(k) || !(d.oldEpoch === 0 || d.proposal.joined.some((j) => sameMember(j, from)))) return false;
    if (this.due(now, `welcome:${k}`)) this.ctx.out.send(addr, d.welcome);
    return true;
  }
}
