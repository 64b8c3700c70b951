/**
 * `cohort-vsync/ops`: for operators and their tools. Probe a running endpoint for its
 * status document (the same document `Endpoint.status()` returns and `cohort status`
 * prints), over the network's own authentication; read the document's types; serve
 * `Endpoint.metricsText()` with the Prometheus content type.
 *
 * @module cohort-vsync/ops
 * @example
 * ```ts
 * import { probeStatus } from 'cohort-vsync/ops';
 * const doc = await probeStatus('127.0.0.1:7001');
 * console.log(doc.view.coordinator?.id, doc.groups.map((g) => g.name));
 * ```
 */
export { StatusProber, probeStatus, STATUS_TIMEOUT_MS_DEFAULT } from '../probe.js';
export type { StatusProbeOptions } from '../probe.js';
export { STATUS_HISTORY_MAX, STATUS_VERSION } from './status.js';
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
} from './status.js';
export type { FlowState } from '../core/core-api.js';
export type { TcpTransportStats } from '../transport/tcp.js';
export { metricsContentType } from './metrics.js';
