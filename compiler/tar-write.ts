/**
 * Deterministic `.tar.gz` writing for OPA bundles (the strict reader is runtime/tar.ts).
 *
 * The same files give the same bytes on every machine and Node version. Entries are sorted by
 * UTF-8 bytes; headers are ustar with mode 0644, uid/gid 0, empty uname/gname, mtime 0; a PAX
 * `path` record is added only for a name ustar cannot hold. Compression is fflate, pure JS:
 * node:zlib's output is not stable across zlib builds (Node ships Chromium's zlib, whose match
 * finder depends on CPU features). The gzip header is fixed: mtime 0, no name.
 */
import { gzipSync } from "fflate";
import { checkEntryName } from "../runtime/tar.js";

const BLOCK = 512;
const utf8 = new TextEncoder();

/** gzip, level 9, fixed header: identical bytes for identical input, anywhere. */
export const gzipDeterministic = (data: Uint8Array): Uint8Array => gzipSync(data, { level: 9, mtime: 0 });

const compareBytes = (a: string, b: string): number => Buffer.compare(utf8.encode(a), utf8.encode(b));

function writeOctal(h: Uint8Array, off: number, width: number, value: number): void {
  // width includes the trailing NUL
  const digits = value.toString(8).padStart(width - 1, "0");
  if (digits.length > width - 1) throw new RangeError(`value ${value} does not fit a ${width}-byte tar field`);
  for (let i = 0; i < digits.length; i++) h[off + i] = digits.charCodeAt(i);
  h[off + width - 1] = 0;
}

function header(nameField: Uint8Array, prefixField: Uint8Array, size: number, type: number): Uint8Array {
  const h = new Uint8Array(BLOCK);
  h.set(nameField, 0);
  writeOctal(h, 100, 8, 0o644);
  writeOctal(h, 108, 8, 0);
  writeOctal(h, 116, 8, 0);
  writeOctal(h, 124, 12, size);
  writeOctal(h, 136, 12, 0);
  h[156] = type;
  h.set(utf8.encode("ustar\u000000"), 257);
  writeOctal(h, 329, 8, 0);
  writeOctal(h, 337, 8, 0);
  h.set(prefixField, 345);
  h.fill(0x20, 148, 156);
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += h[i]!;
  writeOctal(h, 148, 7, sum); // 6 digits + NUL, then the space already there
  h[155] = 0x20;
  return h;
}

const isPortableAscii = (s: string): boolean => /^[\x20-\x7e]*$/.test(s);

/** Splits a name into ustar (prefix, name) fields, or null when ustar cannot hold it. */
function ustarSplit(name: string): [Uint8Array, Uint8Array] | null {
  if (!isPortableAscii(name)) return null;
  const b = utf8.encode(name);
  if (b.length <= 100) return [b, new Uint8Array(0)];
  for (let i = b.length - 1; i > 0; i--) {
    if (b[i] !== 0x2f) continue;
    if (i <= 155 && b.length - i - 1 <= 100 && b.length - i - 1 > 0) return [b.subarray(i + 1), b.subarray(0, i)];
  }
  return null;
}

function paxRecord(key: string, value: string): Uint8Array {
  const body = utf8.encode(` ${key}=${value}\n`);
  // The length prefix counts itself: find the fixed point.
  let len = body.length + 1;
  while (String(len).length + body.length !== len) len = String(len).length + body.length;
  return utf8.encode(`${len} ${key}=${value}\n`);
}

const pad = (n: number): number => (BLOCK - (n % BLOCK)) % BLOCK;

/** Writes an uncompressed ustar archive. Names must pass the reader's `checkEntryName` (rooted). */
export function writeTar(files: ReadonlyMap<string, Uint8Array>): Uint8Array {
  const names = [...files.keys()].sort(compareBytes);
  const chunks: Uint8Array[] = [];
  for (const name of names) {
    const data = files.get(name)!;
    checkEntryName(name, true);
    let split = ustarSplit(name);
    if (split === null) {
      const rec = paxRecord("path", name);
      const paxName = utf8.encode("PaxHeaders/" + name.replace(/[^\x20-\x7e]/g, "_").slice(-80));
      chunks.push(header(paxName, new Uint8Array(0), rec.length, 0x78 /* x */), rec, new Uint8Array(pad(rec.length)));
      split = [utf8.encode(name.replace(/[^\x20-\x7e]/g, "_").slice(-100)), new Uint8Array(0)];
    }
    chunks.push(header(split[0], split[1], data.length, 0x30 /* 0 */), data, new Uint8Array(pad(data.length)));
  }
  chunks.push(new Uint8Array(BLOCK * 2));
  return Buffer.concat(chunks);
}

/** Deterministic `.tar.gz` of `files`. */
export const writeTarGz = (files: ReadonlyMap<string, Uint8Array>): Uint8Array => gzipDeterministic(writeTar(files));
