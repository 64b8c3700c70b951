/**
 * Quorum arithmetic shared by the parts of the core.
 *
 * Intuition: two majorities of the same set always share a member, which is what lets
 * a later decision see an earlier one.
 */

/** The smallest number of members of a set of `n` that any two such numbers must share. */
export function majority(n: number): number {
  return Math.floor(n / 2) + 1;
}
