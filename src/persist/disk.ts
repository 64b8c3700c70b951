/**
 * The disk as the segment log sees it: the files of one directory, injected like the
 * clock and the randomness, so that the simulator can lose, tear and corrupt writes and
 * replay the run from its seed (`sim-disk.ts`), while a member writes through node:fs
 * (`node-disk.ts`).
 *
 * Why most calls are synchronous and only the two syncs return a promise: an append
 * hands bytes to the OS page cache (or to memory, in the simulator), which takes
 * microseconds and needs no waiting; recovery at open reads a few files once. What
 * takes milliseconds is the flush to stable storage, and that is the one event the
 * protocol waits for: a durability level resolves when a sync completes. A promise
 * lets the real disk run fsync on libuv's thread pool while the event loop keeps
 * delivering (the next batch gathers meanwhile: group commit falls out of it), and
 * lets the simulator complete a sync whenever its schedule says. Making every call
 * async would interleave recovery and appends with other events for no gain, and
 * would give the simulator many more orderings to explain.
 *
 * A write point is every call that changes the disk (create, append, truncate, remove,
 * sync, syncDir): the simulator can crash the process at any one of them.
 */

/** The files of one directory, as flat names (no separators). */
export interface Disk {
  /** The names of the files in the directory, sorted. */
  list(): string[];
  /** The whole content of a file as the process sees it now (synced or not). Throws if it does not exist. */
  read(name: string): Uint8Array;
  /** Create an empty file; throws if it exists. Its name is durable only after `syncDir()`. */
  create(name: string): void;
  /** Add bytes at the end of a file. Durable only after `sync(name)`. */
  append(name: string, bytes: Uint8Array): void;
  /** Cut a file to `size` bytes (a torn tail, at recovery). Durable after `sync(name)`. */
  truncate(name: string, size: number): void;
  /** Delete a file. Durable only after `syncDir()`. */
  remove(name: string): void;
  /** Resolve once every byte appended to `name` before the call is on stable storage (fsync). */
  sync(name: string): Promise<void>;
  /** Resolve once the directory's entries (files created and removed) are on stable storage. */
  syncDir(): Promise<void>;
  /** Release what the disk holds open (file descriptors); the files stay. */
  close(): void;
}
