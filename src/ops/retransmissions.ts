/**
 * The endpoint's debug report of retransmissions: at most once a second, what was sent
 * again since the last report.
 *
 * Intuition: the core counts retransmissions (NAKs sent and answered, own entries and
 * state chunks resent) but never logs them, to keep its hot path quiet; the endpoint
 * turns the counters' growth into one line a second, and only when a logger would
 * write a debug record, so a quiet deployment pays nothing for it.
 */
import type { CoreCounters } from '../core/counters.js';
import { Logger } from '../log.js';
import type { LoggerLike } from '../log.js';

/** Whether `logger` writes debug records (a logger that cannot say is taken to). */
export function debugEnabled(logger: LoggerLike): boolean {
  if (logger instanceof Logger) return logger.enabled('debug');
  const l = logger as Partial<{ isLevelEnabled(level: string): boolean }>;
  return typeof l.isLevelEnabled === 'function' ? l.isLevelEnabled('debug') : true;
}

/** The retransmission counters at the last report, and what has grown since. */
export class RetransmitLog {
  private last = { at: 0, naks: 0, answered: 0, data: 0, state: 0 };

  /**
   * The line to log at `now` (clock ms) for what `c` counted since the last report, with
   * its fields; `null` within a second of it, or when nothing was resent.
   */
  report(now: number, c: CoreCounters): { line: string; fields: Readonly<Record<string, unknown>> } | null {
    const last = this.last;
    if (now - last.at < 1000) return null;
    const naks = c.naksSent - last.naks;
    const answered = c.naksAnswered - last.answered;
    const data = c.dataResent - last.data;
    const state = c.stateChunksResent - last.state;
    this.last = { at: now, naks: c.naksSent, answered: c.naksAnswered, data: c.dataResent, state: c.stateChunksResent };
    if (naks + answered + data + state === 0) return null;
    return {
      line: `retransmissions in the last ${Math.round(now - last.at)} ms: ${naks} NAKs sent, ${answered} entries resent to NAKs, ${data} own entries resent, ${state} state chunks resent`,
      fields: { naks, answered, data, state },
    };
  }
}
