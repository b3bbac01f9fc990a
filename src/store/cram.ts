/**
 * store/cram.ts: CRAM-MD5 (RFC 2195) keys kept the way Dovecot's CRAM-MD5 password scheme keeps
 * them: not the password, but the two HMAC-MD5 contexts after their first block, i.e. MD5's
 * state after (key ⊕ ipad) and after (key ⊕ opad), 16 bytes each. From those a server computes
 * HMAC-MD5(password, challenge) for any challenge without knowing the password. They are
 * still a password equivalent for CRAM-MD5 itself, so the directory keeps them only for
 * accounts where CRAM-MD5 is turned on. node:crypto cannot resume an MD5 state, so the MD5
 * compression function is here (RFC 1321); two blocks per login, microseconds.
 *
 * Exports: `cramMd5Pads(password)` → 32 bytes (inner state ‖ outer state),
 * `cramMd5Digest(pads, challenge)` → lowercase hex of HMAC-MD5, `cramMd5Verify(pads,
 * challenge, responseHex)`. Throws nothing (a malformed `pads` makes verify return false).
 */
import { createHash, timingSafeEqual } from 'node:crypto';

const K = new Uint32Array(64);
for (let i = 0; i < 64; i++) K[i] = Math.floor(Math.abs(Math.sin(i + 1)) * 2 ** 32) >>> 0;
const R = [7, 12, 17, 22, 5, 9, 14, 20, 4, 11, 16, 23, 6, 10, 15, 21];
const IV = [0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476];

function compress(st: Uint32Array, b: Uint8Array, o: number): void {
  const M = new Uint32Array(16);
  for (let i = 0; i < 16; i++) M[i] = (b[o + 4 * i]! | (b[o + 4 * i + 1]! << 8) | (b[o + 4 * i + 2]! << 16) | (b[o + 4 * i + 3]! << 24)) >>> 0;
  let a = st[0]!;
  let bb = st[1]!;
  let c = st[2]!;
  let d = st[3]!;
  for (let i = 0; i < 64; i++) {
    let f: number;
    let g: number;
    if (i < 16) [f, g] = [(bb & c) | (~bb & d), i];
    else if (i < 32) [f, g] = [(d & bb) | (~d & c), (5 * i + 1) % 16];
    else if (i < 48) [f, g] = [bb ^ c ^ d, (3 * i + 5) % 16];
    else [f, g] = [c ^ (bb | ~d), (7 * i) % 16];
    const x = ((a + (f >>> 0) + K[i]! + M[g]!) >>> 0);
    const s = R[(i >> 4) * 4 + (i % 4)]!;
    const rot = ((x << s) | (x >>> (32 - s))) >>> 0;
    a = d;
    d = c;
    c = bb;
    bb = (bb + rot) >>> 0;
  }
  st[0] = (st[0]! + a) >>> 0;
  st[1] = (st[1]! + bb) >>> 0;
  st[2] = (st[2]! + c) >>> 0;
  st[3] = (st[3]! + d) >>> 0;
}

/** MD5 of (prefixLen bytes already hashed into `state`) ‖ `data`. */
function resume(state: Uint32Array, prefixLen: number, data: Uint8Array): Buffer {
  const st = new Uint32Array(state);
  const total = prefixLen + data.length;
  const padLen = ((data.length + 9 + 63) & ~63);
  const buf = new Uint8Array(padLen);
  buf.set(data);
  buf[data.length] = 0x80;
  const bits = total * 8;
  const view = new DataView(buf.buffer);
  view.setUint32(padLen - 8, bits >>> 0, true);
  view.setUint32(padLen - 4, Math.floor(bits / 2 ** 32), true);
  for (let o = 0; o < padLen; o += 64) compress(st, buf, o);
  const out = Buffer.allocUnsafe(16);
  for (let i = 0; i < 4; i++) out.writeUInt32LE(st[i]!, i * 4);
  return out;
}

function firstBlock(key: Buffer, pad: number): Uint32Array {
  const block = new Uint8Array(64).fill(pad);
  for (let i = 0; i < key.length; i++) block[i] = key[i]! ^ pad;
  const st = new Uint32Array(IV);
  compress(st, block, 0);
  return st;
}

/** The 32 bytes kept for an account with CRAM-MD5 on: MD5 state after ipad ‖ after opad. */
export function cramMd5Pads(password: string): Buffer {
  let key = Buffer.from(password, 'utf8');
  if (key.length > 64) key = createHash('md5').update(key).digest();
  const out = Buffer.allocUnsafe(32);
  const inner = firstBlock(key, 0x36);
  const outer = firstBlock(key, 0x5c);
  for (let i = 0; i < 4; i++) {
    out.writeUInt32LE(inner[i]!, i * 4);
    out.writeUInt32LE(outer[i]!, 16 + i * 4);
  }
  return out;
}

function stateAt(pads: Uint8Array, at: number): Uint32Array {
  const v = new DataView(pads.buffer, pads.byteOffset, pads.byteLength);
  return Uint32Array.from([0, 1, 2, 3], (i) => v.getUint32(at + i * 4, true));
}

/** HMAC-MD5(password, challenge) as lowercase hex, from the pads alone. */
export function cramMd5Digest(pads: Uint8Array, challenge: string | Uint8Array): string {
  const c = typeof challenge === 'string' ? Buffer.from(challenge, 'utf8') : challenge;
  const inner = resume(stateAt(pads, 0), 64, c);
  return resume(stateAt(pads, 16), 64, inner).toString('hex');
}

export function cramMd5Verify(pads: Uint8Array | null | undefined, challenge: string | Uint8Array, responseHex: string): boolean {
  if (pads === null || pads === undefined || pads.byteLength !== 32) return false;
  const want = Buffer.from(cramMd5Digest(pads, challenge), 'utf8');
  const got = Buffer.from(responseHex.toLowerCase(), 'utf8');
  return want.length === got.length && timingSafeEqual(want, got);
}
