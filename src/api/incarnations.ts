/**
 * The endpoint's cores, one per incarnation: the first at open, and a new one each
 * time the network excludes this endpoint and it comes back (option `rejoin`).
 *
 * Intuition: an excluded member cannot return as itself — the others have removed it
 * and moved on — so it returns as a new incarnation of the same id: a fresh core, told
 * the view it was excluded from, joining again the groups it was in, ahead of any new
 * multicast. Building every core in one place means a rejoin cannot forget the seeds,
 * the configuration, the access policy or the counters (kept across incarnations).
 */
import type { GroupAccess } from '../core/access.js';
import type { CoreConfig } from '../core/config.js';
import type { CoreCounters } from '../core/counters.js';
import { EndpointCore } from '../core/endpoint-core.js';
import { EntryKind } from '../core/types.js';
import type { RestartInfo } from '../core/membership/restart.js';
import type { EndpointView } from '../core/types.js';
import { ClosedError, ErrorCode } from '../errors.js';
import type { LogLevel } from '../log.js';
import type { DeliveryQueue } from './delivery-queue.js';
import type { EndpointWorld } from './options.js';

/** What every core of an endpoint is built with. */
export interface CoreSpec {
  readonly id: string;
  readonly world: EndpointWorld;
  readonly seeds: readonly string[];
  readonly cfg: CoreConfig;
  readonly access: GroupAccess;
  /** The core's counters, kept across incarnations. */
  readonly counters: CoreCounters;
  /** Join every group again after an exclusion (option `rejoin`). */
  readonly rejoin: boolean;
  /** Durable groups (option `persist`). */
  readonly persist: boolean;
}

/** The builder of an endpoint's cores, and the count of its rejoins (see the module's comment). */
export class Incarnations {
  /** How many times this endpoint came back after an exclusion. */
  rejoins = 0;
  private readonly spec: CoreSpec;

  /** The cores of the endpoint `spec` describes. */
  constructor(spec: CoreSpec) {
    this.spec = spec;
  }

  /** A fresh incarnation number, drawn from the world's rng (seeded in the simulator, so that runs replay). */
  draw(): number {
    return this.spec.world.rng.nextU32() * 2048 + this.spec.world.rng.below(2048);
  }

  /**
   * A core for incarnation `inc`. After an exclusion, `rejoin` gives the view it was
   * excluded from and the first local id (local ids stay unique across incarnations:
   * old ones may still be pending).
   */
  build(inc: number, rejoin?: { readonly lastView: EndpointView; readonly firstLocalId: number }, restart?: RestartInfo): EndpointCore {
    const s = this.spec;
    return new EndpointCore({
      self: { id: s.id, inc },
      addr: s.world.transport.address,
      seeds: [...s.seeds],
      ...(rejoin === undefined ? {} : { lastView: rejoin.lastView, firstLocalId: rejoin.firstLocalId }),
      config: s.cfg,
      rng: s.world.rng,
      access: s.access,
      counters: s.counters,
      persist: s.persist,
      ...(restart === undefined ? {} : { restart }),
    });
  }

  /**
   * Excluded: tell every group, fail what is pending, and return the core of a new
   * incarnation, started, its first entries the joins of the groups it was in. Its
   * first output is for the caller to send.
   */
  afterExclusion(old: EndpointCore, delivery: DeliveryQueue, log: (line: string, level: LogLevel) => void, restart?: RestartInfo): EndpointCore {
    const now = (): number => this.spec.world.clock.now();
    log(`excluded from the network; rejoining as a new incarnation`, 'warn');
    const err = new ClosedError(`endpoint ${this.spec.id} was excluded from the view`, ErrorCode.excluded);
    const rejoin = delivery.onExcluded(err, this.spec.rejoin);
    const lastView = old.currentView;
    this.rejoins += 1;
    const core = this.build(this.draw(), { lastView, firstLocalId: old.nextLocalIdValue }, restart);
    core.start(now());
    // Its first entries: the joins of the groups it was in, ahead of any new multicast.
    for (const g of rejoin) core.submit(now(), EntryKind.join, g.name, new Uint8Array(0), false);
    if (rejoin.length > 0) log(`rejoining ${rejoin.length === 1 ? 'group' : 'groups'} ${rejoin.map((g) => g.name).join(', ')} as the new incarnation`, 'info');
    return core;
  }
}
