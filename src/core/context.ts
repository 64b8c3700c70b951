/**
 * What every part of the core shares, read-only: who this endpoint is, its
 * configuration, its counters and the outbox of the current turn. A part takes the
 * rest of what it needs from its neighbours as arguments, so that no part points back
 * at the composition (`EndpointCore`).
 */
import type { CoreConfig } from './config.js';
import type { CoreCounters } from './counters.js';
import type { Outbox } from './outbox.js';
import type { MemberRef } from './types.js';

/** The endpoint's identity, configuration, counters and output (see the module comment). */
export interface CoreContext {
  /** This endpoint's incarnation. */
  readonly self: MemberRef;
  /** `memberKey(self)`. */
  readonly selfKey: string;
  /** This endpoint's address as others reach it. */
  readonly addr: string;
  readonly cfg: CoreConfig;
  /** Counted for metrics; the protocol never reads them. */
  readonly counters: CoreCounters;
  readonly out: Outbox;
  /**
   * Durable groups: every delivered entry is also output as a `persist` event, and the
   * caller reports what reached its disk (`EndpointCore.persisted`).
   */
  readonly persist: boolean;
}
