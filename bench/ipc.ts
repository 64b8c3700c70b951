/**
 * The control protocol between the benchmark driver (`bench.ts`) and its member
 * processes (`member.ts`), carried on the `child_process.fork` IPC channel.
 *
 * Control never goes through standard output: the driver's standard output is a
 * contract (exactly one JSON line), and the members' is redirected to standard error.
 *
 * Times are epoch milliseconds (`performance.timeOrigin + performance.now()`), so that
 * every process on the host reads the same instant from one number; each member turns
 * them into its own `performance.now()` scale once, on receipt.
 */
import { performance } from 'node:perf_hooks';

/** Everything a member needs to know before it starts. */
export interface MemberConfig {
  /** Position in the driver's list, 0-based; also the index used in digests. */
  readonly index: number;
  /** Member ids, by index (`m0`, `m1`, …). */
  readonly ids: readonly string[];
  /** Pre-allocated loopback ports, by index. */
  readonly ports: readonly number[];
  /** Plain TCP mesh instead of Cohort (the raw fan-out limit). */
  readonly raw: boolean;
  /** Payload bytes per message. */
  readonly size: number;
  /** Cohort safe delivery instead of agreed. */
  readonly safe: boolean;
  /** Durable groups: the member's log folder, its multicasts' durability, and whether it flushes; or null. */
  readonly persist: { readonly dir: string; readonly durable: 'none' | 'local' | 'majority' | 'all'; readonly fsync: boolean } | null;
  /** Multicasts a flooding sender keeps outstanding. */
  readonly window: number;
  /** `suspectTimeoutMs` of the endpoint, or `null` for the library default. */
  readonly suspectMs: number | null;
  /** The network secret (hex), or `null` to run without authentication and encryption. */
  readonly secret: string | null;
  /** TLS PEMs (one certificate for all members, signed by a throwaway CA), or `null`. */
  readonly tls: { readonly key: string; readonly cert: string; readonly ca: string } | null;
  /** Print the endpoint's diagnostics on standard error. */
  readonly verbose: boolean;
  /** Groups every member joins (`bench`, or `bench/0` … when more than one); senders take turns. */
  readonly groups: number;
}

/** What a member does once started. */
export type Role = 'flood' | 'latency' | 'receive';

/** Driver → member. */
export type ToMember =
  | { readonly type: 'init'; readonly config: MemberConfig }
  | {
      readonly type: 'start';
      readonly role: Role;
      /** Raw latency mode: receivers echo every message back to its sender. */
      readonly echo: boolean;
      /** Senders begin here (epoch ms). */
      readonly sendAt: number;
      /** The measured window [windowStart, windowEnd) (epoch ms); senders stop at its end. */
      readonly windowStart: number;
      readonly windowEnd: number;
    }
  /** Every sender stopped; `total` messages were sent in all: report once delivered. */
  | { readonly type: 'expect'; readonly total: number }
  /** Report now, reached or not (the driver gave up waiting). */
  | { readonly type: 'query' }
  | { readonly type: 'exit' };

/** Latency samples in the window, summarised (ms). */
export interface LatencySummary {
  readonly samples: number;
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
}

/** A member's result. */
export interface MemberResult {
  readonly index: number;
  /** Whether `delivered` reached the expected total. */
  readonly reached: boolean;
  /** Messages delivered since the start (own included). */
  readonly delivered: number;
  /** Messages and payload bytes delivered inside the measured window. */
  readonly windowMsgs: number;
  readonly windowBytes: number;
  /** SHA-256 (hex) of the delivered stream, see `StreamDigest`. */
  readonly digest: string;
  /** Multicasts this member sent (0 for receivers). */
  readonly sent: number;
  /** Multicast → self-delivery of the latency sender (ms), one message at a time; `null` elsewhere. */
  readonly latency: LatencySummary | null;
  /** Multicast → resolve of a flooding Cohort sender (ms), under load; `null` elsewhere. */
  readonly loaded: LatencySummary | null;
  /** Messages delivered in each whole second of the window: a 0 is a stall. */
  readonly perSecond: readonly number[];
  /** Largest resident set size seen during the run, sampled every 100 ms (bytes). */
  readonly rssPeakBytes: number;
  /** Event-loop delay since the start (ms): how long the member's loop was blocked. */
  readonly loopDelayMs: { readonly p99: number; readonly max: number };
  /** The endpoint's protocol counters at the end (Cohort only), for diagnostics. */
  readonly stats: Readonly<Record<string, unknown>> | null;
}

/** Member → driver. */
export type FromMember =
  /**
   * In a group view of all members (Cohort) or a full mesh (raw). `order`: member ids in
   * the network view's rank order, the coordinator (sequencer) first; index order for raw.
   */
  | { readonly type: 'ready'; readonly index: number; readonly order: readonly string[] }
  /** This sender stopped at the window's end after `sent` multicasts. */
  | { readonly type: 'sent'; readonly index: number; readonly sent: number }
  | { readonly type: 'final'; readonly result: MemberResult }
  /** Something that invalidates the run (a view change, blocked, excluded), not fatal by itself. */
  | { readonly type: 'anomaly'; readonly index: number; readonly text: string }
  /** Fatal: the member cannot go on. */
  | { readonly type: 'error'; readonly index: number; readonly text: string };

/** Now, in epoch milliseconds with sub-millisecond resolution, comparable across processes. */
export function epochNow(): number {
  return performance.timeOrigin + performance.now();
}
