/**
 * Bundle signature keys. Keys are parsed with node:crypto (which reads PKCS#1, PKCS#8, SEC1,
 * SPKI and X.509 PEM, and JWK) and handed to jose as KeyObjects. The algorithm is fixed by the
 * key's owner, never taken from the token header, so a token cannot pick a weaker algorithm.
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
import { runtimeError, describeThrown } from "./errors.js";

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

/**
 * Key material: PEM text (public key, certificate, or a private key whose public half is used),
 * a JWK, raw HMAC secret bytes, or a node:crypto KeyObject.
 */
export type KeyMaterial = string | Uint8Array | JWK | KeyObject;

export interface VerificationKey {
  key: KeyMaterial;
  /** Expected algorithm; default from the key type (RSA RS256, P-256 ES256, secret HS256, ...). */
  alg?: JwsAlgorithm;
  /** When set, a token naming another key id (header `kid` or claim `keyid`) is refused. */
  keyid?: string;
  /** Must equal the payload's `scope` claim (both absent counts as equal), as OPA checks. */
  scope?: string;
}

/** What `readBundle`/`loadBundle` accept as `publicKey`: key material or a full description. */
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

function defaultAlg(k: KeyObject): JwsAlgorithm {
  if (k.type === "secret") return "HS256";
  switch (k.asymmetricKeyType) {
    case "rsa":
      return "RS256";
    case "rsa-pss":
      return "PS256";
    case "ec": {
      const curve = k.asymmetricKeyDetails?.namedCurve;
      if (curve === "prime256v1" || curve === "P-256") return "ES256";
      if (curve === "secp384r1" || curve === "P-384") return "ES384";
      if (curve === "secp521r1" || curve === "P-521") return "ES512";
      throw runtimeError("WPR014", `unsupported EC curve \`${curve ?? "unknown"}\``);
    }
    case "ed25519":
      return "EdDSA";
    default:
      throw runtimeError("WPR014", `unsupported key type \`${k.asymmetricKeyType ?? "unknown"}\``);
  }
}

function toKeyObject(m: KeyMaterial, want: "public" | "private"): KeyObject {
  try {
    if (isKeyObject(m)) {
      if (want === "public" && m.type === "private") return createPublicKey(m);
      return m;
    }
    if (m instanceof Uint8Array) return createSecretKey(m);
    if (typeof m === "string") {
      const pem = m.trim();
      if (!pem.startsWith("-----BEGIN")) {
        // OPA treats a non-PEM key as an HMAC secret; so do we.
        return createSecretKey(Buffer.from(m, "utf8"));
      }
      if (want === "private") return createPrivateKey(pem);
      if (pem.includes("CERTIFICATE-----")) return new X509Certificate(pem).publicKey;
      return createPublicKey(pem); // also derives the public key from a private PEM
    }
    if (m.kty === "oct") {
      if (typeof m.k !== "string") throw new Error("oct JWK without `k`");
      return createSecretKey(Buffer.from(m.k, "base64url"));
    }
    const jwk = m as unknown as JsonWebKey;
    return want === "private" ? createPrivateKey({ key: jwk, format: "jwk" }) : createPublicKey({ key: jwk, format: "jwk" });
  } catch (e) {
    throw runtimeError("WPR014", `key could not be parsed: ${describeThrown(e)}`);
  }
}

function resolve(input: PublicKeyInput, want: "public" | "private", alg?: JwsAlgorithm): ResolvedKey {
  const vk: VerificationKey = isVerificationKey(input) ? input : { key: input };
  const key = toKeyObject(vk.key, want);
  const chosen = vk.alg ?? alg ?? defaultAlg(key);
  const family = chosen.slice(0, 2);
  const ok =
    (family === "HS" && key.type === "secret") ||
    (family === "RS" && key.asymmetricKeyType === "rsa") ||
    (family === "PS" && (key.asymmetricKeyType === "rsa" || key.asymmetricKeyType === "rsa-pss")) ||
    (family === "ES" && key.asymmetricKeyType === "ec") ||
    (chosen === "EdDSA" && key.asymmetricKeyType === "ed25519");
  if (!ok) throw runtimeError("WPR014", `a ${key.asymmetricKeyType ?? key.type} key cannot be used with \`${chosen}\``);
  return { key, alg: chosen, keyid: vk.keyid, scope: vk.scope };
}

/** Resolves a verification key (public half of asymmetric keys, or the HMAC secret). */
export const resolveVerificationKey = (input: PublicKeyInput): ResolvedKey => resolve(input, "public");

/** Resolves a signing key (private key, or the HMAC secret). */
export const resolveSigningKey = (input: PublicKeyInput, alg?: JwsAlgorithm): ResolvedKey => resolve(input, "private", alg);

/**
 * Interprets a key file's text: JSON → JWK, anything else → PEM or HMAC secret (as OPA does).
 */
export function keyMaterialFromFile(text: string): KeyMaterial {
  const t = text.trim();
  if (t.startsWith("{")) {
    try {
      return JSON.parse(t) as JWK;
    } catch (e) {
      throw runtimeError("WPR014", `key file looks like JSON but does not parse: ${describeThrown(e)}`);
    }
  }
  return t.startsWith("-----BEGIN") ? t : text.replace(/\r?\n$/, "");
}
