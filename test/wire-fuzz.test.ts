/**
 * Property tests of the wire codec with fast-check: arbitrary messages round-trip
 * exactly, and arbitrary or mutated bytes either decode or throw `WireError`, never
 * anything else, quickly. Because the format is canonical, any frame that decodes
 * re-encodes to exactly the same bytes.
 *
 * Set COHORT_SEED to replay a run; a failure prints the seed and path to pass back.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';

import type {
  AcceptedMsg,
  AcceptMsg,
  AckMsg,
  AwaitingState,
  Ballot,
  CommitMsg,
  DataMsg,
  EndpointView,
  EntryKind,
  GroupRecord,
  HeartbeatMsg,
  InstalledMsg,
  JoinReqMsg,
  LeaveReqMsg,
  LogEntry,
  MemberInfo,
  MemberRef,
  Message,
  NakMsg,
  NotMemberMsg,
  JoinRefusedMsg,
  PersistedMsg,
  RestartMsg,
  OrderEntry,
  OrderMsg,
  Position,
  PrepareMsg,
  ProbeMsg,
  ProbeReplyMsg,
  PromiseMsg,
  Proposal,
  Failure,
  FailureCause,
  RejectMsg,
  StateAckMsg,
  StateChunkMsg,
  StatusReplyMsg,
  StatusReqMsg,
  WelcomeMsg,
} from '../src/core/types.js';
import { WireError } from '../src/errors.js';
import type { WireLimits } from '../src/wire/codec.js';
import { decodeMessage, encodeMessage, messageTypes } from '../src/wire/codec.js';

const seedEnv = process.env.COHORT_SEED;
const seed = seedEnv === undefined ? undefined : Number(seedEnv);
if (seed !== undefined && !Number.isInteger(seed)) {
  throw new Error(`COHORT_SEED must be an integer, got ${seedEnv}`);
}

/** Runs `prop` `numRuns` times, seeded by COHORT_SEED if set; a failure reports its seed. */
function check<T>(prop: fc.IProperty<T>, numRuns: number): void {
  fc.assert(prop, seed === undefined ? { numRuns } : { numRuns, seed });
}

/**
 * A decode must cost well under this much CPU, whatever the bytes: a guard against
 * decoders that loop or allocate in proportion to a length they were told instead of
 * the bytes they have. CPU time, not wall time: a process descheduled on a busy
 * machine has done no work meanwhile, and must not fail for it.
 */
const DECODE_CPU_MS_MAX = 100;

/** Decodes, returning the message or `undefined` for a WireError; rethrows anything else. */
function tryDecode(bytes: Uint8Array, limits?: Partial<WireLimits>): Message | undefined {
  const start = process.cpuUsage();
  try {
    return decodeMessage(bytes, limits);
  } catch (e) {
    if (e instanceof WireError) return undefined;
    throw e;
  } finally {
    const used = process.cpuUsage(start);
    const ms = (used.user + used.system) / 1000;
    assert.ok(ms < DECODE_CPU_MS_MAX, `decoding ${bytes.length} bytes took ${ms.toFixed(1)} ms of CPU`);
  }
}

/** Whenever `bytes` decodes, it re-encodes to the very same bytes and the same message. */
function assertCanonical(bytes: Uint8Array, limits?: Partial<WireLimits>): void {
  const m = tryDecode(bytes, limits);
  if (m === undefined) return;
  const again = encodeMessage(m);
  assert.deepStrictEqual(decodeMessage(again), m);
  assert.deepStrictEqual(again, Uint8Array.from(bytes));
}

// ---------------------------------------------------------------------------------
// Arbitraries for every message kind
// ---------------------------------------------------------------------------------

const MAX = Number.MAX_SAFE_INTEGER;

/**
 * `fc.record` with ordinary prototypes: by default fast-check may build objects with
 * a null prototype, which `deepStrictEqual` tells apart from what the decoder builds.
 */
function rec<T>(model: { [K in keyof T]: fc.Arbitrary<T[K]> }): fc.Arbitrary<T> {
  return fc.record(model, { noNullPrototype: true }) as fc.Arbitrary<T>;
}

/** Small numbers mostly, with the varint boundaries and the extremes mixed in. */
const uint: fc.Arbitrary<number> = fc.oneof(
  { arbitrary: fc.nat({ max: 300 }), weight: 4 },
  {
    arbitrary: fc.constantFrom(0, 127, 128, 16383, 16384, 2 ** 31 - 1, 2 ** 31, 2 ** 32, 2 ** 49, MAX - 1, MAX),
    weight: 2,
  },
  { arbitrary: fc.maxSafeNat(), weight: 2 },
);

/** ASCII, any code point (astral, NUL, BOM, ...) and graphemes, short or empty. */
const str: fc.Arbitrary<string> = fc.oneof(
  fc.string({ maxLength: 12 }),
  fc.string({ unit: 'binary', maxLength: 12 }),
  fc.string({ unit: 'grapheme', maxLength: 4 }),
);

const list = <T>(arb: fc.Arbitrary<T>): fc.Arbitrary<T[]> => fc.array(arb, { maxLength: 4 });
const payload: fc.Arbitrary<Uint8Array> = fc.uint8Array({ maxLength: 48 });
const kind: fc.Arbitrary<EntryKind> = fc.constantFrom<EntryKind>(0, 1, 2, 3);

const memberRef: fc.Arbitrary<MemberRef> = rec({ id: str, inc: uint });
const memberInfo: fc.Arbitrary<MemberInfo> = rec({ id: str, inc: uint, addr: str });
const view: fc.Arbitrary<EndpointView> = rec({ epoch: uint, members: list(memberInfo) });
const ballot: fc.Arbitrary<Ballot> = rec({ round: uint, proposer: str });
const position: fc.Arbitrary<Position> = rec({ epoch: uint, gseq: uint });
const orderEntry: fc.Arbitrary<OrderEntry> = rec({ rank: uint, seq: uint });
const logEntry: fc.Arbitrary<LogEntry> = rec({
  gseq: uint,
  sender: memberRef,
  seq: uint,
  kind,
  group: str,
  safe: fc.boolean(),
  payload: fc.option(payload, { nil: null }),
});
const failure: fc.Arbitrary<Failure> = rec({
  member: memberRef,
  by: memberRef,
  cause: fc.constantFrom<FailureCause>('silence', 'refused', 'unresponsive', 'laggard', 'replaced', 'isolated', 'slow-consumer'),
  silentMs: uint,
  verified: fc.boolean(),
});
const proposal: fc.Arbitrary<Proposal> = rec({
  view,
  cut: uint,
  joined: list(memberRef),
  left: list(memberRef),
  failed: list(memberRef),
  failures: list(failure),
  restored: list(rec({ group: str, by: uint })),
});
const awaiting: fc.Arbitrary<AwaitingState> = rec({
  member: memberRef,
  provider: fc.option(memberRef, { nil: null }),
  pos: position,
});
const group: fc.Arbitrary<GroupRecord> = rec({
  name: str,
  viewId: uint,
  members: list(memberRef),
  awaiting: list(awaiting),
});

const probe: fc.Arbitrary<ProbeMsg> = rec({
  t: fc.constant('probe' as const),
  from: memberRef,
  addr: str,
  config: list(str),
});
const probeReply: fc.Arbitrary<ProbeReplyMsg> = rec({
  t: fc.constant('probe-reply' as const),
  from: memberRef,
  addr: str,
  config: list(str),
  view,
  joining: fc.boolean(),
});
const joinReq: fc.Arbitrary<JoinReqMsg> = rec({
  t: fc.constant('join-req' as const),
  from: memberRef,
  addr: str,
});
const leaveReq: fc.Arbitrary<LeaveReqMsg> = rec({
  t: fc.constant('leave-req' as const),
  from: memberRef,
  epoch: uint,
});
const heartbeat: fc.Arbitrary<HeartbeatMsg> = rec({
  t: fc.constant('heartbeat' as const),
  from: memberRef,
  epoch: uint,
  ordered: uint,
  stable: uint,
  committed: uint,
  held: uint,
  hears: fc.boolean(),
  behind: fc.boolean(),
});
const ack: fc.Arbitrary<AckMsg> = rec({
  t: fc.constant('ack' as const),
  from: memberRef,
  epoch: uint,
  held: uint,
});
const data: fc.Arbitrary<DataMsg> = rec({
  t: fc.constant('data' as const),
  from: memberRef,
  epoch: uint,
  sender: memberRef,
  seq: uint,
  kind,
  group: str,
  safe: fc.boolean(),
  relay: fc.boolean(),
  payload,
});
const order: fc.Arbitrary<OrderMsg> = rec({
  t: fc.constant('order' as const),
  from: memberRef,
  epoch: uint,
  first: uint,
  entries: fc.array(orderEntry, { maxLength: 12 }),
  stable: uint,
  committed: uint,
});
const nak: fc.Arbitrary<NakMsg> = rec({
  t: fc.constant('nak' as const),
  from: memberRef,
  epoch: uint,
  first: uint,
  last: uint,
});
const prepare: fc.Arbitrary<PrepareMsg> = rec({
  t: fc.constant('prepare' as const),
  from: memberRef,
  epoch: uint,
  ballot,
  config: list(str),
});
const promise: fc.Arbitrary<PromiseMsg> = rec({
  t: fc.constant('promise' as const),
  from: memberRef,
  addr: str,
  epoch: uint,
  ballot,
  acceptedBallot: fc.option(ballot, { nil: null }),
  accepted: fc.option(proposal, { nil: null }),
  held: uint,
  stable: uint,
  log: list(logEntry),
  heardAgoMs: list(uint),
});
const reject: fc.Arbitrary<RejectMsg> = rec({
  t: fc.constant('reject' as const),
  from: memberRef,
  epoch: uint,
  ballot,
  promised: ballot,
});
const accept: fc.Arbitrary<AcceptMsg> = rec({
  t: fc.constant('accept' as const),
  from: memberRef,
  epoch: uint,
  ballot,
  proposal,
  log: list(logEntry),
  commit: fc.boolean(),
});
const accepted: fc.Arbitrary<AcceptedMsg> = rec({
  t: fc.constant('accepted' as const),
  from: memberRef,
  epoch: uint,
  ballot,
});
const commit: fc.Arbitrary<CommitMsg> = rec({
  t: fc.constant('commit' as const),
  from: memberRef,
  epoch: uint,
  ballot,
});
const installed: fc.Arbitrary<InstalledMsg> = rec({
  t: fc.constant('installed' as const),
  from: memberRef,
  epoch: uint,
});
const welcome: fc.Arbitrary<WelcomeMsg> = rec({
  t: fc.constant('welcome' as const),
  from: memberRef,
  view,
  joined: list(memberRef),
  left: list(memberRef),
  failed: list(memberRef),
  failures: list(failure),
  groups: list(group),
  groupViewIdFloor: uint,
  network: str,
  restored: list(rec({ group: str, by: uint })),
});
const notMember: fc.Arbitrary<NotMemberMsg> = rec({
  t: fc.constant('not-member' as const),
  from: memberRef,
  epoch: uint,
  to: memberRef,
});
const joinRefused: fc.Arbitrary<JoinRefusedMsg> = rec({
  t: fc.constant('join-refused' as const),
  from: memberRef,
  to: memberRef,
  live: memberRef,
});
const persisted: fc.Arbitrary<PersistedMsg> = rec({
  t: fc.constant('persisted' as const),
  from: memberRef,
  epoch: uint,
  pos: position,
});
const restart: fc.Arbitrary<RestartMsg> = rec({
  t: fc.constant('restart' as const),
  from: memberRef,
  addr: str,
  was: memberRef,
  last: view,
  vote: fc.option(rec({ view, ballot, founding: fc.boolean() }), { nil: null }),
  end: position,
  groups: list(rec({ name: str, members: list(memberRef), carried: fc.boolean() })),
  restorable: list(str),
});
const stateChunk: fc.Arbitrary<StateChunkMsg> = rec({
  t: fc.constant('state-chunk' as const),
  from: memberRef,
  group: str,
  joiner: memberRef,
  pos: position,
  offset: uint,
  total: uint,
  data: payload,
});
const stateAck: fc.Arbitrary<StateAckMsg> = rec({
  t: fc.constant('state-ack' as const),
  from: memberRef,
  group: str,
  pos: position,
  offset: uint,
});

const statusReq: fc.Arbitrary<StatusReqMsg> = rec({
  t: fc.constant('status-req' as const),
  from: memberRef,
  id: uint,
});
const statusReply: fc.Arbitrary<StatusReplyMsg> = rec({
  t: fc.constant('status-reply' as const),
  from: memberRef,
  id: uint,
  doc: payload,
});

/** One arbitrary per message kind; the `satisfies` makes a new kind a compile error here. */
const byType = {
  probe,
  'probe-reply': probeReply,
  'join-req': joinReq,
  'leave-req': leaveReq,
  heartbeat,
  ack,
  data,
  order,
  nak,
  prepare,
  promise,
  reject,
  accept,
  accepted,
  commit,
  installed,
  welcome,
  'not-member': notMember,
  'join-refused': joinRefused,
  persisted,
  restart,
  'state-chunk': stateChunk,
  'state-ack': stateAck,
  'status-req': statusReq,
  'status-reply': statusReply,
} satisfies { [T in Message['t']]: fc.Arbitrary<Extract<Message, { t: T }>> };

const message: fc.Arbitrary<Message> = fc.oneof(
  ...messageTypes.map((t) => byType[t] as fc.Arbitrary<Message>),
);

/** Tight limits, so that the limit checks themselves get fuzzed. */
const limits: fc.Arbitrary<Partial<WireLimits> | undefined> = fc.option(
  fc.record(
    {
      stringBytesMax: fc.nat({ max: 16 }),
      payloadBytesMax: fc.nat({ max: 64 }),
      arrayLengthMax: fc.nat({ max: 4 }),
      frameBytesMax: fc.nat({ max: 512 }),
    },
    { requiredKeys: [], noNullPrototype: true },
  ),
  { nil: undefined },
);

// ---------------------------------------------------------------------------------
// Byte mutations
// ---------------------------------------------------------------------------------

type Mutation =
  | { op: 'flip'; at: number; bit: number }
  | { op: 'set'; at: number; value: number }
  | { op: 'bump'; at: number; delta: number }
  | { op: 'insert'; at: number; value: number }
  | { op: 'delete'; at: number }
  | { op: 'truncate'; at: number };

const at = fc.nat({ max: 1 << 16 });
const byte = fc.oneof(fc.integer({ min: 0, max: 255 }), fc.constantFrom(0, 1, 2, 0x7f, 0x80, 0xff));
const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  rec({ op: fc.constant('flip' as const), at, bit: fc.integer({ min: 0, max: 7 }) }),
  rec({ op: fc.constant('set' as const), at, value: byte }),
  // ±1 turns a 1 into a 2 (a bad boolean), a 3 into a 4 (a bad EntryKind), a length
  // into its neighbour; +128 sets or clears a varint's continuation bit.
  rec({ op: fc.constant('bump' as const), at, delta: fc.constantFrom(-1, 1, 128) }),
  rec({ op: fc.constant('insert' as const), at, value: byte }),
  rec({ op: fc.constant('delete' as const), at }),
  rec({ op: fc.constant('truncate' as const), at }),
);

function mutate(frame: Uint8Array, mutations: readonly Mutation[]): Uint8Array {
  let b = Array.from(frame);
  for (const m of mutations) {
    const i = b.length === 0 ? 0 : m.at % b.length;
    switch (m.op) {
      case 'flip':
        if (b.length > 0) b[i] = b[i]! ^ (1 << m.bit);
        break;
      case 'set':
        if (b.length > 0) b[i] = m.value;
        break;
      case 'bump':
        if (b.length > 0) b[i] = (b[i]! + m.delta) & 0xff;
        break;
      case 'insert':
        b.splice(m.at % (b.length + 1), 0, m.value);
        break;
      case 'delete':
        if (b.length > 0) b.splice(i, 1);
        break;
      case 'truncate':
        b = b.slice(0, m.at % (b.length + 1));
        break;
    }
  }
  return Uint8Array.from(b);
}

// ---------------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------------

test('(a) every arbitrary message round-trips exactly and canonically', () => {
  check(
    fc.property(message, (m) => {
      const enc = encodeMessage(m);
      const dec = decodeMessage(enc);
      assert.deepStrictEqual(dec, m);
      assert.deepStrictEqual(encodeMessage(dec), enc);
    }),
    3000,
  );
});

test('(b) random bytes decode (canonically) or throw WireError, quickly', () => {
  // Fully random bytes rarely get past the version byte, so most inputs start with a
  // valid version and a (mostly valid) type byte to reach the message bodies.
  const frames = fc.oneof(
    fc.uint8Array({ maxLength: 256 }),
    fc
      .tuple(fc.integer({ min: 0, max: 22 }), fc.uint8Array({ maxLength: 256 }))
      .map(([tag, rest]) => Uint8Array.from([1, tag, ...rest])),
    fc
      .tuple(
        fc.integer({ min: 1, max: 22 }),
        fc.array(fc.constantFrom(0, 1, 2, 0x61, 0x80, 0xff), { maxLength: 128 }),
      )
      .map(([tag, rest]) => Uint8Array.from([1, tag, ...rest])),
  );
  check(
    fc.property(frames, limits, (bytes, l) => {
      assertCanonical(bytes, l);
    }),
    10000,
  );
});

test('(c) mutated valid frames decode or throw WireError, quickly', () => {
  check(
    fc.property(message, fc.array(mutation, { minLength: 1, maxLength: 4 }), limits, (m, ms, l) => {
      assertCanonical(mutate(encodeMessage(m), ms), l);
    }),
    8000,
  );
});

test('(d) decode(encode(decode(x))) equals decode(x), and the bytes are canonical', () => {
  check(
    fc.property(message, fc.array(mutation, { maxLength: 3 }), (m, ms) => {
      assertCanonical(mutate(encodeMessage(m), ms));
    }),
    8000,
  );
});

test('(e) every one-byte tweak of a valid frame decodes canonically or throws WireError', () => {
  // Exhaustive over positions, unlike (c): each byte of the frame in turn is bumped
  // by ±1 and by 128 and replaced by 0, so that every boolean, presence byte, kind,
  // length and varint continuation bit of the message gets hit.
  check(
    fc.property(message, (m) => {
      const enc = encodeMessage(m);
      const copy = enc.slice();
      for (let i = 0; i < enc.length; i++) {
        for (const delta of [-1, 1, 128, 256 - enc[i]!]) {
          copy[i] = (enc[i]! + delta) & 0xff;
          assertCanonical(copy);
        }
        copy[i] = enc[i]!;
      }
    }),
    100,
  );
});
