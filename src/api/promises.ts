/**
 * Promises the API hands out: a `Deferred` (a promise with its resolve and reject, for
 * calls settled later by the delivery order) and `settleWithin` (a promise bounded by
 * a timeout and an `AbortSignal`).
 *
 * Intuition: every API call that waits (start, join, multicast, leave, stop) waits for
 * an event of the protocol, not for a timer; the timer and the signal only decide when
 * the caller stops waiting. Both are taken off once the promise settles, so nothing
 * keeps the process alive or fires late. The timer runs on the endpoint's clock, so in
 * the simulator it is virtual time.
 */
import type { Clock, TimerHandle } from '../runtime.js';

/** A promise with its resolve and reject, settled by whoever holds it. */
export interface Deferred<T> {
  /** Settles when `resolve` or `reject` is called; its rejections are never unhandled. */
  readonly promise: Promise<T>;
  /** Fulfil `promise` with `value` (no effect once settled). */
  resolve(value: T): void;
  /** Reject `promise` with `err` (no effect once settled). */
  reject(err: unknown): void;
}

/** A fresh `Deferred`; a rejection nobody waits for does not crash the process. */
export function deferred<T>(): Deferred<T> {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  // Rejections nobody waits for must not crash the process.
  promise.catch(() => undefined);
  return { promise, resolve, reject };
}

/**
 * `promise`, unless `timeoutMs` (0: none) passes or `signal` aborts first: then the
 * error `onGiveUp(aborted)` makes (it may act, e.g. undo). Timer and listener go once
 * settled.
 */
export function settleWithin<T>(clock: Clock, promise: Promise<T>, timeoutMs: number, signal: AbortSignal | undefined, onGiveUp: (aborted: boolean) => Error): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let done = false;
    let timer: TimerHandle | null = null;
    const finish = (): boolean => {
      if (done) return false;
      done = true;
      if (timer !== null) clock.clearTimer(timer);
      signal?.removeEventListener('abort', onAbort);
      return true;
    };
    const giveUp = (aborted: boolean): void => {
      if (finish()) reject(onGiveUp(aborted));
    };
    const onAbort = (): void => giveUp(true);
    if (timeoutMs > 0) timer = clock.setTimer(timeoutMs, () => giveUp(false));
    if (signal !== undefined) {
      if (signal.aborted) return giveUp(true);
      signal.addEventListener('abort', onAbort, { once: true });
    }
    promise.then(
      (v) => {
        if (finish()) resolve(v);
      },
      (e: unknown) => {
        if (finish()) reject(e);
      },
    );
  });
}
