/**
 * The discrete-event queue of the simulator: virtual time and the events due in it.
 *
 * Intuition: every future happening (a timer, a message arriving) is an event with a
 * virtual due time; running the simulation means repeatedly taking the earliest event,
 * moving `now` to its time and running it. The order is total and deterministic (due
 * time, then insertion order). The queue is a binary min-heap whose entries remember
 * their own index, so `cancel` is O(log n) and removes the entry at once: protocol
 * timers are re-armed constantly, and lazy deletion would let cancelled entries pile
 * up in the heap. (Import it from `scheduler.ts`.)
 */
import { assert, CohortError, ErrorCode, OptionError } from '../errors.js';

/** Default bound on the events one `runUntil`/`runUntilAsync` call may run. */
export const DEFAULT_MAX_EVENTS = 1_000_000;

/**
 * Thrown when one run of the scheduler executes more than `maxEvents` events: almost
 * always a runaway loop (an event that re-schedules itself with no delay, a message
 * storm), which must fail a test instead of hanging it.
 */
export class EventLimitError extends CohortError {
  /** The bound that was exceeded. */
  readonly maxEvents: number;
  /** Virtual time (ms) the run had reached when it gave up. */
  readonly atMs: number;
  /** Virtual time (ms) the run was asked to reach. */
  readonly untilMs: number;
  /** `queued`: events still in the queue when the run gave up (for the message). */
  constructor(options: { maxEvents: number; atMs: number; untilMs: number; queued: number }) {
    super(
      ErrorCode.limit,
      `scheduler ran ${options.maxEvents} events in one run and stopped at t=${options.atMs}ms ` +
        `(asked to run until t=${options.untilMs}ms, ${options.queued} events still queued): ` +
        'a runaway loop of events? If the run is legitimately that busy, raise maxEvents.',
    );
    this.name = 'EventLimitError';
    this.maxEvents = options.maxEvents;
    this.atMs = options.atMs;
    this.untilMs = options.untilMs;
  }
}

/** A queued event. Its `index` is its position in the heap, or -1 once it left it. */
class ScheduledEvent {
  constructor(
    readonly time: number,
    readonly seq: number,
    readonly fn: () => void,
    public index: number,
  ) {}
}

/** Opaque handle of a scheduled event, for {@link Scheduler.cancel}. */
export type EventHandle = ScheduledEvent;

/** Options of {@link Scheduler}. */
export interface SchedulerOptions {
  /**
   * Bound on the number of events one `runUntil`/`runUntilAsync` call may run before
   * it throws {@link EventLimitError}.
   * @default 1_000_000
   */
  readonly maxEvents?: number;
}

/** Options of one run ({@link Scheduler.runUntil}). */
export interface RunOptions {
  /**
   * Bound on the events this run may execute; overrides the scheduler's.
   * @default the scheduler's `maxEvents`
   */
  readonly maxEvents?: number;
}

/** Options of {@link Scheduler.runUntilAsync}. */
export interface AsyncRunOptions extends RunOptions {
  /**
   * Says whether asynchronous work (promise continuations) is outstanding, e.g. a count
   * of application handlers that have not settled. A truthy result (true, or a count
   * above 0) makes the run flush the microtask queue before the next event; a falsy
   * one skips the flush. Without it, the run flushes after every event.
   * @default undefined (flush after every event)
   */
  readonly pending?: () => boolean | number;
}

/** Resolves after the current microtask queue has been fully drained (see runUntilAsync). */
function flushMicrotasks(): Promise<void> {
  return new Promise<void>((resolve) => setImmediate(resolve));
}

function checkMaxEvents(maxEvents: number): number {
  if (!Number.isSafeInteger(maxEvents) || maxEvents < 1) {
    throw new OptionError(`maxEvents must be a positive integer, got ${String(maxEvents)}`);
  }
  return maxEvents;
}

/**
 * A virtual-time discrete-event queue. Events run one at a time, earliest due time
 * first; events due at the same time run in the order they were scheduled. Time is in
 * milliseconds, starts at 0 and only moves forward.
 *
 * @example
 * ```ts
 * const sched = new Scheduler();
 * sched.after(10, () => console.log('at', sched.now)); // "at 10"
 * sched.runUntil(1000);
 * ```
 */
export class Scheduler {
  private readonly heap: ScheduledEvent[] = [];
  private seq = 0;
  private time = 0;
  private running = false;
  private readonly maxEvents: number;
  private executed = 0;

  /**
   * An empty queue at virtual time 0.
   *
   * @throws OptionError when `maxEvents` is not a positive integer.
   */
  constructor(options: SchedulerOptions = {}) {
    this.maxEvents = checkMaxEvents(options.maxEvents ?? DEFAULT_MAX_EVENTS);
  }

  /** Current virtual time (ms). 0 at creation; the due time of the running event. */
  get now(): number {
    return this.time;
  }

  /** Number of events queued (cancelled ones are removed at once and not counted). */
  get size(): number {
    return this.heap.length;
  }

  /** Total number of events run by this scheduler so far. */
  get eventsRun(): number {
    return this.executed;
  }

  /** Due time (ms) of the next event, or `undefined` if the queue is empty. */
  nextTime(): number | undefined {
    return this.heap[0]?.time;
  }

  /**
   * Schedule `fn` at virtual time `timeMs`. Events due at the same time run in the
   * order they were scheduled, including ones scheduled at the current time from
   * inside a running event (they run after it, never inside it).
   *
   * @param timeMs Absolute virtual time (ms), finite and not before `now`.
   * @throws OptionError if `timeMs` is NaN, infinite or in the past.
   */
  at(timeMs: number, fn: () => void): EventHandle {
    if (!Number.isFinite(timeMs) || timeMs < this.time) {
      throw new OptionError(`cannot schedule an event at t=${String(timeMs)}ms: now is t=${this.time}ms`);
    }
    const ev = new ScheduledEvent(timeMs, this.seq++, fn, this.heap.length);
    this.heap.push(ev);
    this.siftUp(ev.index);
    return ev;
  }

  /**
   * Schedule `fn` `delayMs` after `now`. A negative delay counts as 0, as with
   * `setTimeout`, because a deadline computed as `deadline - now` may already have
   * passed.
   *
   * @param delayMs Delay (ms), finite.
   * @throws OptionError if `delayMs` is NaN or infinite.
   */
  after(delayMs: number, fn: () => void): EventHandle {
    if (!Number.isFinite(delayMs)) {
      throw new OptionError(`delayMs must be a finite number, got ${String(delayMs)}`);
    }
    return this.at(this.time + Math.max(0, delayMs), fn);
  }

  /**
   * Remove a scheduled event so it never runs. Returns false, doing nothing, if it has
   * already run, was already cancelled, or is not a handle of this scheduler.
   */
  cancel(handle: EventHandle): boolean {
    const i = handle.index;
    if (i < 0 || this.heap[i] !== handle) return false;
    this.removeAt(i);
    return true;
  }

  /**
   * Run the next event: move `now` to its due time, then call it. Returns false if the
   * queue was empty. An exception from the event propagates; the event has left the
   * queue by then, so the scheduler stays consistent.
   *
   * @throws AssertionFailure if called from inside a running event or during a run.
   */
  step(): boolean {
    assert(!this.running, 'Scheduler.step() called while the scheduler is running an event or a run');
    if (this.heap.length === 0) return false;
    this.running = true;
    try {
      this.runNext();
    } finally {
      this.running = false;
    }
    return true;
  }

  /**
   * Run every event due at or before `timeMs`, in order (including the ones those
   * events schedule within the window), then set `now` to `timeMs`. Returns the number
   * of events run.
   *
   * @param timeMs Absolute virtual time (ms), finite and not before `now`.
   * @throws EventLimitError if more than `maxEvents` events run.
   * @throws OptionError if `timeMs` is not finite or in the past.
   * @throws AssertionFailure if called from inside a running event or during a run.
   */
  runUntil(timeMs: number, options: RunOptions = {}): number {
    const limit = this.beginRun(timeMs, options);
    let count = 0;
    try {
      for (;;) {
        const next = this.heap[0];
        if (next === undefined || next.time > timeMs) break;
        if (count >= limit) throw this.limitError(limit, timeMs);
        this.runNext();
        count++;
      }
      this.time = timeMs;
    } finally {
      this.running = false;
    }
    return count;
  }

  /**
   * Like {@link runUntil}, but lets asynchronous work settle between events: before
   * the first event and after every event (so also before it returns), it awaits one
   * `setImmediate` turn, which Node runs only once the microtask queue (promise
   * continuations, `queueMicrotask`, `process.nextTick`) is empty, however deep the
   * chain of awaits in it. `await Promise.resolve()` would not do: it lets through only
   * continuations already queued, one hop deep.
   *
   * Each flush costs a turn of the real event loop (microseconds), while an event
   * costs well under one; a simulation runs millions of events, and the protocol core
   * is synchronous, so flushing after every event would dominate the run time. Pass
   * `pending` to flush only while async work is actually outstanding (for example a
   * count of application callbacks whose promises have not settled). Without it, every
   * event is followed by a flush: always correct, only slower.
   *
   * A flush does not wait for work that waits on virtual time (a sim timer): that work
   * resumes when its event runs. Work waiting on real I/O or real timers is not
   * supported in a simulation.
   *
   * @returns The number of events run.
   * @throws EventLimitError if more than `maxEvents` events run.
   * @throws OptionError if `timeMs` is not finite or in the past.
   * @throws AssertionFailure if called from inside a running event or during a run.
   */
  async runUntilAsync(timeMs: number, options: AsyncRunOptions = {}): Promise<number> {
    const limit = this.beginRun(timeMs, options);
    const pending = options.pending;
    const needsFlush = pending === undefined ? () => true : () => Boolean(pending());
    let count = 0;
    try {
      // Work started by the caller before this run (e.g. `void node.start()`) settles
      // before the first event, as it would before the first I/O callback in Node.
      if (needsFlush()) await flushMicrotasks();
      for (;;) {
        const next = this.heap[0];
        if (next === undefined || next.time > timeMs) break;
        if (count >= limit) throw this.limitError(limit, timeMs);
        this.runNext();
        count++;
        if (needsFlush()) await flushMicrotasks();
      }
      this.time = timeMs;
    } finally {
      this.running = false;
    }
    return count;
  }

  private beginRun(timeMs: number, options: RunOptions): number {
    assert(!this.running, 'Scheduler run started while the scheduler is running an event or a run');
    if (!Number.isFinite(timeMs) || timeMs < this.time) {
      throw new OptionError(`cannot run until t=${String(timeMs)}ms: now is t=${this.time}ms`);
    }
    const limit = checkMaxEvents(options.maxEvents ?? this.maxEvents);
    this.running = true;
    return limit;
  }

  private limitError(maxEvents: number, untilMs: number): EventLimitError {
    return new EventLimitError({ maxEvents, atMs: this.time, untilMs, queued: this.heap.length });
  }

  /** Pop the earliest event, advance time to it and run it. The heap must be non-empty. */
  private runNext(): void {
    const ev = this.heap[0] as ScheduledEvent;
    this.removeAt(0);
    this.time = ev.time;
    this.executed++;
    ev.fn();
  }

  // --- binary heap ordered by (time, seq) -------------------------------------------

  private less(x: ScheduledEvent, y: ScheduledEvent): boolean {
    return x.time < y.time || (x.time === y.time && x.seq < y.seq);
  }

  private removeAt(i: number): void {
    const heap = this.heap;
    const removed = heap[i] as ScheduledEvent;
    const last = heap.pop() as ScheduledEvent;
    removed.index = -1;
    if (last === removed) return;
    heap[i] = last;
    last.index = i;
    // The moved entry may belong above or below its new place.
    this.siftUp(i);
    this.siftDown(last.index);
  }

  private siftUp(i: number): void {
    const heap = this.heap;
    const ev = heap[i] as ScheduledEvent;
    while (i > 0) {
      const parentIndex = (i - 1) >> 1;
      const parent = heap[parentIndex] as ScheduledEvent;
      if (!this.less(ev, parent)) break;
      heap[i] = parent;
      parent.index = i;
      i = parentIndex;
    }
    heap[i] = ev;
    ev.index = i;
  }

  private siftDown(i: number): void {
    const heap = this.heap;
    const n = heap.length;
    const ev = heap[i] as ScheduledEvent;
    for (;;) {
      const left = 2 * i + 1;
      if (left >= n) break;
      const right = left + 1;
      let child = left;
      if (right < n && this.less(heap[right] as ScheduledEvent, heap[left] as ScheduledEvent)) child = right;
      const c = heap[child] as ScheduledEvent;
      if (!this.less(c, ev)) break;
      heap[i] = c;
      c.index = i;
      i = child;
    }
    heap[i] = ev;
    ev.index = i;
  }
}
