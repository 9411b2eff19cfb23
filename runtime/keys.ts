/**
 * Bundle signature keys, on OPA's model: a verification key is configured WITH its algorithm
 * (`keys: {id: {algorithm, key}}`, default RS256), and nothing about the key is guessed from the
 * token or from how its text looks. Keys are parsed with node:crypto (SPKI, PKCS#1, PKCS#8, SEC1,
 * X.509 PEM, JWK) and handed to jose as KeyObjects.
 *
 * Why so strict: the classic JWS attacks steer the verifier. A verifier that treats text it cannot
 * parse as an HMAC secret, or picks HS256 by default, verifies a token "signed" with HS256 using
 * the public key's own PEM text as the secret (RS/HS confusion). So:
 *  - the algorithm is the configured one, RS256 when omitted (never derived from the key text);
 *  - an HMAC secret is used only when an HS* algorithm is configured explicitly, and PEM or JWK
 *    text is never taken as a secret;
 *  - the key's type (and EC curve) must fit the algorithm;
 *  - PEM with surrounding text (a comment line, `openssl` output) is read as its single
 *    `-----BEGIN ... END-----` block; several blocks are refused (say which key you mean);
 *  - verification takes public keys or certificates only: a private key is refused rather than
 *    reduced to its public half, because a signing key on a verifying host lets anyone who takes
 *    that host sign bundles (give `openssl pkey -in key.pem -pubout` instead).
 * Signing derives the algorithm from the private key's actual type when none is given (RSA →
 * RS256, P-256 → ES256, Ed25519 → EdDSA, ...), and refuses public keys.
 */
import {
  createPrivateKey,
  createPublicKey,
  createSecretKey,
  X509Certificate,
  type JsonWebKey,
  type KeyObject,
} from "node:crypto";
import type { JWK } from "jose";
import { runtimeError, describeThrown, WaypostRuntimeError } from "./errors.js";

export const JWS_ALGORITHMS = [
  "RS256",
  "RS384",
  "RS512",
  "PS256",
  "PS384",
  "PS512",
  "ES256",
  "ES384",
  "ES512",
  "HS256",
  "HS384",
  "HS512",
  "EdDSA",
] as const;
export type JwsAlgorithm = (typeof JWS_ALGORITHMS)[number];

export const isJwsAlgorithm = (s: string): s is JwsAlgorithm => (JWS_ALGORITHMS as readonly string[]).includes(s);

/** OPA's default verification algorithm (`keys.<id>.algorithm` when omitted). */
export const DEFAULT_VERIFICATION_ALG: JwsAlgorithm = "RS256";

/**
 * Key material: PEM text (a public key or certificate for verifying, a private key for signing),
 * a JWK (object or JSON text), HMAC secret text or bytes (only with an explicit HS* algorithm),
 * or a node:crypto KeyObject.
 */
export type KeyMaterial = string | Uint8Array | JWK | KeyObject;

export interface VerificationKey {
  key: KeyMaterial;
  /** The algorithm the signature must use; default RS256, as OPA. HS* must be given to use a secret. */
  alg?: JwsAlgorithm;
  /** The key's id: a token naming no key id, or another one (header `kid` or claim `keyid`), is refused. */
  keyid?: string;
  /** Must equal the payload's `scope` claim (both absent counts as equal), as OPA checks. */
  scope?: string;
}

/** What `readBundle`/`loadBundle` accept as `publicKey`: key material (RS256) or a full description. */
export type PublicKeyInput = KeyMaterial | VerificationKey;

export interface ResolvedKey {
  key: KeyObject;
  alg: JwsAlgorithm;
  keyid: string | undefined;
  scope: string | undefined;
}

const isKeyObject = (v: unknown): v is KeyObject =>
  typeof v === "object" && v !== null && "type" in v && "export" in v && typeof (v as KeyObject).export === "function";

const isVerificationKey = (v: unknown): v is VerificationKey =>
  typeof v === "object" && v !== null && !isKeyObject(v) && !(v instanceof Uint8Array) && "key" in v;

const isHmac = (alg: JwsAlgorithm): boolean => alg.startsWith("HS");

const keyError = (message: string): WaypostRuntimeError => runtimeError("WPR014", message);

const CURVES: Record<string, { alg: JwsAlgorithm; name: string }> = {
  prime256v1: { alg: "ES256", name: "P-256" },
  secp384r1: { alg: "ES384", name: "P-384" },
  secp521r1: { alg: "ES512", name: "P-521" },
};

/** The algorithm a private key's type implies (signing only; verification never guesses). */
function algOfKeyType(k: KeyObject): JwsAlgorithm | null {
  switch (k.asymmetricKeyType) {
    case "rsa":
      return "RS256";
    case "rsa-pss":
      return "PS256";
    case "ec":
      return CURVES[k.asymmetricKeyDetails?.namedCurve ?? ""]?.alg ?? null;
    case "ed25519":
      return "EdDSA";
    default:
      return null;
  }
}

function describeKey(k: KeyObject): string {
  if (k.type === "secret") return "an HMAC secret";
  const t = k.asymmetricKeyType ?? "unknown";
  if (t === "ec") return `an EC ${CURVES[k.asymmetricKeyDetails?.namedCurve ?? ""]?.name ?? k.asymmetricKeyDetails?.namedCurve ?? "unknown-curve"} key`;
  if (t === "rsa" || t === "rsa-pss") return `an ${t.toUpperCase()} key`;
  return `an ${t} key`;
}

/** Whether `k` can be used with `alg` (type, and for ECDSA the curve). */
function fits(k: KeyObject, alg: JwsAlgorithm): boolean {
  if (isHmac(alg)) return k.type === "secret";
  if (k.type === "secret") return false;
  const t = k.asymmetricKeyType;
  if (alg.startsWith("RS")) return t === "rsa";
  if (alg.startsWith("PS")) return t === "rsa" || t === "rsa-pss";
  if (alg.startsWith("ES")) return t === "ec" && CURVES[k.asymmetricKeyDetails?.namedCurve ?? ""]?.alg === alg;
  return alg === "EdDSA" && t === "ed25519";
}

// ---------------------------------------------------------------------------------------------
// PEM

const PEM_BEGIN = /-----BEGIN ([A-Z0-9 ]+)-----/g;
const PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----[\s\S]*?-----END \1-----/g;
const PUBLIC_LABELS = new Set(["PUBLIC KEY", "RSA PUBLIC KEY"]);
const PRIVATE_LABELS = new Set(["PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY"]);

const looksLikePem = (text: string): boolean => text.includes("-----BEGIN");

/** The single PEM block in `text` (text around it, e.g. a comment line, is ignored). */
function pemBlock(text: string): { label: string; pem: string } {
  const begins = [...text.matchAll(PEM_BEGIN)].map((m) => m[1]!);
  const blocks = [...text.matchAll(PEM_BLOCK)];
  if (blocks.length !== begins.length || blocks.length === 0) {
    throw keyError(`the key text has a \`-----BEGIN ${begins[0] ?? ""}-----\` line without its matching \`-----END\` line`);
  }
  if (blocks.length > 1) {
    throw keyError(`the key text holds ${blocks.length} PEM blocks (${begins.map((l) => `\`${l}\``).join(", ")}); give exactly one key`);
  }
  return { label: blocks[0]![1]!, pem: blocks[0]![0] };
}

// ---------------------------------------------------------------------------------------------
// Parsing

function parseJwkText(text: string): JWK {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw keyError(`the key looks like a JWK (JSON) but does not parse: ${describeThrown(e)}`);
  }
  if (typeof v !== "object" || v === null || Array.isArray(v) || typeof (v as JWK).kty !== "string") {
    throw keyError("the key is JSON but not a JWK (an object with `kty`)");
  }
  return v as JWK;
}

function secretFrom(bytes: Uint8Array | Buffer, alg: JwsAlgorithm): KeyObject {
  if (bytes.length === 0) throw keyError(`the \`${alg}\` secret is empty`);
  return createSecretKey(bytes);
}

const hmacHint = "an HMAC secret is used only when an HS* algorithm is configured explicitly (`alg: \"HS256\"`, CLI `--alg HS256`)";

/** The verification key object for `m` under `alg` (public half, certificate key, or secret). */
function verificationKeyObject(m: KeyMaterial, alg: JwsAlgorithm): KeyObject {
  if (isKeyObject(m)) {
    if (m.type === "private") throw keyError(privateForVerify);
    if (m.type === "secret" && !isHmac(alg)) throw keyError(`the key is an HMAC secret but the algorithm is \`${alg}\`; ${hmacHint}`);
    return m;
  }
  if (m instanceof Uint8Array) {
    if (!isHmac(alg)) throw keyError(`raw key bytes are an HMAC secret but the algorithm is \`${alg}\`; ${hmacHint}`);
    return secretFrom(m, alg);
  }
  if (typeof m === "string") {
    const t = m.trim();
    if (t.startsWith("{")) return verificationKeyObject(parseJwkText(t), alg);
    if (looksLikePem(t)) {
      const { label, pem } = pemBlock(t);
      if (isHmac(alg)) throw keyError(`\`${alg}\` takes a shared secret, but the key is a PEM \`${label}\`; a PEM key is never used as an HMAC secret`);
      if (PRIVATE_LABELS.has(label) || label.endsWith("PRIVATE KEY")) throw keyError(privateForVerify);
      if (label === "CERTIFICATE") return new X509Certificate(pem).publicKey;
      if (!PUBLIC_LABELS.has(label)) throw keyError(`unsupported PEM block \`${label}\`; give a \`PUBLIC KEY\` or a \`CERTIFICATE\``);
      return createPublicKey(pem);
    }
    if (!isHmac(alg)) {
      throw keyError(`the key is neither PEM nor a JWK, so it cannot verify \`${alg}\`; ${hmacHint}`);
    }
    return secretFrom(Buffer.from(m, "utf8"), alg);
  }
  if (m.kty === "oct") {
    if (!isHmac(alg)) throw keyError(`the JWK is an HMAC secret (\`kty: oct\`) but the algorithm is \`${alg}\`; ${hmacHint}`);
    if (typeof m.k !== "string") throw keyError("the `oct` JWK has no `k`");
    return secretFrom(Buffer.from(m.k, "base64url"), alg);
  }
  if (m.d !== undefined) throw keyError(privateForVerify);
  return createPublicKey({ key: m as unknown as JsonWebKey, format: "jwk" });
}

const privateForVerify =
  "a private key was given to verify signatures; verifying hosts should hold only the public key (derive it with `openssl pkey -in KEY -pubout`)";

/** The signing key object for `m`; `alg` is the explicit algorithm, if any. */
function signingKeyObject(m: KeyMaterial, alg: JwsAlgorithm | undefined): KeyObject {
  const needHmac = (what: string) => {
    if (alg === undefined || !isHmac(alg)) throw keyError(`${what} is an HMAC secret; ${hmacHint}`);
  };
  if (isKeyObject(m)) {
    if (m.type === "public") throw keyError(publicForSign);
    if (m.type === "secret") needHmac("the key");
    return m;
  }
  if (m instanceof Uint8Array) {
    needHmac("the key (raw bytes)");
    return secretFrom(m, alg!);
  }
  if (typeof m === "string") {
    const t = m.trim();
    if (t.startsWith("{")) return signingKeyObject(parseJwkText(t), alg);
    if (looksLikePem(t)) {
      const { label, pem } = pemBlock(t);
      if (alg !== undefined && isHmac(alg)) throw keyError(`\`${alg}\` takes a shared secret, but the key is a PEM \`${label}\``);
      if (label === "ENCRYPTED PRIVATE KEY") throw keyError("the private key is encrypted; decrypt it first (`openssl pkey -in KEY -out PLAIN.pem`)");
      if (PUBLIC_LABELS.has(label) || label === "CERTIFICATE") throw keyError(publicForSign);
      if (!PRIVATE_LABELS.has(label)) throw keyError(`unsupported PEM block \`${label}\`; give a \`PRIVATE KEY\``);
      return createPrivateKey(pem);
    }
    if (alg === undefined || !isHmac(alg)) throw keyError(`the key is not a private key (PEM or JWK); ${hmacHint}`);
    return secretFrom(Buffer.from(m, "utf8"), alg!);
  }
  if (m.kty === "oct") {
    needHmac("the JWK (`kty: oct`)");
    if (typeof m.k !== "string") throw keyError("the `oct` JWK has no `k`");
    return secretFrom(Buffer.from(m.k, "base64url"), alg!);
  }
  if (m.d === undefined) throw keyError(publicForSign);
  return createPrivateKey({ key: m as unknown as JsonWebKey, format: "jwk" });
}

const publicForSign = "a public key (or certificate) cannot sign; give the private key";

function parse<T>(f: () => T): T {
  try {
    return f();
  } catch (e) {
    if (e instanceof WaypostRuntimeError) throw e;
    throw keyError(`the key could not be parsed: ${describeThrown(e)}`);
  }
}

function checkFits(key: KeyObject, alg: JwsAlgorithm): void {
  if (fits(key, alg)) return;
  const suggested = key.type === "secret" ? null : algOfKeyType(key);
  throw keyError(`${describeKey(key)} cannot be used with \`${alg}\`${suggested ? `; configure the algorithm that matches the key (e.g. \`${suggested}\`)` : ""}`);
}

/**
 * Resolves a verification key: the configured algorithm (RS256 when omitted), a key that fits it.
 * Throws WPR014 for anything unusable; never falls back to another interpretation.
 */
export function resolveVerificationKey(input: PublicKeyInput): ResolvedKey {
  const vk: VerificationKey = isVerificationKey(input) ? input : { key: input };
  const alg = vk.alg ?? DEFAULT_VERIFICATION_ALG;
  if (!isJwsAlgorithm(alg)) throw keyError(`unknown algorithm \`${String(alg)}\``);
  const key = parse(() => verificationKeyObject(vk.key, alg));
  checkFits(key, alg);
  return { key, alg, keyid: vk.keyid, scope: vk.scope };
}

/**
 * Resolves a signing key: a private key (or, with an explicit HS* algorithm, a secret). Without
 * `alg` the algorithm follows the key's actual type (RSA → RS256, EC P-256 → ES256, ...).
 */
export function resolveSigningKey(input: PublicKeyInput, alg?: JwsAlgorithm): ResolvedKey {
  const vk: VerificationKey = isVerificationKey(input) ? input : { key: input };
  const explicit = vk.alg ?? alg;
  if (explicit !== undefined && !isJwsAlgorithm(explicit)) throw keyError(`unknown algorithm \`${String(explicit)}\``);
  const key = parse(() => signingKeyObject(vk.key, explicit));
  const chosen = explicit ?? algOfKeyType(key);
  if (chosen === null) throw keyError(`${describeKey(key)} has no JWS algorithm; give one explicitly`);
  checkFits(key, chosen);
  return { key, alg: chosen, keyid: vk.keyid, scope: vk.scope };
}

/**
 * Reads a key file's text: JSON → JWK; anything else is returned as text (a PEM with whatever
 * surrounds it, or an HMAC secret without its final newline) and interpreted only once the
 * algorithm is known (`resolveVerificationKey`), so text is never guessed to be a secret.
 */
export function keyMaterialFromFile(text: string): KeyMaterial {
  const t = text.trim();
  if (t.startsWith("{")) return parseJwkText(t);
  return looksLikePem(t) ? t : text.replace(/\r?\n$/, "");
}
