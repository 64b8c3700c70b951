/**
 * One simulated node's view of virtual time: what a process sees of its own life.
 * While SIGSTOP-ed (paused) nothing of it runs, so timers that come due wait and fire
 * at resume; after SIGKILL (crash) nothing of it ever runs again. Message deliveries
 * from the simulated network go through the same gate (`runOrHold`), so a resumed node
 * sees its overdue timers and its buffered messages in the order they came due.
 * (Import it from `scheduler.ts`.)
 */
import type { Clock, TimerHandle } from '../runtime.js';
import type { EventHandle, Scheduler } from './event-queue.js';

/** A node's timer. `event` is its queued scheduler event while it waits to come due. */
class NodeTimer {
  /** Fired, cancelled or dropped: it will never call `fn` (again). */
  finished = false;
  event: EventHandle | null = null;
  constructor(readonly fn: () => void) {}
}

/** Something a node must run: a timer's callback or a message delivery. */
interface HeldWork {
  readonly run: () => void;
  /** Called instead of `run` if the node crashes before the work could run. */
  readonly drop: (() => void) | undefined;
  /** The timer, when the work is a timer that came due (for counting and cancelling). */
  readonly timer: NodeTimer | undefined;
}

/** Compact the held queue once this many consumed entries sit at its front. */
const HELD_COMPACT_THRESHOLD = 1024;

/** What {@link NodeClock.runOrHold} did with the work it was given. */
export const GateOutcome = {
  /** The work ran, synchronously, inside the call. */
  ran: 'ran',
  /** The node is paused (or still catching up after a resume): the work waits its turn. */
  held: 'held',
  /** The node has crashed: the work was dropped (its `drop` callback was called). */
  dropped: 'dropped',
} as const;
/** One of the {@link GateOutcome} values. */
export type GateOutcome = (typeof GateOutcome)[keyof typeof GateOutcome];

/**
 * One simulated node's clock, bound to a {@link Scheduler}. `now()` is the scheduler's
 * virtual time; timers are scheduler events, gated by the node's life:
 *
 * - *Paused* (SIGSTOP-like): timers that come due do not fire. When the node resumes,
 *   they fire at the resume time, in the order they came due, interleaved with the
 *   messages that arrived meanwhile (see {@link runOrHold}). Virtual time keeps going
 *   during the pause, as a monotonic clock does: after resume, `now()` has jumped.
 * - *Crashed* (SIGKILL-like): every pending timer and held work is dropped and never
 *   runs; `setTimer` afterwards does nothing. A crash is final: a restarted process
 *   gets a new `NodeClock`.
 *
 * @example
 * ```ts
 * const clock = new NodeClock(sched);
 * clock.setTimer(100, onTick);
 * clock.pause();            // at t=50
 * sched.runUntil(300);      // onTick does not fire at t=100...
 * clock.resume();           // ...but at t=300, right after the resume
 * ```
 */
export class NodeClock implements Clock {
  private paused = false;
  private crashed = false;
  /** Timers waiting to come due (their scheduler event is queued). */
  private readonly armed = new Set<NodeTimer>();
  /** Work that came due while paused, oldest first, from index `heldHead`. */
  private held: HeldWork[] = [];
  private heldHead = 0;
  /** The scheduler event that releases the next held work after a resume. */
  private drain: EventHandle | null = null;

  /** A running (neither paused nor crashed) clock on `scheduler`'s virtual time. */
  constructor(private readonly scheduler: Scheduler) {}

  /** Virtual time (ms), the scheduler's. */
  now(): number {
    return this.scheduler.now;
  }

  /**
   * Call `fn` once, `delayMs` (ms, negative counts as 0) from now, or at resume if the
   * node is paused then. After a crash, returns an inert handle and never calls `fn`.
   */
  setTimer(delayMs: number, fn: () => void): TimerHandle {
    const timer = new NodeTimer(fn);
    if (this.crashed) {
      timer.finished = true;
      return timer;
    }
    timer.event = this.scheduler.after(delayMs, () => this.onDue(timer));
    this.armed.add(timer);
    return timer;
  }

  /** Cancel a timer, whether it still waits, or came due during a pause and is held. */
  clearTimer(handle: TimerHandle): void {
    if (!(handle instanceof NodeTimer) || handle.finished) return;
    handle.finished = true;
    if (handle.event !== null) {
      this.scheduler.cancel(handle.event);
      handle.event = null;
    }
    this.armed.delete(handle);
  }

  /** True while paused (and not crashed). */
  get isPaused(): boolean {
    return this.paused;
  }

  /** True once crashed. */
  get isCrashed(): boolean {
    return this.crashed;
  }

  /** Timers set and not yet fired, cancelled or dropped (held ones included). */
  get timerCount(): number {
    let heldTimers = 0;
    for (let i = this.heldHead; i < this.held.length; i++) {
      const timer = (this.held[i] as HeldWork).timer;
      if (timer !== undefined && !timer.finished) heldTimers++;
    }
    return this.armed.size + heldTimers;
  }

  /** Work (timers and deliveries) waiting for the node to resume or catch up. */
  get heldCount(): number {
    return this.held.length - this.heldHead;
  }

  /**
   * Stop the node's world: from now on, nothing of it runs until {@link resume}.
   * No effect if already paused or crashed.
   */
  pause(): void {
    if (this.crashed || this.paused) return;
    this.paused = true;
  }

  /**
   * Let the node run again. What came due during the pause is released at the current
   * time, one scheduler event per item (so asynchronous work can settle between them),
   * in the order it came due; work arriving meanwhile queues behind it. No effect
   * unless paused.
   */
  resume(): void {
    if (this.crashed || !this.paused) return;
    this.paused = false;
    this.scheduleDrain();
  }

  /**
   * Kill the node: every armed timer is cancelled, held work is dropped (each item's
   * `drop` is called), and later timers and work are refused. Final. No effect if
   * already crashed.
   */
  crash(): void {
    if (this.crashed) return;
    this.crashed = true;
    this.paused = false;
    for (const timer of this.armed) {
      timer.finished = true;
      if (timer.event !== null) this.scheduler.cancel(timer.event);
      timer.event = null;
    }
    this.armed.clear();
    if (this.drain !== null) this.scheduler.cancel(this.drain);
    this.drain = null;
    const dropped = this.held.slice(this.heldHead);
    this.held = [];
    this.heldHead = 0;
    for (const work of dropped) {
      if (work.timer !== undefined) work.timer.finished = true;
      work.drop?.();
    }
  }

  /**
   * Run `run` now if the node is running; hold it until resume if the node is paused
   * (or still releasing what it held, so order is kept); drop it if crashed, calling
   * `drop`. This is how the simulated network delivers to a node, so that held
   * messages and held timers come out in one queue, in the order they came due.
   */
  runOrHold(run: () => void, drop?: () => void): GateOutcome {
    return this.gate({ run, drop, timer: undefined });
  }

  private gate(work: HeldWork): GateOutcome {
    if (this.crashed) {
      work.drop?.();
      return GateOutcome.dropped;
    }
    if (this.paused || this.heldHead < this.held.length) {
      this.held.push(work);
      return GateOutcome.held;
    }
    work.run();
    return GateOutcome.ran;
  }

  private onDue(timer: NodeTimer): void {
    timer.event = null;
    this.armed.delete(timer);
    if (timer.finished) return;
    this.gate({
      run: () => {
        // A held timer may have been cleared while it waited for the resume.
        if (timer.finished) return;
        timer.finished = true;
        timer.fn();
      },
      drop: undefined,
      timer,
    });
  }

  private scheduleDrain(): void {
    if (this.drain !== null || this.heldHead >= this.held.length) return;
    this.drain = this.scheduler.at(this.scheduler.now, () => this.drainOne());
  }

  /** Release the oldest held work, then schedule the next release behind anything already due now. */
  private drainOne(): void {
    this.drain = null;
    if (this.crashed || this.paused) return;
    const work = this.held[this.heldHead] as HeldWork;
    this.heldHead++;
    if (this.heldHead === this.held.length) {
      this.held = [];
      this.heldHead = 0;
    } else if (this.heldHead >= HELD_COMPACT_THRESHOLD && this.heldHead * 2 >= this.held.length) {
      // Keep the array from growing without bound while a long backlog drains.
      this.held = this.held.slice(this.heldHead);
      this.heldHead = 0;
    }
    // Schedule the next release before running, so an exception in `run` cannot strand
    // the rest of the queue.
    this.scheduleDrain();
    work.run();
  }
}
