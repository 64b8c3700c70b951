/**
 * Protocol timing and limits, as one named profile with a reason per value (the way
 * memberlist documents `DefaultLANConfig`). Every queue and retry in the core is
 * bounded by one of these.
 */

/**
 * The protocol core's timing and limits. Applications set most of them through
 * `EndpointOptions` (which validates them); this is the full, resolved set, exported
 * so tools can show the defaults. Durations are in milliseconds.
 */
export interface CoreConfig {
  /**
   * How often a member tells every other member it is alive (and piggybacks what it
   * holds). Milliseconds.
   * @default 100
   */
  readonly heartbeatMs: number;
  /**
   * Silence after which a peer is suspected. A suspicion only starts the agreement
   * protocol; the view change itself is agreed (G8). Milliseconds.
   * @default 1000
   */
  readonly suspectTimeoutMs: number;
  /**
   * How long a proposer waits for promises from members it does not suspect before
   * going on with a majority, and how long it waits for acceptance. Milliseconds.
   * @default 500
   */
  readonly flushTimeoutMs: number;
  /**
   * Interval at which lost messages are asked for again (NAK), unordered multicasts
   * resent to the sequencer, commits and state chunks retransmitted. Milliseconds.
   * @default 100
   */
  readonly retransmitMs: number;
  /**
   * How long the coordinator gathers join requests before proposing a view, so that
   * members started together join in one view change. Milliseconds.
   * @default 30
   */
  readonly joinBatchMs: number;
  /**
   * A gap this long between two consecutive inputs means this process itself was
   * paused (SIGSTOP, a long GC, a VM freeze): it then gives every peer a fresh
   * timeout instead of blaming them for the silence it caused. Milliseconds.
   * @default 300
   */
  readonly pauseThresholdMs: number;
  /**
   * Suspect a member at once when its address refuses a connection: its host answered
   * that no process listens there, so the member crashed (a paused process, a dead host
   * or a partition refuse nothing and wait for `suspectTimeoutMs`). A crash then costs
   * a view change, not a timeout.
   * @default true
   */
  readonly suspectRefused: boolean;
  /**
   * How long a member may hold back its acknowledgement of what it received when
   * nobody waits for it (it then rides on a later ack or heartbeat). The sequencer's
   * delivery waits for a majority, safe messages for everyone and the order window for
   * stability; those acks go at once. The rest only free memory, and sending each at
   * once cost the sequencer a wake-up per member and message. 0: every ack at once.
   * Milliseconds.
   * @default 20
   */
  readonly ackDelayMs: number;
  /**
   * Own entries in flight (sent, not yet delivered locally); more wait in a queue. A
   * bundle of messages is one entry.
   * @default 1024
   */
  readonly sendWindowMax: number;
  /**
   * Most payload bytes in one bundle: multicasts queued behind each other to the same
   * group with the same mode leave as one entry of the order, up to this size (a
   * larger message goes alone). Bundling happens only when messages are waiting, so
   * it costs a lone message no time.
   * @default 64 KiB
   */
  readonly bundleBytesMax: number;
  /**
   * Payload bytes of own multicasts in flight; more wait in the queue (one message is
   * always let through, however large). With `sendWindowMax` and the order window this
   * bounds what a stopped or slow peer can make any member hold: at most
   * `members × sendWindowBytesMax + orderWindowBytesMax` of payload, plus the
   * transport's per-peer queue.
   * @default 16 MiB
   */
  readonly sendWindowBytesMax: number;
  /**
   * Ordered but not yet stable entries the sequencer allows; it stops ordering
   * beyond this, which bounds what every member must keep for a flush.
   * @default 8192
   */
  readonly orderWindowMax: number;
  /**
   * Unstable payload bytes the sequencer allows (with `orderWindowMax`).
   * @default 16 MiB
   */
  readonly orderWindowBytesMax: number;
  /**
   * How far behind a member may stay while the order window is full — that is, while
   * it is the reason every sender waits. The sequencer notes what a majority holds when
   * the member starts to lag; a member that has not caught up to that point within
   * this time is excluded like a failed one (it rejoins with state, as after a pause).
   * Heartbeats alone do not save a peer that cannot keep up. Milliseconds.
   * @default 5000 (5 × the suspicion timeout)
   */
  readonly lagTimeoutMs: number;
  /**
   * Largest number of global sequence numbers one NAK asks for.
   * @default 512
   */
  readonly nakBatchMax: number;
  /**
   * Size of one chunk of a state transfer, in bytes.
   * @default 65536
   */
  readonly stateChunkBytes: number;
  /**
   * Chunks of a state transfer in flight before the provider waits for an ack.
   * @default 8
   */
  readonly stateWindowChunks: number;
  /**
   * Largest state a joiner accepts, in bytes.
   * @default 1 GiB
   */
  readonly stateBytesMax: number;
  /**
   * Largest application payload of one multicast, in bytes.
   * @default 8 MiB
   */
  readonly messageBytesMax: number;
  /**
   * Longest group name and member id, in UTF-8 bytes.
   * @default 256
   */
  readonly nameBytesMax: number;
  /**
   * Most members of one network view; the coordinator ignores join requests beyond.
   * @default 256
   */
  readonly membersMax: number;
  /**
   * Join requests the coordinator gathers for the next view change; more are ignored
   * (their joiners ask again).
   * @default 64
   */
  readonly pendingJoinsMax: number;
  /**
   * Groups one endpoint may be a member of at once; `join` beyond throws `ERR_LIMIT`.
   * @default 1024
   */
  readonly groupsPerEndpointMax: number;
}

/** The default profile: a LAN or one machine, failures noticed within about a second. */
export const defaultCoreConfig: CoreConfig = {
  heartbeatMs: 100,
  suspectTimeoutMs: 1000,
  flushTimeoutMs: 500,
  retransmitMs: 100,
  joinBatchMs: 30,
  pauseThresholdMs: 300,
  suspectRefused: true,
  ackDelayMs: 20,
  sendWindowMax: 1024,
  bundleBytesMax: 64 * 1024,
  sendWindowBytesMax: 16 * 1024 * 1024,
  orderWindowMax: 8192,
  orderWindowBytesMax: 16 * 1024 * 1024,
  lagTimeoutMs: 5000,
  nakBatchMax: 512,
  stateChunkBytes: 64 * 1024,
  stateWindowChunks: 8,
  stateBytesMax: 1024 * 1024 * 1024,
  messageBytesMax: 8 * 1024 * 1024,
  nameBytesMax: 256,
  membersMax: 256,
  pendingJoinsMax: 64,
  groupsPerEndpointMax: 1024,
};
