/**
 * `cohort-vsync/check`: the guarantee checker. It judges the per-member histories of one run
 * (recorded by the simulator, or rebuilt from `cohort member` output lines) against the
 * guarantees G1–G11 (docs/guarantees.md) and says, in words, which member broke which guarantee
 * where.
 *
 * @module cohort-vsync/check
 * @example
 * ```ts
 * import { checkHistories, formatViolations, type MemberHistory } from 'cohort-vsync/check';
 * const histories: MemberHistory[] = recordRun();
 * const violations = checkHistories(histories, { quiescent: true });
 * if (violations.length > 0) console.error(formatViolations(violations));
 * ```
 */
export {
  checkHistories,
  formatViolations,
  Guarantee,
  GUARANTEE_TITLES,
  MAX_VIOLATIONS,
} from './checker.js';
export type { CheckOptions } from './checker.js';
export type {
  BlockedEvent,
  ExcludedEvent,
  HistoryEvent,
  LeftEvent,
  MemberHistory,
  MessageEvent,
  RunFacts,
  SendEvent,
  StateEvent,
  ViewEvent,
  Violation,
} from './history.js';
