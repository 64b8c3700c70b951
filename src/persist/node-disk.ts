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
import { OptionError } from '../errors.js';

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

  close(): void {
    for (const fd of this.fds.values()) closeSync(fd);
    this.fds.clear();
  }
}
