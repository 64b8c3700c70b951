/**
 * The world as the endpoint sees it: time and timers. Injected, never global, so that
 * the simulator can run many endpoints on one virtual clock and replay a run from
 * its seed.
 */

/** Opaque timer handle. */
export type TimerHandle = unknown;

/**
 * Time and timers, injected into an endpoint: the monotonic clock of the process
 * (`runtime-node`) or the simulator's virtual one.
 */
export interface Clock {
  /** Milliseconds on a monotonic clock (virtual in the simulator). */
  now(): number;
  /** Call `fn` once, `delayMs` from now (or later, if the process is paused). */
  setTimer(delayMs: number, fn: () => void): TimerHandle;
  /** Cancel a timer that has not fired yet; a handle that already fired is ignored. */
  clearTimer(handle: TimerHandle): void;
}

/** A seeded source of randomness with an integer API. */
export interface Rng {
  /** A uniformly distributed integer in [0, 2^32). */
  nextU32(): number;
  /** A uniformly distributed integer in [0, n), for 1 <= n <= 2^32. */
  below(n: number): number;
}
