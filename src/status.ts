/**
 * The status document moved to `src/ops/status.ts`, beside the other operator-facing
 * reports. This file keeps the old import path working for the prober (`probe.ts`) and
 * `cohort status` (`cli/status.ts`), which import it from here.
 */
export { STATUS_HISTORY_MAX, STATUS_VERSION, decodeStatus, encodeStatus } from './ops/status.js';
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
