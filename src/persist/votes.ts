/**
 * A durable endpoint's last vote: the view its acceptor last accepted, on disk before
 * its answer left.
 *
 * Intuition: a view is decided once a majority of the view before accepted it, and may
 * be installed by the proposer at once. A restart from the logs must never decide
 * another one in its place, so each acceptor's vote is on disk before anything it sent
 * with it goes out; then every majority of the old view holds a member that can name
 * it (`membership/restart.ts`). Votes are rare (one per view change), so the file is
 * replaced whole: written beside, flushed, renamed over, and the directory flushed —
 * never torn, at worst the previous vote.
 */
import { closeSync, fdatasyncSync, fsyncSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { Ballot, EndpointView } from '../core/types.js';
import { CorruptLogError } from '../errors.js';
import { crc32c } from './crc32c.js';

/** The view accepted after epoch `epoch` of `network` ('' for a founding) with `ballot`. */
export interface Vote {
  readonly network: string;
  readonly epoch: number;
  readonly ballot: Ballot;
  readonly view: EndpointView;
}

/** Where an endpoint's last vote is kept. */
export interface VoteFile {
  /** Keep `vote` (replacing the last); on disk when this returns. */
  write(vote: Vote): void;
  /** The last vote kept, or null. */
  read(): Vote | null;
}

/** The file of the vote in a data directory. */
export const VOTE_FILE = 'VOTE';

/** The vote as bytes: a CRC-32C (hex) and the vote as JSON, on one line. */
export function encodeVote(vote: Vote): Uint8Array {
  const body = new TextEncoder().encode(JSON.stringify({ network: vote.network, epoch: vote.epoch, ballot: vote.ballot, view: vote.view }));
  const head = new TextEncoder().encode(`${crc32c(body).toString(16).padStart(8, '0')} `);
  const out = new Uint8Array(head.length + body.length);
  out.set(head);
  out.set(body, head.length);
  return out;
}

/** The vote of `bytes` (from `file`), or a `CorruptLogError`. */
export function decodeVote(bytes: Uint8Array, file = VOTE_FILE): Vote {
  const bad = (why: string): CorruptLogError => new CorruptLogError(file, 0, why);
  if (bytes.length < 10 || bytes[8] !== 0x20) throw bad('not a vote');
  const crc = Number.parseInt(new TextDecoder().decode(bytes.subarray(0, 8)), 16);
  const body = bytes.subarray(9);
  if (crc !== crc32c(body)) throw bad('checksum mismatch');
  const v = JSON.parse(new TextDecoder().decode(body)) as Vote;
  if (typeof v.network !== 'string' || !Number.isSafeInteger(v.epoch) || typeof v.ballot?.proposer !== 'string' || !Array.isArray(v.view?.members)) throw bad('not a vote');
  return v;
}

/** The vote in memory (the simulator's disks keep it across a crash: a vote is always on disk). */
export class MemoryVoteFile implements VoteFile {
  private vote: Vote | null = null;
  write(vote: Vote): void {
    this.vote = vote;
  }
  read(): Vote | null {
    return this.vote;
  }
}

/** The vote in file `VOTE` of directory `dir` (see the module comment). */
export class NodeVoteFile implements VoteFile {
  /** @param fsync - flush to the device (false only for tests and benchmarks, like the log's option). */
  constructor(
    private readonly dir: string,
    private readonly fsync = true,
  ) {}

  write(vote: Vote): void {
    const path = join(this.dir, VOTE_FILE);
    const tmp = `${path}.next`;
    const fd = openSync(tmp, 'w');
    try {
      writeSync(fd, encodeVote(vote));
      if (this.fsync) fdatasyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
    if (!this.fsync) return;
    const dirFd = openSync(this.dir, 'r');
    try {
      fsyncSync(dirFd);
    } finally {
      closeSync(dirFd);
    }
  }

  read(): Vote | null {
    let bytes: Uint8Array;
    try {
      bytes = readFileSync(join(this.dir, VOTE_FILE));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw err;
    }
    return decodeVote(bytes);
  }
}
