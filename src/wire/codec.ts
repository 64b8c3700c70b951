/**
 * The binary wire format of every protocol message.
 *
 * Intuition: a frame is a version byte, a type byte, then the message's fields in a
 * fixed order with no names and no padding. The type byte alone says which fields
 * follow, so decoding is one pass with no lookahead and no schema on the wire.
 * Integers are varints, because nearly all of them (epochs, sequence numbers, ranks,
 * incarnations of a fresh process) are small; strings and byte arrays carry their
 * length up front; absent values cost a single presence byte. The encoding is
 * canonical — every message has exactly one encoding — and strict: the decoder
 * rejects, with `WireError`, anything the encoder could not have produced, and checks
 * every length against the bytes left and against `WireLimits` before it acts on it.
 *
 * ## Scalars (see `buffer.ts`)
 *
 * | Notation   | Encoding                                                              |
 * |------------|-----------------------------------------------------------------------|
 * | `u8`       | one byte                                                              |
 * | `uint`     | minimal unsigned LEB128 varint, 1–8 bytes, value in [0, 2^53 − 1]     |
 * | `bool`     | one byte, 0 = false, 1 = true                                         |
 * | `str`      | `uint` byte length ≤ `stringBytesMax`, then well-formed UTF-8         |
 * | `key`      | `str` allowed 17 more bytes (`memberKey()`: id, `#`, up to 16 digits) |
 * | `bytes`    | `uint` length ≤ `payloadBytesMax`, then the raw bytes                 |
 * | `kind`     | `u8` holding an `EntryKind`: 0 app, 1 join, 2 leave, 3 stateDone      |
 * | `T[]`      | `uint` element count ≤ `arrayLengthMax`, then the elements            |
 * | `T?`       | `u8` presence: 0 = null (nothing follows), 1 = a `T` follows          |
 *
 * ## Compound parts
 *
 * | Part          | Layout                                                                  |
 * |---------------|-------------------------------------------------------------------------|
 * | MemberRef     | id `str`, inc `uint`                                                    |
 * | MemberInfo    | id `str`, inc `uint`, addr `str`                                        |
 * | EndpointView  | epoch `uint`, members `MemberInfo[]`                                    |
 * | Ballot        | round `uint`, proposer `key`                                            |
 * | Position      | epoch `uint`, gseq `uint`                                               |
 * | OrderEntry    | rank `uint`, seq `uint`                                                 |
 * | LogEntry      | gseq `uint`, sender `MemberRef`, seq `uint`, kind `kind`, group `str`,  |
 * |               | safe `bool`, payload `bytes?`                                           |
 * | Proposal      | view `EndpointView`, cut `uint`, joined `MemberRef[]`,                  |
 * |               | left `MemberRef[]`, failed `MemberRef[]`, failures `Failure[]`,         |
 * |               | restored `Restored[]`                                                   |
 * | Restored      | group `str`, by `uint` (a rank in the view)                             |
 * | RestartGroup  | name `str`, members `MemberRef[]`, carried `bool`                       |
 * | RestartVote   | view `EndpointView`, ballot `Ballot`, founding `bool`                   |
 * | Failure       | member `MemberRef`, by `MemberRef`, cause `u8` (0 silence, 1 refused,  |
 * |               | 2 unresponsive, 3 laggard, 4 replaced, 5 isolated, 6 slow-consumer),    |
 * |               | silentMs `uint`, verified `bool`                                        |
 * | AwaitingState | member `MemberRef`, provider `MemberRef?`, pos `Position`               |
 * | GroupRecord   | name `str`, viewId `uint`, members `MemberRef[]`,                       |
 * |               | awaiting `AwaitingState[]`                                              |
 *
 * ## Frame
 *
 * | Offset | Field   | Encoding                                     |
 * |--------|---------|----------------------------------------------|
 * | 0      | version | `u8`, always `WIRE_VERSION` (6)              |
 * | 1      | type    | `u8`, one of `MessageType` below             |
 * | 2      | body    | the fields of that type, in the order below  |
 *
 * A frame is at most `frameBytesMax` bytes and holds exactly one message: trailing
 * bytes are an error. Framing on a stream (a length prefix per frame) is the
 * transport's business, not this module's.
 *
 * ## Message bodies (every body starts with from `MemberRef`)
 *
 * | Type | `t`           | Fields after `from`                                                    |
 * |------|---------------|------------------------------------------------------------------------|
 * | 1    | `probe`       | addr `str`, config `str[]`                                             |
 * | 2    | `probe-reply` | addr `str`, config `str[]`, view `EndpointView`, joining `bool`        |
 * | 3    | `join-req`    | addr `str`                                                             |
 * | 4    | `leave-req`   | epoch `uint`                                                           |
 * | 5    | `heartbeat`   | epoch `uint`, ordered `uint`, stable `uint`, committed `uint`,         |
 * |      |               | held `uint`, hears `bool`, behind `bool`                               |
 * | 6    | `ack`         | epoch `uint`, held `uint`                                              |
 * | 7    | `data`        | epoch `uint`, sender `MemberRef`, seq `uint`, kind `kind`,             |
 * |      |               | group `str`, safe `bool`, relay `bool`, payload `bytes`                |
 * | 8    | `order`       | epoch `uint`, first `uint`, entries `OrderEntry[]`, stable `uint`, committed `uint` |
 * | 9    | `nak`         | epoch `uint`, first `uint`, last `uint`                                |
 * | 10   | `prepare`     | epoch `uint`, ballot `Ballot`, config `str[]`                          |
 * | 11   | `promise`     | addr `str`, epoch `uint`, ballot `Ballot`, acceptedBallot `Ballot?`,   |
 * |      |               | accepted `Proposal?`, held `uint`, stable `uint`, log `LogEntry[]`,    |
 * |      |               | heardAgoMs `uint[]`                                                    |
 * | 12   | `reject`      | epoch `uint`, ballot `Ballot`, promised `Ballot`                       |
 * | 13   | `accept`      | epoch `uint`, ballot `Ballot`, proposal `Proposal`, log `LogEntry[]`,  |
 * |      |               | commit `bool`                                                          |
 * | 14   | `accepted`    | epoch `uint`, ballot `Ballot`                                          |
 * | 15   | `commit`      | epoch `uint`, ballot `Ballot`                                          |
 * | 16   | `installed`   | epoch `uint`                                                           |
 * | 17   | `welcome`     | view `EndpointView`, joined `MemberRef[]`, left `MemberRef[]`,         |
 * |      |               | failed `MemberRef[]`, failures `Failure[]`, groups `GroupRecord[]`,    |
 * |      |               | groupViewIdFloor `uint`, network `str`, restored `Restored[]`          |
 * | 18   | `not-member`  | epoch `uint`, to `MemberRef`                                           |
 * | 19   | `state-chunk` | group `str`, joiner `MemberRef`, pos `Position`, offset `uint`,        |
 * |      |               | total `uint`, data `bytes`                                             |
 * | 20   | `state-ack`   | group `str`, pos `Position`, offset `uint`                             |
 * | 21   | `status-req`  | id `uint`                                                              |
 * | 22   | `status-reply`| id `uint`, doc `bytes` (at most `STATUS_DOC_BYTES_MAX`, JSON in UTF-8) |
 * | 23   | `join-refused`| to `MemberRef`, live `MemberRef`                                       |
 * | 24   | `persisted`   | epoch `uint`, pos `Position`                                           |
 * | 25   | `restart`     | addr `str`, was `MemberRef`, last `EndpointView`, vote `RestartVote?`, |
 * |      |               | end `Position`, groups `RestartGroup[]`, restorable `str[]`            |
 *
 * Types 21 and 22 are an operator's probe (`cohort status`) and its answer: the
 * `Endpoint` answers them, the protocol core never sees them. Adding them changed no
 * earlier layout, so they did not bump `WIRE_VERSION` (an older peer rejects their frames).
 *
 * Type 0 and 26–255 are unassigned and rejected. A change to any layout above must
 * bump `WIRE_VERSION`: peers of different versions then refuse each other's frames
 * cleanly instead of misreading them.
 *
 * Example: `{ t: 'installed', from: { id: 'a', inc: 1 }, epoch: 2 }` is the six bytes
 * `01 10 01 61 01 02` (version 1, type 16, id length 1, `a`, inc 1, epoch 2).
 *
 * The codec checks structure only. Relations between fields (`first <= last`,
 * `offset <= total`, an epoch of at least 1, ...) are the protocol's to check.
 */

import type {
  AwaitingState,
  Ballot,
  EndpointView,
  GroupRecord,
  LogEntry,
  MemberInfo,
  MemberRef,
  Message,
  OrderEntry,
  Position,
  Proposal,
  Restored,
  RestartGroup,
  RestartMsg,
  Failure,
  FailureCause,
} from '../core/types.js';
import { EntryKind } from '../core/types.js';
import { assert, assertNever, ErrorCode, OptionError, WireError } from '../errors.js';
import { Reader, Writer } from './buffer.js';

/**
 * The format version, the first byte of every frame. Version 8 added `restart` and the
 * proposal's `restored` groups (durable groups: a restart from the logs after a total
 * failure). Version 7 added `persisted`
 * (durable groups: a member's flush to disk, told to the view). Version 6 added the heartbeat's
 * `behind` flag and the failure cause `slow-consumer`. Version 5 made the probe reply
 * carry the sender's whole view and a `joining` flag (a starting endpoint learns every
 * member of a network it hears of, and waits for that network rather than found
 * another), and added `join-refused` (a second process with a live member's id).
 * Version 4 added the heartbeat's `hears` flag and the welcome's
 * `groupViewIdFloor`.
 */
export const WIRE_VERSION = 8;

/**
 * The type byte of each message kind, keyed by its `t`. Values are part of the wire
 * format: never renumber, only append (and bump `WIRE_VERSION` on any change).
 */
export const MessageType = {
  probe: 1,
  'probe-reply': 2,
  'join-req': 3,
  'leave-req': 4,
  heartbeat: 5,
  ack: 6,
  data: 7,
  order: 8,
  nak: 9,
  prepare: 10,
  promise: 11,
  reject: 12,
  accept: 13,
  accepted: 14,
  commit: 15,
  installed: 16,
  welcome: 17,
  'not-member': 18,
  'state-chunk': 19,
  'state-ack': 20,
  'status-req': 21,
  'status-reply': 22,
  'join-refused': 23,
  persisted: 24,
  restart: 25,
} as const satisfies Record<Message['t'], number>;
/** A type byte. */
export type MessageType = (typeof MessageType)[keyof typeof MessageType];

/** Every message `t`, in type-byte order: `messageTypes[i]` has type byte `i + 1`. */
export const messageTypes: readonly Message['t'][] = Object.freeze(
  (Object.keys(MessageType) as Message['t'][]).sort((a, b) => MessageType[a] - MessageType[b]),
);

/** The `t` of the message kind with type byte `tag`, or `undefined` if none has it. */
export function messageTypeName(tag: number): Message['t'] | undefined {
  return Number.isInteger(tag) && tag >= 1 ? messageTypes[tag - 1] : undefined;
}

/**
 * Bounds the decoder enforces on untrusted input, and the encoder asserts on its
 * own output. They cap what a single frame can make a receiver allocate; they are
 * not a substitute for the API's own, usually tighter, limits on ids and messages.
 */
export interface WireLimits {
  /**
   * Largest UTF-8 byte length of a string: member ids, addresses, group names,
   * config entries. A ballot's proposer (a `memberKey()`, so an id plus `#` and
   * the incarnation) may be 17 bytes longer.
   * @default 1024
   */
  readonly stringBytesMax: number;
  /**
   * Largest byte length of a payload: a data message's, a log entry's, or a state
   * chunk's data.
   * @default 16 MiB (16_777_216)
   */
  readonly payloadBytesMax: number;
  /**
   * Largest element count of any one array (config, members, order entries, log,
   * groups, ...).
   * @default 1_000_000
   */
  readonly arrayLengthMax: number;
  /**
   * Largest frame, in bytes. Checked before anything else is decoded.
   * @default 64 MiB (67_108_864)
   */
  readonly frameBytesMax: number;
}

/** The limits used when a caller gives none. Frozen. */
export const defaultWireLimits: Readonly<WireLimits> = Object.freeze({
  stringBytesMax: 1024,
  payloadBytesMax: 16 * 1024 * 1024,
  arrayLengthMax: 1_000_000,
  frameBytesMax: 64 * 1024 * 1024,
});

/**
 * Largest status document (`status-reply`'s `doc`), in bytes, whatever
 * `payloadBytesMax` allows: an endpoint trims its document to fit (`src/ops/status.ts`).
 */
export const STATUS_DOC_BYTES_MAX = 1024 * 1024;

/**
 * Room a `memberKey()` needs beyond its id: `#` and the incarnation, which is below
 * 2^53 and so has at most 16 decimal digits.
 */
const MEMBER_KEY_SUFFIX_BYTES = 17;

const limitNames = Object.keys(defaultWireLimits) as (keyof WireLimits)[];

// Callers pass the same limits object on every decode; resolving it once keeps the
// hot path free of a merge and a validation per frame.
const resolved = new WeakMap<object, Readonly<WireLimits>>();

/**
 * Completes `limits` with the defaults and validates it: every limit must be a
 * safe non-negative integer, and no unknown keys are allowed. The result is frozen
 * and cached per input object.
 *
 * @throws OptionError for an invalid or unknown limit.
 */
export function resolveWireLimits(limits?: Partial<WireLimits>): Readonly<WireLimits> {
  if (limits === undefined || limits === defaultWireLimits) return defaultWireLimits;
  const cached = resolved.get(limits);
  if (cached !== undefined) return cached;
  for (const key of Object.keys(limits)) {
    if (!(limitNames as string[]).includes(key)) {
      throw new OptionError(`unknown wire limit: ${key}`, ErrorCode.unknownOption);
    }
  }
  const out: Record<keyof WireLimits, number> = { ...defaultWireLimits };
  for (const key of limitNames) {
    const v = limits[key];
    if (v === undefined) continue;
    if (!Number.isSafeInteger(v) || v < 0) {
      throw new OptionError(
        `wire limit ${key} must be a safe non-negative integer, got ${String(v)}`,
      );
    }
    out[key] = v;
  }
  const frozen = Object.freeze(out);
  resolved.set(limits, frozen);
  // A resolved object passed back in (as `decodeMessage` hands it to `readMessage`)
  // must resolve to itself without another validation.
  resolved.set(frozen, frozen);
  return frozen;
}

// ---------------------------------------------------------------------------------
// Encoding
// ---------------------------------------------------------------------------------

// Each entry is 1 where the byte is a valid EntryKind; built from `EntryKind` so the
// check follows the enum if it ever grows.
const entryKindValid = new Uint8Array(256);
for (const k of Object.values(EntryKind)) entryKindValid[k] = 1;

// One writer for all of `encodeMessage`: encoding is synchronous and never re-enters,
// so reusing it is safe and saves growing a buffer per message.
const shared = new Writer(1024);

/**
 * Encodes `msg` as one frame. The result is a fresh copy that the caller owns.
 *
 * @param limits - Limits to assert against; defaults to `defaultWireLimits`.
 * @throws AssertionFailure if `msg` is not encodable (a bug of the caller): an
 *   integer that is not a safe non-negative integer, a string with a lone surrogate
 *   or longer than its limit, an invalid `EntryKind`, an array or payload over its
 *   limit, a frame over `frameBytesMax`, an unknown `t`.
 */
export function encodeMessage(msg: Message, limits?: Partial<WireLimits>): Uint8Array {
  const l = resolveWireLimits(limits);
  const w = shared;
  w.reset();
  w.maxBytes = l.frameBytesMax;
  try {
    writeMessage(w, msg, l);
    return w.finish();
  } finally {
    w.release();
  }
}

/**
 * Appends the frame of `msg` (version byte included) to `w`, for callers that frame
 * several messages or their own headers into one buffer. Asserts like
 * `encodeMessage`; the frame size is checked against `limits` after writing.
 */
export function writeMessage(w: Writer, msg: Message, limits?: Partial<WireLimits>): void {
  writeMessageHead(w, msg, limits, false);
}

/**
 * `writeMessage`, except that for a `data` message with `payloadByReference` the
 * payload's bytes are not written, only its length: the payload is the encoding's last
 * field, so the caller sends `payload` right after what was written (a transport then
 * sends a large payload without copying it). The size check counts the payload.
 */
export function writeMessageHead(w: Writer, msg: Message, limits: Partial<WireLimits> | undefined, payloadByReference: boolean): void {
  const l = resolveWireLimits(limits);
  const start = w.pos;
  w.u8(WIRE_VERSION);
  const byReference = payloadByReference && msg.t === 'data';
  writeBody(w, msg, l, byReference);
  const size = w.pos - start + (byReference ? msg.payload.length : 0);
  if (size > l.frameBytesMax) {
    const max = l.frameBytesMax;
    assert(false, `wire: encoded ${msg.t} frame is ${size} bytes, more than the limit of ${max}`);
  }
}

function writeBody(w: Writer, m: Message, l: Readonly<WireLimits>, payloadByReference: boolean): void {
  const s = l.stringBytesMax;
  switch (m.t) {
    case 'probe':
      w.u8(MessageType.probe);
      writeMemberRef(w, m.from, s);
      w.string(m.addr, s, 'addr');
      writeStrings(w, m.config, l, 'config');
      return;
    case 'probe-reply':
      w.u8(MessageType['probe-reply']);
      writeMemberRef(w, m.from, s);
      w.string(m.addr, s, 'addr');
      writeStrings(w, m.config, l, 'config');
      writeView(w, m.view, l);
      w.bool(m.joining);
      return;
    case 'join-req':
      w.u8(MessageType['join-req']);
      writeMemberRef(w, m.from, s);
      w.string(m.addr, s, 'addr');
      return;
    case 'leave-req':
      w.u8(MessageType['leave-req']);
      writeMemberRef(w, m.from, s);
      w.varint(m.epoch, 'epoch');
      return;
    case 'heartbeat':
      w.u8(MessageType.heartbeat);
      writeMemberRef(w, m.from, s);
      w.varint(m.epoch, 'epoch');
      w.varint(m.ordered, 'ordered');
      w.varint(m.stable, 'stable');
      w.varint(m.committed, 'committed');
      w.varint(m.held, 'held');
      w.bool(m.hears);
      w.bool(m.behind);
      return;
    case 'ack':
      w.u8(MessageType.ack);
      writeMemberRef(w, m.from, s);
      w.varint(m.epoch, 'epoch');
      w.varint(m.held, 'held');
      return;
    case 'data':
      w.u8(MessageType.data);
      writeMemberRef(w, m.from, s);
      w.varint(m.epoch, 'epoch');
      writeMemberRef(w, m.sender, s);
      w.varint(m.seq, 'seq');
      writeKind(w, m.kind);
      w.string(m.group, s, 'group');
      w.bool(m.safe);
      w.bool(m.relay);
      if (!payloadByReference) w.bytes(m.payload, l.payloadBytesMax, 'payload');
      else if (m.payload.length > l.payloadBytesMax) assert(false, `wire: payload is ${m.payload.length} bytes, more than the limit of ${l.payloadBytesMax}`);
      else w.varint(m.payload.length, 'payload');
      return;
    case 'order': {
      w.u8(MessageType.order);
      writeMemberRef(w, m.from, s);
      w.varint(m.epoch, 'epoch');
      w.varint(m.first, 'first');
      const entries = m.entries;
      const n = entries.length;
      w.count(n, l.arrayLengthMax, 'entries');
      for (let i = 0; i < n; i++) {
        const e = entries[i]!;
        w.varint(e.rank, 'rank');
        w.varint(e.seq, 'seq');
      }
      w.varint(m.stable, 'stable');
      w.varint(m.committed, 'committed');
      return;
    }
    case 'nak':
      w.u8(MessageType.nak);
      writeMemberRef(w, m.from, s);
      w.varint(m.epoch, 'epoch');
      w.varint(m.first, 'first');
      w.varint(m.last, 'last');
      return;
    case 'prepare':
      w.u8(MessageType.prepare);
      writeMemberRef(w, m.from, s);
      w.varint(m.epoch, 'epoch');
      writeBallot(w, m.ballot, s);
      writeStrings(w, m.config, l, 'config');
      return;
    case 'promise':
      w.u8(MessageType.promise);
      writeMemberRef(w, m.from, s);
      w.string(m.addr, s, 'addr');
      w.varint(m.epoch, 'epoch');
      writeBallot(w, m.ballot, s);
      if (m.acceptedBallot === null) {
        w.u8(0);
      } else {
        w.u8(1);
        writeBallot(w, m.acceptedBallot, s);
      }
      if (m.accepted === null) {
        w.u8(0);
      } else {
        w.u8(1);
        writeProposal(w, m.accepted, l);
      }
      w.varint(m.held, 'held');
      w.varint(m.stable, 'stable');
      writeLog(w, m.log, l);
      w.count(m.heardAgoMs.length, l.arrayLengthMax, 'heardAgoMs');
      for (const x of m.heardAgoMs) w.varint(x, 'heardAgoMs');
      return;
    case 'reject':
      w.u8(MessageType.reject);
      writeMemberRef(w, m.from, s);
      w.varint(m.epoch, 'epoch');
      writeBallot(w, m.ballot, s);
      writeBallot(w, m.promised, s);
      return;
    case 'accept':
      w.u8(MessageType.accept);
      writeMemberRef(w, m.from, s);
      w.varint(m.epoch, 'epoch');
      writeBallot(w, m.ballot, s);
      writeProposal(w, m.proposal, l);
      writeLog(w, m.log, l);
      w.bool(m.commit);
      return;
    case 'accepted':
      w.u8(MessageType.accepted);
      writeMemberRef(w, m.from, s);
      w.varint(m.epoch, 'epoch');
      writeBallot(w, m.ballot, s);
      return;
    case 'commit':
      w.u8(MessageType.commit);
      writeMemberRef(w, m.from, s);
      w.varint(m.epoch, 'epoch');
      writeBallot(w, m.ballot, s);
      return;
    case 'installed':
      w.u8(MessageType.installed);
      writeMemberRef(w, m.from, s);
      w.varint(m.epoch, 'epoch');
      return;
    case 'welcome': {
      w.u8(MessageType.welcome);
      writeMemberRef(w, m.from, s);
      writeView(w, m.view, l);
      writeMemberRefs(w, m.joined, l, 'joined');
      writeMemberRefs(w, m.left, l, 'left');
      writeMemberRefs(w, m.failed, l, 'failed');
      writeFailures(w, m.failures, l);
      const groups = m.groups;
      w.count(groups.length, l.arrayLengthMax, 'groups');
      for (let i = 0; i < groups.length; i++) writeGroup(w, groups[i]!, l);
      w.varint(m.groupViewIdFloor, 'groupViewIdFloor');
      w.string(m.network, s, 'network');
      writeRestored(w, m.restored, l);
      return;
    }
    case 'not-member':
      w.u8(MessageType['not-member']);
      writeMemberRef(w, m.from, s);
      w.varint(m.epoch, 'epoch');
      writeMemberRef(w, m.to, s);
      return;
    case 'state-chunk':
      w.u8(MessageType['state-chunk']);
      writeMemberRef(w, m.from, s);
      w.string(m.group, s, 'group');
      writeMemberRef(w, m.joiner, s);
      writePosition(w, m.pos);
      w.varint(m.offset, 'offset');
      w.varint(m.total, 'total');
      w.bytes(m.data, l.payloadBytesMax, 'data');
      return;
    case 'state-ack':
      w.u8(MessageType['state-ack']);
      writeMemberRef(w, m.from, s);
      w.string(m.group, s, 'group');
      writePosition(w, m.pos);
      w.varint(m.offset, 'offset');
      return;
    case 'status-req':
      w.u8(MessageType['status-req']);
      writeMemberRef(w, m.from, s);
      w.varint(m.id, 'id');
      return;
    case 'status-reply':
      w.u8(MessageType['status-reply']);
      writeMemberRef(w, m.from, s);
      w.varint(m.id, 'id');
      w.bytes(m.doc, Math.min(l.payloadBytesMax, STATUS_DOC_BYTES_MAX), 'doc');
      return;
    case 'join-refused':
      w.u8(MessageType['join-refused']);
      writeMemberRef(w, m.from, s);
      writeMemberRef(w, m.to, s);
      writeMemberRef(w, m.live, s);
      return;
    case 'persisted':
      w.u8(MessageType.persisted);
      writeMemberRef(w, m.from, s);
      w.varint(m.epoch, 'epoch');
      writePosition(w, m.pos);
      return;
    case 'restart':
      return writeRestart(w, m, l);
    default:
      assertNever(m);
  }
}

function writeMemberRef(w: Writer, m: MemberRef, stringBytesMax: number): void {
  w.string(m.id, stringBytesMax, 'member id');
  w.varint(m.inc, 'member inc');
}

function writeMemberRefs(
  w: Writer,
  ms: readonly MemberRef[],
  l: Readonly<WireLimits>,
  what: string,
): void {
  const n = ms.length;
  w.count(n, l.arrayLengthMax, what);
  for (let i = 0; i < n; i++) writeMemberRef(w, ms[i]!, l.stringBytesMax);
}

function writeStrings(
  w: Writer,
  ss: readonly string[],
  l: Readonly<WireLimits>,
  what: string,
): void {
  const n = ss.length;
  w.count(n, l.arrayLengthMax, what);
  for (let i = 0; i < n; i++) w.string(ss[i]!, l.stringBytesMax, what);
}

function writeKind(w: Writer, kind: EntryKind): void {
  if (entryKindValid[kind] !== 1) assert(false, `wire: invalid EntryKind ${String(kind)}`);
  w.u8(kind);
}

function writeBallot(w: Writer, b: Ballot, stringBytesMax: number): void {
  w.varint(b.round, 'ballot round');
  w.string(b.proposer, stringBytesMax + MEMBER_KEY_SUFFIX_BYTES, 'ballot proposer');
}

function writePosition(w: Writer, p: Position): void {
  w.varint(p.epoch, 'position epoch');
  w.varint(p.gseq, 'position gseq');
}

function writeView(w: Writer, v: EndpointView, l: Readonly<WireLimits>): void {
  w.varint(v.epoch, 'view epoch');
  const ms = v.members;
  w.count(ms.length, l.arrayLengthMax, 'view members');
  for (let i = 0; i < ms.length; i++) {
    const m = ms[i]!;
    writeMemberRef(w, m, l.stringBytesMax);
    w.string(m.addr, l.stringBytesMax, 'member addr');
  }
}

function writeRestart(w: Writer, m: RestartMsg, l: Readonly<WireLimits>): void {
  const s = l.stringBytesMax;
  w.u8(MessageType.restart);
  writeMemberRef(w, m.from, s);
  w.string(m.addr, s, 'addr');
  writeMemberRef(w, m.was, s);
  writeView(w, m.last, l);
  if (m.vote === null) {
    w.u8(0);
  } else {
    w.u8(1);
    writeView(w, m.vote.view, l);
    writeBallot(w, m.vote.ballot, s);
    w.bool(m.vote.founding);
  }
  writePosition(w, m.end);
  w.count(m.groups.length, l.arrayLengthMax, 'restart groups');
  for (const g of m.groups) {
    w.string(g.name, s, 'group');
    writeMemberRefs(w, g.members, l, 'group members');
    w.bool(g.carried);
  }
  writeStrings(w, m.restorable, l, 'restorable');
}

function readRestart(r: Reader, l: Readonly<WireLimits>): RestartMsg {
  const s = l.stringBytesMax;
  const from = readMemberRef(r, s);
  const addr = r.string('addr', s);
  const was = readMemberRef(r, s);
  const last = readView(r, l);
  const vote = r.present('vote presence') ? { view: readView(r, l), ballot: readBallot(r, s), founding: r.bool('founding') } : null;
  const end = readPosition(r);
  const n = r.length('restart groups', l.arrayLengthMax, 3);
  const groups: RestartGroup[] = [];
  for (let i = 0; i < n; i++) groups.push({ name: r.string('group', s), members: readMemberRefs(r, l, 'group members'), carried: r.bool('carried') });
  return { t: 'restart', from, addr, was, last, vote, end, groups, restorable: readStrings(r, l, 'restorable') };
}

function writeRestored(w: Writer, rs: readonly Restored[], l: Readonly<WireLimits>): void {
  w.count(rs.length, l.arrayLengthMax, 'restored');
  for (const x of rs) {
    w.string(x.group, l.stringBytesMax, 'restored group');
    w.varint(x.by, 'restored by');
  }
}

function readRestored(r: Reader, l: Readonly<WireLimits>): Restored[] {
  const n = r.length('restored', l.arrayLengthMax, 2);
  const out: Restored[] = [];
  for (let i = 0; i < n; i++) out.push({ group: r.string('restored group', l.stringBytesMax), by: r.varint('restored by') });
  return out;
}

function writeProposal(w: Writer, p: Proposal, l: Readonly<WireLimits>): void {
  writeView(w, p.view, l);
  w.varint(p.cut, 'cut');
  writeMemberRefs(w, p.joined, l, 'joined');
  writeMemberRefs(w, p.left, l, 'left');
  writeMemberRefs(w, p.failed, l, 'failed');
  writeFailures(w, p.failures, l);
  writeRestored(w, p.restored, l);
}

/** Causes by wire number; never renumber. */
const FAILURE_CAUSES: readonly FailureCause[] = ['silence', 'refused', 'unresponsive', 'laggard', 'replaced', 'isolated', 'slow-consumer'];

function writeFailures(w: Writer, fs: readonly Failure[], l: Readonly<WireLimits>): void {
  w.count(fs.length, l.arrayLengthMax, 'failures');
  for (const f of fs) {
    writeMemberRef(w, f.member, l.stringBytesMax);
    writeMemberRef(w, f.by, l.stringBytesMax);
    w.u8(FAILURE_CAUSES.indexOf(f.cause));
    w.varint(f.silentMs, 'failure silentMs');
    w.bool(f.verified);
  }
}

function writeLog(w: Writer, log: readonly LogEntry[], l: Readonly<WireLimits>): void {
  const n = log.length;
  w.count(n, l.arrayLengthMax, 'log');
  for (let i = 0; i < n; i++) {
    const e = log[i]!;
    w.varint(e.gseq, 'gseq');
    writeMemberRef(w, e.sender, l.stringBytesMax);
    w.varint(e.seq, 'seq');
    writeKind(w, e.kind);
    w.string(e.group, l.stringBytesMax, 'group');
    w.bool(e.safe);
    if (e.payload === null) {
      w.u8(0);
    } else {
      w.u8(1);
      w.bytes(e.payload, l.payloadBytesMax, 'payload');
    }
  }
}

function writeGroup(w: Writer, g: GroupRecord, l: Readonly<WireLimits>): void {
  w.string(g.name, l.stringBytesMax, 'group name');
  w.varint(g.viewId, 'group viewId');
  writeMemberRefs(w, g.members, l, 'group members');
  const aw = g.awaiting;
  w.count(aw.length, l.arrayLengthMax, 'awaiting');
  for (let i = 0; i < aw.length; i++) {
    const a = aw[i]!;
    writeMemberRef(w, a.member, l.stringBytesMax);
    if (a.provider === null) {
      w.u8(0);
    } else {
      w.u8(1);
      writeMemberRef(w, a.provider, l.stringBytesMax);
    }
    writePosition(w, a.pos);
  }
}

// ---------------------------------------------------------------------------------
// Decoding
// ---------------------------------------------------------------------------------

// The fewest bytes one element of each array can take; `Reader.length` uses them to
// reject a count the rest of the frame cannot possibly hold.
const MIN_STRING = 1; // empty string: length 0
const MIN_MEMBER_REF = 2; // empty id, inc
const MIN_MEMBER_INFO = 3; // + empty addr
const MIN_ORDER_ENTRY = 2; // rank, seq
const MIN_LOG_ENTRY = 8; // gseq, sender (2), seq, kind, group, safe, presence
const MIN_GROUP = 4; // name, viewId, members count, awaiting count
const MIN_AWAITING = 5; // member (2), presence, pos (2)

/**
 * Decodes one frame. Throws `WireError` for anything that is not exactly one valid
 * message: truncation, trailing bytes, an unknown version or type, invalid UTF-8, a
 * non-minimal or out-of-range varint, a boolean or presence byte other than 0/1, an
 * invalid `EntryKind`, or a length over the bytes left or over `limits`. It throws
 * nothing else for any input, and its time and allocation are linear in the
 * frame's length.
 *
 * Payloads (`data.payload`, `LogEntry.payload`, `state-chunk.data`) are *views*
 * into `bytes`, not copies: they stay valid only while the caller leaves that
 * memory alone. A transport that reuses its receive buffer must copy the frame (or
 * the payloads) first.
 *
 * @param limits - Bounds on the frame; defaults to `defaultWireLimits`.
 * @throws WireError for a malformed frame.
 * @throws OptionError if `limits` itself is invalid.
 */
export function decodeMessage(bytes: Uint8Array, limits?: Partial<WireLimits>): Message {
  const l = resolveWireLimits(limits);
  if (bytes.length > l.frameBytesMax) {
    throw new WireError(`frame of ${bytes.length} bytes exceeds the limit of ${l.frameBytesMax}`);
  }
  const r = new Reader(bytes);
  const msg = readMessage(r, l);
  r.expectEnd();
  return msg;
}

/**
 * Reads the type byte of a frame without decoding the rest, e.g. to count or
 * drop frames by kind cheaply.
 *
 * @throws WireError if the frame is too short or its version or type is unknown.
 */
export function peekMessageType(bytes: Uint8Array): Message['t'] {
  const r = new Reader(bytes);
  readVersion(r);
  const tag = r.u8('type');
  const t = messageTypeName(tag);
  if (t === undefined) throw new WireError(`unknown message type ${tag}`);
  return t;
}

function readVersion(r: Reader): void {
  const v = r.u8('version');
  if (v !== WIRE_VERSION) {
    throw new WireError(`unsupported wire format version ${v} (this build speaks ${WIRE_VERSION})`);
  }
}

/**
 * Reads one message (version byte included) from `r`, leaving the cursor just past
 * it; unlike `decodeMessage` it neither checks the frame size nor requires the
 * message to end the input. Throws only `WireError` (and `OptionError` for bad
 * `limits`). Payloads are views into the reader's bytes.
 */
export function readMessage(r: Reader, limits?: Partial<WireLimits>): Message {
  const l = resolveWireLimits(limits);
  const s = l.stringBytesMax;
  readVersion(r);
  const tag = r.u8('type');
  // Object literals evaluate their properties in source order, so each literal below
  // reads its fields in exactly the order of the layout table.
  switch (tag) {
    case MessageType.probe:
      return {
        t: 'probe',
        from: readMemberRef(r, s),
        addr: r.string('addr', s),
        config: readStrings(r, l, 'config'),
      };
    case MessageType['probe-reply']:
      return {
        t: 'probe-reply',
        from: readMemberRef(r, s),
        addr: r.string('addr', s),
        config: readStrings(r, l, 'config'),
        view: readView(r, l),
        joining: r.bool('joining'),
      };
    case MessageType['join-req']:
      return { t: 'join-req', from: readMemberRef(r, s), addr: r.string('addr', s) };
    case MessageType['leave-req']:
      return { t: 'leave-req', from: readMemberRef(r, s), epoch: r.varint('epoch') };
    case MessageType.heartbeat:
      return {
        t: 'heartbeat',
        from: readMemberRef(r, s),
        epoch: r.varint('epoch'),
        ordered: r.varint('ordered'),
        stable: r.varint('stable'),
        committed: r.varint('committed'),
        held: r.varint('held'),
        hears: r.bool('hears'),
        behind: r.bool('behind'),
      };
    case MessageType.ack:
      return {
        t: 'ack',
        from: readMemberRef(r, s),
        epoch: r.varint('epoch'),
        held: r.varint('held'),
      };
    case MessageType.data:
      return {
        t: 'data',
        from: readMemberRef(r, s),
        epoch: r.varint('epoch'),
        sender: readMemberRef(r, s),
        seq: r.varint('seq'),
        kind: readKind(r),
        group: r.string('group', s),
        safe: r.bool('safe'),
        relay: r.bool('relay'),
        payload: r.bytesView('payload', l.payloadBytesMax),
      };
    case MessageType.order:
      return {
        t: 'order',
        from: readMemberRef(r, s),
        epoch: r.varint('epoch'),
        first: r.varint('first'),
        entries: readOrderEntries(r, l),
        stable: r.varint('stable'),
        committed: r.varint('committed'),
      };
    case MessageType.nak:
      return {
        t: 'nak',
        from: readMemberRef(r, s),
        epoch: r.varint('epoch'),
        first: r.varint('first'),
        last: r.varint('last'),
      };
    case MessageType.prepare:
      return {
        t: 'prepare',
        from: readMemberRef(r, s),
        epoch: r.varint('epoch'),
        ballot: readBallot(r, s),
        config: readStrings(r, l, 'config'),
      };
    case MessageType.promise:
      return {
        t: 'promise',
        from: readMemberRef(r, s),
        addr: r.string('addr', s),
        epoch: r.varint('epoch'),
        ballot: readBallot(r, s),
        acceptedBallot: r.present('acceptedBallot presence') ? readBallot(r, s) : null,
        accepted: r.present('accepted presence') ? readProposal(r, l) : null,
        held: r.varint('held'),
        stable: r.varint('stable'),
        log: readLog(r, l),
        heardAgoMs: readUints(r, l, 'heardAgoMs'),
      };
    case MessageType.reject:
      return {
        t: 'reject',
        from: readMemberRef(r, s),
        epoch: r.varint('epoch'),
        ballot: readBallot(r, s),
        promised: readBallot(r, s),
      };
    case MessageType.accept:
      return {
        t: 'accept',
        from: readMemberRef(r, s),
        epoch: r.varint('epoch'),
        ballot: readBallot(r, s),
        proposal: readProposal(r, l),
        log: readLog(r, l),
        commit: r.bool('commit'),
      };
    case MessageType.accepted:
      return {
        t: 'accepted',
        from: readMemberRef(r, s),
        epoch: r.varint('epoch'),
        ballot: readBallot(r, s),
      };
    case MessageType.commit:
      return {
        t: 'commit',
        from: readMemberRef(r, s),
        epoch: r.varint('epoch'),
        ballot: readBallot(r, s),
      };
    case MessageType.installed:
      return { t: 'installed', from: readMemberRef(r, s), epoch: r.varint('epoch') };
    case MessageType.welcome:
      return {
        t: 'welcome',
        from: readMemberRef(r, s),
        view: readView(r, l),
        joined: readMemberRefs(r, l, 'joined'),
        left: readMemberRefs(r, l, 'left'),
        failed: readMemberRefs(r, l, 'failed'),
        failures: readFailures(r, l),
        groups: readGroups(r, l),
        groupViewIdFloor: r.varint('groupViewIdFloor'),
        network: r.string('network', s),
        restored: readRestored(r, l),
      };
    case MessageType['not-member']:
      return {
        t: 'not-member',
        from: readMemberRef(r, s),
        epoch: r.varint('epoch'),
        to: readMemberRef(r, s),
      };
    case MessageType['state-chunk']:
      return {
        t: 'state-chunk',
        from: readMemberRef(r, s),
        group: r.string('group', s),
        joiner: readMemberRef(r, s),
        pos: readPosition(r),
        offset: r.varint('offset'),
        total: r.varint('total'),
        data: r.bytesView('data', l.payloadBytesMax),
      };
    case MessageType['state-ack']:
      return {
        t: 'state-ack',
        from: readMemberRef(r, s),
        group: r.string('group', s),
        pos: readPosition(r),
        offset: r.varint('offset'),
      };
    case MessageType['status-req']:
      return { t: 'status-req', from: readMemberRef(r, s), id: r.varint('id') };
    case MessageType['status-reply']:
      return {
        t: 'status-reply',
        from: readMemberRef(r, s),
        id: r.varint('id'),
        doc: r.bytesView('doc', Math.min(l.payloadBytesMax, STATUS_DOC_BYTES_MAX)),
      };
    case MessageType['join-refused']:
      return { t: 'join-refused', from: readMemberRef(r, s), to: readMemberRef(r, s), live: readMemberRef(r, s) };
    case MessageType.persisted:
      return { t: 'persisted', from: readMemberRef(r, s), epoch: r.varint('epoch'), pos: readPosition(r) };
    case MessageType.restart:
      return readRestart(r, l);
    default:
      throw new WireError(`unknown message type ${tag}`);
  }
}

function readMemberRef(r: Reader, stringBytesMax: number): MemberRef {
  return { id: r.string('member id', stringBytesMax), inc: r.varint('member inc') };
}

function readUints(r: Reader, l: Readonly<WireLimits>, what: string): number[] {
  const n = r.length(what, l.arrayLengthMax, 1);
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push(r.varint(what));
  return out;
}

function readMemberRefs(r: Reader, l: Readonly<WireLimits>, what: string): MemberRef[] {
  const n = r.length(what, l.arrayLengthMax, MIN_MEMBER_REF);
  const out: MemberRef[] = [];
  for (let i = 0; i < n; i++) out.push(readMemberRef(r, l.stringBytesMax));
  return out;
}

function readStrings(r: Reader, l: Readonly<WireLimits>, what: string): string[] {
  const n = r.length(what, l.arrayLengthMax, MIN_STRING);
  const out: string[] = [];
  for (let i = 0; i < n; i++) out.push(r.string(what, l.stringBytesMax));
  return out;
}

function readKind(r: Reader): EntryKind {
  const at = r.pos;
  const k = r.u8('kind');
  if (entryKindValid[k] !== 1) {
    throw new WireError(`bad kind at byte ${at}: ${k} is not an EntryKind`);
  }
  return k as EntryKind;
}

function readBallot(r: Reader, stringBytesMax: number): Ballot {
  return {
    round: r.varint('ballot round'),
    proposer: r.string('ballot proposer', stringBytesMax + MEMBER_KEY_SUFFIX_BYTES),
  };
}

function readPosition(r: Reader): Position {
  return { epoch: r.varint('position epoch'), gseq: r.varint('position gseq') };
}

function readOrderEntries(r: Reader, l: Readonly<WireLimits>): OrderEntry[] {
  const n = r.length('entries', l.arrayLengthMax, MIN_ORDER_ENTRY);
  const out: OrderEntry[] = [];
  for (let i = 0; i < n; i++) out.push({ rank: r.varint('rank'), seq: r.varint('seq') });
  return out;
}

function readView(r: Reader, l: Readonly<WireLimits>): EndpointView {
  const epoch = r.varint('view epoch');
  const n = r.length('view members', l.arrayLengthMax, MIN_MEMBER_INFO);
  const s = l.stringBytesMax;
  const members: MemberInfo[] = [];
  for (let i = 0; i < n; i++) {
    members.push({
      id: r.string('member id', s),
      inc: r.varint('member inc'),
      addr: r.string('member addr', s),
    });
  }
  return { epoch, members };
}

function readProposal(r: Reader, l: Readonly<WireLimits>): Proposal {
  return {
    view: readView(r, l),
    cut: r.varint('cut'),
    joined: readMemberRefs(r, l, 'joined'),
    left: readMemberRefs(r, l, 'left'),
    failed: readMemberRefs(r, l, 'failed'),
    failures: readFailures(r, l),
    restored: readRestored(r, l),
  };
}

function readFailures(r: Reader, l: Readonly<WireLimits>): Failure[] {
  const n = r.length('failures', l.arrayLengthMax, 2 * MIN_MEMBER_REF + 3);
  const out: Failure[] = [];
  for (let i = 0; i < n; i++) {
    const member = readMemberRef(r, l.stringBytesMax);
    const by = readMemberRef(r, l.stringBytesMax);
    const c = r.u8('failure cause');
    const cause = FAILURE_CAUSES[c];
    if (cause === undefined) throw new WireError(`unknown failure cause ${c}`);
    out.push({ member, by, cause, silentMs: r.varint('failure silentMs'), verified: r.bool('failure verified') });
  }
  return out;
}

function readLog(r: Reader, l: Readonly<WireLimits>): LogEntry[] {
  const n = r.length('log', l.arrayLengthMax, MIN_LOG_ENTRY);
  const s = l.stringBytesMax;
  const out: LogEntry[] = [];
  for (let i = 0; i < n; i++) {
    out.push({
      gseq: r.varint('gseq'),
      sender: readMemberRef(r, s),
      seq: r.varint('seq'),
      kind: readKind(r),
      group: r.string('group', s),
      safe: r.bool('safe'),
      payload: r.present('payload presence') ? r.bytesView('payload', l.payloadBytesMax) : null,
    });
  }
  return out;
}

function readGroups(r: Reader, l: Readonly<WireLimits>): GroupRecord[] {
  const n = r.length('groups', l.arrayLengthMax, MIN_GROUP);
  const s = l.stringBytesMax;
  const out: GroupRecord[] = [];
  for (let i = 0; i < n; i++) {
    const name = r.string('group name', s);
    const viewId = r.varint('group viewId');
    const members = readMemberRefs(r, l, 'group members');
    const m = r.length('awaiting', l.arrayLengthMax, MIN_AWAITING);
    const awaiting: AwaitingState[] = [];
    for (let j = 0; j < m; j++) {
      awaiting.push({
        member: readMemberRef(r, s),
        provider: r.present('provider presence') ? readMemberRef(r, s) : null,
        pos: readPosition(r),
      });
    }
    out.push({ name, viewId, members, awaiting });
  }
  return out;
}
