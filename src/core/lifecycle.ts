/**
 * Where this endpoint stands: its phase, the epoch it is in, and the network's identity.
 *
 * Intuition: an endpoint founds or joins a network, is a member of one view after
 * another, and ends excluded or stopped. Every part asks the same three questions —
 * which phase, which epoch, is this member the sequencer — so the answers live here,
 * once, below the parts that ask them. A phase changes only along `LEGAL_PHASE_CHANGES`;
 * an epoch is entered only by installing a view (`enter`). The end is here too: an
 * excluded endpoint drops what it held for the application; a stopping one that
 * proposed the view without itself lingers (up to `flushTimeoutMs`) until every member
 * has its decision, and only then says `stopped`.
 */
import { assert } from '../errors.js';
import type { AppStream } from './app-stream.js';
import type { Phase } from './core-api.js';
import type { CoreContext } from './context.js';
import { Epoch } from './epoch.js';

/** The proposer's last decision, as a stop waits for it (see `Proposer.lastInstall`). */
export interface LastDecision {
  /** Some member has not yet said it installed the last decision. */
  unacknowledged(): boolean;
  /** It need not be sent again any more. */
  forget(): void;
}

/**
 * The phases an endpoint may move to from each phase: found or join, become a member
 * (again at every view), and end excluded or stopped. A joiner whose network is proven
 * gone bootstraps again; an excluded endpoint may still be stopped; a stopped one is done.
 */
const LEGAL_PHASE_CHANGES: Readonly<Record<Phase, readonly Phase[]>> = {
  bootstrapping: ['joining', 'member', 'stopped'],
  joining: ['bootstrapping', 'member', 'excluded', 'stopped'],
  member: ['member', 'excluded', 'stopped'],
  excluded: ['stopped'],
  stopped: [],
};

/** This endpoint's phase, current epoch and network (see the module comment). */
export class Lifecycle {
  /** Where the endpoint is in its life (changed only by `become`; a plain field: read per message). */
  readonly phase: Phase = 'bootstrapping';
  /** The installed view and everything that lives as long as it (a new one per view; set only by `enter`). */
  readonly epoch: Epoch;
  /**
   * The network's identity: its founder and founding ballot (`id#inc/round`), fixed
   * when epoch 1 is installed and passed to every joiner in its welcome. A network
   * founded anew after a total failure has a new one, and its groups start over, so a
   * checker tells a re-founding from a split (two networks live at once) by it.
   */
  network = '';
  /** A stop waits while a decision is being installed (see `installing`). */
  private committing = false;
  private stopPending = false;
  private lingerUntil = 0;

  constructor(
    private readonly ctx: CoreContext,
    private readonly app: AppStream,
    private readonly decision: LastDecision,
  ) {
    this.epoch = Epoch.none(ctx.selfKey);
  }

  /** This member is the sequencer of the current view (rank 0, and a member still). */
  isCoordinator(): boolean {
    return this.phase === 'member' && this.epoch.sequencer !== null;
  }

  /** True while a view change holds delivery. */
  get wedged(): boolean {
    return this.epoch.acceptor.wedgedAt !== null;
  }

  /** Move to phase `to`; only the transitions in `LEGAL_PHASE_CHANGES` exist. */
  become(to: Phase): void {
    assert(LEGAL_PHASE_CHANGES[this.phase].includes(to), `phase change ${this.phase} -> ${to} at ${this.ctx.selfKey}`);
    (this as { phase: Phase }).phase = to;
  }

  /** Become a member of `epoch`'s view (the install of a decided view, or a welcome). */
  enter(epoch: Epoch): void {
    this.become('member');
    (this as { epoch: Epoch }).epoch = epoch;
  }

  /** Leave the view as excluded, saying why: what the application's stream held back is dropped. */
  exclude(why: string): void {
    this.ctx.out.log(`excluded: ${why}`, 'warn');
    this.become('excluded');
    this.app.clear();
    this.ctx.out.emit({ type: 'excluded' });
  }

  /** Stop; a proposer that removed itself first lingers to retransmit its decision. */
  stop(now: number): void {
    if (this.phase === 'stopped') return;
    this.become('stopped');
    this.stopPending = true;
    this.lingerUntil = now + this.ctx.cfg.flushTimeoutMs;
    this.finishStop(now);
  }

  /** A stop that waited for its decision to be acknowledged (or for its time) ends: `stopped`. */
  finishStop(now: number): void {
    if (!this.stopPending || this.committing) return;
    if (this.decision.unacknowledged() && now < this.lingerUntil) return;
    this.stopPending = false;
    this.decision.forget();
    this.ctx.out.emit({ type: 'stopped' });
  }

  /**
   * Run `install`: while installing, a proposer that removed itself must not finish
   * stopping before it has recorded the decision it is to retransmit.
   */
  installing<T>(install: () => T): T {
    this.committing = true;
    const result = install();
    this.committing = false;
    return result;
  }
}
