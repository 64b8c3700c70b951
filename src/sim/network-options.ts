/**
 * The options of the simulated network: its fault settings, their defaults and their
 * validation, the codec and tracing hooks, and the reasons (with their counters) for
 * which it loses a message copy.
 *
 * Intuition: the settings are plain data, checked all at once, so that
 * `SimNetwork.configure` is all or nothing; the message path (`network.ts`) only
 * reads them when it draws a message's fate.
 */
import type { Message } from '../core/types.js';
import { OptionError } from '../errors.js';
import type { SeededRng } from './rng.js';
import type { Scheduler } from './scheduler.js';

/** Why the network lost a message copy. Each has its own counter in {@link NetworkStats}. */
export const DropReason = {
  /** Lost at random, by `dropProbability`. */
  random: 'random',
  /** Sender and destination were on different sides of a partition (at send or arrival). */
  partition: 'partition',
  /** The directed link from sender to destination was cut (`cutLink`), at send or arrival. */
  cut: 'cut',
  /** The destination was crashed when the message arrived, or crashed while it was held. */
  crashed: 'crashed',
  /** No node was ever added at the destination address. */
  noNode: 'no-node',
  /** The destination's transport was closed. */
  closed: 'closed',
  /** The destination's transport had no handler installed (`onMessage` never called). */
  noHandler: 'no-handler',
  /** The destination was paused and already held `heldMessagesMax` messages. */
  bufferFull: 'buffer-full',
  /** The codec could not decode the bytes (only with a `codec`). */
  decode: 'decode',
  /** The sender had crashed: a crashed node sends nothing (only stale async code tries). */
  senderCrashed: 'sender-crashed',
  /** A test's filter (`dropWhen`) chose to lose it: one message at the worst moment. */
  filtered: 'filtered',
} as const;
/** One of the {@link DropReason} values. */
export type DropReason = (typeof DropReason)[keyof typeof DropReason];

/** Every drop reason, in declaration order (the order of the counters). */
export const DROP_REASONS = Object.values(DropReason);

/** The fault settings; all can be changed at any time with {@link SimNetwork.configure}. */
export interface NetworkFaults {
  /**
   * Probability (0..1) that a message between two different nodes is lost.
   * @default 0
   */
  readonly dropProbability: number;
  /**
   * Probability (0..1) that a message that was not lost is delivered twice; the copy
   * gets its own, independently drawn delay.
   * @default 0
   */
  readonly duplicateProbability: number;
  /**
   * Smallest one-way delay (ms, integer >= 0). Every message, including one to the
   * sender itself, takes a delay drawn uniformly from [delayMinMs, delayMaxMs].
   * @default 1
   */
  readonly delayMinMs: number;
  /**
   * Largest one-way delay (ms, integer >= delayMinMs), before any reorder delay.
   * @default 10
   */
  readonly delayMaxMs: number;
  /**
   * Probability (0..1) that a message between two different nodes gets an extra delay
   * drawn uniformly from [1, reorderDelayMaxMs], so that later messages overtake it.
   * @default 0
   */
  readonly reorderProbability: number;
  /**
   * Largest extra delay (ms, integer >= 1) of a reordered message.
   * @default 50
   */
  readonly reorderDelayMaxMs: number;
}

/** The fault settings of a new network: a perfect network with 1–10 ms delays. */
export const DEFAULT_FAULTS: NetworkFaults = Object.freeze({
  dropProbability: 0,
  duplicateProbability: 0,
  delayMinMs: 1,
  delayMaxMs: 10,
  reorderProbability: 0,
  reorderDelayMaxMs: 50,
});

/** A snapshot of the network's counters. Every copy of a message is accounted for once: `sent + duplicated = delivered + droppedTotal + inFlight`. */
export interface NetworkStats {
  /** `send` calls that reached the network (a closed transport's sends do not). */
  readonly sent: number;
  /** Handler calls (a duplicated message counts twice). */
  readonly delivered: number;
  /** Extra copies created by `duplicateProbability`. */
  readonly duplicated: number;
  /** Copies lost, by reason. */
  readonly dropped: Readonly<Record<DropReason, number>>;
  /** Sum of `dropped`. */
  readonly droppedTotal: number;
  /** Copies not yet delivered or dropped: travelling, or held for a paused node. */
  readonly inFlight: number;
}

/** The names of the fault settings, to refuse unknown ones. */
export const FAULT_KEYS: ReadonlySet<string> = new Set(Object.keys(DEFAULT_FAULTS));

/** Throws an `OptionError` naming the first bad setting. */
export function checkFaults(f: NetworkFaults): void {
  for (const key of ['dropProbability', 'duplicateProbability', 'reorderProbability'] as const) {
    const p = f[key];
    if (typeof p !== 'number' || !(p >= 0 && p <= 1)) {
      throw new OptionError(`${key} must be a probability in [0, 1], got ${String(p)}`);
    }
  }
  if (!Number.isSafeInteger(f.delayMinMs) || f.delayMinMs < 0) {
    throw new OptionError(`delayMinMs must be an integer >= 0, got ${String(f.delayMinMs)}`);
  }
  if (!Number.isSafeInteger(f.delayMaxMs) || f.delayMaxMs < f.delayMinMs) {
    throw new OptionError(
      `delayMaxMs must be an integer >= delayMinMs (${f.delayMinMs}), got ${String(f.delayMaxMs)}`,
    );
  }
  if (!Number.isSafeInteger(f.reorderDelayMaxMs) || f.reorderDelayMaxMs < 1) {
    throw new OptionError(`reorderDelayMaxMs must be an integer >= 1, got ${String(f.reorderDelayMaxMs)}`);
  }
}

/** `from`'s settings, each missing one taken from `base`. */
export function pickFaults(from: Partial<NetworkFaults>, base: NetworkFaults): NetworkFaults {
  return {
    dropProbability: from.dropProbability ?? base.dropProbability,
    duplicateProbability: from.duplicateProbability ?? base.duplicateProbability,
    delayMinMs: from.delayMinMs ?? base.delayMinMs,
    delayMaxMs: from.delayMaxMs ?? base.delayMaxMs,
    reorderProbability: from.reorderProbability ?? base.reorderProbability,
    reorderDelayMaxMs: from.reorderDelayMaxMs ?? base.reorderDelayMaxMs,
  };
}

/** Encodes messages at send and decodes them at delivery, to exercise the real wire codec. */
export interface SimCodec {
  /** May throw for a message that cannot be encoded: that is a bug of the sender and propagates out of `send`. */
  encode(m: Message): Uint8Array;
  /** May throw for bad bytes: the network counts a `decode` drop and goes on. */
  decode(b: Uint8Array): Message;
}

/** Default bound on the messages a paused node holds (its "socket buffer"). */
export const DEFAULT_HELD_MESSAGES_MAX = 10_000;

/** Options of {@link SimNetwork}. Fault settings may be given here too. */
export interface SimNetworkOptions extends Partial<NetworkFaults> {
  /** The virtual time the network runs on; shared with the nodes' clocks. */
  readonly scheduler: Scheduler;
  /** Where every fault decision is drawn from. Give the network its own stream (`rng.fork()`). */
  readonly rng: SeededRng;
  /**
   * When given, every message is encoded at send and decoded at delivery.
   * @default undefined (messages are passed by reference; receivers must not mutate them)
   */
  readonly codec?: SimCodec;
  /**
   * Receives one readable line per network happening (send, duplicate, hold, deliver,
   * drop, and node and partition changes), prefixed with the virtual time, for
   * replaying a failing seed readably. Can be set later through `network.onTrace`.
   * @default undefined (no tracing, and no cost)
   */
  readonly onTrace?: (line: string) => void;
  /**
   * Bound on the messages held for one paused node; further arrivals are dropped with
   * reason `buffer-full`, as a full kernel socket buffer drops datagrams.
   * @default 10_000
   */
  readonly heldMessagesMax?: number;
  /**
   * Sees every message a node's transport hands to the network, in order, before its
   * fate is drawn (lost and crashed senders' messages too), with its encoding when
   * there is a codec. For golden traces: a digest of everything the network carried.
   * @default undefined
   */
  readonly onSend?: (from: string, to: string, msg: Message, bytes: Uint8Array | null) => void;
}

/** The names of {@link SimNetworkOptions}, to refuse unknown ones. */
export const OPTION_KEYS: ReadonlySet<string> = new Set([
  ...Object.keys(DEFAULT_FAULTS),
  'scheduler',
  'rng',
  'codec',
  'onTrace',
  'heldMessagesMax',
  'onSend',
]);
