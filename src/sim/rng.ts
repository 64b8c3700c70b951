/**
 * The simulator's only source of randomness: a small, fast, seeded PRNG.
 *
 * Intuition: a simulation run must be a pure function of its seed, so that a failing
 * run can be replayed exactly. Every random choice (a message's delay, whether it is
 * dropped, which node crashes next) is therefore drawn from a `SeededRng`, never from
 * `Math` or the wall clock.
 *
 * The generator is sfc32 (Chris Doty-Humphrey's "small fast chaotic" PRNG, from
 * PractRand): 128 bits of state, 32-bit output, passes BigCrush and PractRand to
 * many terabytes, and needs only 32-bit adds, xors and shifts, which V8 runs as small
 * integers without allocating. Its four state words are filled by splitmix32 from the
 * seed, because sfc32 seeded with small, similar integers (seeds 1, 2, 3...) would
 * otherwise start in correlated states; the first outputs are then discarded to mix
 * further.
 *
 * `fork()` derives a child generator from two draws of the parent, so a component can
 * own its own stream: the draws it makes do not shift the parent's stream beyond the
 * fork itself, which keeps runs comparable when one component's behaviour changes.
 */
import type { Rng } from '../runtime.js';
import { OptionError } from '../errors.js';

/** 2^32, the size of the output range of `nextU32()`. */
const TWO_POW_32 = 4294967296;

/** Outputs thrown away after seeding, so that the state is well mixed (as PractRand's sfc32 seeding does). */
const WARMUP_DRAWS = 12;

/** One step of splitmix32: returns the new state and an output well mixed from it. */
function splitmix32(state: number): { state: number; out: number } {
  const next = (state + 0x9e3779b9) | 0;
  let z = next;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  z ^= z >>> 16;
  return { state: next, out: z >>> 0 };
}

/**
 * A deterministic pseudo-random generator (sfc32 seeded by splitmix32) implementing
 * the injected {@link Rng} interface, plus the helpers the simulator needs.
 *
 * Not cryptographic. Two instances built from the same seed produce the same stream on
 * every platform, forever: changing the algorithm would break the replay of recorded
 * seeds, so do not.
 *
 * @example
 * ```ts
 * const rng = new SeededRng(42);
 * const delayMs = rng.between(1, 10);
 * if (rng.chance(0.01)) dropIt();
 * ```
 */
export class SeededRng implements Rng {
  /** The seed this generator was built from (after a `fork()`, the derived one). */
  readonly seed: number;
  private a = 0;
  private b = 0;
  private c = 0;
  private d = 0;

  /**
   * @param seed Any safe integer (negative ones included). Both halves of a seed
   *   above 2^32 take part in the state, so large seeds do not collide with small ones.
   * @throws OptionError if `seed` is not a safe integer.
   */
  constructor(seed: number) {
    if (!Number.isSafeInteger(seed)) {
      throw new OptionError(`seed must be a safe integer, got ${String(seed)}`);
    }
    this.seed = seed;
    // Split the seed into two 32-bit words so that every bit of a 53-bit seed counts.
    const lo = seed >>> 0;
    const hi = Math.floor(seed / TWO_POW_32) >>> 0;
    this.init(lo, hi);
  }

  /** Fill the state from two 32-bit words through splitmix32, then warm up. */
  private init(lo: number, hi: number): void {
    let s = splitmix32(lo ^ Math.imul(hi, 0x2545f491));
    this.a = s.out;
    s = splitmix32(s.state ^ hi);
    this.b = s.out;
    s = splitmix32(s.state);
    this.c = s.out;
    s = splitmix32(s.state);
    this.d = s.out;
    for (let i = 0; i < WARMUP_DRAWS; i++) this.nextU32();
  }

  /** A uniformly distributed integer in [0, 2^32). Advances the stream by one draw. */
  nextU32(): number {
    // sfc32: a, b, c are the chaotic part, d a counter that guarantees a period of at
    // least 2^32. `| 0` keeps every intermediate a 32-bit integer.
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }

  /**
   * A uniformly distributed integer in [0, n), without modulo bias: draws that fall in
   * the incomplete last copy of [0, n) inside [0, 2^32) are rejected and redrawn (fewer
   * than one redraw on average for any `n`).
   *
   * @param n An integer with 1 <= n <= 2^32.
   * @throws OptionError if `n` is out of range or not an integer.
   */
  below(n: number): number {
    if (!Number.isInteger(n) || n < 1 || n > TWO_POW_32) {
      throw new OptionError(`below(n) needs an integer 1 <= n <= 2^32, got ${String(n)}`);
    }
    // The largest multiple of n that fits in 2^32: values at or above it are biased.
    const limit = TWO_POW_32 - (TWO_POW_32 % n);
    for (;;) {
      const x = this.nextU32();
      if (x < limit) return x % n;
    }
  }

  /**
   * A uniformly distributed float in [0, 1) with 53 random bits. Two draws.
   */
  nextFloat(): number {
    const hi = this.nextU32() >>> 5; // 27 bits
    const lo = this.nextU32() >>> 6; // 26 bits
    return (hi * 67108864 + lo) / 9007199254740992;
  }

  /**
   * True with probability `p`. Always exactly one draw, whatever `p` is (0 and 1
   * included), so changing a probability changes outcomes but never shifts the rest of
   * the stream out of step.
   *
   * @param p A probability in [0, 1]; resolution 2^-32.
   * @throws OptionError if `p` is NaN or outside [0, 1].
   */
  chance(p: number): boolean {
    if (!(p >= 0 && p <= 1)) {
      throw new OptionError(`chance(p) needs 0 <= p <= 1, got ${String(p)}`);
    }
    return this.nextU32() < p * TWO_POW_32;
  }

  /**
   * A uniformly distributed integer in [lo, hi], both ends included.
   *
   * @param lo Smallest result, a safe integer.
   * @param hi Largest result, a safe integer with `lo <= hi` and `hi - lo < 2^32`.
   * @throws OptionError if the bounds are not integers, reversed, or too far apart.
   */
  between(lo: number, hi: number): number {
    if (!Number.isSafeInteger(lo) || !Number.isSafeInteger(hi) || lo > hi) {
      throw new OptionError(`between(lo, hi) needs integers lo <= hi, got ${String(lo)}, ${String(hi)}`);
    }
    return lo + this.below(hi - lo + 1);
  }

  /**
   * One element of `xs`, each with the same probability.
   *
   * @throws OptionError if `xs` is empty.
   */
  pick<T>(xs: readonly T[]): T {
    if (xs.length === 0) throw new OptionError('pick(xs) needs a non-empty array');
    return xs[this.below(xs.length)] as T;
  }

  /**
   * A uniformly shuffled copy of `xs` (Fisher–Yates); `xs` itself is not changed.
   * Draws `xs.length - 1` values.
   */
  shuffle<T>(xs: readonly T[]): T[] {
    const out = xs.slice();
    for (let i = out.length - 1; i > 0; i--) {
      const j = this.below(i + 1);
      const tmp = out[i] as T;
      out[i] = out[j] as T;
      out[j] = tmp;
    }
    return out;
  }

  /**
   * A new generator with its own stream, derived deterministically from this one:
   * takes exactly two draws from this generator and seeds the child from them. The
   * child's stream is statistically independent of the parent's continuation, and the
   * same parent state always forks the same child.
   */
  fork(): SeededRng {
    const lo = this.nextU32();
    const hi = this.nextU32();
    // A 53-bit seed made of the two draws, so the child reports a seed that rebuilds it.
    const seed = (hi & 0x1fffff) * TWO_POW_32 + lo;
    return new SeededRng(seed);
  }
}
