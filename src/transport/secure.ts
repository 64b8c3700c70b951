/**
 * Membership authentication and frame protection for the TCP transport, from a
 * network secret shared by every member.
 *
 * Intuition: knowing the secret is what makes an endpoint a member. Each connection
 * proves it both ways without the secret (or anything derived from it alone) ever
 * crossing the wire, and then protects every frame with keys that exist only for that
 * connection, so what an outsider records can neither be read nor played back.
 *
 * - **Network key.** `K = HKDF-SHA256(secret, salt "cohort network key", info network)`:
 *   one secret used by two networks still gives two keys.
 * - **Mutual challenge–response.** The dialer's hello carries a fresh 32-byte nonce
 *   `nD`; the acceptor answers with its own `nA` and `HMAC(K, "acceptor" ‖ T)`; the
 *   dialer checks it and answers `HMAC(K, "dialer" ‖ T)`. The transcript `T` binds the
 *   network, both advertised addresses and both nonces, so a proof cannot be moved to
 *   another connection, another peer, or replayed later (the other side's nonce is new).
 *   Proofs are compared in constant time.
 * - **Per-connection keys.** `HKDF-SHA256(K, salt nD ‖ nA, info "cohort session keys" ‖ T)`
 *   gives one AES-256-GCM key per direction.
 * - **Records.** After the handshake the stream is a sequence of records: a 4-byte
 *   length, then AES-256-GCM ciphertext of one or more whole frames, then the 16-byte
 *   tag. The 96-bit nonce is the record's number in its direction (implicit, never
 *   sent), so a record replayed, dropped, reordered or moved to another connection
 *   fails authentication and closes the connection. Batching frames into records keeps
 *   the cost per write, not per message.
 */
import { createCipheriv, createDecipheriv, createHmac, hkdfSync, randomBytes, timingSafeEqual } from 'node:crypto';

/** Bytes of a handshake nonce. */
export const NONCE_BYTES = 32;
/** Bytes of a handshake proof (HMAC-SHA256). */
export const PROOF_BYTES = 32;
/** Bytes of the GCM tag at the end of every record. */
export const TAG_BYTES = 16;
/** Shortest secret accepted: 128 bits. */
export const SECRET_BYTES_MIN = 16;
/** Plaintext bytes a sender packs into one record (a single larger frame goes alone). */
export const RECORD_PLAIN_BYTES = 256 * 1024;

const KEY_BYTES = 32;

/** The network key every member derives from the shared secret. */
export function networkKey(secret: Uint8Array, network: string): Buffer {
  return Buffer.from(hkdfSync('sha256', secret, Buffer.from('cohort network key'), Buffer.from(network, 'utf8'), KEY_BYTES));
}

export function freshNonce(): Buffer {
  return randomBytes(NONCE_BYTES);
}

/** Everything both sides agree on about one connection's handshake. */
export function transcript(network: string, dialer: string, acceptor: string, nonceDialer: Uint8Array, nonceAcceptor: Uint8Array): Buffer {
  const parts = [Buffer.from(network, 'utf8'), Buffer.from(dialer, 'utf8'), Buffer.from(acceptor, 'utf8'), Buffer.from(nonceDialer), Buffer.from(nonceAcceptor)];
  // Length-prefixed, so that no two different transcripts concatenate to the same bytes.
  const out = Buffer.allocUnsafe(parts.reduce((n, p) => n + 2 + p.length, 0));
  let at = 0;
  for (const p of parts) {
    at = out.writeUInt16BE(p.length, at);
    at += p.copy(out, at);
  }
  return out;
}

/** The proof of the side `role` for transcript `t`. */
export function proof(key: Buffer, role: 'dialer' | 'acceptor', t: Buffer): Buffer {
  return createHmac('sha256', key).update(role).update(t).digest();
}

/** Constant-time check of a received proof. */
export function proofMatches(expected: Buffer, got: Uint8Array): boolean {
  return got.length === expected.length && timingSafeEqual(expected, got);
}

/** The two directions' record keys of a connection. */
export function sessionKeys(key: Buffer, t: Buffer, nonceDialer: Uint8Array, nonceAcceptor: Uint8Array): { dialerToAcceptor: Buffer; acceptorToDialer: Buffer } {
  const salt = Buffer.concat([nonceDialer, nonceAcceptor]);
  const okm = Buffer.from(hkdfSync('sha256', key, salt, Buffer.concat([Buffer.from('cohort session keys'), t]), 2 * KEY_BYTES));
  return { dialerToAcceptor: okm.subarray(0, KEY_BYTES), acceptorToDialer: okm.subarray(KEY_BYTES) };
}

function recordIv(counter: number): Buffer {
  const iv = Buffer.alloc(12);
  iv.writeUIntBE(counter, 6, 6);
  return iv;
}

/** Seals one direction's records. */
export class Sealer {
  private counter = 0;
  constructor(private readonly key: Buffer) {}

  /** The length-prefixed record carrying `plain` (whole frames, prefixes included). */
  seal(plain: Buffer): Buffer {
    const iv = recordIv(this.counter++);
    const c = createCipheriv('aes-256-gcm', this.key, iv);
    const out = Buffer.allocUnsafe(4 + plain.length + TAG_BYTES);
    out.writeUInt32BE(plain.length + TAG_BYTES, 0);
    const body = c.update(plain);
    body.copy(out, 4);
    const fin = c.final();
    fin.copy(out, 4 + body.length);
    c.getAuthTag().copy(out, 4 + plain.length);
    return out;
  }
}

/** Opens the other direction's records, in order. */
export class Opener {
  private counter = 0;
  constructor(private readonly key: Buffer) {}

  /**
   * The plaintext of `record` (its body, without the length prefix).
   * @throws Error when it fails authentication (forged, replayed, reordered or cut).
   */
  open(record: Buffer): Buffer {
    if (record.length < TAG_BYTES) throw new Error(`a record of ${record.length} bytes is shorter than its tag`);
    const iv = recordIv(this.counter++);
    const d = createDecipheriv('aes-256-gcm', this.key, iv);
    d.setAuthTag(record.subarray(record.length - TAG_BYTES));
    const head = d.update(record.subarray(0, record.length - TAG_BYTES));
    const tail = d.final(); // throws on a bad tag
    return tail.length === 0 ? head : Buffer.concat([head, tail]);
  }
}
