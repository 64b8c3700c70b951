/**
 * Durable groups: restarting a network from its members' logs after a total failure.
 *
 * Intuition: a member that finds a log knows the last view it installed — or, later, a
 * view it accepted (its vote is on disk before its answer leaves, see `vote` events).
 * While no network runs, it tells the members of that view and the seeds so
 * (`restart`), and takes part in no ordinary founding (its probe answers say it is
 * joining). The most advanced view any of them names, `C`, is where history stands:
 * whatever came after `C` was decided by a majority of `C`, and every majority of `C`
 * holds one member that voted for it. So a restart proceeds once a majority of `C`'s
 * members restart naming `C` — and, for each group, a majority of its members at the
 * end of the longest of their logs, since a multicast acknowledged at `'majority'` is
 * on the disks of a majority of its group. The smallest id among them proposes, by the
 * founding's Paxos round with exactly those members as its quorum, a view of the next
 * epoch: the longest log first (it is the coordinator, and restores the groups' state
 * from its log: `Proposal.restored`), then the others by id. Anything less waits, and
 * says for what: a second history is worse than none.
 */
import type { CoreContext } from '../context.js';
import { majority } from '../quorum.js';
import { comparePositions, memberKey, memberRef, sameMember } from '../types.js';
import type { EndpointView, MemberInfo, MemberRef, PromiseMsg, Proposal, RestartMsg, Restored } from '../types.js';

/**
 * What a member restarting from its log knows of the network it was in
 * (`CoreOptions.restart`): what its `restart` message says of it (see `RestartMsg`).
 */
export type RestartInfo = Omit<RestartMsg, 't' | 'from' | 'addr'>;

/** A restart that may proceed: who founds it, in the order of its view, and what the first restores. */
export interface RestartPlan {
  /** The restarters' addresses, sorted: the founding's quorum. */
  readonly config: readonly string[];
  readonly members: readonly MemberInfo[];
  /** The view the restart follows. */
  readonly last: EndpointView;
  readonly restored: readonly Restored[];
}

function sameView(a: EndpointView, b: EndpointView): boolean {
  return a.epoch === b.epoch && a.members.length === b.members.length && a.members.every((m, i) => sameMember(m, b.members[i]!));
}

/**
 * Why a view voted for after `last` may have been decided (so a restart from `last`
 * could fork from it), or null when it cannot have been. `all` are the restarters
 * heard; `voters` those that voted for views after `last`.
 *
 * A view is decided once its quorum accepted it: every member of a founding, a
 * majority of `last` for a view change. Votes are on disk before they are answered, so
 * a restarter without a vote for it did not accept it. And a view none of whose
 * members runs any more (each restarts now) and that no log holds as installed left
 * nothing on disk: a durable write is on disk after its view at a majority of its group.
 */
function mayBeDecided(last: EndpointView, all: readonly RestartMsg[], voters: readonly RestartMsg[]): string | null {
  const heardIds = new Set(all.map((r) => r.from.id));
  for (const r of voters) {
    const v = r.vote!;
    if (v.view.members.every((m) => heardIds.has(m.id))) continue;
    if (v.founding) {
      // A member of it without that vote (nor a later one: it may have moved on) did not accept it.
      const refused = all.some((x) => v.view.members.some((m) => m.id === x.from.id) && (x.vote === null || (x.vote.view.epoch <= v.view.epoch && !sameView(x.vote.view, v.view))));
      if (refused) continue;
    } else if (v.view.epoch === last.epoch + 1) {
      const keys = new Set(last.members.map(memberKey));
      const heard = all.filter((x) => keys.has(memberKey(x.was)));
      const accepted = heard.filter((x) => x.vote !== null && x.vote.view.epoch >= v.view.epoch).length;
      if (accepted + (last.members.length - heard.length) < majority(last.members.length)) continue;
    }
    const away = v.view.members.filter((m) => !heardIds.has(m.id)).map((m) => m.id);
    return `${r.from.id} voted for the view of epoch ${v.view.epoch}, which may have been decided: ${away.join(', ')} of it must restart too (or be running)`;
  }
  return null;
}

/** The restart of one endpoint (see the module comment). */
export class Restart {
  /** Restarters heard lately, by their key now. */
  private readonly heard = new Map<string, { msg: RestartMsg; at: number }>();
  /** What the wait was last logged as (logged again only when it changes). */
  private lastWait = '';

  constructor(
    private readonly ctx: CoreContext,
    readonly info: RestartInfo,
  ) {}

  /** What the restart waits for, in words ('' before the first look). */
  get waiting(): string {
    return this.lastWait;
  }

  /** This endpoint's restart message. */
  hello(): RestartMsg {
    const { self, addr } = this.ctx;
    const i = this.info;
    return { t: 'restart', from: self, addr, was: i.was, last: i.last, vote: i.vote, end: i.end, groups: i.groups, restorable: i.restorable };
  }

  /** The addresses the restart is told to, besides the seeds: the members of the last view. */
  addresses(): string[] {
    return [...this.info.last.members, ...(this.info.vote?.view.members ?? [])].map((m) => m.addr);
  }

  onRestart(now: number, msg: RestartMsg): void {
    if (sameMember(msg.from, this.ctx.self)) return;
    this.heard.set(memberKey(msg.from), { msg, at: now });
  }

  /** Forget restarters not heard for a suspicion timeout (they stopped, or found a network). */
  expire(now: number): void {
    for (const [k, h] of this.heard) if (now - h.at > this.ctx.cfg.suspectTimeoutMs) this.heard.delete(k);
  }

  /** Whether `from` is a restarter heard (or this endpoint). */
  isPeer(from: MemberRef): boolean {
    return sameMember(from, this.ctx.self) || this.heard.has(memberKey(from));
  }

  /** The restart that may proceed now, or null (logged, when the wait changes). */
  plan(): RestartPlan | null {
    const all = [this.hello(), ...[...this.heard.values()].map((h) => h.msg)];
    // The last view installed by any of them: where history stands, unless a later
    // view may have been decided without any of them installing it.
    let top = all[0]!.last;
    for (const r of all) if (r.last.epoch > top.epoch) top = r.last;
    const voters = all.filter((r) => r.vote !== null && r.vote.view.epoch > top.epoch);
    const decided = mayBeDecided(top, all, voters);
    if (decided !== null) return this.wait(decided);
    // Who restarts from `top`: those that installed it; and members of it whose log
    // stops before it (its record never reached their disk, so none of its durable
    // writes counted on them) and whose last vote is for it or earlier (so they
    // accepted no view after it: a vote is on disk before it is answered).
    const counted: RestartMsg[] = [];
    const was = new Set<string>();
    for (const r of all) {
      const behind = r.last.epoch < top.epoch && (r.vote === null || r.vote.view.epoch < top.epoch || sameView(r.vote.view, top));
      const m = sameView(r.last, top) ? r.was : behind ? top.members.find((x) => x.id === r.was.id) : undefined;
      if (m === undefined || !top.members.some((x) => sameMember(x, m)) || was.has(memberKey(m))) continue;
      was.add(memberKey(m));
      counted.push(r);
    }
    const need = majority(top.members.length);
    if (counted.length < need || !counted.some((r) => sameMember(r.from, this.ctx.self))) {
      const away = top.members.filter((m) => !was.has(memberKey(m))).map((m) => m.id);
      return this.wait(`${counted.length} of the ${top.members.length} members of the view of epoch ${top.epoch} restart from it, ${need} needed: waiting for ${away.join(', ')}`);
    }
    const longer = (r: RestartMsg, than: RestartMsg): boolean => {
      const c = comparePositions(r.end, than.end);
      return c > 0 || (c === 0 && r.from.id < than.from.id);
    };
    let longest = counted[0]!;
    for (const r of counted) if (longer(r, longest)) longest = r;
    const restorer = this.restorers(top, counted, longest, longer);
    // By id: a group may name the incarnations of a network before a restart (nobody
    // joined it since), and an id's disk is the same across incarnations.
    const ids = new Set(counted.map((r) => r.was.id));
    for (const g of longest.groups) {
      if (g.members.length === 0) continue;
      // A group awaiting the restorer of an earlier restart: its log holds all of it.
      if (g.carried && restorer.has(g.name)) continue;
      const back = g.members.filter((m) => ids.has(m.id)).length;
      if (back < majority(g.members.length)) {
        const away = g.members.filter((m) => !ids.has(m.id)).map((m) => m.id);
        return this.wait(`${back} of the ${g.members.length} members of group ${g.name} restart, ${majority(g.members.length)} needed (a multicast acknowledged at 'majority' is on the disks of a majority of its group): waiting for ${away.join(', ')}`);
      }
    }
    const info = (r: RestartMsg): MemberInfo => ({ id: r.from.id, inc: r.from.inc, addr: r.addr });
    const rest = counted.filter((r) => r !== longest).sort((a, b) => (a.from.id < b.from.id ? -1 : a.from.id > b.from.id ? 1 : 0));
    const members = [longest, ...rest];
    const restored = [...restorer].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([group, r]) => ({ group, by: members.indexOf(r) }));
    this.lastWait = '';
    return { config: counted.map((r) => r.addr).sort(), members: members.map(info), last: top, restored };
  }

  /**
   * Each group's restorer: the longest log that holds it — every log of the network is
   * a prefix of one order. First among the logs that hold `top`: they alone know which
   * groups await the restorer of an earlier restart (the others dropped them there).
   * Only for a group none of them holds, the logs of its members that stop before
   * `top` (their state of it is the latest on any disk back).
   */
  private restorers(top: EndpointView, counted: readonly RestartMsg[], longest: RestartMsg, longer: (r: RestartMsg, than: RestartMsg) => boolean): Map<string, RestartMsg> {
    const by = new Map<string, RestartMsg>();
    const pick = (r: RestartMsg, g: string): void => {
      const b = by.get(g);
      if (b === undefined || longer(r, b)) by.set(g, r);
    };
    const installed = counted.filter((r) => sameView(r.last, top));
    for (const r of installed) for (const g of r.restorable) pick(r, g);
    const members = new Map(longest.groups.map((g) => [g.name, new Set(g.members.map((m) => m.id))]));
    const fallback = new Map<string, RestartMsg>();
    for (const r of counted) {
      if (installed.includes(r)) continue;
      for (const g of r.restorable) {
        if (by.has(g) || members.get(g)?.has(r.was.id) !== true) continue;
        const b = fallback.get(g);
        if (b === undefined || longer(r, b)) fallback.set(g, r);
      }
    }
    for (const [g, r] of fallback) by.set(g, r);
    return by;
  }

  private wait(why: string): null {
    if (why !== this.lastWait) {
      this.lastWait = why;
      this.ctx.out.log(`restart from the log waits: ${why}`, 'info');
    }
    return null;
  }

  /** Whether this endpoint proposes the restart now: the smallest id of a plan that may proceed. */
  mayPropose(): RestartPlan | null {
    const p = this.plan();
    if (p === null) return null;
    return p.members.every((m) => m.id >= this.ctx.self.id) ? p : null;
  }

  /** A prepare of a restart founding reaches this endpoint's acceptor: from a restarter heard, naming this address. */
  admitsPrepare(from: MemberRef, config: readonly string[]): boolean {
    return this.isPeer(from) && config.includes(this.ctx.addr);
  }

  /** The restart founding's proposal, once every restarter of `plan` promised. */
  proposal(plan: RestartPlan, promises: ReadonlyMap<string, PromiseMsg>): Proposal | null {
    if (!plan.members.every((m) => promises.has(memberKey(m)))) return null;
    const members = [...plan.members];
    return { view: { epoch: plan.last.epoch + 1, members }, cut: 0, joined: members.map(memberRef), left: [], failed: [], failures: [], restored: plan.restored };
  }
}
