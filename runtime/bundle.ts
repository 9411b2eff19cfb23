/**
 * Reading (and verifying) OPA bundles: `/.manifest`, `/policy.wasm`, `/data.json`, optionally
 * `/.signatures.json` in OPA's format. Everything wrong with a bundle is a WaypostRuntimeError
 * with a stable code; nothing here throws a raw error for bad input.
 */
import { compactVerify, decodeProtectedHeader } from "jose";
import { createHash } from "node:crypto";
import { describeThrown, runtimeError, WaypostRuntimeError } from "./errors.js";
import { bundleFileDigest, isJsonObject, isStructuredBundleFile, opaStructuredText, type JsonObject, type JsonValue } from "./json.js";
import { resolveVerificationKey, type PublicKeyInput, type ResolvedKey } from "./keys.js";
import { readTarGz, type TarLimits } from "./tar.js";

export const MANIFEST_FILE = ".manifest";
export const WASM_FILE = "policy.wasm";
export const DATA_FILE = "data.json";
export const SIGNATURES_FILE = ".signatures.json";

/** Entry point names, with the ids the Wasm module must give them (docs/ir.md). */
export const ENTRYPOINTS = { decide: "waypost/decide", suppressed: "waypost/suppressed", consent: "waypost/consent" } as const;

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
  /** data.json exactly as stored (handed to the SDK without re-serialising). */
  dataBytes: Uint8Array;
  data: JsonObject;
  /** Every file, names relative to the bundle root (no leading `/`). */
  files: ReadonlyMap<string, Uint8Array>;
  /** Present when the signature was verified. */
  signature: { keyid: string | null; scope: string | null; alg: string } | null;
}

export interface ReadBundleOptions {
  /** When given, the bundle must carry a valid signature by this key covering every file. */
  publicKey?: PublicKeyInput;
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
  const input = isStructuredBundleFile(name) ? opaStructuredText(bytes) : bytes;
  return createHash(h).update(input).digest("hex");
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

/** Verifies `.signatures.json` against `key`: signature, key id, scope, and every file digest. */
export async function verifyBundleSignature(
  files: ReadonlyMap<string, Uint8Array>,
  key: ResolvedKey,
): Promise<{ keyid: string | null; scope: string | null; alg: string }> {
  const sigBytes = files.get(SIGNATURES_FILE);
  if (sigBytes === undefined) throw runtimeError("WPR010", "bundle has no `.signatures.json` but a verification key was given");
  const sig = parseJsonFile(sigBytes, "`.signatures.json`", "WPR011");
  if (!isJsonObject(sig) || !Array.isArray(sig.signatures)) throw runtimeError("WPR011", "`.signatures.json` has no `signatures` list");
  if (sig.signatures.length !== 1 || typeof sig.signatures[0] !== "string") {
    throw runtimeError("WPR011", "`.signatures.json` must hold exactly one JWS token");
  }
  const token = sig.signatures[0];
  let headerAlg: string | undefined;
  let headerKid: string | undefined;
  try {
    const h = decodeProtectedHeader(token);
    headerAlg = h.alg;
    headerKid = h.kid;
  } catch (e) {
    throw runtimeError("WPR011", `signature token is malformed: ${describeThrown(e)}`);
  }
  if (headerAlg !== key.alg) {
    throw runtimeError("WPR011", `bundle is signed with \`${headerAlg ?? "none"}\` but the key expects \`${key.alg}\``);
  }
  let payloadBytes: Uint8Array;
  try {
    payloadBytes = (await compactVerify(token, key.key, { algorithms: [key.alg] })).payload;
  } catch (e) {
    throw runtimeError("WPR011", `signature does not verify with the given key (${describeThrown(e)})`);
  }
  const payload = parsePayload(payloadBytes);
  const tokenKid = headerKid ?? payload.keyid;
  if (key.keyid !== undefined && tokenKid !== undefined && tokenKid !== key.keyid) {
    throw runtimeError("WPR011", `bundle is signed by key \`${tokenKid}\`, expected \`${key.keyid}\``);
  }
  if ((payload.scope ?? "") !== (key.scope ?? "")) {
    throw runtimeError("WPR011", `signature scope \`${payload.scope ?? ""}\` does not match \`${key.scope ?? ""}\``);
  }
  const listed = new Map<string, SignedFile>();
  for (const f of payload.files) {
    const name = f.name.replace(/^\//, "");
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
 * Untars and checks a bundle. With `publicKey`, an unsigned, tampered, re-signed or extended
 * bundle is refused. Throws WaypostRuntimeError with a WPR code.
 */
export async function readBundle(bytes: Uint8Array, options: ReadBundleOptions = {}): Promise<BundleContents> {
  // Resolve the key first: a bad key is the caller's error, whatever the bundle holds.
  const key = options.publicKey === undefined ? undefined : resolveVerificationKey(options.publicKey);
  const files = readTarGz(bytes, { ...options.limits, rooted: true });
  for (const required of [MANIFEST_FILE, WASM_FILE, DATA_FILE]) {
    if (!files.has(required)) throw runtimeError("WPR007", `bundle has no \`/${required}\``);
  }
  // Verify before parsing anything else, so unverified bytes are never interpreted further.
  const signature = key === undefined ? null : await verifyBundleSignature(files, key);
  const manifest = parseManifest(files.get(MANIFEST_FILE)!);
  for (const w of manifest.wasm) {
    if (w.module.replace(/^\//, "") !== WASM_FILE) {
      throw runtimeError("WPR008", `\`.manifest\` entry point \`${w.entrypoint}\` names module \`${w.module}\`; only \`/policy.wasm\` is supported`);
    }
  }
  const dataBytes = files.get(DATA_FILE)!;
  const data = parseJsonFile(dataBytes, "`data.json`", "WPR009");
  if (!isJsonObject(data)) throw runtimeError("WPR009", "`data.json` is not a JSON object");
  const wp = data.waypost;
  if (!isJsonObject(wp) || !isJsonObject(wp.plan) || !isJsonObject(wp.lists) || typeof wp.revision !== "string") {
    throw runtimeError("WPR009", "`data.json` has no `waypost` object with `plan`, `lists` and `revision`");
  }
  if (wp.revision !== manifest.revision) {
    throw runtimeError("WPR009", `\`data.json\` revision \`${wp.revision}\` differs from the manifest revision \`${manifest.revision}\``);
  }
  return { manifest, wasm: files.get(WASM_FILE)!, dataBytes, data, files, signature };
}
