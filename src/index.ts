/**
 * Cohort: virtual synchrony for TypeScript on Node.js. Processes join named groups,
 * multicast to them in one total order, and every member sees the same messages and
 * the same agreed views, with a state transfer that initialises each joiner.
 *
 * The package has four entry points: `cohort-vsync` (this one: what an application
 * uses — endpoints, groups, their events, options and errors), `cohort-vsync/sim` (the
 * deterministic simulator, to test your application), `cohort-vsync/check` (the checker
 * of the guarantees G1–G11) and `cohort-vsync/ops` (for operators: the status probe,
 * the status document and the metrics' content type).
 *
 * @module cohort-vsync
 * @example
 * ```ts
 * import { Endpoint } from 'cohort-vsync';
 * const ep = await Endpoint.start({ id: 'ctl-1', listen: '127.0.0.1:7001', seeds: ['127.0.0.1:7002'] });
 * const sector = await ep.join('atc/sector-xyz', { onEvent: (e) => apply(e), checkpoint: () => encode(state) });
 * await sector.multicast(new TextEncoder().encode('plan AFR100 LFPG-EGLL 340'));
 * ```
 */
export { Endpoint } from './endpoint.js';
export type { EndpointStats } from './endpoint.js';
export { Group } from './api/group.js';
export { describeFailure, viewReason } from './api/view.js';
export type { EndpointOptions, EndpointWorld, JoinOptions, PersistOptions } from './api/options.js';
export type { Durability } from './api/durable-waits.js';
export type { LeaveOptions, MulticastOptions } from './api/group.js';
export type { GroupEvent, GroupHandlers, MemberFailure, StateProgress, View } from './api/view.js';
export type { EndpointView, FailureCause, LeaveCause, MemberInfo, MemberRef } from './core/types.js';
export type { CoreStats } from './core/core-api.js';
export {
  AssertionFailure,
  ClosedError,
  CohortError,
  ErrorCode,
  InputError,
  OptionError,
  ProbeError,
  WireError,
} from './errors.js';
export { Logger, logLevels } from './log.js';
export type { LogFields, LogFormat, LogLevel, LoggerLike, LoggerOptions } from './log.js';
export type { Clock, Rng, TimerHandle } from './runtime.js';
export type { Transport, TransportStats, MessageHandler, PeerProblem, RefusedHandler } from './transport/transport.js';
