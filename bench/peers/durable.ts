/**
 * What the durable-write peers (etcd.ts, zookeeper.ts) share: their clients' `WRITER
 * key=value ...` lines to `RESULT` lines, and the loop over the points. Pure functions
 * apart from runDurableWorkload, tested on fixtures.
 *
 * Why a different accounting from results.ts: etcd and ZooKeeper replicate writes,
 * not multicasts. A write is acknowledged to its writer once it is in the log of a
 * majority of the 3 members, fsynced there (etcd: WAL per batch; ZooKeeper:
 * forceSync=yes); nobody "delivers" it to every member as a multicast is delivered.
 * So a throughput repetition's figure is the number of writes acknowledged per second
 * inside the window, SUMMED over the writers (one per member), and the RESULT line
 * says `kind=durable`. It is to be compared with Cohort's "ordered durable writes
 * acknowledged at majority" per second (the whole group's, not per member), never with
 * the msgs/s of `npm run bench` (messages delivered per member). A repetition counts
 * only if every writer reported and none saw an error (a failed write makes it NaN,
 * never a smaller number); the point's figure is the median of the repetitions.
 * Latency: one writer, one write at a time, from the request to its acknowledgement;
 * the median over repetitions of p50 and of p99 (µs in the RESULT line, as the other
 * peers'). MB = 10^6 payload bytes.
 */
import { median } from '../runs.js';
import type { PeersOptions } from './options.js';
import { log } from './procs.js';
import { keyValues, num, out } from './results.js';
import type { PointId } from './results.js';

/** The `WRITER` lines of a client's output, as key/value maps. */
export function writerLines(text: string): Map<string, string>[] {
  return text
    .split('\n')
    .filter((l) => l.startsWith('WRITER '))
    .map(keyValues);
}

/** A writer line that failed: an error count above 0, or none said. */
function failed(w: Map<string, string>): boolean {
  return num(w.get('errors')) !== 0;
}

/** One throughput repetition: acknowledged writes per second summed over the writers, or NaN unless all `expected` writers reported without error. */
export function durableTputRep(writers: readonly Map<string, string>[], expected: number): number {
  const rates = writers.map((w) => num(w.get('acks_per_s')));
  const ids = new Set(writers.map((w) => w.get('id')));
  if (writers.length !== expected || ids.size !== expected || rates.some((r) => !Number.isFinite(r)) || writers.some(failed)) return NaN;
  return rates.reduce((a, b) => a + b, 0);
}

/** The RESULT line of a throughput point from its repetitions (each: every writer's WRITER line). */
export function durableTputResult(p: PointId, reps: readonly (readonly Map<string, string>[])[], window: number): string {
  const r = reps.map((w) => durableTputRep(w, p.senders));
  const med = median(r);
  return [
    'RESULT',
    `system=${p.system}`,
    `config=${p.config}`,
    'mode=tput',
    `senders=${p.senders}`,
    `size=${p.size}`,
    `msgs_per_s=${out(med)}`,
    `mb_per_s=${out((med * p.size) / 1e6, 2)}`,
    'p50_us=-',
    'p99_us=-',
    'kind=durable',
    `window=${window}`,
    `reps=${r.map((x) => out(x)).join(',')}`,
    `errors=${reps.map((w) => w.reduce((a, l) => a + (num(l.get('errors')) || 0), 0)).join(',')}`,
  ].join(' ');
}

/** The RESULT line of a latency point from its repetitions (each: the one writer's WRITER line, with p50_us). */
export function durableLatResult(p: PointId, reps: readonly (readonly Map<string, string>[])[]): string {
  const w = reps.map((ls) => ls.find((l) => l.get('mode') === 'lat' && !failed(l) && num(l.get('samples')) > 0));
  const p50 = w.map((l) => num(l?.get('p50_us')));
  const p99 = w.map((l) => num(l?.get('p99_us')));
  return [
    'RESULT',
    `system=${p.system}`,
    `config=${p.config}`,
    'mode=lat',
    'senders=1',
    `size=${p.size}`,
    'msgs_per_s=-',
    'mb_per_s=-',
    `p50_us=${out(median(p50))}`,
    `p99_us=${out(median(p99))}`,
    'kind=durable',
    `samples=${w.map((l) => l?.get('samples') ?? '0').join(',')}`,
    `reps=${p50.map((x) => out(x)).join(',')}`,
  ].join(' ');
}

/** Nearest-rank percentile of ascending samples; NaN without samples (as the project's bench). */
export function percentile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil(q * sorted.length)));
  return sorted[rank - 1]!;
}

/** One run of a durable peer: the writers' WRITER lines (fewer when some did not report). */
export type DurableRunOnce = (mode: 'tput' | 'lat', writers: number, size: number, windowS: number) => Promise<Map<string, string>[]>;

/**
 * Every throughput point (writers × sizes), then every latency point, each repeated
 * `o.reps` times through `once`; one RESULT line per point, printed as it is known
 * and returned.
 */
export async function runDurableWorkload(o: PeersOptions, system: string, config: string, once: DurableRunOnce): Promise<string[]> {
  const results: string[] = [];
  const emit = (line: string): void => {
    process.stdout.write(`${line}\n`);
    results.push(line);
  };
  if (o.tput) {
    for (const writers of o.senders) {
      for (const size of o.sizes) {
        const reps: Map<string, string>[][] = [];
        for (let r = 0; r < o.reps; r++) {
          const lines = await once('tput', writers, size, o.seconds);
          log(`${system} tput writers=${writers} size=${size} rep ${r + 1}: ${lines.map((l) => `${l.get('acks_per_s')}${failed(l) ? ` (errors ${l.get('errors') ?? '?'}: ${l.get('first_error') ?? '?'})` : ''}`).join(' + ')} acknowledged writes/s${lines.length < writers ? ` (${lines.length} of ${writers} writers reported)` : ''}`);
          reps.push(lines);
        }
        emit(durableTputResult({ system, config, senders: writers, size }, reps, o.window));
      }
    }
  }
  if (o.lat) {
    for (const size of o.sizes) {
      const reps: Map<string, string>[][] = [];
      for (let r = 0; r < o.reps; r++) {
        const lines = await once('lat', 1, size, o.latSeconds);
        const w = lines.find((l) => l.get('mode') === 'lat');
        log(`${system} lat size=${size} rep ${r + 1}: p50 ${w?.get('p50_us') ?? '?'} µs, p99 ${w?.get('p99_us') ?? '?'} µs${w === undefined ? ' (the writer did not report)' : failed(w) ? `, errors ${w.get('errors') ?? '?'}: ${w.get('first_error') ?? '?'}` : ''}`);
        reps.push(lines);
      }
      emit(durableLatResult({ system, config, senders: 1, size }, reps));
    }
  }
  return results;
}
