/**
 * The real disk: one directory through node:fs.
 *
 * Intuition: appends are plain `write`s to a file descriptor kept open per file (the
 * bytes reach the page cache at once); `sync` is `fdatasync` of that descriptor on
 * libuv's thread pool, so the event loop keeps running while the device flushes (it
 * writes the file's size too, which reading the appended bytes back needs, and skips
 * the timestamps `fsync` would also write); `syncDir` is
 * `fsync` of the directory itself, which is what makes a created or removed file's
 * name survive a power cut on Linux (a file's fsync does not cover its directory entry).
 */
import {
  constants,
  closeSync,
  fdatasync,
  fsync,
  ftruncateSync,
  mkdirSync,
  openSync,
  readFileSync,
  readdirSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import type { Disk } from './disk.js';
import { CohortError, ErrorCode, OptionError } from '../errors.js';

/** The lock file of a data directory: the pid of the process that writes it. */
const LOCK_FILE = 'LOCK';

/** Whether a process `pid` exists (one of another user's counts). */
function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** fdatasync on the thread pool, as a promise. */
function fdatasyncAsync(fd: number): Promise<void> {
  return new Promise((resolve, reject) => {
    fdatasync(fd, (err) => (err ? reject(err) : resolve()));
  });
}

/** fsync on the thread pool, as a promise. */
function fsyncAsync(fd: number): Promise<void> {
  return new Promise((resolve, reject) => {
    fsync(fd, (err) => (err ? reject(err) : resolve()));
  });
}

/** A {@link Disk} over the files of directory `dir` (created if missing). */
export class NodeDisk implements Disk {
  /** Open descriptors by file name (opened on first use, closed on remove and close). */
  private readonly fds = new Map<string, number>();

  /** Whether `sync` and `syncDir` flush to stable storage (see the constructor). */
  private readonly flushes: boolean;

  /**
   * @param dir The directory; created (with parents) if it does not exist.
   * @param options `fsync: false` makes `sync` and `syncDir` resolve at once: the bytes
   *   are in the operating system's cache, which survives the process's crash but not
   *   the machine's (etcd's `--unsafe-no-fsync`). @default fsync true
   * @throws OptionError if `dir` is empty.
   */
  constructor(
    readonly dir: string,
    options: { readonly fsync?: boolean } = {},
  ) {
    this.flushes = options.fsync !== false;
    if (dir === '') throw new OptionError('NodeDisk needs a directory');
    mkdirSync(dir, { recursive: true });
  }

  private path(name: string): string {
    if (name === '' || name.includes('/') || name.includes('\\') || name === '.' || name === '..') {
      throw new OptionError(`not a plain file name: ${JSON.stringify(name)}`);
    }
    return join(this.dir, name);
  }

  private fd(name: string): number {
    let fd = this.fds.get(name);
    if (fd === undefined) {
      fd = openSync(this.path(name), constants.O_RDWR | constants.O_APPEND);
      this.fds.set(name, fd);
    }
    return fd;
  }

  list(): string[] {
    return readdirSync(this.dir).sort();
  }

  read(name: string): Uint8Array {
    const buf = readFileSync(this.path(name));
    return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
  }

  create(name: string): void {
    const fd = openSync(this.path(name), constants.O_RDWR | constants.O_APPEND | constants.O_CREAT | constants.O_EXCL, 0o644);
    this.fds.set(name, fd);
  }

  append(name: string, bytes: Uint8Array): void {
    const fd = this.fd(name);
    // O_APPEND: every write lands at the end, whatever a truncate did before it.
    let done = 0;
    for (let rounds = 0; done < bytes.length; rounds++) {
      if (rounds > 1_000_000) throw new Error(`append to ${name}: the disk accepts no bytes`);
      done += writeSync(fd, bytes, done, bytes.length - done, null);
    }
  }

  truncate(name: string, size: number): void {
    ftruncateSync(this.fd(name), size);
  }

  remove(name: string): void {
    const fd = this.fds.get(name);
    if (fd !== undefined) {
      this.fds.delete(name);
      closeSync(fd);
    }
    unlinkSync(this.path(name));
  }

  sync(name: string): Promise<void> {
    if (!this.flushes) return Promise.resolve();
    return fdatasyncAsync(this.fd(name));
  }

  async syncDir(): Promise<void> {
    if (!this.flushes) return;
    const fd = openSync(this.dir, 'r');
    try {
      await fsyncAsync(fd);
    } finally {
      closeSync(fd);
    }
  }

  /** This disk holds the directory's lock (see `lock`). */
  private locked = false;

  /**
   * Take the directory for this process: a `LOCK` file with its pid, so that a second
   * writer (another process, or another endpoint of this one) is refused instead of
   * corrupting the log. A lock left by a process that is gone (killed) is taken over.
   * Released by `close`.
   *
   * @throws CohortError `ERR_DISK` when a live process holds it.
   */
  lock(): void {
    const path = join(this.dir, LOCK_FILE);
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        const fd = openSync(path, 'wx', 0o644);
        writeSync(fd, `${process.pid}\n`);
        closeSync(fd);
        this.locked = true;
        return;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
      let pid = NaN;
      try {
        pid = Number(readFileSync(path, 'utf8').trim());
      } catch {
        // removed meanwhile: try again
      }
      if (Number.isSafeInteger(pid) && pid > 0 && (pid === process.pid || processExists(pid))) {
        throw new CohortError(ErrorCode.disk, `data directory ${this.dir} is in use by ${pid === process.pid ? 'another endpoint of this process' : `process ${pid}`} (its ${LOCK_FILE} file): one writer per directory`);
      }
      // Its writer is gone (killed): the lock is stale.
      try {
        unlinkSync(path);
      } catch {
        // removed meanwhile
      }
    }
    throw new CohortError(ErrorCode.disk, `data directory ${this.dir}: could not take its ${LOCK_FILE} file`);
  }

  close(): void {
    for (const fd of this.fds.values()) closeSync(fd);
    this.fds.clear();
    if (this.locked) {
      this.locked = false;
      try {
        unlinkSync(join(this.dir, LOCK_FILE));
      } catch {
        // gone already
      }
    }
  }
}
