/**
 * Quorum arithmetic, pure: the numbers the view change and the sequencer's stability
 * are made of (raft keeps the same in its `quorum/` package).
 *
 * Intuition: two majorities of the same set always share a member, which is what lets
 * a later decision see an earlier one. The sequencer's *committed* prefix is what a
 * majority holds — the majority-th largest of the members' held prefixes, raft's
 * `CommittedIndex` — and *stable* is what every member holds, the smallest.
 */

/** The smallest number of members of a set of `n` that any two such numbers must share. */
export function majority(n: number): number {
  return Math.floor(n / 2) + 1;
}

/**
 * How many members of a view of `n` must promise (and accept) to change it, when
 * `gone` of them are known to be gone for good (their process restarted): a majority,
 * or, when the gone are fewer than a majority, every member that is not gone. Paxos
 * needs the promisers to meet every quorum that may have accepted a value; such a
 * quorum is a majority, and fewer than a majority of gone members cannot make one
 * alone, so it holds a member that is not gone — and all of those promise.
 */
export function quorumSize(n: number, gone: number): number {
  const need = majority(n);
  return gone > 0 && gone < need ? Math.min(need, n - gone) : need;
}

/**
 * Sort `xs` largest first, in place. Views are small: an insertion sort up to 16
 * allocates nothing (it runs at every ack); larger arrays use the built-in sort.
 */
export function sortDescending(xs: number[]): void {
  const n = xs.length;
  if (n > 16) {
    xs.sort((a, b) => b - a);
    return;
  }
  for (let i = 1; i < n; i++) {
    const h = xs[i]!;
    let j = i;
    for (; j > 0 && xs[j - 1]! < h; j--) xs[j] = xs[j - 1]!;
    xs[j] = h;
  }
}

/** What every member holds, from held prefixes sorted largest first; `none` when there are none. */
export function heldByAll(sorted: readonly number[], none: number): number {
  return sorted.length > 0 ? sorted[sorted.length - 1]! : none;
}

/** What a majority holds, from held prefixes sorted largest first; `none` when there are none. */
export function heldByMajority(sorted: readonly number[], none: number): number {
  return sorted.length > 0 ? sorted[majority(sorted.length) - 1]! : none;
}
