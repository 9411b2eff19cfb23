/**
 * Writes the OPA bundle (`bundle.tar.gz`): `/.manifest`, `/policy.wasm`, `/data.json`, and with
 * a signing key `/.signatures.json` in OPA's format, so `opa run --verification-key` accepts it.
 * Output is byte-for-byte deterministic for the same inputs (see compiler/tar-write.ts); with an
 * ECDSA key the signature itself is randomised, so only unsigned or RSA/HMAC bundles are
 * fully reproducible.
 */
import { createHash } from "node:crypto";
import { CompactSign, type JWK } from "jose";
import { ENTRYPOINT_IDS } from "../runtime/contract.js";
import { bundleFileDigest, canonicalJson, canonicalJsonBytes, type JsonValue } from "../runtime/json.js";
import { DATA_FILE, MANIFEST_FILE, SIGNATURES_FILE, WASM_FILE, type SignedFile } from "../runtime/bundle.js";
import { resolveSigningKey, type JwsAlgorithm, type KeyMaterial } from "../runtime/keys.js";
import type { BundleData } from "./ir/ir.js";
import { encodeBundleData } from "./ir/reason-table.js";
import type { PlanResult } from "./plan.js";
import { writeTarGz } from "./tar-write.js";
import { VERSION } from "./version.js";

/** The entrypoints every Waypost bundle exports, in id order (id 0 is the SDK default). */
export const BUNDLE_ENTRYPOINTS = ENTRYPOINT_IDS;

export interface BundleManifestInput {
  revision: string;
  roots: string[];
  wasm: { entrypoint: string; module: string }[];
  metadata: Record<string, JsonValue>;
}

/**
 * The signing key: `pem` (PKCS#1, PKCS#8 or SEC1 private key text), `jwk` (a private JWK, or an
 * `oct` JWK for HMAC), or `key` (any of those, raw HMAC secret bytes, or a KeyObject).
 */
export type SigningKeyInput = SigningKeyCommon & ({ pem: string } | { jwk: JWK } | { key: KeyMaterial });

export interface SigningKeyCommon {
  alg: JwsAlgorithm;
  /** Written as the `kid` header and the (deprecated, still read) `keyid` claim, as `opa sign` does. */
  keyid?: string;
  /** Optional `scope` claim; verifiers configured with a scope require it to match. */
  scope?: string;
}

export interface WriteBundleInput {
  wasm: Uint8Array;
  /** The whole data.json document (`{"waypost": BundleData}`), written as canonical JSON. */
  data: JsonValue;
  manifest: BundleManifestInput;
  signingKey?: SigningKeyInput;
}

const enc = new TextEncoder();

/** Builds the `.signatures.json` bytes for `files` (names relative to the bundle root). */
export async function signBundleFiles(files: ReadonlyMap<string, Uint8Array>, signingKey: SigningKeyInput): Promise<Uint8Array> {
  const material: KeyMaterial = "pem" in signingKey ? signingKey.pem : "jwk" in signingKey ? signingKey.jwk : signingKey.key;
  const key = resolveSigningKey({ key: material, alg: signingKey.alg }, signingKey.alg);
  const listed: SignedFile[] = [...files.keys()]
    .filter((n) => n !== SIGNATURES_FILE)
    .sort()
    .map((name) => ({ name, hash: bundleFileDigest(name, files.get(name)!), algorithm: "SHA-256" }));
  const payload: { files: SignedFile[]; keyid?: string; scope?: string } = { files: listed };
  if (signingKey.keyid !== undefined) payload.keyid = signingKey.keyid;
  if (signingKey.scope !== undefined) payload.scope = signingKey.scope;
  const header: { alg: string; kid?: string } = { alg: key.alg };
  if (signingKey.keyid !== undefined) header.kid = signingKey.keyid;
  const token = await new CompactSign(enc.encode(JSON.stringify(payload))).setProtectedHeader(header).sign(key.key);
  return enc.encode(JSON.stringify({ signatures: [token] }, null, 1) + "\n");
}

/** Writes the bundle and returns the `.tar.gz` bytes. */
export async function writeBundle(input: WriteBundleInput): Promise<Uint8Array> {
  const m = input.manifest;
  // Only the known fields: the manifest bytes depend on nothing else.
  const manifest = {
    revision: m.revision,
    roots: m.roots,
    wasm: m.wasm.map((w) => ({ entrypoint: w.entrypoint, module: w.module })),
    metadata: m.metadata,
  };
  const files = new Map<string, Uint8Array>([
    [MANIFEST_FILE, enc.encode(canonicalJson(manifest))],
    [WASM_FILE, input.wasm],
    // Written in pieces, never as one string: a list of millions of ids passes V8's string limit.
    [DATA_FILE, canonicalJsonBytes(input.data)],
  ]);
  if (input.signingKey !== undefined) files.set(SIGNATURES_FILE, await signBundleFiles(files, input.signingKey));
  // Rooted names, as `opa build` writes them.
  return writeTarGz(new Map([...files].map(([name, bytes]) => [`/${name}`, bytes])));
}

/** sha256 over every source file read, by path order: `name\0length\0bytes`. */
export function sourceDigest(files: ReadonlyMap<string, Uint8Array>): string {
  const h = createHash("sha256");
  for (const name of [...files.keys()].sort()) {
    const b = files.get(name)!;
    h.update(`${name}\0${b.length}\0`);
    h.update(b);
  }
  return h.digest("hex");
}

export interface BundleOptions {
  /** Manifest revision; default `sha256-<first 16 hex of the source digest>`. */
  revision?: string;
  /** Extra manifest metadata (the Git commit, its date, `dirty`...). */
  metadata?: Record<string, JsonValue>;
  signingKey?: SigningKeyInput;
}

/** What the Bundle stage makes. */
export interface BundleOutput {
  bytes: Uint8Array;
  data: { waypost: BundleData };
  revision: string;
  /** sha256 hex of the sources (`sourceDigest`). */
  digest: string;
}

/** The Bundle stage: a planned program and its policy.wasm as `bundle.tar.gz`. */
export async function bundleProgram(planned: PlanResult, wasm: Uint8Array, digest: string, opts: BundleOptions): Promise<BundleOutput> {
  const revision = opts.revision ?? `sha256-${digest.slice(0, 16)}`;
  const data = { waypost: { plan: planned.ir.plan, lists: planned.lists, revision } };
  const bytes = await writeBundle({
    wasm,
    // The plan's reasons as indices into its reason table (compiler/ir/reason-table.ts).
    data: { waypost: encodeBundleData(data.waypost) } as unknown as JsonValue,
    manifest: {
      revision,
      roots: ["waypost"],
      wasm: BUNDLE_ENTRYPOINTS.map((entrypoint) => ({ entrypoint, module: "/policy.wasm" })),
      metadata: {
        compiler: `waypost ${VERSION}`,
        source_digest: `sha256:${digest}`,
        // The time-zone database the embedded zones come from (docs/ir.md, "Time zones").
        ...(planned.ir.plan.tzdata !== undefined ? { tzdata: planned.ir.plan.tzdata } : {}),
        ...(opts.metadata ?? {}),
      },
    },
    ...(opts.signingKey ? { signingKey: opts.signingKey } : {}),
  });
  return { bytes, data, revision, digest };
}

/** The data.json text exactly as the bundle stores it. */
export const dataJsonText = (data: { waypost: BundleData }): string => canonicalJson({ waypost: encodeBundleData(data.waypost) } as unknown as JsonValue);
