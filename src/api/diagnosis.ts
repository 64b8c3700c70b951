/**
 * What a waiting `start` or `join` waits for, in words: the text of the error it ends
 * with when it times out or is aborted, and of the "still starting" log lines.
 *
 * Intuition: "timed out" alone sends an operator guessing. The endpoint knows more —
 * which seeds answer, refuse or are silent, whether a network answered but has not
 * taken it in, whether its view is changing — so it says that, and picks the error
 * code that names the likeliest cause (`ERR_REFUSED`, `ERR_UNREACHABLE`,
 * `ERR_NO_QUORUM`), falling back to `ERR_TIMEOUT`. Reading only, never acting.
 */
import type { EndpointCore } from '../core/endpoint-core.js';
import { ErrorCode } from '../errors.js';
import type { Transport } from '../transport/transport.js';

/** What a starting endpoint's diagnosis reads. */
export interface StartState {
  /** The seeds it was started with. */
  readonly seeds: readonly string[];
  /** Its core. */
  readonly core: Pick<EndpointCore, 'startProgress' | 'phase'>;
  /** Its transport (which may know why a seed cannot be reached). */
  readonly transport: Transport;
  /** The addresses any message came from while starting; `null` once in a view. */
  readonly heardFrom: ReadonlySet<string> | null;
  /** Its own address. */
  readonly address: string;
}

/** What a starting endpoint waits for, in words, and the error code that names it (null: no better than a timeout). */
export function startDiagnosis(s: StartState): { text: string; code: ErrorCode | null } {
  const seeds = s.seeds;
  const p = s.core.startProgress;
  if (seeds.length === 0) return { text: 'no seeds: founding a network of one', code: null };
  const transport = s.transport;
  const parts: string[] = [];
  let refused = 0;
  let answered = 0;
  for (const a of seeds) {
    const problem = transport.peerProblem?.(a) ?? null;
    const heard = s.heardFrom?.has(a) === true;
    if (heard) answered++;
    if (p.bootstrapping.includes(a)) parts.push(`${a} starting too`);
    else if (p.contact === a || p.known?.members.some((m) => m.addr === a) === true) parts.push(`${a} in the network`);
    else if (heard) parts.push(`${a} answers`);
    else if (problem !== null) {
      if (problem.kind === 'refused') refused++;
      parts.push(`${a} ${problem.kind === 'refused' ? 'refuses us' : 'unreachable'} (${problem.reason})`);
    } else parts.push(`${a} silent`);
  }
  let what: string;
  let code: ErrorCode | null;
  if (p.restart !== null && s.core.phase === 'bootstrapping') {
    what = `no network answers: restarting it from the logs${p.restart === '' ? '' : `, which waits: ${p.restart}`}`;
    code = ErrorCode.noQuorum;
  } else if (s.core.phase === 'joining') {
    what = `a network answered${p.contact === null ? '' : ` (coordinator ${p.contact})`} but has not taken this endpoint in: it may have no majority, or be changing its view`;
    code = ErrorCode.noQuorum;
  } else if (refused > 0 && answered === 0) {
    what = 'a seed refused the handshake';
    code = ErrorCode.refused;
  } else if (answered === 0) {
    what = 'no seed answers';
    code = ErrorCode.unreachable;
  } else {
    what = `no network answers, and founding one needs every seed starting at once (${p.bootstrapping.length + 1} of ${new Set([...seeds, s.address]).size} are)`;
    code = ErrorCode.noQuorum;
  }
  return { text: `${what}; ${parts.join(', ')}`, code };
}

/** What a join of group `name` waits for, in words (`closed`: the endpoint is). */
export function joinDiagnosis(core: Pick<EndpointCore, 'phase' | 'flowState' | 'wedged' | 'self' | 'groupTable'>, name: string, closed: boolean): string {
  if (closed) return 'the endpoint is stopped';
  if (core.phase !== 'member') return `this endpoint is not in a network view (${core.phase})`;
  if (core.flowState().blocked) return 'the network has no majority this endpoint can reach (blocked)';
  if (core.wedged) return 'the network is changing its view';
  const self = core.self;
  if (core.groupTable.members(name).some((m) => m.id === self.id && m.inc === self.inc)) return "waiting for the group's state";
  return 'the join is not ordered yet';
}
