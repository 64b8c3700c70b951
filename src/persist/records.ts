/**
 * What a durable endpoint writes in its segment log, record by record, and how each
 * reads back: the views it installed, every entry it delivered (of every group, in
 * the order delivered), and the states its groups received by transfer.
 *
 * Intuition: the log is the endpoint's ordered stream as it delivered it, so replaying
 * it in order rebuilds what the endpoint's application saw — a view record before the
 * entries of its epoch, a group's received state before the entries that follow its
 * join. Entries keep their wire fields (sender, sequence number, kind, group, the
 * bundle's bytes as sent), so a replay can run them through the same delivery code.
 *
 * Layout (numbers little-endian; strings UTF-8 with a u16 length):
 * - `view` (kind 1): JSON `{ network, epoch, members: [{ id, inc, addr }] }` (rare), and
 *   for a restart from the logs `restored: [{ group, by }]`, `by` a rank in `members`;
 * - `entry` (kind 2): epoch f64, gseq f64, seq f64, sender inc f64, kind u8, safe u8,
 *   sender id str, group str, then the payload to the end;
 * - `state` (kind 3): epoch f64, gseq f64 (the position the state was taken at), group
 *   str, then the state's bytes to the end;
 * - `base` (kind 4): JSON `{ network, epoch, members, table, floor, pos }`: a checkpoint
 *   round begins at `pos` — the view then, and the group table (`GroupTable.snapshot`,
 *   its `viewIdFloor`) after every entry up to `pos`;
 * - `checkpoint` (kind 5): like `state`: one group's application state (its
 *   `checkpoint()`) after every entry up to the round's position;
 * - `round` (kind 6): base index f64: every group's checkpoint of the round that began
 *   at that `base` record is in the log. Segments wholly before the base may go.
 *
 * Entries delivered after a round's position may come before its checkpoint records in
 * the log (the application takes the checkpoint in its turn): positions, not the order
 * of records, say what a checkpoint covers.
 */
import type { DataMsg, EndpointView, EntryKind, GroupRecord, Position, Restored } from '../core/types.js';
import { CorruptLogError } from '../errors.js';

/** The kind byte of each record. */
export const RecordKind = { view: 1, entry: 2, state: 3, base: 4, checkpoint: 5, round: 6 } as const;

/** A view installed here, and the network it belongs to. */
export interface ViewRecord {
  readonly kind: 'view';
  readonly network: string;
  readonly view: EndpointView;
  /** A restart from the logs: the groups restored, each by a member of `view` (its rank). */
  readonly restored: readonly Restored[];
}

/** An entry delivered here at `pos`. */
export interface EntryRecord {
  readonly kind: 'entry';
  readonly pos: Position;
  readonly entry: Omit<DataMsg, 't' | 'from' | 'epoch' | 'relay'>;
}

/** The state of `group` this endpoint received, taken at `pos`. */
export interface StateRecord {
  readonly kind: 'state';
  readonly group: string;
  readonly pos: Position;
  readonly data: Uint8Array;
}

/** A checkpoint round begins: the view and the group table at `pos`. */
export interface BaseRecord {
  readonly kind: 'base';
  readonly network: string;
  readonly view: EndpointView;
  readonly table: readonly GroupRecord[];
  readonly floor: number;
  readonly pos: Position;
}

/** One group's application state at `pos` (a checkpoint round's). */
export interface CheckpointRecord {
  readonly kind: 'checkpoint';
  readonly group: string;
  readonly pos: Position;
  readonly data: Uint8Array;
}

/** Every checkpoint of the round begun at log index `base` is in the log. */
export interface RoundRecord {
  readonly kind: 'round';
  readonly base: number;
}

export type StoreRecord = ViewRecord | EntryRecord | StateRecord | BaseRecord | CheckpointRecord | RoundRecord;

const utf8 = new TextEncoder();
const fromUtf8 = new TextDecoder('utf-8', { fatal: true });

/** The fixed part of an entry record: four f64 and two u8. */
const ENTRY_FIXED = 4 * 8 + 2;

/** Encode a view record's payload. */
export function encodeView(network: string, view: EndpointView, restored: readonly Restored[] = []): Uint8Array {
  const members = view.members.map((m) => ({ id: m.id, inc: m.inc, addr: m.addr }));
  return utf8.encode(JSON.stringify(restored.length === 0 ? { network, epoch: view.epoch, members } : { network, epoch: view.epoch, members, restored }));
}

function str(s: string): Uint8Array {
  const b = utf8.encode(s);
  if (b.length > 0xffff) throw new RangeError(`string of ${b.length} bytes in a log record`);
  return b;
}

/** Encode an entry record's payload. */
export function encodeEntry(pos: Position, d: DataMsg): Uint8Array {
  const id = str(d.sender.id);
  const group = str(d.group);
  const out = new Uint8Array(ENTRY_FIXED + 2 + id.length + 2 + group.length + d.payload.length);
  const v = new DataView(out.buffer);
  v.setFloat64(0, pos.epoch, true);
  v.setFloat64(8, pos.gseq, true);
  v.setFloat64(16, d.seq, true);
  v.setFloat64(24, d.sender.inc, true);
  out[32] = d.kind;
  out[33] = d.safe ? 1 : 0;
  let at = ENTRY_FIXED;
  v.setUint16(at, id.length, true);
  out.set(id, at + 2);
  at += 2 + id.length;
  v.setUint16(at, group.length, true);
  out.set(group, at + 2);
  at += 2 + group.length;
  out.set(d.payload, at);
  return out;
}

/** Encode a base record's payload. */
export function encodeBase(network: string, view: EndpointView, table: readonly GroupRecord[], floor: number, pos: Position): Uint8Array {
  const members = view.members.map((m) => ({ id: m.id, inc: m.inc, addr: m.addr }));
  return utf8.encode(JSON.stringify({ network, epoch: view.epoch, members, table, floor, pos }));
}

/** Encode a round record's payload. */
export function encodeRound(base: number): Uint8Array {
  const out = new Uint8Array(8);
  new DataView(out.buffer).setFloat64(0, base, true);
  return out;
}

/** Encode a state record's payload (a checkpoint record's too). */
export function encodeState(group: string, pos: Position, data: Uint8Array): Uint8Array {
  const g = str(group);
  const out = new Uint8Array(16 + 2 + g.length + data.length);
  const v = new DataView(out.buffer);
  v.setFloat64(0, pos.epoch, true);
  v.setFloat64(8, pos.gseq, true);
  v.setUint16(16, g.length, true);
  out.set(g, 18);
  out.set(data, 18 + g.length);
  return out;
}

/** Reads one record's fields, or says where it is malformed. */
class FieldReader {
  private at = 0;
  private readonly view: DataView;
  constructor(
    private readonly bytes: Uint8Array,
    private readonly index: number,
  ) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  private need(n: number): void {
    if (this.at + n > this.bytes.length) throw this.bad('shorter than its fields');
  }
  bad(why: string): CorruptLogError {
    return new CorruptLogError(`record ${this.index}`, this.at, why);
  }
  f64(): number {
    this.need(8);
    const x = this.view.getFloat64(this.at, true);
    this.at += 8;
    if (!Number.isSafeInteger(x) || x < 0) throw this.bad(`not a count: ${x}`);
    return x;
  }
  u8(): number {
    this.need(1);
    return this.bytes[this.at++] as number;
  }
  str(): string {
    this.need(2);
    const n = this.view.getUint16(this.at, true);
    this.at += 2;
    this.need(n);
    const s = fromUtf8.decode(this.bytes.subarray(this.at, this.at + n));
    this.at += n;
    return s;
  }
  rest(): Uint8Array {
    const r = this.bytes.subarray(this.at);
    this.at = this.bytes.length;
    return r;
  }
}

/**
 * Decode the record of `kind` at log index `index`.
 *
 * @throws CorruptLogError when its fields do not parse (its checksum matched, so this is
 *   a bug or another program's file, never a torn write).
 */
export function decodeRecord(index: number, kind: number, payload: Uint8Array): StoreRecord {
  const r = new FieldReader(payload, index);
  switch (kind) {
    case RecordKind.view: {
      let v: { network?: unknown; epoch?: unknown; members?: unknown; restored?: unknown };
      try {
        v = JSON.parse(fromUtf8.decode(payload)) as typeof v;
      } catch {
        throw r.bad('a view record that is not JSON');
      }
      if (typeof v.network !== 'string' || !Number.isSafeInteger(v.epoch) || !Array.isArray(v.members)) throw r.bad('a view record without its fields');
      const members = (v.members as { id?: unknown; inc?: unknown; addr?: unknown }[]).map((m) => {
        if (typeof m.id !== 'string' || !Number.isSafeInteger(m.inc) || typeof m.addr !== 'string') throw r.bad('a view member without its fields');
        return { id: m.id, inc: m.inc as number, addr: m.addr };
      });
      const restored = ((v.restored ?? []) as { group?: unknown; by?: unknown }[]).map((x) => {
        if (typeof x.group !== 'string' || !Number.isSafeInteger(x.by)) throw r.bad('a restored group without its fields');
        return { group: x.group, by: x.by as number };
      });
      return { kind: 'view', network: v.network, view: { epoch: v.epoch as number, members }, restored };
    }
    case RecordKind.entry: {
      const epoch = r.f64();
      const gseq = r.f64();
      const seq = r.f64();
      const inc = r.f64();
      const entryKind = r.u8();
      if (entryKind > 3) throw r.bad(`unknown entry kind ${entryKind}`);
      const safe = r.u8() === 1;
      const id = r.str();
      const group = r.str();
      return { kind: 'entry', pos: { epoch, gseq }, entry: { sender: { id, inc }, seq, kind: entryKind as EntryKind, group, safe, payload: r.rest() } };
    }
    case RecordKind.state:
    case RecordKind.checkpoint: {
      const epoch = r.f64();
      const gseq = r.f64();
      const group = r.str();
      return { kind: kind === RecordKind.state ? 'state' : 'checkpoint', group, pos: { epoch, gseq }, data: r.rest() };
    }
    case RecordKind.base: {
      let v: { network?: unknown; epoch?: unknown; members?: unknown; table?: unknown; floor?: unknown; pos?: { epoch?: unknown; gseq?: unknown } };
      try {
        v = JSON.parse(fromUtf8.decode(payload)) as typeof v;
      } catch {
        throw r.bad('a base record that is not JSON');
      }
      const view = decodeRecord(index, RecordKind.view, payload);
      if (view.kind !== 'view' || !Array.isArray(v.table) || !Number.isSafeInteger(v.floor) || !Number.isSafeInteger(v.pos?.epoch) || !Number.isSafeInteger(v.pos?.gseq)) {
        throw r.bad('a base record without its fields');
      }
      return { kind: 'base', network: view.network, view: view.view, table: v.table as GroupRecord[], floor: v.floor as number, pos: { epoch: v.pos!.epoch as number, gseq: v.pos!.gseq as number } };
    }
    case RecordKind.round:
      return { kind: 'round', base: r.f64() };
    default:
      throw r.bad(`unknown record kind ${kind}`);
  }
}
