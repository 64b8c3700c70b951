/**
 * Example-based tests of the wire codec: a realistic sample of every message kind
 * round-trips exactly (and canonically), three golden frames pin the format, and every
 * kind of malformed frame is rejected with `WireError` and nothing else.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';

import type { Ballot, EndpointView, Message, MemberRef, Proposal } from '../src/core/types.js';
import { EntryKind } from '../src/core/types.js';
import { AssertionFailure, ErrorCode, OptionError, WireError } from '../src/errors.js';
import { Reader, Writer } from '../src/wire/buffer.js';
import {
  decodeMessage,
  defaultWireLimits,
  encodeMessage,
  MessageType,
  messageTypeName,
  messageTypes,
  peekMessageType,
  readMessage,
  resolveWireLimits,
  STATUS_DOC_BYTES_MAX,
  WIRE_VERSION,
  writeMessage,
} from '../src/wire/codec.js';

const MAX = Number.MAX_SAFE_INTEGER;
const V = WIRE_VERSION;
const bytes = (...b: number[]): Uint8Array => new Uint8Array(b);
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

const a: MemberRef = { id: 'ctl-1', inc: 17 };
const b: MemberRef = { id: 'ñodo-β', inc: 0 };
const c: MemberRef = { id: '', inc: MAX };
const d: MemberRef = { id: '🦀 crab', inc: 2 ** 31 };
const ballot: Ballot = { round: 3, proposer: 'ctl-1#17' };
const view: EndpointView = {
  epoch: 7,
  members: [
    { ...a, addr: '10.0.0.1:7000' },
    { ...b, addr: '[::1]:7001' },
    { ...c, addr: '' },
  ],
};
const proposal: Proposal = {
  view,
  cut: 1234,
  joined: [c],
  left: [],
  failed: [b, d],
  failures: [
    { member: b, by: a, cause: 'silence', silentMs: 1012, verified: true },
    { member: d, by: a, cause: 'laggard', silentMs: 0, verified: false },
  ],
  restored: [{ group: 'atc/sector-1', by: 0 }, { group: '', by: MAX }],
};

/** At least one sample of each of the 22 kinds, several for the ones with edges. */
const samples: Message[] = [
  { t: 'probe', from: a, addr: '10.0.0.1:7000', config: ['10.0.0.1:7000', '10.0.0.2:7000'] },
  { t: 'probe', from: c, addr: '', config: [] },
  { t: 'probe-reply', from: b, addr: 'x', config: ['a', '', 'ü'], view: { epoch: 0, members: [] }, joining: true },
  { t: 'probe-reply', from: a, addr: 'h:1', config: [], view: { epoch: MAX, members: [{ ...a, addr: '10.0.0.1:7000' }] }, joining: false },
  { t: 'join-req', from: d, addr: 'host.example:9000' },
  { t: 'leave-req', from: a, epoch: 1 },
  { t: 'heartbeat', from: a, epoch: 5, ordered: 1000, stable: 990, committed: 995, held: 999, hears: true, behind: false },
  { t: 'heartbeat', from: c, epoch: 0, ordered: 0, stable: 0, committed: MAX, held: MAX, hears: false, behind: true },
  { t: 'ack', from: b, epoch: 5, held: 2 ** 32 + 1 },
  {
    t: 'data',
    from: a,
    epoch: 5,
    sender: b,
    seq: 1,
    kind: EntryKind.app,
    group: 'chat/room-1',
    safe: false,
    relay: true,
    payload: bytes(0, 1, 2, 255),
  },
  {
    t: 'data',
    from: c,
    epoch: MAX,
    sender: c,
    seq: MAX,
    kind: EntryKind.stateDone,
    group: '',
    safe: true,
    relay: false,
    payload: new Uint8Array(0),
  },
  { t: 'order', from: a, epoch: 5, first: 101, entries: [{ rank: 0, seq: 1 }, { rank: 2, seq: 300 }], stable: 100, committed: 102 },
  { t: 'order', from: a, epoch: 5, first: 0, entries: [], stable: 0, committed: 0 },
  { t: 'nak', from: b, epoch: 5, first: 10, last: 20 },
  { t: 'prepare', from: a, epoch: 0, ballot, config: ['a:1', 'b:2', 'c:3'] },
  { t: 'prepare', from: a, epoch: 9, ballot: { round: 0, proposer: '' }, config: [] },
  {
    t: 'promise',
    from: b,
    addr: '[::1]:7001',
    epoch: 7,
    ballot,
    acceptedBallot: { round: 2, proposer: 'ñodo-β#0' },
    accepted: proposal,
    held: 1240,
    stable: 1200,
    log: [
      { gseq: 1201, sender: a, seq: 44, kind: EntryKind.app, group: 'g', safe: true, payload: bytes(9, 9) },
      { gseq: 1202, sender: b, seq: 1, kind: EntryKind.join, group: 'g', safe: false, payload: null },
      { gseq: 1203, sender: d, seq: 2, kind: EntryKind.leave, group: 'ü', safe: false, payload: new Uint8Array(0) },
    ],
    heardAgoMs: [0, 97, MAX],
  },
  {
    t: 'promise',
    from: c,
    addr: '',
    epoch: 0,
    ballot: { round: MAX, proposer: `${'x'.repeat(1024)}#${MAX}` },
    acceptedBallot: null,
    accepted: null,
    held: 0,
    stable: 0,
    log: [],
    heardAgoMs: [],
  },
  { t: 'reject', from: b, epoch: 7, ballot, promised: { round: 4, proposer: 'z#1' } },
  {
    t: 'accept',
    from: a,
    epoch: 7,
    ballot,
    proposal,
    log: [{ gseq: 1234, sender: c, seq: 3, kind: EntryKind.stateDone, group: 'g', safe: true, payload: bytes(1) }],
    commit: true,
  },
  {
    t: 'accept',
    from: a,
    epoch: 7,
    ballot,
    proposal: { view: { epoch: 8, members: [] }, cut: 0, joined: [], left: [], failed: [], failures: [], restored: [] },
    log: [],
    commit: false,
  },
  { t: 'accepted', from: b, epoch: 7, ballot },
  { t: 'commit', from: a, epoch: 7, ballot },
  { t: 'installed', from: b, epoch: 8 },
  {
    t: 'welcome',
    from: a,
    view,
    joined: [c],
    left: [d],
    failed: [b],
    failures: [{ member: b, by: a, cause: 'refused', silentMs: MAX, verified: true }],
    groups: [
      {
        name: 'chat/room-1',
        viewId: 12,
        members: [a, b],
        awaiting: [
          { member: c, provider: a, pos: { epoch: 7, gseq: 0 } },
          { member: d, provider: null, pos: { epoch: 7, gseq: MAX } },
        ],
      },
      { name: '', viewId: 0, members: [], awaiting: [] },
    ],
    groupViewIdFloor: MAX,
    network: 'a#1/3',
    restored: [{ group: 'atc/sector-1', by: 2 }],
  },
  { t: 'welcome', from: a, view: { epoch: 1, members: [] }, joined: [], left: [], failed: [], failures: [], groups: [], groupViewIdFloor: 0, network: '', restored: [{ group: 'g', by: 1 }] },
  { t: 'not-member', from: a, epoch: 8, to: d },
  { t: 'join-refused', from: a, to: d, live: { id: d.id, inc: d.inc + 1 } },
  { t: 'persisted', from: a, epoch: 3, pos: { epoch: 2, gseq: MAX } },
  {
    t: 'restart',
    from: a,
    addr: '10.0.0.1:7000',
    was: { id: a.id, inc: a.inc - 1 },
    last: view,
    vote: { view: { epoch: 8, members: [] }, ballot, founding: true },
    end: { epoch: 7, gseq: MAX },
    groups: [{ name: 'atc/sector-1', members: [a, b], carried: false }, { name: '', members: [], carried: true }],
    restorable: ['atc/sector-1'],
  },
  { t: 'restart', from: a, addr: '', was: a, last: { epoch: 1, members: [] }, vote: null, end: { epoch: 0, gseq: 0 }, groups: [], restorable: [] },
  {
    t: 'state-chunk',
    from: a,
    group: 'kv',
    joiner: c,
    pos: { epoch: 7, gseq: 1234 },
    offset: 65536,
    total: 200000,
    data: new Uint8Array(1000).fill(0xab),
  },
  { t: 'state-chunk', from: a, group: 'kv', joiner: c, pos: { epoch: 1, gseq: 0 }, offset: 0, total: 0, data: bytes() },
  { t: 'state-ack', from: c, group: 'kv', pos: { epoch: 7, gseq: 1234 }, offset: 65536 },
  { t: 'status-req', from: { id: 'cohort-status', inc: 12345 }, id: 0 },
  { t: 'status-req', from: a, id: MAX },
  { t: 'status-reply', from: a, id: 7, doc: new TextEncoder().encode('{"version":1,"endpoint":{"id":"ñodo-β"}}') },
  { t: 'status-reply', from: b, id: MAX, doc: bytes() },
];

/** Calls `f` and returns the `WireError` it throws; fails if it throws anything else. */
function wireError(f: () => unknown): WireError {
  try {
    f();
  } catch (e) {
    if (e instanceof WireError) {
      assert.equal(e.code, ErrorCode.wire);
      return e;
    }
    throw new Error(`expected WireError, got ${String(e)}`, { cause: e });
  }
  assert.fail('expected WireError, nothing was thrown');
}

function rejects(frame: Uint8Array, pattern: RegExp, limits?: Parameters<typeof decodeMessage>[1]): void {
  const e = wireError(() => decodeMessage(frame, limits));
  assert.match(e.message, pattern);
}

/** A `Writer` for hand-built frames, unlimited so it can write what encode won't. */
function frame(build: (w: Writer) => void): Uint8Array {
  const w = new Writer(16);
  build(w);
  return w.finish();
}

const sample = <T extends Message['t']>(t: T): Extract<Message, { t: T }> =>
  samples.find((m) => m.t === t) as Extract<Message, { t: T }>;

test('the samples cover every message type, and the type table is consistent', () => {
  assert.equal(messageTypes.length, 25);
  assert.deepEqual(new Set(samples.map((m) => m.t)), new Set(messageTypes));
  messageTypes.forEach((t, i) => {
    assert.equal(MessageType[t], i + 1);
    assert.equal(messageTypeName(i + 1), t);
  });
  assert.equal(messageTypeName(0), undefined);
  assert.equal(messageTypeName(26), undefined);
  assert.equal(messageTypeName(1.5), undefined);
});

test('every sample round-trips exactly and canonically', () => {
  for (const m of samples) {
    const enc = encodeMessage(m);
    assert.equal(enc[0], WIRE_VERSION, m.t);
    assert.equal(enc[1], MessageType[m.t], m.t);
    assert.equal(peekMessageType(enc), m.t);
    const dec = decodeMessage(enc);
    assert.deepStrictEqual(dec, m, m.t);
    assert.deepStrictEqual(encodeMessage(dec), enc, `${m.t}: re-encoding gives the same bytes`);
  }
});

test('golden frames pin the format', () => {
  assert.equal(hex(encodeMessage({ t: 'installed', from: { id: 'a', inc: 1 }, epoch: 2 })), '081001610102');
  const welcome: Message = { t: 'welcome', from: { id: 'a', inc: 1 }, view: { epoch: 2, members: [] }, joined: [], left: [], failed: [], failures: [], groups: [], groupViewIdFloor: 300, network: 'a#1/2', restored: [] };
  assert.equal(
    hex(encodeMessage(welcome)),
    [
      '08', // version
      '11', // welcome
      '01', '61', '01', // from: "a", inc 1
      '02', '00', // view: epoch 2, no members
      '00', '00', '00', '00', // joined, left, failed, failures
      '00', // groups
      'ac02', // groupViewIdFloor 300
      '05', '6123312f32', // network "a#1/2"
      '00', // restored, last
    ].join(''),
  );
  const data: Message = {
    t: 'data',
    from: { id: 'a', inc: 300 },
    epoch: 2 ** 53 - 1,
    sender: { id: 'é', inc: 0 },
    seq: 128,
    kind: EntryKind.leave,
    group: 'g',
    safe: true,
    relay: false,
    payload: bytes(0xde, 0xad),
  };
  assert.equal(
    hex(encodeMessage(data)),
    [
      '08', // version
      '07', // data
      '01', '61', 'ac02', // from: "a", inc 300
      'ffffffffffffff0f', // epoch 2^53 - 1: eight bytes
      '02', 'c3a9', '00', // sender: "é", inc 0
      '8001', // seq 128
      '02', // kind leave
      '01', '67', // group "g"
      '01', // safe
      '00', // relay
      '02', 'dead', // payload
    ].join(''),
  );
  const probeReply: Message = { t: 'probe-reply', from: { id: 'b', inc: 2 }, addr: 'b', config: ['a', 'b'], view: { epoch: 3, members: [{ id: 'a', inc: 1, addr: 'a' }] }, joining: false };
  assert.equal(
    hex(encodeMessage(probeReply)),
    [
      '08', // version
      '02', // probe-reply
      '01', '62', '02', // from: "b", inc 2
      '01', '62', // addr "b"
      '02', '0161', '0162', // config ["a", "b"]
      '03', '01', '01', '61', '01', '01', '61', // view: epoch 3, one member "a" inc 1 at "a"
      '00', // joining: false
    ].join(''),
  );
});

test('decoded payloads are plain Uint8Array views into the frame', () => {
  const enc = encodeMessage(sample('data'));
  const m = decodeMessage(enc);
  assert.ok(m.t === 'data');
  assert.equal(m.payload.buffer, enc.buffer, 'a view, not a copy');
  const fromBuffer = decodeMessage(Buffer.from(enc));
  assert.ok(fromBuffer.t === 'data');
  assert.equal(Object.getPrototypeOf(fromBuffer.payload), Uint8Array.prototype);
  assert.deepStrictEqual(fromBuffer, sample('data'));
  // A frame inside a larger buffer, at an odd offset.
  const big = new Uint8Array(enc.length + 10);
  big.set(enc, 5);
  assert.deepStrictEqual(decodeMessage(big.subarray(5, 5 + enc.length)), sample('data'));
});

test('strings with a leading BOM, NULs and astral characters survive', () => {
  for (const id of ['\uFEFFbom', '\u0000nul\u0000', '𝄞'.repeat(10), 'a'.repeat(64) + 'é', 'é'.repeat(100)]) {
    const m: Message = { t: 'join-req', from: { id, inc: 1 }, addr: id };
    assert.deepStrictEqual(decodeMessage(encodeMessage(m)), m);
  }
});

test('every truncation of every sample is a WireError', () => {
  for (const m of samples) {
    const enc = encodeMessage(m);
    for (let i = 0; i < enc.length; i++) {
      const e = wireError(() => decodeMessage(enc.subarray(0, i)));
      assert.match(e.message, /truncated/, `${m.t} cut at ${i}: ${e.message}`);
    }
  }
});

test('trailing bytes are a WireError', () => {
  for (const m of samples) {
    const enc = encodeMessage(m);
    const longer = new Uint8Array(enc.length + 1);
    longer.set(enc);
    rejects(longer, /trailing bytes: 1 after/);
  }
  // readMessage reads one message and leaves the rest to its caller.
  const two = new Uint8Array([...encodeMessage(sample('ack')), ...encodeMessage(sample('installed'))]);
  const r = new Reader(two);
  assert.deepStrictEqual(readMessage(r), sample('ack'));
  assert.deepStrictEqual(readMessage(r), sample('installed'));
  r.expectEnd();
});

test('version and type bytes are checked', () => {
  rejects(bytes(), /truncated frame: version/);
  rejects(bytes(V), /truncated frame: type/);
  rejects(bytes(0, 16, 0, 0, 0), /unsupported wire format version 0/);
  // Version 1 had no failure reasons in proposals and welcomes.
  rejects(bytes(1, 16, 0, 0, 0), /unsupported wire format version 1/);
  // Version 2 had no relay flag in data messages.
  rejects(bytes(2, 16, 0, 0, 0), /unsupported wire format version 2/);
  // Version 3 had no `hears` flag in heartbeats and no group view id floor in welcomes.
  rejects(bytes(3, 16, 0, 0, 0), /unsupported wire format version 3/);
  // Version 4's probe replies named only the coordinator, not the whole view.
  rejects(bytes(4, 16, 0, 0, 0), /unsupported wire format version 4/);
  // Version 5 had no `behind` flag in heartbeats.
  rejects(bytes(5, 16, 0, 0, 0), /unsupported wire format version 5/);
  // Version 6 had no `persisted` message.
  rejects(bytes(6, 16, 0, 0, 0), /unsupported wire format version 6/);
  // Version 7 had no `restart` message and no restored groups in proposals.
  rejects(bytes(7, 16, 0, 0, 0), /unsupported wire format version 7/);
  for (const tag of [0, 26, 127, 255]) rejects(bytes(V, tag, 0, 0, 0), new RegExp(`unknown message type ${tag}`));
  assert.equal(peekMessageType(bytes(V, 7)), 'data');
  assert.match(wireError(() => peekMessageType(bytes(V, 99))).message, /unknown message type 99/);
  assert.match(wireError(() => peekMessageType(bytes(9, 7))).message, /version 9/);
});

test('varints: minimal, at most 8 bytes, at most 2^53 - 1', () => {
  const installed = (...epoch: number[]) => bytes(V, 16, 1, 0x61, 1, ...epoch);
  assert.deepStrictEqual(decodeMessage(installed(0x80, 0x01)), { t: 'installed', from: { id: 'a', inc: 1 }, epoch: 128 });
  const max = installed(0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x0f);
  assert.deepStrictEqual(decodeMessage(max), { t: 'installed', from: { id: 'a', inc: 1 }, epoch: MAX });
  rejects(installed(0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x10), /exceeds 2\^53 - 1/); // 2^53
  rejects(installed(0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f), /exceeds 2\^53 - 1/); // 2^56 - 1
  rejects(installed(0x81, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00), /longer than 8 bytes/);
  rejects(installed(0x80, 0x00), /non-minimal/); // 0 in two bytes
  rejects(installed(0x81, 0x80, 0x00), /non-minimal/); // 1 in three bytes
  rejects(installed(0x80), /truncated frame: varint epoch/);
  // A negative number has no encoding at all; the closest a forger gets is huge.
  rejects(installed(0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01), /longer than 8 bytes/);
});

test('a huge length prefix is rejected before anything is allocated', () => {
  const before = process.memoryUsage().arrayBuffers;
  // data message whose payload claims 2^53 - 1 bytes, then 1 GiB, then 1 byte too many.
  const head = [V, 7, 1, 0x61, 1, 1, 1, 0x62, 1, 1, 0, 1, 0x67, 0, 0];
  const maxLen = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x0f];
  rejects(bytes(...head, ...maxLen), /payload.*exceeds the limit of 16777216/);
  const unlimited = { payloadBytesMax: MAX, frameBytesMax: MAX };
  rejects(bytes(...head, ...maxLen), /truncated frame: payload/, unlimited);
  rejects(bytes(...head, 0x80, 0x80, 0x80, 0x80, 0x04), /truncated frame: payload/, unlimited);
  rejects(bytes(...head, 3, 1, 2), /truncated frame: payload at byte 15 declares length 3, only 2 bytes left/);
  // A string length.
  rejects(bytes(V, 3, ...maxLen), /member id.*exceeds the limit of 1024/);
  rejects(bytes(V, 3, 0x81, 0x08), /member id.*exceeds the limit of 1024/); // 1025
  rejects(bytes(V, 3, ...maxLen), /truncated frame: member id/, { stringBytesMax: MAX });
  // An array count: each OrderEntry needs at least 2 bytes, so 3 bytes cannot hold 2.
  const order = [V, 8, 1, 0x61, 1, 1, 1];
  rejects(bytes(...order, 0xc1, 0x84, 0x3d), /entries.*exceeds the limit of 1000000/); // 1_000_001
  rejects(bytes(...order, 0xc1, 0x84, 0x3d), /truncated frame: entries/, { arrayLengthMax: MAX });
  rejects(bytes(...order, 2, 0, 0, 0), /truncated frame: entries .* declares length 2, only 3 bytes left/);
  const grown = process.memoryUsage().arrayBuffers - before;
  assert.ok(grown < 1 << 20, `array buffers grew by ${grown} bytes`);
});

test('invalid UTF-8 is a WireError', () => {
  const joinReq = (...id: number[]) => bytes(V, 3, id.length, ...id, 1, 0);
  assert.deepStrictEqual(decodeMessage(joinReq(0xc3, 0xa9)), { t: 'join-req', from: { id: 'é', inc: 1 }, addr: '' });
  for (const bad of [
    [0xff],
    [0x80], // a lone continuation byte
    [0xc3], // a truncated sequence
    [0xc0, 0x80], // overlong NUL
    [0xe0, 0x80, 0xaf], // overlong '/'
    [0xed, 0xa0, 0x80], // a UTF-16 surrogate (U+D800)
    [0xf4, 0x90, 0x80, 0x80], // above U+10FFFF
    [0x61, 0x62, 0xfe],
  ]) {
    rejects(joinReq(...bad), /bad member id at byte 3: invalid UTF-8/);
  }
  // Past the ASCII fast path's 64 bytes too.
  const long = [...new Array<number>(70).fill(0x61), 0xff];
  rejects(joinReq(...long), /invalid UTF-8/);
});

test('booleans, presence bytes and EntryKind are checked', () => {
  const data = encodeMessage(sample('data'));
  // Layout of the first data sample: 01 07 | from 05 ctl-1 11 | 05 | sender 08 ñodo-β 00 | 01 | kind | ...
  const kindAt = 2 + 1 + 5 + 1 + 1 + 1 + 8 + 1 + 1;
  assert.equal(data[kindAt], EntryKind.app);
  for (const bad of [4, 7, 255]) {
    const copy = data.slice();
    copy[kindAt] = bad;
    rejects(copy, new RegExp(`bad kind at byte ${kindAt}: ${bad} is not an EntryKind`));
  }
  const safeAt = kindAt + 1 + 1 + 'chat/room-1'.length;
  assert.equal(data[safeAt], 0);
  const badBool = data.slice();
  badBool[safeAt] = 2;
  rejects(badBool, /bad safe .*boolean byte 2 is not 0 or 1/);

  const commitFalse = encodeMessage(samples.filter((m) => m.t === 'accept')[1]!);
  const badCommit = commitFalse.slice();
  badCommit[badCommit.length - 1] = 2;
  rejects(badCommit, /bad commit/);

  // promise with acceptedBallot presence 2.
  const promise = frame((w) => {
    w.u8(V);
    w.u8(MessageType.promise);
    w.string('a', 10, '');
    w.varint(1, '');
    w.string('', 10, '');
    w.varint(0, '');
    w.varint(0, '');
    w.string('', 10, '');
    w.u8(2);
  });
  rejects(promise, /acceptedBallot presence .*presence byte 2/);
  // A log entry with payload presence 3.
  const log = frame((w) => {
    w.u8(V);
    w.u8(MessageType.accept);
    w.string('a', 10, '');
    w.varint(1, ''); // inc
    w.varint(1, ''); // epoch
    w.varint(0, ''); // round
    w.string('', 10, ''); // proposer
    w.varint(1, ''); // view epoch
    w.varint(0, ''); // members
    w.varint(0, ''); // cut
    w.varint(0, ''); // joined
    w.varint(0, ''); // left
    w.varint(0, ''); // failed
    w.varint(0, ''); // failures
    w.varint(0, ''); // restored
    w.varint(1, ''); // one log entry
    for (const v of [1, 0, 1, 1, 3, 0, 0, 3]) w.u8(v); // gseq, sender "", 1, seq 1, kind 3, group "", safe 0, presence 3
  });
  rejects(log, /payload presence .*presence byte 3/);
});

test('limits are enforced on decode and can be tightened or loosened', () => {
  const m = sample('probe');
  const enc = encodeMessage(m);
  rejects(enc, /frame of \d+ bytes exceeds the limit of 10/, { frameBytesMax: 10 });
  rejects(enc, /config.*length 2 exceeds the limit of 1/, { arrayLengthMax: 1 });
  rejects(enc, /member id.*exceeds the limit of 4/, { stringBytesMax: 4 });
  rejects(encodeMessage(sample('data')), /payload.*exceeds the limit of 3/, { payloadBytesMax: 3 });
  rejects(encodeMessage(sample('state-chunk')), /data.*exceeds the limit of 999/, { payloadBytesMax: 999 });
  assert.deepStrictEqual(decodeMessage(enc, { frameBytesMax: enc.length }), m);

  // The proposer of a ballot is a memberKey, allowed the id limit plus "#" and 16 digits.
  const longest = samples.find((x) => x.t === 'promise' && x.acceptedBallot === null)!;
  assert.deepStrictEqual(decodeMessage(encodeMessage(longest)), longest);
  const tooLong = { ...longest, ballot: { round: 1, proposer: 'x'.repeat(1024 + 18) } };
  assert.throws(() => encodeMessage(tooLong), AssertionFailure);
  const enc2 = encodeMessage(tooLong, { stringBytesMax: 1025 });
  rejects(enc2, /ballot proposer.*exceeds the limit of 1041/);
});

test('resolveWireLimits validates and caches', () => {
  assert.equal(resolveWireLimits(), defaultWireLimits);
  assert.equal(resolveWireLimits({}).stringBytesMax, 1024);
  const l = { arrayLengthMax: 5 };
  const r = resolveWireLimits(l);
  assert.equal(resolveWireLimits(l), r);
  assert.equal(resolveWireLimits(r), r);
  assert.deepStrictEqual(r, { ...defaultWireLimits, arrayLengthMax: 5 });
  assert.ok(Object.isFrozen(r) && Object.isFrozen(defaultWireLimits));
  for (const bad of [-1, 1.5, Number.NaN, 2 ** 53]) {
    assert.throws(() => resolveWireLimits({ frameBytesMax: bad }), OptionError);
  }
  assert.throws(
    () => resolveWireLimits({ nope: 1 } as Partial<typeof defaultWireLimits>),
    (e: unknown) => e instanceof OptionError && e.code === ErrorCode.unknownOption,
  );
});

test('encode asserts what decode would reject', () => {
  const bad: unknown[] = [
    { ...sample('installed'), epoch: -1 },
    { ...sample('installed'), epoch: 1.5 },
    { ...sample('installed'), epoch: Number.NaN },
    { ...sample('installed'), epoch: Number.POSITIVE_INFINITY },
    { ...sample('installed'), epoch: 2 ** 53 },
    { ...sample('installed'), from: { id: 'a', inc: -5 } },
    { ...sample('installed'), from: { id: 'lone \uD800 surrogate', inc: 1 } },
    { ...sample('installed'), from: { id: 'reversed \uDC00\uD800', inc: 1 } },
    { ...sample('installed'), from: { id: 'ends high \uD83E', inc: 1 } },
    { ...sample('installed'), from: { id: 'x'.repeat(1025), inc: 1 } },
    { ...sample('installed'), from: { id: 'é'.repeat(513), inc: 1 } }, // 1026 bytes
    { ...sample('data'), kind: 4 },
    { ...sample('data'), kind: '0' },
    { ...sample('data'), safe: 1 },
    { ...sample('data'), payload: [1, 2] },
    { ...sample('data'), payload: new Uint8Array(16 * 1024 * 1024 + 1) },
    { ...sample('order'), entries: [{ rank: -1, seq: 1 }] },
    { t: 'bogus', from: a },
  ];
  bad.forEach((m, i) => {
    assert.throws(() => encodeMessage(m as Message), AssertionFailure, `bad message #${i}`);
  });
  assert.throws(() => encodeMessage(sample('probe'), { arrayLengthMax: 1 }), AssertionFailure);
  assert.throws(() => encodeMessage(sample('state-chunk'), { frameBytesMax: 100 }), AssertionFailure);
  // A failed encode leaves the shared writer usable.
  assert.deepStrictEqual(decodeMessage(encodeMessage(sample('ack'))), sample('ack'));
  // The largest values that pass are accepted by decode.
  const edge = { ...sample('installed'), from: { id: 'é'.repeat(512), inc: MAX }, epoch: MAX };
  assert.deepStrictEqual(decodeMessage(encodeMessage(edge)), edge);
  // -0 is encoded as 0.
  assert.equal(hex(encodeMessage({ ...sample('installed'), epoch: -0 })).slice(-2), '00');
});

test('writeMessage appends to a caller-owned Writer', () => {
  const w = new Writer(4);
  w.u8(0xee); // the caller's own header
  writeMessage(w, sample('nak'));
  writeMessage(w, sample('heartbeat'));
  const all = w.finish();
  assert.equal(all[0], 0xee);
  const r = new Reader(all);
  r.u8('header');
  assert.deepStrictEqual(readMessage(r), sample('nak'));
  assert.deepStrictEqual(readMessage(r), sample('heartbeat'));
  r.expectEnd();
});

test('encodeMessage returns exact-size, independent copies, even after a large message', () => {
  const big = sample('state-chunk');
  const enc1 = encodeMessage({ ...big, data: new Uint8Array(4 << 20).fill(1) });
  const enc2 = encodeMessage(sample('ack'));
  assert.equal(enc1.length > 4 << 20, true);
  assert.equal(enc1.buffer.byteLength, enc1.length, 'exact-size copy');
  assert.notEqual(enc1.buffer, enc2.buffer);
  assert.deepStrictEqual(decodeMessage(enc2), sample('ack'));
});

test('a status document is bounded by STATUS_DOC_BYTES_MAX on both sides, whatever payloadBytesMax allows', () => {
  const from = { id: 'x', inc: 1 };
  const fits = encodeMessage({ t: 'status-reply', from, id: 1, doc: new Uint8Array(STATUS_DOC_BYTES_MAX).fill(0x20) });
  assert.equal((decodeMessage(fits) as { doc: Uint8Array }).doc.length, STATUS_DOC_BYTES_MAX);
  assert.throws(() => encodeMessage({ t: 'status-reply', from, id: 1, doc: new Uint8Array(STATUS_DOC_BYTES_MAX + 1) }), AssertionFailure);
  // Hand-built: the same frame with one byte more is refused before it is read.
  const over = frame((w) => {
    w.u8(WIRE_VERSION);
    w.u8(MessageType['status-reply']);
    w.string('x', 1024, 'id');
    w.varint(1, 'inc');
    w.varint(1, 'id');
    w.bytes(new Uint8Array(STATUS_DOC_BYTES_MAX + 1), Infinity, 'doc');
  });
  rejects(over, /doc/);
  // A tighter payload limit applies to it too.
  rejects(encodeMessage({ t: 'status-reply', from, id: 1, doc: new Uint8Array(100) }), /doc/, { payloadBytesMax: 99 });
});
