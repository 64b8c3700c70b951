/**
 * A queue's fill against its bound, in events and in bytes: `over` while either is at
 * or above its bound; `full`, with hysteresis, from then until both have drained to
 * half of it — so that a consumer taking one event at a time does not switch flow
 * control on and off at every event.
 *
 * The endpoint keeps one per group (undelivered events, `deliveryQueueMax`) and one for
 * its multicasts not yet delivered here (`pendingMulticastsMax`).
 */
export class Fill {
  /** Events in the queue. */
  events = 0;
  /** Their bytes. */
  bytes = 0;
  /** Reached the bound, and not yet drained to half of it. */
  full = false;
  /** At or above the bound now. */
  over = false;

  constructor(
    /** The bound in events. */
    readonly eventsMax: number,
    /** The bound in bytes. */
    readonly bytesMax: number,
  ) {}

  /** One more event of `bytes`. */
  add(bytes: number): void {
    this.events++;
    this.bytes += bytes;
    if (this.events >= this.eventsMax || this.bytes >= this.bytesMax) this.over = this.full = true;
  }

  /** One event of `bytes` less. */
  take(bytes: number): void {
    this.events--;
    this.bytes -= bytes;
    this.over = this.events >= this.eventsMax || this.bytes >= this.bytesMax;
    if (this.full && this.events * 2 <= this.eventsMax && this.bytes * 2 <= this.bytesMax) this.full = false;
  }

  /** Empty it (its events were dropped). */
  clear(): void {
    this.events = 0;
    this.bytes = 0;
    this.full = false;
    this.over = false;
  }
}
