/**
 * The guarantee checker: judges the per-member histories of one run (simulated, or
 * rebuilt from `cohort member` outputs) against G1–G11 (docs/guarantees.md).
 *
 * Method. A history is what one member incarnation's application saw, so every
 * guarantee is a relation between histories, and each is checked by indexing the
 * histories once and then joining the indexes, never by scanning all events per event:
 *
 * - `prepare()` walks every history once and builds, per member: the rank of each
 *   delivered message in its own delivery order (all groups together), and per group
 *   the positions of its views and of the events that end a stretch of membership
 *   (blocked, excluded, left). Across members it builds the index of sends by message
 *   id, and the registry of views by `(group, viewId)` as first recorded.
 * - Each guarantee is then one linear pass that looks up these maps. Total order first
 *   asks whether one order of all messages contains every member's delivery sequence
 *   (the graph of consecutive deliveries is acyclic; linear). Only if not does it
 *   compare pairs, each by walking one member's sequence through the other's ranks,
 *   which must be monotonic: O(deliveries) per pair instead of O(deliveries²).
 *
 * Non-uniform delivery. A member that crashed, was excluded or blocked may have
 * delivered, in its last view, messages that the survivors never delivered at all
 * (the flush keeps what survivors hold, not what the dead held). So comparisons that
 * would otherwise forbid this ("nothing lost" G7, equal digests G10) only use a
 * delivery when it is *final*: the member went on to install a later view of the
 * group, or it ended `up`/`stopped` without a `blocked` or `excluded` of the group
 * after the delivery. Every delivery, final or not, is still judged by G1–G6: a
 * crashed or excluded member must not, say, reorder, duplicate, or deliver a message
 * in another view than the members that deliver it too (what it delivered, it
 * delivered; "may not deliver" is allowed, "delivers differently" is not).
 *
 * Definitions, per group; "installed views" are a member's `view` events of the group
 * in order; a `send` is an API call, so the "no events after" rules ignore sends.
 *
 * - G1: each delivered msgId was sent by a history whose `member` is the message's
 *   `sender`, to the same group (judged only if that sender's history is present);
 *   no member delivers a msgId twice.
 * - G2: for every pair of members, the messages both delivered (over all groups) come
 *   in the same relative order; every history counts, final or not (crashed, excluded
 *   and blocked members included).
 * - G3: per member, group and sender, `senderSeq` increases; and when two successive
 *   deliveries of one sender (seqs a < c) fall in the same view, no seq between them
 *   was sent (from the sender's sends if present, else a+1 is missing by definition).
 *   A sender name appearing in `joined` starts afresh (new incarnation).
 * - G4: one member list (same order) and one joined/left/failed set (and reason) per
 *   `(group, viewId)`; a member's view ids strictly increase; a member is in every
 *   view it installs.
 * - G5: members that installed V and then V' consecutively (no leave or exclusion in
 *   between) delivered the same set of messages between the two view events.
 * - G6: a message's `viewId` is the member's current view; and every member's first
 *   delivery of one message carries the same viewId, final or not (a member later
 *   excluded or crashed that delivered a message in an older view than the survivors
 *   breaks it as much as a survivor would).
 * - G7: always: a send with `resolvedAt` was delivered by its sender; a resolved
 *   `safe` send delivered by its sender in view V was delivered by every other member
 *   that installed V and either installed a later view or (when `facts.quiescent`)
 *   ended up/stopped without a blocked/left/excluded after V; a run cut short may end
 *   before such a member delivered it. When `facts.quiescent`: members that ended up and
 *   are still in the group end on the same viewId; a member that ended up delivered
 *   each of its sends unless it left or was excluded from the group after the send;
 *   every message finally delivered in view V was delivered by every member that ended
 *   up, installed V and did not leave or get excluded after V.
 * - G8: nothing of a group is received after `excluded` from it; a member that
 *   delivered a message from S after installing a view with S in `failed` (S not
 *   re-`joined` since) breaks it; with both timing facts, a member whose first event of
 *   a group after crashedAt + suspectTimeoutMs + detectBoundMs is not blocked/excluded
 *   and which then still had the crashed member in its view breaks it (members that
 *   were blocked, or were themselves excluded, are not judged); when quiescent, no
 *   member that ended up has a crashed member in its final view.
 * - G9: the same `(group, viewId)` installed with two member lists, each lacking the
 *   other's installer; a fork: a member went from view p straight to n although some
 *   p < w < n was installed by another member with it as a member; a view sharing no
 *   member with the previous view of the group while a member of that previous view
 *   carried on (installed a later view, or ended up without leaving); a message
 *   (a blocked member's deliveries are judged by G2/G5/G6; see checkPrimary).
 * - G10: a `state` comes after the member's first view of the group (since its last
 *   leave) with no message between; its digest (and count, when both known) equals
 *   the state at the join view of every other member that installed that view and was
 *   not a joiner of it. A member's state at a view is its last digest from messages,
 *   states or view digests; `facts.initialDigest` (or 64 zeros) before any; unknown
 *   after a message without a digest. Skipped when none of those old members survived
 *   the join view (nobody holds the checkpoint; the joiner starts afresh). And final
 *   deliveries of one message leave the same digest everywhere.
 * - G11: after a member's `left`, views of the group (by id, as others installed them)
 *   up to the one naming it in `joined` or `left`, and before the member's own next
 *   view of the group (its rejoin, which need not list it as joined), never name it in
 *   `failed` or `members`; the member receives nothing more of the group until it
 *   rejoins.
 *
 * Names. Views and senders name members by their `member` string. In the simulator
 * that string includes the incarnation, so it is unique; real `cohort member` runs may
 * reuse an id for a restarted process. Checks that follow a name across views therefore
 * forget what they knew about a name when it appears in a view's `joined` list (a new
 * incarnation), and timing checks skip a crashed member whose name another history
 * also uses.
 *
 * Assumption. View ids of a group are never reused within one run: the same
 * `(group, viewId)` names one view everywhere (a group that empties and is created
 * again must continue with larger ids).
 *
 * The checker stops after {@link MAX_VIOLATIONS} violations (and keeps at most 40% of
 * that budget per guarantee, so one flood does not hide the other guarantees).
 *
 * Layout. This file is the public entry; `run-index.ts` builds the index (`prepare`)
 * and holds the collector; each family of guarantees has its file: `order.ts` G1–G3,
 * `views.ts` G4–G6, `delivery.ts` G7, `failures.ts` G8–G9, `state.ts` G10,
 * `leave.ts` G11. The guarantees' names are in `guarantees.ts`, so that the families
 * import no entry point (no import circle).
 */
import { separateNetworks } from './networks.js';
import { Guarantee, GUARANTEE_TITLES, MAX_VIOLATIONS } from './guarantees.js';
import type { MemberHistory, RunFacts, Violation } from './history.js';
import { Collector, Enough, prepare } from './run-index.js';
import { checkFifo, checkIntegrity, checkTotalOrder } from './order.js';
import { checkSameView, checkViewAgreement, checkVirtualSynchrony } from './views.js';
import { checkLiveness } from './delivery.js';
import { checkFailureDetection, checkPrimaryComponent } from './failures.js';
import { checkStateTransfer } from './state.js';
import { checkLeave } from './leave.js';

export { Guarantee, GUARANTEE_TITLES, MAX_VIOLATIONS } from './guarantees.js';

/** Options of {@link checkHistories}. */
export interface CheckOptions {
  /**
   * Stop after this many violations. At most 40% of it (rounded up) is spent on any
   * one guarantee.
   * @default MAX_VIOLATIONS (50)
   */
  readonly maxViolations?: number;
}

/**
 * Judges the histories of one run against G1–G11 (see the module comment and docs/guarantees.md
 * for the exact definitions) and returns what is broken; an empty array means every
 * guarantee held.
 *
 * @param histories one per member incarnation, each in the order its application saw
 *   events.
 * @param facts what the run guarantees about itself: timing bounds for failure
 *   detection (G8) and whether it ended quiescent, so that liveness can be demanded
 *   (G7).
 * @param options limits; see {@link CheckOptions}.
 * @returns at most `options.maxViolations` violations, grouped by the check that found
 *   them (G1 first, G11 last; a same-id conflict of views is reported as G4 and G9).
 *
 * @example
 * ```ts
 * import { checkHistories, formatViolations } from 'cohort-vsync/check';
 * const violations = checkHistories(run.histories, { quiescent: true });
 * if (violations.length > 0) throw new Error(formatViolations(violations));
 * ```
 */
export function checkHistories(
  histories: readonly MemberHistory[],
  facts: RunFacts = {},
  options: CheckOptions = {},
): Violation[] {
  const max = options.maxViolations ?? MAX_VIOLATIONS;
  if (!(max > 0)) return [];
  const out = new Collector(max);
  // Each network's groups are judged apart; networks live at once are a split (G9).
  const separated = separateNetworks(histories);
  const run = prepare(separated.histories, facts);
  try {
    for (const v of separated.violations) out.add('G9', v.message, v.members === undefined ? {} : { members: v.members });
    checkIntegrity(run, out);
    checkTotalOrder(run, out);
    checkFifo(run, out);
    checkViewAgreement(run, out);
    checkVirtualSynchrony(run, out);
    checkSameView(run, out);
    checkLiveness(run, out);
    checkFailureDetection(run, out);
    checkPrimaryComponent(run, out);
    checkStateTransfer(run, out);
    checkLeave(run, out);
  } catch (error) {
    // Collector throws Enough to unwind every loop at once when the budget is spent.
    if (!(error instanceof Enough)) throw error;
  }
  return out.violations;
}

/**
 * Renders violations for a test failure or a terminal: one numbered line each, with
 * the guarantee's number and name; `"no violations"` for an empty list.
 */
export function formatViolations(violations: readonly Violation[]): string {
  if (violations.length === 0) return 'no violations';
  const lines = violations.map((v, i) => {
    const title = isGuarantee(v.guarantee) ? ` (${GUARANTEE_TITLES[v.guarantee]})` : '';
    return `${i + 1}. ${v.guarantee}${title}: ${v.message}`;
  });
  const head =
    violations.length >= MAX_VIOLATIONS
      ? `${violations.length} violations (the checker stops collecting at ${MAX_VIOLATIONS}; there may be more):`
      : `${violations.length} violation${violations.length === 1 ? '' : 's'}:`;
  return [head, ...lines].join('\n');
}

function isGuarantee(s: string): s is Guarantee {
  return Object.hasOwn(Guarantee, s);
}
