/**
 * The real world for endpoints in a Node.js process: a monotonic clock with timers,
 * and randomness from the operating system. The simulator supplies its own instead.
 */
import { randomInt } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { Clock, Rng } from './runtime.js';

/** Milliseconds from `performance.now()`; timers are `setTimeout`s that do not keep the process alive on their own. */
export function realClock(): Clock {
  return {
    now: () => performance.now(),
    setTimer: (delayMs, fn) => {
      const t = setTimeout(fn, Math.max(0, delayMs));
      return t;
    },
    clearTimer: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
  };
}

/** Randomness from `crypto.randomInt`. */
export function cryptoRng(): Rng {
  return {
    nextU32: () => randomInt(0, 2 ** 32),
    below: (n) => (n <= 1 ? 0 : randomInt(0, n)),
  };
}
