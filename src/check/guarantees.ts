/**
 * The names of the guarantees G1–G11 (docs/guarantees.md), shared by the checks that judge them
 * and by the reports that print them. A file of its own so that every family of checks
 * can name its guarantee without importing the public entry (`checker.ts`), which
 * imports the families: no import circle.
 */

/** The guarantees of docs/guarantees.md, as they appear in {@link Violation.guarantee}. */
export const Guarantee = {
  /** Integrity: only multicast messages are delivered, each at most once. */
  G1: 'G1',
  /** Total order: one order for every member, consistent across overlapping groups. */
  G2: 'G2',
  /** FIFO: a sender's messages in the order it sent them. */
  G3: 'G3',
  /** View agreement: the same views, in the same order, everywhere. */
  G4: 'G4',
  /** Virtual synchrony: members that go from view V to V' delivered the same messages in V. */
  G5: 'G5',
  /** Same-view delivery: a message is delivered in the same view everywhere. */
  G6: 'G6',
  /** Liveness and self-delivery: a live member's multicast reaches everyone live. */
  G7: 'G7',
  /** Failure detection: a crash is one agreed view change within a bounded time. */
  G8: 'G8',
  /** Primary component: only a majority of the previous view makes new views. */
  G9: 'G9',
  /** State transfer: a joiner's state is the checkpoint taken at exactly its join point. */
  G10: 'G10',
  /** Leave: a graceful leave is a view change, without a timeout. */
  G11: 'G11',
} as const;
/** One of `G1` … `G11`. */
export type Guarantee = (typeof Guarantee)[keyof typeof Guarantee];

/** Short names of the guarantees, for reports. */
export const GUARANTEE_TITLES: Readonly<Record<Guarantee, string>> = {
  G1: 'integrity',
  G2: 'total order',
  G3: 'FIFO',
  G4: 'view agreement',
  G5: 'virtual synchrony',
  G6: 'same-view delivery',
  G7: 'liveness and self-delivery',
  G8: 'failure detection',
  G9: 'primary component',
  G10: 'state transfer',
  G11: 'leave',
};

/**
 * How many violations {@link checkHistories} collects before it stops: a broken run
 * usually breaks the same guarantee many times, and the first few say everything.
 */
export const MAX_VIOLATIONS = 50;
