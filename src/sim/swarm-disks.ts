/**
 * The swarm's disks, in a durable run: one simulated disk per address, kept across the
 * address's restarts; a crash of its process is a power cut for it too. And the check
 * of what a durable multicast claims the moment it resolves.
 *
 * Intuition: `SimDisk.durableImage` is the worst any crash could leave of a disk now
 * (only synced bytes). A multicast resolved at `majority` claims to be on disk at a
 * majority of the members of the view it was delivered in, so it must be in the logs
 * of a majority of those images, whatever happens next.
 */
import { unbundle } from '../core/bundle.js';
import { decodeRecord, RecordKind } from '../persist/records.js';
import { SegmentLog } from '../persist/segment-log.js';
import { SimDisk } from '../persist/sim-disk.js';
import { MemoryVoteFile } from '../persist/votes.js';
import { SeededRng } from './rng.js';
import type { Scheduler } from './scheduler.js';

/** What the durable checks found (see `SwarmDisks.check`). */
export interface DurabilityReport {
  /** Multicasts checked on the disks. */
  checked: number;
  /** Those on disk at fewer than a majority of their view's members when they resolved. */
  readonly problems: string[];
}

/** Whether the log on `disk` holds an application message whose text is `text`. */
function logHolds(disk: SimDisk, text: string): boolean {
  const bytes = new TextEncoder().encode(text);
  const log = SegmentLog.openNow(disk);
  for (const r of log.read()) {
    if (r.kind !== RecordKind.entry) continue;
    const rec = decodeRecord(r.index, r.kind, r.payload);
    if (rec.kind !== 'entry' || rec.entry.kind !== 0) continue;
    for (const m of unbundle(rec.entry.payload) ?? []) {
      if (m.data.length === bytes.length && m.data.every((b, i) => b === bytes[i])) return true;
    }
  }
  return false;
}

/** The disks of one durable swarm run (see the module comment). */
export class SwarmDisks {
  private readonly disks = new Map<string, SimDisk>();
  /** Each address's vote file: on disk before it is answered, so a crash keeps it. */
  private readonly votes = new Map<string, MemoryVoteFile>();
  /** What the checks found. */
  readonly report: DurabilityReport = { checked: 0, problems: [] };

  constructor(
    private readonly rng: SeededRng,
    private readonly scheduler: Scheduler,
  ) {}

  /**
   * The log of `id`, reopened on its disk (a torn tail cut off). Checkpoint rounds run
   * often; segments are large, so that no entry is truncated away before the checks
   * read it (truncation itself is tested apart).
   * @internal
   */
  persistOf(id: string): { log: SegmentLog; checkpointBytes: number; votes: MemoryVoteFile } {
    let disk = this.disks.get(id);
    if (disk === undefined) {
      const rng = this.rng.fork();
      // A flush takes 0.1 to 4 ms of virtual time.
      disk = new SimDisk(rng, { defer: (done) => void this.scheduler.after(0.1 + rng.below(40) / 10, done) });
      this.disks.set(id, disk);
    }
    let votes = this.votes.get(id);
    if (votes === undefined) {
      votes = new MemoryVoteFile();
      this.votes.set(id, votes);
    }
    return { log: SegmentLog.openNow(disk.handle()), checkpointBytes: 32_768, votes };
  }

  /** @internal The process at `id` died: a power cut for its disk (what was not synced may be lost or torn). */
  crash(id: string): void {
    this.disks.get(id)?.crash();
  }

  /**
   * The message `text` just resolved at `majority`, at `now`: the worst crash now must
   * leave it in the logs of a majority of `members` (`id#inc` or ids).
   * @internal
   */
  check(text: string, members: readonly string[], now: number): void {
    this.report.checked++;
    const need = Math.floor(members.length / 2) + 1;
    let holders = 0;
    for (const id of new Set(members.map((m) => (m.includes('#') ? m.slice(0, m.lastIndexOf('#')) : m)))) {
      const disk = this.disks.get(id);
      if (disk !== undefined && logHolds(disk.durableImage(new SeededRng(1)), text)) holders++;
    }
    if (holders < need) this.report.problems.push(`${text.slice(0, 40)} resolved at ${now} ms on disk at ${holders} of its view's ${members.length} members (${members.join(' ')})`);
  }
}
