/**
 * A test's recorder of member histories in a `Simulation`, for the checker: each
 * member's application keeps the `cohort member` state (a running SHA-256 digest of
 * the stream) and logs every view, state, message, multicast, block and exclusion
 * the way the checker reads them. Multicasts carry their own id as payload
 * (`member#inc:group:n`), so a history names exactly what was delivered.
 */
import { createHash } from 'node:crypto';
import type { Endpoint, Group, GroupEvent } from '../src/endpoint.js';
import type { HistoryEvent, MemberHistory, SendEvent } from '../src/check/history.js';
import type { MemberRef } from '../src/core/types.js';
import type { Simulation } from '../src/sim/simulation.js';

const te = new TextEncoder();
const td = new TextDecoder();
const zero = '0'.repeat(64);
const key = (m: MemberRef): string => `${m.id}#${m.inc}`;

/** One member incarnation's history, still being written. */
export interface LiveHistory {
  readonly member: string;
  readonly events: HistoryEvent[];
  end: MemberHistory['end'];
}

export class Histories {
  readonly all: LiveHistory[] = [];
  private readonly sent = new Map<string, number>();

  constructor(private readonly sim: Simulation) {}

  /** The history of `ep`'s current incarnation. */
  of(ep: Endpoint): LiveHistory {
    const member = `${ep.id}#${ep.incarnation}`;
    let h = this.all.find((x) => x.member === member);
    if (h === undefined) {
      h = { member, events: [], end: 'up' };
      this.all.push(h);
    }
    return h;
  }

  /** Histories whose member id (without incarnation) is `id`. */
  byId(id: string): LiveHistory[] {
    return this.all.filter((h) => h.member.startsWith(`${id}#`));
  }

  /** Crash `id` in the simulation and mark its histories. */
  crash(id: string): void {
    this.sim.crash(id);
    for (const h of this.byId(id)) if (h.end === 'up') h.end = 'crashed';
  }

  /** Join `group` at `ep`, recording its events; `onExcluded` runs when the handle is told `excluded`. */
  join(ep: Endpoint, group: string, onExcluded?: () => void): Promise<Group> {
    let h = this.of(ep);
    const app = { count: 0, digest: zero, viewId: 0 };
    const sim = this.sim;
    const onEvent = (e: GroupEvent): void => {
      const time = sim.now;
      if (h.end === 'excluded') {
        // The endpoint joined the group again as its new incarnation (option `rejoin`):
        // a new history, and the application starts over from the state it is given.
        h = this.of(ep);
        app.count = 0;
        app.digest = zero;
        app.viewId = 0;
      }
      switch (e.type) {
        case 'view':
          app.viewId = e.view.id;
          h.events.push({
            type: 'view',
            group,
            viewId: e.view.id,
            network: e.view.network,
            members: e.view.refs.members.map(key),
            joined: e.view.refs.joined.map(key),
            left: e.view.refs.left.map(key),
            failed: e.view.refs.failed.map(key),
            time,
          });
          break;
        case 'state': {
          const head = JSON.parse(td.decode(e.data).split('\n')[0]!) as { count: number; digest: string };
          app.count = head.count;
          app.digest = head.digest;
          h.events.push({ type: 'state', group, digest: app.digest, count: app.count, time });
          break;
        }
        case 'message': {
          const data = td.decode(e.data);
          app.digest = createHash('sha256').update(`${app.digest}\n${e.sender}\n${data}`).digest('hex');
          app.count += 1;
          const senderSeq = Number(data.slice(data.lastIndexOf(':') + 1));
          h.events.push({ type: 'message', group, viewId: app.viewId, sender: `${e.sender}#${e.senderInc}`, msgId: data, senderSeq, safe: e.safe, time, digest: app.digest, count: app.count });
          break;
        }
        case 'blocked':
          h.events.push({ type: 'blocked', group, time });
          break;
        case 'excluded':
          h.events.push({ type: 'excluded', group, time });
          h.end = 'excluded';
          onExcluded?.();
          break;
        default:
          break;
      }
    };
    const checkpoint = (): Uint8Array => te.encode(`${JSON.stringify({ count: app.count, digest: app.digest })}\n`);
    return ep.join(group, { onEvent, checkpoint });
  }

  /** Multicast a fresh message id from `ep` to `group`; the send event notes when its promise resolved. */
  send(ep: Endpoint, group: string, safe = false): SendEvent & { resolvedAt?: number } {
    const h = this.of(ep);
    const k = `${h.member}:${group}`;
    const n = (this.sent.get(k) ?? 0) + 1;
    this.sent.set(k, n);
    const msgId = `${h.member}:${group}:${n}`;
    const ev: { -readonly [K in keyof SendEvent]: SendEvent[K] } = { type: 'send', group, msgId, senderSeq: n, safe, time: this.sim.now };
    h.events.push(ev);
    ep.group(group)!.multicast(te.encode(msgId), { safe }).then(
      () => {
        ev.resolvedAt = this.sim.now;
      },
      () => undefined,
    );
    return ev;
  }

  /** Message ids `h` delivered in `group`, in order. */
  static delivered(h: LiveHistory, group: string): string[] {
    const out: string[] = [];
    for (const e of h.events) if (e.type === 'message' && e.group === group) out.push(e.msgId);
    return out;
  }
}
