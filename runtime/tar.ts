/**
 * Strict tar.gz reading for OPA bundles (the deterministic writer is compiler/tar-write.ts: the
 * runtime only reads).
 *
 * gunzip that stops at an output cap (the content limit, or a multiple of the compressed size,
 * whichever is smaller, so a gzip bomb is refused early), then a ustar parse that verifies every
 * header checksum and refuses traversal, absolute or duplicate names, anything but regular
 * files, and archives without the end-of-archive marker (so a tar cut at a block boundary is
 * refused).
 */
import { gunzipSync } from "node:zlib";
import { runtimeError } from "./errors.js";

const BLOCK = 512;
const pad = (n: number): number => (BLOCK - (n % BLOCK)) % BLOCK;

export interface TarLimits {
  /** Largest single entry, bytes (default 512 MiB). */
  maxEntryBytes?: number;
  /** Largest uncompressed archive, bytes (default 1 GiB). */
  maxTotalBytes?: number;
  /** Most entries (default 10,000). */
  maxEntries?: number;
  /**
   * Largest expansion of the gzip stream, as a multiple of its compressed size (default 200;
   * archives up to 1 MiB uncompressed are always allowed). DEFLATE reaches about 1032:1 on
   * zeros, real bundles (JSON, Wasm, tar headers) stay far below 50:1: a small download that
   * would inflate to the content limit is a gzip bomb, and is refused once it passes this.
   */
  maxRatio?: number;
}

export interface ReadTarOptions extends TarLimits {
  /**
   * Accept one leading `/` (stripped), as `opa build` writes `/policy.wasm`: names are then
   * relative to the bundle root. Default false: a leading `/` is an absolute name, refused.
   */
  rooted?: boolean;
}

const DEFAULTS = { maxEntryBytes: 512 * 1024 * 1024, maxTotalBytes: 1024 * 1024 * 1024, maxEntries: 10_000, maxRatio: 200 };
/** Uncompressed size always allowed, whatever the ratio (a tiny bundle is mostly zero padding). */
const RATIO_FLOOR = 1024 * 1024;

/**
 * Returns the normalised name or throws WPR003. With `rooted`, one leading `/` is allowed and
 * stripped. Refused: empty names, other absolute forms, `.`/`..`/empty segments, backslashes,
 * control characters, drive letters.
 */
export function checkEntryName(raw: string, rooted: boolean): string {
  let name = raw;
  if (rooted && name.startsWith("/")) name = name.slice(1);
  const bad = (why: string) => runtimeError("WPR003", `bundle entry \`${raw}\` is refused: ${why}`);
  if (name.length === 0) throw bad("empty name");
  if (name.startsWith("/")) throw bad("absolute path");
  if (/[\x00-\x1f\x7f\\]/.test(name)) throw bad("control character or backslash in name");
  if (/^[A-Za-z]:/.test(name)) throw bad("drive-letter path");
  for (const seg of name.split("/")) {
    if (seg === "..") throw bad("path traversal (`..`)");
    if (seg === "." || seg === "") throw bad("`.` or empty path segment");
  }
  return name;
}

/** Largest tar stream that can hold `maxTotal` content bytes in `maxEntries` entries. */
const tarBound = (maxTotal: number, maxEntries: number): number => maxTotal + maxEntries * 3 * BLOCK + 2 * BLOCK;

/**
 * gunzip that stops as soon as the output passes `limit`: zlib inflates in 1 MiB chunks and
 * throws once the output so far exceeds `maxOutputLength`, so at most `limit` + 1 MiB is ever
 * held, however large the stream would expand. `why` says which limit it was, for the error.
 */
function gunzipStrict(bytes: Uint8Array, limit: number, why: string): Uint8Array {
  if (bytes.length < 18 || bytes[0] !== 0x1f || bytes[1] !== 0x8b || bytes[2] !== 0x08) {
    throw runtimeError("WPR001", "bundle is not a gzip file (bad magic bytes)");
  }
  // The trailer's ISIZE (the last member's size mod 2^32, as the writer claims it) sizes one
  // output chunk, so a big bundle is not inflated into 1 MiB chunks and then joined (a copy of
  // the whole tar: 0.7 of 3.4 s to load a 160 MB data.json). Only a hint: a wrong one costs the
  // join again, and it is used only under `limit` (at most 200x the compressed size, or the
  // size limit), which bounds the output anyway.
  const n = bytes.length;
  const isize = (bytes[n - 4]! | (bytes[n - 3]! << 8) | (bytes[n - 2]! << 16) | (bytes[n - 1]! << 24)) >>> 0;
  const chunkSize = isize >= 1 << 20 && isize < limit ? isize + 1 : 1 << 20;
  try {
    return gunzipSync(bytes, { maxOutputLength: limit, chunkSize });
  } catch (e) {
    const code = typeof e === "object" && e !== null && "code" in e ? String(e.code) : "";
    if (code === "ERR_BUFFER_TOO_LARGE" || e instanceof RangeError) {
      throw runtimeError("WPR006", `bundle expands beyond ${limit} bytes (${why}); inflation stopped there`);
    }
    throw runtimeError("WPR001", `bundle gzip stream is corrupt or truncated (${code || "inflate failed"})`);
  }
}

const dec = new TextDecoder("utf-8", { fatal: true });

function cString(h: Uint8Array, off: number, len: number): Uint8Array {
  const end = h.subarray(off, off + len).indexOf(0);
  return h.subarray(off, end < 0 ? off + len : off + end);
}

function parseOctal(h: Uint8Array, off: number, len: number, field: string, at: number): number {
  if ((h[off]! & 0x80) !== 0) throw runtimeError("WPR002", `tar header at byte ${at}: base-256 ${field} is not supported`);
  const s = Buffer.from(h.subarray(off, off + len)).toString("latin1").replace(/[\0 ]+$/, "").replace(/^ +/, "");
  if (s === "") return 0;
  if (!/^[0-7]+$/.test(s)) throw runtimeError("WPR002", `tar header at byte ${at}: ${field} is not octal`);
  return parseInt(s, 8);
}

function parsePax(body: Uint8Array, at: number): Map<string, string> {
  const out = new Map<string, string>();
  let i = 0;
  while (i < body.length) {
    const sp = body.indexOf(0x20, i);
    if (sp < 0) throw runtimeError("WPR002", `PAX header at byte ${at} is malformed`);
    const len = Number(Buffer.from(body.subarray(i, sp)).toString("latin1"));
    if (!Number.isInteger(len) || len <= sp - i + 1 || i + len > body.length || body[i + len - 1] !== 0x0a) {
      throw runtimeError("WPR002", `PAX header at byte ${at} is malformed`);
    }
    let rec: string;
    try {
      rec = dec.decode(body.subarray(sp + 1, i + len - 1));
    } catch {
      throw runtimeError("WPR003", `PAX header at byte ${at} is not UTF-8`);
    }
    const eq = rec.indexOf("=");
    if (eq <= 0) throw runtimeError("WPR002", `PAX header at byte ${at} is malformed`);
    out.set(rec.slice(0, eq), rec.slice(eq + 1));
    i += len;
  }
  return out;
}

/** Parses an uncompressed ustar archive into name -> bytes (copies), refusing anything irregular. */
export function readTar(tar: Uint8Array, options: ReadTarOptions = {}): Map<string, Uint8Array> {
  return parseTar(tar, options, true);
}

function parseTar(tar: Uint8Array, options: ReadTarOptions, copy: boolean): Map<string, Uint8Array> {
  const maxEntryBytes = options.maxEntryBytes ?? DEFAULTS.maxEntryBytes;
  const maxTotalBytes = options.maxTotalBytes ?? DEFAULTS.maxTotalBytes;
  const maxEntries = options.maxEntries ?? DEFAULTS.maxEntries;
  const rooted = options.rooted ?? false;
  const files = new Map<string, Uint8Array>();
  let total = 0;
  let off = 0;
  let pax: Map<string, string> | null = null;
  for (;;) {
    if (off + BLOCK > tar.length) throw runtimeError("WPR002", "tar is truncated (no end-of-archive marker)");
    const h = tar.subarray(off, off + BLOCK);
    if (h.every((b) => b === 0)) {
      // End of archive: two zero blocks, then only zero padding.
      const rest = tar.subarray(off + BLOCK);
      if (rest.length < BLOCK || !rest.subarray(0, BLOCK).every((b) => b === 0)) {
        throw runtimeError("WPR002", "tar is truncated (incomplete end-of-archive marker)");
      }
      if (!rest.every((b) => b === 0)) throw runtimeError("WPR002", "tar has data after the end-of-archive marker");
      if (pax !== null) throw runtimeError("WPR002", "tar ends after a PAX header with no entry");
      return files;
    }
    const stored = parseOctal(h, 148, 8, "checksum", off);
    let sum = 0;
    for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : h[i]!;
    if (sum !== stored) throw runtimeError("WPR002", `tar header at byte ${off} fails its checksum`);
    const magic = Buffer.from(h.subarray(257, 265)).toString("latin1");
    if (magic !== "ustar\u000000" && magic !== "ustar  \u0000") {
      throw runtimeError("WPR002", `tar header at byte ${off} is not ustar`);
    }
    const size = parseOctal(h, 124, 12, "size", off);
    const type = String.fromCharCode(h[156]!);
    const dataStart = off + BLOCK;
    const dataEnd = dataStart + size;
    if (dataEnd > tar.length) throw runtimeError("WPR002", `tar entry at byte ${off} is truncated`);
    if (type === "x") {
      if (pax !== null) throw runtimeError("WPR002", `two PAX headers in a row at byte ${off}`);
      if (size > 1024 * 1024) throw runtimeError("WPR006", `PAX header at byte ${off} is too large`);
      pax = parsePax(tar.subarray(dataStart, dataEnd), off);
      off = dataEnd + pad(size);
      continue;
    }
    let rawName: string;
    try {
      const prefix = dec.decode(cString(h, 345, 155));
      const base = dec.decode(cString(h, 0, 100));
      rawName = prefix === "" ? base : `${prefix}/${base}`;
    } catch {
      throw runtimeError("WPR003", `tar entry name at byte ${off} is not UTF-8`);
    }
    let entrySize = size;
    if (pax !== null) {
      rawName = pax.get("path") ?? rawName;
      const paxSize = pax.get("size");
      if (paxSize !== undefined) {
        if (!/^\d+$/.test(paxSize) || Number(paxSize) !== size) {
          throw runtimeError("WPR002", `PAX size of \`${rawName}\` disagrees with its header`);
        }
        entrySize = Number(paxSize);
      }
      pax = null;
    }
    if (type !== "0" && type !== "\u0000") {
      throw runtimeError("WPR005", `tar entry \`${rawName}\` is not a regular file (type \`${type === "\u0000" ? "NUL" : type}\`)`);
    }
    const name = checkEntryName(rawName, rooted);
    if (files.has(name)) throw runtimeError("WPR004", `tar entry \`${name}\` appears more than once`);
    if (files.size >= maxEntries) throw runtimeError("WPR006", `tar has more than ${maxEntries} entries`);
    if (entrySize > maxEntryBytes) throw runtimeError("WPR006", `tar entry \`${name}\` is larger than ${maxEntryBytes} bytes`);
    total += entrySize;
    if (total > maxTotalBytes) throw runtimeError("WPR006", `tar contents exceed ${maxTotalBytes} bytes`);
    // readTarGz owns the gunzip output, so it takes views: copying a 70 MB data.json costs
    // tens of milliseconds at load. readTar's caller owns its buffer: copies.
    files.set(name, copy ? tar.slice(dataStart, dataEnd) : tar.subarray(dataStart, dataEnd));
    off = dataEnd + pad(size);
  }
}

/** gunzip + `readTar`. Throws WaypostRuntimeError (WPR001..WPR006). */
export function readTarGz(bytes: Uint8Array, options: ReadTarOptions = {}): Map<string, Uint8Array> {
  // Headers, PAX records and padding ride on top of the content limit.
  const bound = tarBound(options.maxTotalBytes ?? DEFAULTS.maxTotalBytes, options.maxEntries ?? DEFAULTS.maxEntries);
  const ratio = options.maxRatio ?? DEFAULTS.maxRatio;
  const ratioBound = Math.max(RATIO_FLOOR, Math.floor(bytes.length * ratio));
  const tar =
    ratioBound < bound
      ? gunzipStrict(bytes, ratioBound, `more than ${ratio} times its compressed size of ${bytes.length} bytes: a likely gzip bomb`)
      : gunzipStrict(bytes, bound, "the uncompressed size limit");
  return parseTar(tar, options, false);
}
