/**
 * What the simulator's two digest applications (`scenario-app.ts`, `swarm-app.ts`)
 * share: the form of their checkpoint, and the history record of a group view.
 *
 * The checkpoint is one JSON line `{"count":…,"digest":…}` (the `cohort member` state,
 * see `check/digest.ts`), then zero bytes of padding, so that a seed can make states of
 * several MiB without building them.
 */
import type { ViewEvent } from '../check/history.js';
import type { View } from '../api/view.js';
import { memberKey } from '../core/types.js';

/** The replicated state of a digest application. */
export interface DigestState {
  readonly count: number;
  readonly digest: string;
}

const textEncoder = new TextEncoder();
const textDecoder = new TextDecoder();
/** The head line is short: it is read from at most this many bytes of a checkpoint. */
const HEAD_BYTES_MAX = 200;

/** The checkpoint of `state`, followed by `paddingBytes` zero bytes. */
export function digestCheckpoint(state: DigestState, paddingBytes: number): Uint8Array {
  const head = textEncoder.encode(`${JSON.stringify({ count: state.count, digest: state.digest })}\n`);
  const out = new Uint8Array(head.length + paddingBytes);
  out.set(head, 0);
  return out;
}

/** The state a checkpoint made by {@link digestCheckpoint} holds. */
export function readDigestCheckpoint(data: Uint8Array): DigestState {
  const text = textDecoder.decode(data.subarray(0, Math.min(data.length, HEAD_BYTES_MAX)));
  const nl = text.indexOf('\n');
  const head = JSON.parse(nl < 0 ? text : text.slice(0, nl)) as { count: number; digest: string };
  return { count: head.count, digest: head.digest };
}

/** The history record of a view of `group` installed at `time`. */
export function viewRecord(group: string, view: View, time: number): ViewEvent {
  return {
    type: 'view',
    group,
    viewId: view.id,
    network: view.network,
    members: view.refs.members.map(memberKey),
    joined: view.refs.joined.map(memberKey),
    left: view.refs.left.map(memberKey),
    failed: view.refs.failed.map(memberKey),
    reason: view.reason,
    time,
  };
}
