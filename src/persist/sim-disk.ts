/**
 * An in-memory disk for the simulator and the tests, which fails the way real disks do
 * and replays the same failure from the same seed.
 *
 * Intuition: each file is its bytes as the process sees them, plus how many of them
 * are synced. A `crash()` is a power cut: the synced prefix of every file survives, and
 * of the unsynced tail a random prefix survives (none, all, or part of it, which can
 * tear a record in two). A file created or removed since the last `syncDir()` comes
 * back or not, at random. Every draw comes from the injected `Rng`, in file order.
 *
 * Faults on purpose: `corrupt()` flips a byte (a bad sector), and `failAt(n)` /
 * `crashAt(n)` make the n-th write point (create, append, truncate, remove, sync,
 * syncDir: see `disk.ts`) throw an I/O error, or crash the disk there, so that a test
 * can run a scripted sequence once, count its write points, then crash at each in turn.
 * A crash at a write point applies that write first (its bytes may then survive in
 * part) and never completes a sync. Simplifications, on purpose: a truncate is durable
 * at once; a sync completes when the injected `defer` says (the simulator passes its
 * clock's timer, so an fsync takes virtual time and a crash can land while it is in
 * flight; by default, on the next microtask).
 */
import type { Disk } from './disk.js';
import type { Rng } from '../runtime.js';
import { OptionError } from '../errors.js';

/** Thrown by a write point at which `crashAt` crashed the disk: the writer is dead. */
export class SimDiskCrash extends Error {
  /** @param point The write point (1-based) at which the crash happened. */
  constructor(readonly point: number) {
    super(`simulated crash at write point ${point}`);
    this.name = 'SimDiskCrash';
  }
}

/** Thrown by a write point that `failAt` made fail, as an EIO would. */
export class SimDiskError extends Error {
  /** Like Node's system errors. */
  readonly code = 'EIO';
  /** @param point The write point (1-based) that failed. */
  constructor(readonly point: number) {
    super(`simulated I/O error at write point ${point}`);
    this.name = 'SimDiskError';
  }
}

/** One file: `len` bytes of `buf` are its content; the first `synced` are durable. */
interface SimFile {
  buf: Uint8Array;
  len: number;
  synced: number;
  /** Whether its directory entry is durable (false from create until syncDir). */
  named: boolean;
}

/** What the simulated disk has done, for tests. */
export interface SimDiskStats {
  /** Write points passed so far (a scripted run's total, when it ends). */
  writePoints: number;
  /** `sync` calls (fsyncs of a file). */
  syncs: number;
  /** `syncDir` calls. */
  dirSyncs: number;
  /** Crashes so far (on purpose or at a write point). */
  crashes: number;
}

/** The in-memory {@link Disk}. Deterministic: the same calls and seed give the same files. */
export class SimDisk implements Disk {
  private readonly files = new Map<string, SimFile>();
  /** Files removed since the last syncDir: a crash may bring them back. */
  private ghosts = new Map<string, SimFile>();
  private fault: { point: number; kind: 'fail' | 'crash' } | undefined;
  /** Bumped by every crash, so that a sync in flight across a crash completes nothing. */
  private epoch = 0;
  readonly stats: SimDiskStats = { writePoints: 0, syncs: 0, dirSyncs: 0, crashes: 0 };

  private readonly defer: (done: () => void) => void;

  /**
   * @param rng Draws which unsynced bytes and names survive a crash.
   * @param options `defer(done)`: calls `done` when a sync or syncDir completes (default: a microtask).
   */
  constructor(
    private readonly rng: Rng,
    options: { defer?: (done: () => void) => void } = {},
  ) {
    this.defer = options.defer ?? ((done) => void Promise.resolve().then(done));
  }

  /** Wait as long as the injected `defer` says a flush takes. */
  private flushTime(): Promise<void> {
    return new Promise((resolve) => this.defer(resolve));
  }

  /** Make the `point`-th write point (1-based, counted from the disk's birth) fail with EIO. */
  failAt(point: number): void {
    this.arm(point, 'fail');
  }

  /** Crash the disk at the `point`-th write point (1-based): that call throws {@link SimDiskCrash}. */
  crashAt(point: number): void {
    this.arm(point, 'crash');
  }

  /** Forget an armed `failAt` / `crashAt` that has not fired. */
  disarm(): void {
    this.fault = undefined;
  }

  private arm(point: number, kind: 'fail' | 'crash'): void {
    if (!Number.isSafeInteger(point) || point <= this.stats.writePoints) {
      throw new OptionError(`write point ${String(point)} is not ahead (${this.stats.writePoints} passed)`);
    }
    this.fault = { point, kind };
  }

  /** Count a write point; throw if it is the armed one (after `apply`, for a crash). */
  private point(apply: () => void): void {
    const n = ++this.stats.writePoints;
    const fault = this.fault;
    if (fault === undefined || fault.point !== n) {
      apply();
      return;
    }
    this.fault = undefined;
    if (fault.kind === 'fail') throw new SimDiskError(n);
    apply();
    this.crash();
    throw new SimDiskCrash(n);
  }

  private file(name: string): SimFile {
    const f = this.files.get(name);
    if (f === undefined) throw new Error(`ENOENT: no such file in the simulated disk: ${name}`);
    return f;
  }

  list(): string[] {
    return [...this.files.keys()].sort();
  }

  read(name: string): Uint8Array {
    const f = this.file(name);
    return f.buf.slice(0, f.len);
  }

  create(name: string): void {
    if (this.files.has(name)) throw new Error(`EEXIST: file exists in the simulated disk: ${name}`);
    this.point(() => {
      this.ghosts.delete(name);
      this.files.set(name, { buf: new Uint8Array(64), len: 0, synced: 0, named: false });
    });
  }

  append(name: string, bytes: Uint8Array): void {
    const f = this.file(name);
    this.point(() => {
      if (f.len + bytes.length > f.buf.length) {
        const grown = new Uint8Array(Math.max(f.buf.length * 2, f.len + bytes.length));
        grown.set(f.buf.subarray(0, f.len));
        f.buf = grown;
      }
      f.buf.set(bytes, f.len);
      f.len += bytes.length;
    });
  }

  truncate(name: string, size: number): void {
    const f = this.file(name);
    if (!Number.isSafeInteger(size) || size < 0) throw new OptionError(`bad truncate size ${String(size)}`);
    this.point(() => {
      if (size < f.len) f.buf.fill(0, size, f.len);
      f.len = Math.min(f.len, size);
      f.synced = Math.min(f.synced, size);
    });
  }

  remove(name: string): void {
    const f = this.file(name);
    this.point(() => {
      this.files.delete(name);
      if (f.named) this.ghosts.set(name, f);
    });
  }

  async sync(name: string): Promise<void> {
    const f = this.file(name);
    this.point(() => {
      this.stats.syncs++;
    });
    const upTo = f.len;
    const epoch = this.epoch;
    await this.flushTime();
    if (epoch === this.epoch) f.synced = Math.max(f.synced, Math.min(upTo, f.len));
  }

  async syncDir(): Promise<void> {
    this.point(() => {
      this.stats.dirSyncs++;
    });
    const epoch = this.epoch;
    await this.flushTime();
    if (epoch !== this.epoch) return;
    for (const f of this.files.values()) f.named = true;
    this.ghosts.clear();
  }

  close(): void {
    // Nothing is held open.
  }

  /**
   * A power cut, then the machine is back: synced bytes survive; of each file's
   * unsynced tail a random prefix survives; names not yet made durable by `syncDir`
   * survive (or removed ones come back) with probability 1/2. Draws in name order.
   */
  crash(): void {
    this.stats.crashes++;
    this.epoch++;
    this.fault = undefined;
    for (const name of this.list()) {
      const f = this.file(name);
      if (!f.named && this.rng.below(2) === 0) {
        this.files.delete(name);
        continue;
      }
      const keep = f.synced + this.rng.below(f.len - f.synced + 1);
      f.buf.fill(0, keep, f.len);
      f.len = keep;
      f.synced = keep;
      f.named = true;
    }
    for (const [name, f] of [...this.ghosts].sort((a, b) => (a[0] < b[0] ? -1 : 1))) {
      if (this.rng.below(2) === 0) {
        f.len = f.synced;
        f.named = true;
        this.files.set(name, f);
      }
    }
    this.ghosts = new Map();
  }

  /**
   * A handle for one incarnation of the process that writes: the same files, but
   * every call after the next crash throws {@link SimDiskCrash}, and a sync in flight
   * across it rejects, so that a crashed writer's leftover work (a flush awaiting its
   * fsync) can neither touch the rebooted disk nor report durability.
   */
  handle(): Disk {
    const epoch = this.epoch;
    const alive = (): void => {
      if (this.epoch !== epoch) throw new SimDiskCrash(this.stats.writePoints);
    };
    return {
      list: () => (alive(), this.list()),
      read: (name) => (alive(), this.read(name)),
      create: (name) => (alive(), this.create(name)),
      append: (name, bytes) => (alive(), this.append(name, bytes)),
      truncate: (name, size) => (alive(), this.truncate(name, size)),
      remove: (name) => (alive(), this.remove(name)),
      sync: async (name) => {
        alive();
        await this.sync(name);
        alive();
      },
      syncDir: async () => {
        alive();
        await this.syncDir();
        alive();
      },
      close: () => undefined,
    };
  }

  /** Flip bits of one byte of a file, synced or not (a bad sector, for tests). */
  corrupt(name: string, offset: number, mask = 0xff): void {
    const f = this.file(name);
    if (!Number.isSafeInteger(offset) || offset < 0 || offset >= f.len) {
      throw new OptionError(`offset ${String(offset)} is outside ${name} (${f.len} bytes)`);
    }
    if ((mask & 0xff) === 0) throw new OptionError('corrupt needs a non-zero mask');
    f.buf[offset] = ((f.buf[offset] as number) ^ mask) & 0xff;
  }

  /**
   * What survives every crash from now on, whatever it draws: the synced bytes of the
   * files whose names are durable (a removed file that may come back is left out).
   * A new disk: reading it changes nothing here. For checkers of durability claims.
   */
  durableImage(rng: Rng): SimDisk {
    const image = new SimDisk(rng);
    for (const [name, f] of this.files) {
      if (!f.named) continue;
      image.files.set(name, { buf: f.buf.slice(0, f.synced), len: f.synced, synced: f.synced, named: true });
    }
    return image;
  }

  /** A file's size and how much of it is synced (for tests). */
  sizes(name: string): { len: number; synced: number } {
    const f = this.file(name);
    return { len: f.len, synced: f.synced };
  }
}
