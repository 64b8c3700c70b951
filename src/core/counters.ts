/**
 * Plain counters the core bumps as it works, for metrics: the protocol never reads
 * them. Each is a number incremented in place (no allocation, no clock: durations are
 * differences of the `now` arguments the core is given), so counting costs nothing on
 * the hot path and the core stays deterministic. The caller owns the object and hands
 * the same one to every core it makes (a new incarnation after an exclusion keeps
 * counting where the old one stopped).
 *
 * Durations of rare events (a view change's flush, a state transfer) are kept as a
 * count and the last duration: the caller compares the count after each step and
 * records the last duration once per new event (in one step there is at most one such
 * event in practice; two would both be recorded with the later duration).
 */
export class CoreCounters {
  /** NAKs sent to the sequencer for ordered entries this member lacks. */
  naksSent = 0;
  /** Entries the sequencer sent again in answer to NAKs. */
  naksAnswered = 0;
  /** Own multicasts (entries) sent again to the sequencer because no order came for them. */
  dataResent = 0;
  /** State chunks sent again after the joiner's acknowledgements stalled. */
  stateChunksResent = 0;
  /** Members this endpoint began to suspect (silence, or a refused connection). */
  suspicions = 0;
  /** View changes this member flushed for (it was wedged, then installed the new view). */
  flushes = 0;
  /** Milliseconds from wedging (the first prepare or accept of the change) to the install, of the last flush. */
  flushMsLast = 0;
  /** States this member finished providing to joiners (the joiner acknowledged all of it). */
  statesProvided = 0;
  /** Bytes of those states. */
  stateBytesProvided = 0;
  /** Milliseconds from the checkpoint to the joiner's last acknowledgement, of the last one. */
  stateProvideMsLast = 0;
  /** States this member received whole as a joiner. */
  statesReceived = 0;
  /** Bytes of those states. */
  stateBytesReceived = 0;
  /** Milliseconds from learning it awaits the state (its join is delivered) to the last chunk, of the last one. */
  stateReceiveMsLast = 0;
}
