/**
 * The endpoint's one timer: it fires when the core asks to be ticked (`nextWakeAt`),
 * and is moved earlier when a step leaves the core wanting a tick sooner.
 *
 * Intuition: the core keeps its timeouts as deadlines in its state and is polled by
 * `tick(now)`; the endpoint owes it a tick no later than `nextWakeAt()`. One timer
 * suffices: armed after each tick for the next wake-up, and re-armed only when a step
 * brings the wake-up forward (a deferred acknowledgement), never on every step.
 */
import type { Clock } from '../runtime.js';

/** What the ticker drives. */
export interface TickerHost {
  /** When the core wants its next tick (clock ms). */
  nextWakeAt(): number;
  /** Whether the endpoint is closed (no timer then). */
  isClosed(): boolean;
  /** Tick the core (and drive its output). */
  tick(): void;
  /** After a tick that left the endpoint open, before the next timer is armed. */
  afterTick(): void;
}

/** The endpoint's timer (see the module's comment). */
export class Ticker {
  private timer: unknown = null;
  /** When `timer` fires (clock ms). */
  private timerDue = Infinity;
  private readonly clock: Clock;
  private readonly host: TickerHost;

  /** A ticker on `clock` for `host`; nothing is armed before `schedule`. */
  constructor(clock: Clock, host: TickerHost) {
    this.clock = clock;
    this.host = host;
  }

  /** Arm the timer for the core's next wake-up (at least 1 ms away). */
  schedule(): void {
    if (this.host.isClosed()) return;
    const now = this.clock.now();
    const delay = Math.max(1, this.host.nextWakeAt() - now);
    this.timerDue = now + delay;
    this.timer = this.clock.setTimer(delay, () => {
      this.timer = null;
      this.timerDue = Infinity;
      if (this.host.isClosed()) return;
      this.host.tick();
      if (this.host.isClosed()) return;
      this.host.afterTick();
      this.schedule();
    });
  }

  /** The core wants a tick sooner than the timer (a deferred ack): move the timer. */
  wakeBy(wake: number): void {
    if (this.timer !== null && wake < this.timerDue && Math.max(wake, this.clock.now() + 1) < this.timerDue) {
      this.clock.clearTimer(this.timer);
      this.timer = null;
      this.schedule();
    }
  }

  /** Disarm the timer for good (the endpoint closed). */
  stop(): void {
    if (this.timer !== null) this.clock.clearTimer(this.timer);
  }
}
