/**
 * Before membership: finding a network to join, or founding one with the seeds.
 *
 * Intuition: epoch 0 is the configured seed list. An endpoint probes every seed address
 * (and every member of a network it has heard of). If a member of a running network
 * answers, it joins that network through its coordinator (its *contact*) and never
 * founds a second one. If instead every address of the founding list answers as
 * bootstrapping too, the smallest id among them proposes the founding view, by the same
 * Paxos round as any view change, with all of those addresses as its quorum (see
 * `quorum` in the core and docs/founding.md). A joiner whose network falls silent goes
 * back to bootstrapping only once a majority of that network's last view is proven gone
 * (`KnownNetwork`): otherwise the network may live on out of reach, and founding would
 * split it.
 */
import type { CoreContext } from '../context.js';
import { KnownNetwork } from '../known-network.js';
import { Restart } from './restart.js';
import type { RestartInfo } from './restart.js';
import { memberKey, memberRef, sameMember } from '../types.js';
import type { EndpointView, MemberRef, Message, ProbeReplyMsg } from '../types.js';

function sameList(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Probing, founding and finding a contact (see the module comment). */
export class Bootstrap {
  /** The founding quorum: seed addresses and our own, sorted. */
  readonly foundingQuorum: readonly string[];
  private nextProbeAt = 0;
  /** Bootstrapping endpoints of the same founding list heard lately, by key. */
  private readonly heardBootstrapping = new Map<string, { member: MemberRef; addr: string; at: number }>();
  /** Joining: the coordinator of the network we join, and the epoch it was heard at. */
  private contact: string | null = null;
  private contactEpoch = 0;
  /** Joining: when a member of a network last answered a probe (it exists, so keep waiting for a welcome). */
  private networkSeenAt = 0;
  /** Not a member: the latest view of a running network heard of, and who of it is gone. */
  private readonly known = new KnownNetwork();
  /** Joining: since when the coordinator refuses us as a duplicate id (see `onJoinRefused`). */
  private refusedSince: number | null = null;
  /** Joining: the wait for a silent network that is not proven gone has been logged. */
  private waitLogged = false;
  /** Durable groups: the restart from this endpoint's log, while bootstrapping (null: none). */
  readonly restart: Restart | null;

  constructor(
    private readonly ctx: CoreContext,
    seeds: readonly string[],
    restart: RestartInfo | null = null,
  ) {
    const set = new Set(seeds);
    set.add(ctx.addr);
    this.foundingQuorum = [...set].sort();
    this.restart = restart === null ? null : new Restart(ctx, restart);
  }

  /** What a starting endpoint knows so far (for status). */
  get progress(): { readonly bootstrapping: readonly string[]; readonly contact: string | null; readonly known: EndpointView | null; readonly restart: string | null } {
    const restart = this.restart === null ? null : this.restart.waiting;
    return { bootstrapping: [...this.heardBootstrapping.values()].map((h) => h.addr), contact: this.contact, known: this.known.view, restart };
  }

  /** Start probing now. */
  start(now: number): void {
    this.nextProbeAt = now;
    this.networkSeenAt = now;
  }

  /** Whether `config` is our founding list. */
  sameQuorum(config: readonly string[]): boolean {
    return sameList(config, this.foundingQuorum);
  }

  /** The address of a bootstrapping endpoint heard lately, by key. */
  addrOf(k: string): string | undefined {
    return this.heardBootstrapping.get(k)?.addr;
  }

  /**
   * A member described its network's view. Whoever held our address in it, if not this
   * incarnation, is gone: we listen there now (a restarted process, or our excluded
   * predecessor).
   */
  learnNetwork(view: EndpointView): void {
    this.known.learn(view);
    this.known.answered(this.ctx.addr, this.ctx.self);
  }

  /** Something answered from `addr` (a probe), so a process lives there. */
  answered(addr: string, from: MemberRef): void {
    this.known.answered(addr, from);
  }

  /** Nothing listens at `addr`. */
  refused(addr: string): void {
    this.known.refused(addr);
  }

  /** Probe the founding list and every member of the network we know of. */
  probeAll(): void {
    const { self, addr, out } = this.ctx;
    const probe: Message = { t: 'probe', from: self, addr, config: this.foundingQuorum };
    const hello = this.restart?.hello();
    for (const a of new Set([...this.foundingQuorum, ...this.known.addresses(), ...(this.restart?.addresses() ?? [])])) {
      if (a === addr) continue;
      out.send(a, probe);
      if (hello !== undefined) out.send(a, hello);
    }
  }

  /**
   * Bootstrapping: probe again when due, and forget endpoints not heard for a suspicion
   * timeout. Returns whether this endpoint may propose the founding view: the smallest
   * id among the bootstrapping endpoints heard, once every address of the founding list
   * answers as bootstrapping (a founding needs all of them).
   */
  onBootstrapTimeout(now: number): boolean {
    const cfg = this.ctx.cfg;
    if (now >= this.nextProbeAt) {
      this.nextProbeAt = now + cfg.retransmitMs * 2;
      this.probeAll();
    }
    for (const [k, h] of this.heardBootstrapping) {
      if (now - h.at > cfg.suspectTimeoutMs) this.heardBootstrapping.delete(k);
    }
    if (this.restart !== null) {
      // A restarting member founds nothing but the restart of its network.
      this.restart.expire(now);
      return this.restart.mayPropose() !== null;
    }
    const addrs = new Set([this.ctx.addr, ...[...this.heardBootstrapping.values()].map((h) => h.addr)]);
    const heardCount = this.foundingQuorum.filter((a) => addrs.has(a)).length;
    const smallest = [...this.heardBootstrapping.values()].every((h) => h.member.id > this.ctx.self.id);
    return smallest && heardCount === this.foundingQuorum.length;
  }

  /**
   * Joining: ask the contact again and probe, when due. Returns true when the network
   * we know of is proven gone and no member of it answers: bootstrap again (join
   * whatever answers now, or found a network with the other seeds).
   */
  onJoiningTimeout(now: number): boolean {
    const { cfg, out } = this.ctx;
    // No member of the network has answered for a while. If a majority of its last view
    // we know of is proven gone (restarted, or nothing listens at their addresses), that
    // network can decide nothing more. Otherwise it may live on out of our reach (paused,
    // cut off): keep waiting for it, as a blocked member does, and never found a second.
    if (now - this.networkSeenAt > cfg.suspectTimeoutMs * 3) {
      if (this.known.dead) {
        out.log(`no member of a network answers: bootstrapping again`, 'info');
        this.contact = null;
        this.contactEpoch = 0;
        this.heardBootstrapping.clear();
        this.nextProbeAt = now;
        return true;
      }
      if (!this.waitLogged) {
        this.waitLogged = true;
        const v = this.known.view!;
        out.log(`no member of the network answers; waiting for it: ${v.members.length - this.known.goneCount} of the ${v.members.length} members of its view of epoch ${v.epoch} are not proven gone`, 'info');
      }
    }
    if (now < this.nextProbeAt) return false;
    this.nextProbeAt = now + cfg.retransmitMs * 2;
    const { self, addr } = this.ctx;
    if (this.contact !== null && this.contact !== addr) out.send(this.contact, { t: 'join-req', from: self, addr });
    this.probeAll();
    return false;
  }

  /**
   * An answer to our probe while not a member (`bootstrapping` tells which of the two
   * phases). Returns true when a bootstrapping endpoint found a running network: it
   * joins it now instead of founding one.
   */
  onProbeReply(now: number, msg: ProbeReplyMsg, bootstrapping: boolean): boolean {
    const { self, addr, out } = this.ctx;
    const epoch = msg.view.epoch;
    this.known.answered(msg.addr, msg.from);
    // Our contact says it is in no network now (it restarted, or was excluded): it names
    // no coordinator any more, so answers of lower epochs (another network) count again.
    if (epoch === 0 && msg.addr === this.contact) {
      this.contact = null;
      this.contactEpoch = 0;
    }
    const coordinator = msg.view.members[0]?.addr;
    if (epoch > 0 && coordinator !== undefined) {
      this.networkSeenAt = now;
      this.waitLogged = false;
      // A network exists: join it rather than found one.
      if (bootstrapping) out.log(`network found at ${coordinator}: joining`, 'info');
      // A later epoch names the newer view and coordinator; and our contact's own
      // answer is the truth about itself, whatever its epoch (after a re-founding,
      // epochs start over and a stale contact from the old network may name a higher one).
      // (Any live network's answer counts once the one we knew of is dead.)
      if (epoch >= this.contactEpoch || msg.addr === this.contact || this.known.dead) {
        this.learnNetwork(msg.view);
        if (this.contact !== coordinator) {
          this.contact = coordinator;
          this.contactEpoch = epoch;
          if (coordinator !== addr) out.send(coordinator, { t: 'join-req', from: self, addr });
        }
      }
      return bootstrapping;
    }
    if (!bootstrapping) return false;
    const k = memberKey(msg.from);
    // A joining endpoint is in no founding, whatever it answered before.
    if (msg.joining) this.heardBootstrapping.delete(k);
    else if (this.sameQuorum(msg.config)) this.heardBootstrapping.set(k, { member: memberRef(msg.from), addr: msg.addr, at: now });
    return false;
  }

  /** Not among the founders of the view just decided: join the network they founded. */
  joinFounded(now: number, view: EndpointView): void {
    this.learnNetwork(view);
    this.contact = view.members[0]?.addr ?? null;
    this.contactEpoch = 1;
    this.networkSeenAt = now;
  }

  /** A member now: bootstrapping endpoints heard before no longer matter. */
  onMember(): void {
    this.heardBootstrapping.clear();
  }

  /**
   * The coordinator refused our join: a live member holds our id elsewhere. A crashed
   * predecessor elsewhere is suspected within the timeout and then replaced, so only
   * a refusal that lasts two timeouts means a second live process; returns true then
   * (this endpoint is a duplicate and must stop).
   */
  onJoinRefused(now: number, msg: { to: MemberRef; live: MemberRef }): boolean {
    const { self, cfg, out } = this.ctx;
    if (!sameMember(msg.to, self)) return false;
    if (this.refusedSince === null) {
      this.refusedSince = now;
      out.log(`join refused: ${memberKey(msg.live)}, a live member at another address, holds id ${self.id}`, 'warn');
      return false;
    }
    return now - this.refusedSince >= cfg.suspectTimeoutMs * 2;
  }
}
