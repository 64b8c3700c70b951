/**
 * Virtual time for the simulator: a discrete-event queue and the per-node clocks built
 * on it.
 *
 * Intuition: nothing in a simulated run waits for real time. Every future happening (a
 * timer, a message arriving) is an event with a virtual due time in a priority queue;
 * running the simulation means repeatedly taking the earliest event, moving `now` to
 * its time and running it. A run of an hour of virtual time takes as long as its events
 * take to compute, and, because the queue's order is total and deterministic (due time,
 * then insertion order), the same inputs always give the same run.
 *
 * The queue is a binary min-heap whose entries remember their own index, so `cancel` is
 * O(log n) and removes the entry at once: protocol timers are re-armed constantly
 * (every heartbeat resets a suspicion timer), and lazy deletion would let cancelled
 * entries pile up in the heap.
 *
 * `NodeClock` is one node's view of that time. It adds what a process sees of its own
 * life: while SIGSTOP-ed (paused) nothing of it runs, so timers that come due wait and
 * fire at resume; after SIGKILL (crash) nothing of it ever runs again. Message
 * deliveries from the simulated network go through the same gate (`runOrHold`), so a
 * resumed node sees its overdue timers and its buffered messages in the order they
 * came due.
 *
 * The queue is in `event-queue.ts`, the node clocks in `node-clock.ts`; this module is
 * where both are imported from.
 */
export { DEFAULT_MAX_EVENTS, EventLimitError, Scheduler } from './event-queue.js';
export type { AsyncRunOptions, EventHandle, RunOptions, SchedulerOptions } from './event-queue.js';
export { GateOutcome, NodeClock } from './node-clock.js';
