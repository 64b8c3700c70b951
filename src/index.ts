/**
 * Cohort: virtual synchrony for TypeScript on Node.js. Processes join named groups,
 * multicast to them in one total order, and every member sees the same messages and
 * the same agreed views, with a state transfer that initialises each joiner.
 *
 * The package has three entry points: `cohort` (this one: endpoints and groups),
 * `cohort/sim` (the deterministic simulator, to test your application) and
 * `cohort/check` (the checker of the guarantees G1–G11).
 *
 * @module cohort
 * @example
 * ```ts
 * import { Endpoint } from 'cohort';
 * const ep = await Endpoint.start({ id: 'ctl-1', listen: '127.0.0.1:7001', seeds: ['127.0.0.1:7002'] });
 * const sector = await ep.join('atc/sector-xyz', { onEvent: (e) => apply(e), checkpoint: () => encode(state) });
 * await sector.multicast(new TextEncoder().encode('plan AFR100 LFPG-EGLL 340'));
 * ```
 */
export { Endpoint } from './endpoint.js';
export { Group } from './api/group.js';
export { describeFailure, viewReason } from './api/view.js';
export { sha256hex } from './api/digest.js';
export type { EndpointOptions, EndpointWorld, JoinOptions } from './api/options.js';
export type { LeaveOptions, MulticastOptions } from './api/group.js';
export type { GroupEvent, GroupHandlers, MemberFailure, StateProgress, View } from './api/view.js';
export type { FailureCause, LeaveCause } from './core/types.js';
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
export { StatusProber, probeStatus, STATUS_TIMEOUT_MS_DEFAULT } from './probe.js';
export type { StatusProbeOptions } from './probe.js';
export { STATUS_HISTORY_MAX, STATUS_VERSION } from './ops/status.js';
export type {
  StatusCounters,
  StatusDocument,
  StatusEventLoop,
  StatusFailure,
  StatusGroup,
  StatusMember,
  StatusRates,
  StatusTransport,
  StatusViewChange,
} from './ops/status.js';
export type { CoreStats, FlowState } from './core/endpoint-core.js';
export type { TcpTransportStats } from './transport/tcp.js';
export type { Clock, Rng, TimerHandle } from './runtime.js';
export type { Transport, TransportStats, MessageHandler, PeerProblem, RefusedHandler } from './transport/transport.js';
export type { MemberRef, MemberInfo, EndpointView } from './core/types.js';
export { defaultCoreConfig } from './core/config.js';
export type { CoreConfig } from './core/config.js';
export { encodeMessage, decodeMessage, defaultWireLimits } from './wire/codec.js';
export type { WireLimits } from './wire/codec.js';
export { Logger, isLoggerLike, logLevels } from './log.js';
export type { LogFields, LogFormat, LogLevel, LoggerLike, LoggerOptions } from './log.js';
export { Counter, Gauge, Histogram, MetricsRegistry, escapeHelp, escapeLabelValue, formatValue, metricsContentType } from './ops/metrics.js';
export type { FamilyOptions, HistogramOptions, Labels, MetricType } from './ops/metrics.js';
