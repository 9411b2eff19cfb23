/**
 * Reading (and verifying) OPA bundles: `/.manifest`, `/policy.wasm`, `/data.json`, optionally
 * `/.signatures.json` in OPA's format. Everything wrong with a bundle is a WaypostRuntimeError
 * with a stable code; nothing here throws a raw error for bad input.
 */
import { compactVerify, decodeProtectedHeader } from "jose";
import { isUtf8 } from "node:buffer";
import { createHash } from "node:crypto";
import { describeThrown, runtimeError, WaypostRuntimeError } from "./errors.js";
import { bundleFileDigest, isJsonObject, isStructuredBundleFile, opaStructuredDigest, type JsonObject, type JsonValue } from "./json.js";
import { resolveVerificationKey, type PublicKeyInput, type ResolvedKey } from "./keys.js";
import { readTarGz, type TarLimits } from "./tar.js";

export const MANIFEST_FILE = ".manifest";
export const WASM_FILE = "policy.wasm";
export const DATA_FILE = "data.json";
export const SIGNATURES_FILE = ".signatures.json";

export interface WasmResolver {
  entrypoint: string;
  module: string;
}

export interface Manifest {
  revision: string;
  roots: string[];
  wasm: WasmResolver[];
  metadata: JsonObject;
  rego_version?: number;
}

/** One file entry of the signature payload (OPA's FileInfo). */
export interface SignedFile {
  name: string;
  hash: string;
  algorithm: string;
}

/** The JWS payload of `.signatures.json` (OPA's DecodedSignature). */
export interface SignaturePayload {
  files: SignedFile[];
  keyid?: string;
  scope?: string;
}

export interface BundleContents {
  manifest: Manifest;
  wasm: Uint8Array;
  /** data.json exactly as stored (handed to the module without re-serialising). */
  dataBytes: Uint8Array;
  /**
   * The whole data.json, parsed on first access (throws WPR009 if it is not JSON). Reading a
   * bundle does not parse it: with a 1M-entry list that is 70+ MB of JSON the engine never
   * needs in JS (the module parses it itself); the engine reads `plan` only.
   */
  readonly data: JsonObject;
  /**
   * `data.waypost.plan`, parsed on first access. Reading a bundle parses only its `fields`
   * (`planFields`): a plan of 10,000 journey nodes is 40+ MB of JSON the engine never needs
   * in JS, and parsing it took most of the JavaScript side of a load.
   */
  readonly plan: JsonObject;
  /** `data.waypost.plan.fields`, parsed (the data dictionary: the engine's field masks); undefined when absent. */
  planFields: JsonValue | undefined;
  /** Every file, names relative to the bundle root (no leading `/`). */
  files: ReadonlyMap<string, Uint8Array>;
  /** Present when the signature was verified; null when read with `skipVerify`. */
  signature: { keyid: string | null; scope: string | null; alg: string } | null;
}

export interface ReadBundleOptions {
  /** The bundle must carry a valid signature by this key covering every file. */
  publicKey?: PublicKeyInput;
  /** Read the bundle without verifying any signature; required when no `publicKey` is given. */
  skipVerify?: boolean;
  limits?: TarLimits;
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

function parseJsonFile(bytes: Uint8Array, what: string, code: "WPR008" | "WPR009" | "WPR011"): JsonValue {
  try {
    return JSON.parse(utf8.decode(bytes)) as JsonValue;
  } catch (e) {
    throw runtimeError(code, `${what} is not valid JSON: ${describeThrown(e)}`);
  }
}

function parseManifest(bytes: Uint8Array): Manifest {
  const v = parseJsonFile(bytes, "`.manifest`", "WPR008");
  const bad = (why: string) => runtimeError("WPR008", `\`.manifest\` ${why}`);
  if (!isJsonObject(v)) throw bad("is not a JSON object");
  if (typeof v.revision !== "string") throw bad("has no string `revision`");
  const roots = v.roots ?? [""];
  if (!Array.isArray(roots) || !roots.every((r) => typeof r === "string")) throw bad("`roots` is not an array of strings");
  if (!Array.isArray(v.wasm) || v.wasm.length === 0) throw bad("has no `wasm` entry points");
  const wasm: WasmResolver[] = v.wasm.map((w, i) => {
    if (!isJsonObject(w) || typeof w.entrypoint !== "string" || typeof w.module !== "string") {
      throw bad(`\`wasm[${i}]\` needs string \`entrypoint\` and \`module\``);
    }
    return { entrypoint: w.entrypoint, module: w.module };
  });
  const metadata = v.metadata ?? {};
  if (!isJsonObject(metadata)) throw bad("`metadata` is not an object");
  const m: Manifest = { revision: v.revision, roots: roots as string[], wasm, metadata };
  if (typeof v.rego_version === "number") m.rego_version = v.rego_version;
  return m;
}

const HASHES: Record<string, string> = { "SHA-256": "sha256", "SHA-384": "sha384", "SHA-512": "sha512" };

function digest(name: string, bytes: Uint8Array, algorithm: string): string {
  const h = HASHES[algorithm];
  if (h === undefined) throw runtimeError("WPR011", `signed file \`${name}\` uses unsupported hash \`${algorithm}\``);
  if (algorithm === "SHA-256") return bundleFileDigest(name, bytes);
  if (isStructuredBundleFile(name)) return opaStructuredDigest(bytes, h);
  return createHash(h).update(bytes).digest("hex");
}

function parsePayload(bytes: Uint8Array): SignaturePayload {
  const v = parseJsonFile(bytes, "signature payload", "WPR011");
  const bad = (why: string) => runtimeError("WPR011", `signature payload ${why}`);
  if (!isJsonObject(v) || !Array.isArray(v.files)) throw bad("has no `files` list");
  const files = v.files.map((f, i): SignedFile => {
    if (!isJsonObject(f) || typeof f.name !== "string" || typeof f.hash !== "string" || typeof f.algorithm !== "string") {
      throw bad(`\`files[${i}]\` needs string \`name\`, \`hash\` and \`algorithm\``);
    }
    return { name: f.name, hash: f.hash.toLowerCase(), algorithm: f.algorithm };
  });
  const p: SignaturePayload = { files };
  if (v.keyid !== undefined) {
    if (typeof v.keyid !== "string") throw bad("`keyid` is not a string");
    p.keyid = v.keyid;
  }
  if (v.scope !== undefined) {
    if (typeof v.scope !== "string") throw bad("`scope` is not a string");
    p.scope = v.scope;
  }
  return p;
}

/** JWS header members that name or carry a key: never used, so a token that has one is refused. */
const KEY_REFERENCE_HEADERS = ["jwk", "jku", "x5u", "x5c", "x5t", "x5t#S256"];

/**
 * A signed file name as the payload lists it: OPA writes `/name`; one leading `/` is stripped.
 * Anything that is not a plain relative path (`..`, `.`, empty segments, backslashes, control
 * characters) is refused rather than normalised, so two spellings cannot name one file.
 */
function signedName(raw: string): string {
  const name = raw.startsWith("/") ? raw.slice(1) : raw;
  const segments = name.split("/");
  if (name === "" || /[\\\u0000-\u001f\u007f]/.test(name) || segments.some((s) => s === "" || s === "." || s === "..")) {
    throw runtimeError("WPR011", `signature lists an unsafe file name \`${JSON.stringify(raw).slice(1, -1)}\``);
  }
  if (name === SIGNATURES_FILE) throw runtimeError("WPR011", `signature lists \`${SIGNATURES_FILE}\` itself`);
  return name;
}

/**
 * Checks the protected header before any cryptography runs: the header must not steer the
 * verification. Refused: an `alg` other than the configured one (`none` included); a key carried
 * or referenced by the token (`jwk`, `jku`, `x5u`, `x5c`, `x5t`); `crit` (no extension is
 * understood, so none may be critical); `b64: false` (unencoded payloads); a `kid` that is not
 * the configured key id (OPA picks the key by `kid`; we hold one key). Other members cannot
 * change how the token verifies (without `crit` they are ignorable by RFC 7515) and are ignored.
 */
function checkHeader(token: string, key: ResolvedKey): { kid: string | undefined } {
  let h: Record<string, unknown>;
  try {
    h = decodeProtectedHeader(token) as Record<string, unknown>;
  } catch (e) {
    throw runtimeError("WPR011", `signature token is malformed: ${describeThrown(e)}`);
  }
  const bad = (why: string) => runtimeError("WPR011", why);
  if (h.alg === "none") throw bad("signature token is unsigned (`alg: none`)");
  if (h.alg !== key.alg) {
    throw bad(`bundle is signed with \`${typeof h.alg === "string" ? h.alg : "no algorithm"}\` but the key is configured for \`${key.alg}\``);
  }
  for (const name of KEY_REFERENCE_HEADERS) {
    if (name in h) throw bad(`signature header \`${name}\` names or carries a key; keys come only from the verifier's configuration`);
  }
  if ("crit" in h) throw bad("signature header has `crit`: no JWS extension is supported");
  if ("b64" in h && h.b64 !== true) throw bad("signature header has `b64: false`: unencoded payloads are not supported");
  if ("kid" in h && typeof h.kid !== "string") throw bad("signature header `kid` is not a string");
  const kid = h.kid as string | undefined;
  if (kid !== undefined && kid !== key.keyid) {
    throw bad(key.keyid === undefined ? `bundle is signed by key \`${kid}\` but the verification key has no id; configure it as \`${kid}\` if that is the key` : `bundle is signed by key \`${kid}\`, expected \`${key.keyid}\``);
  }
  return { kid };
}

/**
 * Verifies `.signatures.json` against `key`: exactly one token, its header (see checkHeader),
 * the signature, key id, scope, and every file digest (nothing more, nothing less).
 */
export async function verifyBundleSignature(
  files: ReadonlyMap<string, Uint8Array>,
  key: ResolvedKey,
): Promise<{ keyid: string | null; scope: string | null; alg: string }> {
  const sigBytes = files.get(SIGNATURES_FILE);
  if (sigBytes === undefined) throw runtimeError("WPR010", "bundle has no `.signatures.json` but a verification key was given");
  const sig = parseJsonFile(sigBytes, "`.signatures.json`", "WPR011");
  if (!isJsonObject(sig) || !Array.isArray(sig.signatures)) throw runtimeError("WPR011", "`.signatures.json` has no `signatures` list");
  // OPA verifies exactly one token; with several, which one vouches for the files is ambiguous.
  if (sig.signatures.length !== 1 || typeof sig.signatures[0] !== "string") {
    throw runtimeError("WPR011", `\`.signatures.json\` must hold exactly one JWS token (it holds ${sig.signatures.length})`);
  }
  const token = sig.signatures[0];
  const { kid: headerKid } = checkHeader(token, key);
  let payloadBytes: Uint8Array;
  try {
    payloadBytes = (await compactVerify(token, key.key, { algorithms: [key.alg] })).payload;
  } catch (e) {
    throw runtimeError("WPR011", `signature does not verify with the given key (${describeThrown(e)})`);
  }
  const payload = parsePayload(payloadBytes);
  if (headerKid !== undefined && payload.keyid !== undefined && payload.keyid !== headerKid) {
    throw runtimeError("WPR011", `signature names two keys: header \`kid\` \`${headerKid}\`, payload \`keyid\` \`${payload.keyid}\``);
  }
  const tokenKid = headerKid ?? payload.keyid;
  if (tokenKid !== key.keyid) {
    throw runtimeError(
      "WPR011",
      tokenKid === undefined
        ? `bundle signature names no key id, expected \`${key.keyid}\``
        : key.keyid === undefined
          ? `bundle is signed by key \`${tokenKid}\` but the verification key has no id; configure it as \`${tokenKid}\` if that is the key`
          : `bundle is signed by key \`${tokenKid}\`, expected \`${key.keyid}\``,
    );
  }
  if ((payload.scope ?? "") !== (key.scope ?? "")) {
    throw runtimeError("WPR011", `signature scope \`${payload.scope ?? ""}\` does not match \`${key.scope ?? ""}\``);
  }
  const listed = new Map<string, SignedFile>();
  for (const f of payload.files) {
    const name = signedName(f.name);
    if (listed.has(name)) throw runtimeError("WPR011", `signature lists \`${name}\` twice`);
    listed.set(name, f);
  }
  for (const [name, bytes] of files) {
    if (name === SIGNATURES_FILE) continue;
    const f = listed.get(name);
    if (f === undefined) throw runtimeError("WPR013", `bundle file \`${name}\` is not covered by the signature`);
    let got: string;
    try {
      got = digest(name, bytes, f.algorithm);
    } catch (e) {
      if (e instanceof WaypostRuntimeError) throw e;
      throw runtimeError("WPR012", `bundle file \`${name}\` cannot be digested: ${describeThrown(e)}`);
    }
    if (got !== f.hash) throw runtimeError("WPR012", `bundle file \`${name}\` does not match its signed digest`);
  }
  for (const name of listed.keys()) {
    if (!files.has(name)) throw runtimeError("WPR013", `signed file \`${name}\` is missing from the bundle`);
  }
  return { keyid: tokenKid ?? null, scope: payload.scope ?? null, alg: key.alg };
}

/**
 * The caller's verification choice, named as OPA names it: a key (verify) or `skipVerify: true`
 * (load unverified). Neither is refused (WPR018): loading an unverified bundle is never a
 * default. Both is refused too (WPR019): it is unclear which was meant.
 */
export function verificationChoice(o: { publicKey?: PublicKeyInput | undefined; skipVerify?: boolean | undefined }): ResolvedKey | null {
  const hasKey = o.publicKey !== undefined && o.publicKey !== null;
  if (hasKey && o.skipVerify === true) {
    throw runtimeError("WPR019", "both a verification key and `skipVerify` were given; give one (CLI: `--public-key` or `--skip-verify`)");
  }
  if (hasKey) return resolveVerificationKey(o.publicKey!);
  if (o.skipVerify === true) return null;
  throw runtimeError(
    "WPR018",
    "no verification key was given: pass `publicKey` (CLI `--public-key KEY`) to verify the bundle's signature, or `skipVerify: true` (CLI `--skip-verify`) to load it unverified",
  );
}

/**
 * Untars and checks a bundle. With `publicKey`, an unsigned, tampered, re-signed or extended
 * bundle is refused; without one, `skipVerify: true` must be given (WPR018 otherwise). Throws
 * WaypostRuntimeError with a WPR code.
 */
export async function readBundle(bytes: Uint8Array, options: ReadBundleOptions = {}): Promise<BundleContents> {
  // Resolve the key first: a bad key is the caller's error, whatever the bundle holds.
  const key = verificationChoice(options);
  const files = readTarGz(bytes, { ...options.limits, rooted: true });
  for (const required of [MANIFEST_FILE, WASM_FILE, DATA_FILE]) {
    if (!files.has(required)) throw runtimeError("WPR007", `bundle has no \`/${required}\``);
  }
  // Verify before parsing anything else, so unverified bytes are never interpreted further.
  const signature = key === null ? null : await verifyBundleSignature(files, key);
  const manifest = parseManifest(files.get(MANIFEST_FILE)!);
  for (const w of manifest.wasm) {
    if (w.module.replace(/^\//, "") !== WASM_FILE) {
      throw runtimeError("WPR008", `\`.manifest\` entry point \`${w.entrypoint}\` names module \`${w.module}\`; only \`/policy.wasm\` is supported`);
    }
  }
  const dataBytes = files.get(DATA_FILE)!;
  const top = scanDataJson(dataBytes);
  if (top.revision !== manifest.revision) {
    throw runtimeError("WPR009", `\`data.json\` revision \`${top.revision}\` differs from the manifest revision \`${manifest.revision}\``);
  }
  let data: JsonObject | null = null;
  let plan: JsonObject | null = null;
  return {
    manifest,
    wasm: files.get(WASM_FILE)!,
    dataBytes,
    get data(): JsonObject {
      if (data === null) {
        const v = parseJsonFile(dataBytes, "`data.json`", "WPR009");
        if (!isJsonObject(v)) throw runtimeError("WPR009", "`data.json` is not a JSON object");
        data = v;
      }
      return data;
    },
    get plan(): JsonObject {
      if (plan === null) {
        const v = parseSpan(dataBytes, top.plan.start, top.plan.end);
        if (!isJsonObject(v)) throw runtimeError("WPR009", "`data.json` has no `waypost` object with `plan`, `lists` and `revision`");
        plan = v;
      }
      return plan;
    },
    planFields: top.fields,
    files,
    signature,
  };
}

// ---------------------------------------------------------------------------------------------
// data.json without parsing it: the runtime needs `waypost.plan` (field masks) and
// `waypost.revision`, not the lists, which can be tens of megabytes. A byte scanner that knows
// strings (escapes included) and brackets walks the two top levels and skips every other value;
// only the plan and the revision are JSON.parse'd. Why a scan rather than copying the plan into
// the manifest metadata: it works for every bundle already built, keeps data.json the one
// source the module also reads, and still checks the shape the engine relies on. Validity of
// the skipped values is the module's job (`opa_json_parse` refuses bad JSON: WPR009); UTF-8
// validity is checked here (natively) as the full decode did before.
// ---------------------------------------------------------------------------------------------

interface Member {
  key: string;
  start: number;
  end: number;
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;

class ScanError extends Error {}

function skipWs(b: Uint8Array, i: number): number {
  for (;;) {
    const c = b[i];
    if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) i++;
    else return i;
  }
}

/** Index just past the string starting at `i` (which holds `"`). */
function skipString(b: Uint8Array, i: number): number {
  let j = i + 1;
  for (;;) {
    const q = b.indexOf(QUOTE, j);
    if (q < 0) throw new ScanError(`unterminated string at byte ${i}`);
    let bs = 0;
    while (b[q - 1 - bs] === BACKSLASH) bs++;
    if ((bs & 1) === 0) return q + 1;
    j = q + 1;
  }
}

/** Index just past the value starting at `i`. Brackets must match; scalars are not checked. */
function skipValue(b: Uint8Array, i: number): number {
  const c = b[i];
  if (c === QUOTE) return skipString(b, i);
  if (c === 0x7b || c === 0x5b) {
    const closers: number[] = [];
    const n = b.length;
    for (let j = i; j < n; j++) {
      const d = b[j]!;
      if (d === QUOTE) j = skipString(b, j) - 1;
      else if (d === 0x7b) closers.push(0x7d);
      else if (d === 0x5b) closers.push(0x5d);
      else if (d === 0x7d || d === 0x5d) {
        if (closers.pop() !== d) throw new ScanError(`mismatched bracket at byte ${j}`);
        if (closers.length === 0) return j + 1;
      }
    }
    throw new ScanError(`unterminated value at byte ${i}`);
  }
  let j = i;
  for (;;) {
    const d = b[j];
    if (d === undefined || d === 0x2c || d === 0x7d || d === 0x5d || d === 0x20 || d === 0x0a || d === 0x0d || d === 0x09) break;
    j++;
  }
  if (j === i) throw new ScanError(`expected a value at byte ${i}`);
  return j;
}

const utf8Strict = new TextDecoder("utf-8", { fatal: true });
const parseSpan = (b: Uint8Array, start: number, end: number): unknown => JSON.parse(utf8Strict.decode(b.subarray(start, end)));

/**
 * The members of the object starting at `i`; `descend(key)` says which member values are
 * scanned as objects themselves (their members land in `nested`) instead of skipped.
 */
function scanObject(
  b: Uint8Array,
  i: number,
  descend: string | null,
  nested: { members: Member[] | null },
): { members: Member[]; end: number } {
  if (b[i] !== 0x7b) throw new ScanError(`expected an object at byte ${i}`);
  const members: Member[] = [];
  i = skipWs(b, i + 1);
  if (b[i] === 0x7d) return { members, end: i + 1 };
  for (;;) {
    if (b[i] !== QUOTE) throw new ScanError(`expected a key at byte ${i}`);
    const kEnd = skipString(b, i);
    const key = parseSpan(b, i, kEnd) as string;
    if (members.some((m) => m.key === key)) throw new ScanError(`duplicate key \`${key}\``);
    i = skipWs(b, kEnd);
    if (b[i] !== 0x3a) throw new ScanError(`expected ':' at byte ${i}`);
    const start = skipWs(b, i + 1);
    let end: number;
    if (key === descend && b[start] === 0x7b) {
      const inner = scanObject(b, start, null, nested);
      nested.members = inner.members;
      end = inner.end;
    } else end = skipValue(b, start);
    members.push({ key, start, end });
    i = skipWs(b, end);
    if (b[i] === 0x2c) {
      i = skipWs(b, i + 1);
      continue;
    }
    if (b[i] === 0x7d) return { members, end: i + 1 };
    throw new ScanError(`expected ',' or '}' at byte ${i}`);
  }
}

/**
 * Finds `waypost.plan` (where it is, and its `fields` parsed) and `waypost.revision` in
 * data.json; WPR009 when absent. The plan's members are scanned (an object, no key twice), not
 * parsed.
 */
export function scanDataJson(b: Uint8Array): { plan: Member; fields: JsonValue | undefined; revision: string } {
  const shape = () => runtimeError("WPR009", "`data.json` has no `waypost` object with `plan`, `lists` and `revision`");
  if (!isUtf8(b)) throw runtimeError("WPR009", "`data.json` is not valid JSON: it is not UTF-8");
  const nested: { members: Member[] | null } = { members: null };
  try {
    const start = skipWs(b, 0);
    if (b[start] !== 0x7b) {
      skipValue(b, start); // a JSON value that is not an object, or not JSON at all
      throw runtimeError("WPR009", "`data.json` is not a JSON object");
    }
    const top = scanObject(b, start, "waypost", nested);
    if (skipWs(b, top.end) !== b.length) throw new ScanError(`unexpected data after the top-level object at byte ${top.end}`);
    const wp = top.members.find((m) => m.key === "waypost");
    if (wp === undefined || nested.members === null) throw shape();
    const get = (k: string) => nested.members!.find((m) => m.key === k);
    const plan = get("plan");
    const lists = get("lists");
    const rev = get("revision");
    if (plan === undefined || lists === undefined || rev === undefined || b[lists.start] !== 0x7b || b[plan.start] !== 0x7b) throw shape();
    const planMembers = scanObject(b, plan.start, null, { members: null }).members;
    const fieldsAt = planMembers.find((m) => m.key === "fields");
    const fields = fieldsAt === undefined ? undefined : (parseSpan(b, fieldsAt.start, fieldsAt.end) as JsonValue);
    const revision = parseSpan(b, rev.start, rev.end);
    if (typeof revision !== "string") throw shape();
    return { plan, fields, revision };
  } catch (e) {
    if (e instanceof WaypostRuntimeError) throw e;
    throw runtimeError("WPR009", `\`data.json\` is not valid JSON: ${describeThrown(e)}`);
  }
}
