import { promises as fs } from "node:fs";
import * as path from "node:path";
import type { SigningKeyInput } from "../compiler/bundle.js";
import type { VerifyOptions } from "../runtime/engine.js";
import { WaypostRuntimeError } from "../runtime/errors.js";
import { isJwsAlgorithm, keyMaterialFromFile, resolveSigningKey, resolveVerificationKey, type KeyMaterial, type VerificationKey } from "../runtime/keys.js";
import { parseReplayKey, parseSecretKey } from "../runtime/log.js";
import type { Parsed } from "./args.js";
import { UsageError } from "./command.js";

/** The flags every bundle-writing command takes for signing. */
export const SIGNING_FLAGS = { sign: "string", "sign-alg": "string", "key-id": "string" } as const;

/** Reads a key file for `flag`, or a usage error (exit 2) naming it. */
async function readKeyFile(cwd: string, file: string, flag: string): Promise<KeyMaterial> {
  let text: string;
  try {
    text = await fs.readFile(path.resolve(cwd, file), "utf8");
  } catch {
    throw new UsageError(`cannot read the key \`${file}\` given to \`${flag}\``);
  }
  return keyOrUsageError(flag, file, () => keyMaterialFromFile(text));
}

function keyOrUsageError<T>(flag: string, file: string, f: () => T): T {
  try {
    return f();
  } catch (e) {
    if (e instanceof WaypostRuntimeError) throw new UsageError(`\`${flag} ${file}\`: ${e.message}`);
    throw e;
  }
}

/**
 * `--sign KEY [--sign-alg ALG] [--key-id ID]` → a signing key, or undefined without `--sign`.
 * KEY must be a private key (PEM or JWK); the algorithm is `--sign-alg`, else the key's actual
 * type decides (RSA → RS256, EC P-256 → ES256, Ed25519 → EdDSA, ...). An HMAC secret file needs
 * `--sign-alg HS256` (or HS384/HS512). A public key, or anything else, is a usage error.
 */
export async function signingKeyFromFlags(cwd: string, flags: Parsed["flags"]): Promise<SigningKeyInput | undefined> {
  const file = flags["sign"];
  const algFlag = flags["sign-alg"];
  if (typeof file !== "string") {
    if (algFlag !== undefined) throw new UsageError("`--sign-alg` needs `--sign KEY`");
    return undefined;
  }
  if (algFlag !== undefined && (typeof algFlag !== "string" || !isJwsAlgorithm(algFlag))) throw new UsageError(`unknown signing algorithm \`${String(algFlag)}\``);
  const material = await readKeyFile(cwd, file, "--sign");
  const key = keyOrUsageError("--sign", file, () => resolveSigningKey({ key: material, ...(algFlag !== undefined && isJwsAlgorithm(algFlag) ? { alg: algFlag } : {}) }));
  return { key: key.key, alg: key.alg, ...(typeof flags["key-id"] === "string" ? { keyid: flags["key-id"] } : {}) };
}

/** The flags of every command that loads a bundle: verify it with a key, or say you will not. */
export const VERIFY_FLAGS = { "public-key": "string", alg: "string", "key-id": "string", scope: "string", "skip-verify": "boolean" } as const;

/** Help text for VERIFY_FLAGS, aligned for the usage blocks. */
export const VERIFY_USAGE = `  --public-key KEY   verify the bundle's signature with this public key (PEM public key or
                     certificate, or JWK; text around a single PEM block is ignored)
  --alg ALG          the signature algorithm the key is for (default RS256, as OPA);
                     HS256/HS384/HS512 make KEY a file holding a shared HMAC secret
  --key-id ID        the key id the signature must name (needed when it names one)
  --scope S          the scope the signature must carry
  --skip-verify      load the bundle without verifying any signature (decisions record
                     \`verified: false\`); one of --public-key and --skip-verify is required`;

/**
 * `--public-key KEY [--alg ALG] [--key-id ID] [--scope S]` or `--skip-verify` → the runtime's
 * verification options. Neither is a usage error when `required`, else undefined; both is one.
 * The key is parsed here so a bad key is reported before any bundle is read.
 */
export async function verifyOptionsFromFlags(cwd: string, flags: Parsed["flags"], required: boolean): Promise<VerifyOptions | undefined> {
  const file = flags["public-key"];
  const alg = flags["alg"];
  const skip = flags["skip-verify"] === true;
  if (alg !== undefined && (typeof alg !== "string" || !isJwsAlgorithm(alg))) throw new UsageError(`unknown algorithm \`${String(alg)}\``);
  if (typeof file === "string" && skip) throw new UsageError("give `--public-key KEY` or `--skip-verify`, not both");
  if (typeof file !== "string" && (alg !== undefined || flags["key-id"] !== undefined || flags["scope"] !== undefined)) {
    throw new UsageError("`--alg`, `--key-id` and `--scope` need `--public-key`");
  }
  if (skip) return { skipVerify: true };
  if (typeof file !== "string") {
    if (!required) return undefined;
    throw new UsageError("give `--public-key KEY` to verify the bundle's signature, or `--skip-verify` to load it unverified");
  }
  const vk: VerificationKey = { key: await readKeyFile(cwd, file, "--public-key") };
  if (typeof alg === "string" && isJwsAlgorithm(alg)) vk.alg = alg;
  if (typeof flags["key-id"] === "string") vk.keyid = flags["key-id"];
  if (typeof flags["scope"] === "string") vk.scope = flags["scope"];
  keyOrUsageError("--public-key", file, () => resolveVerificationKey(vk));
  return { publicKey: vk };
}

/**
 * The decision log's replay key: `--replay-key FILE` (64 hex digits or base64 inside), else the
 * WAYPOST_REPLAY_KEY environment variable, else undefined.
 */
export async function replayKeyFromFlags(cwd: string, flags: Parsed["flags"], env: NodeJS.ProcessEnv): Promise<Uint8Array | undefined> {
  let text: string;
  let from: string;
  if (typeof flags["replay-key"] === "string") {
    from = `\`${flags["replay-key"]}\``;
    try {
      text = await fs.readFile(path.resolve(cwd, flags["replay-key"]), "utf8");
    } catch {
      throw new UsageError(`cannot read the replay key ${from}`);
    }
  } else if (env["WAYPOST_REPLAY_KEY"]) {
    from = "WAYPOST_REPLAY_KEY";
    text = env["WAYPOST_REPLAY_KEY"];
  } else return undefined;
  const key = parseReplayKey(text);
  if (typeof key === "string") throw new UsageError(`${from} is not a replay key: ${key}`);
  return key;
}

/**
 * A 32-byte secret from `--FLAG FILE` (64 hex digits or base64 inside), else the environment
 * variable `envVar`, else undefined. Keys live in files or the environment, never on the
 * command line, so they stay out of shell history and process listings.
 */
export async function secretKeyFromFlags(cwd: string, flags: Parsed["flags"], env: NodeJS.ProcessEnv, flag: string, envVar: string, what: string): Promise<Uint8Array | undefined> {
  let text: string;
  let from: string;
  const file = flags[flag];
  if (typeof file === "string") {
    from = `\`--${flag} ${file}\``;
    try {
      text = await fs.readFile(path.resolve(cwd, file), "utf8");
    } catch {
      throw new UsageError(`cannot read the ${what} ${from}`);
    }
  } else if (env[envVar]) {
    from = envVar;
    text = env[envVar]!;
  } else return undefined;
  const key = parseSecretKey(text, `a ${what}`);
  if (typeof key === "string") throw new UsageError(`${from} is not a ${what}: ${key}`);
  return key;
}

/** The decision log's key (`--log-key FILE` or WAYPOST_LOG_KEY): MACs every entry. */
export const logKeyFromFlags = (cwd: string, flags: Parsed["flags"], env: NodeJS.ProcessEnv): Promise<Uint8Array | undefined> =>
  secretKeyFromFlags(cwd, flags, env, "log-key", "WAYPOST_LOG_KEY", "log key");

/** The pseudonymisation key (`--pseudonym-key FILE` or WAYPOST_PSEUDONYM_KEY): keys the pseudonyms of `mask: hash` fields. */
export const pseudonymKeyFromFlags = (cwd: string, flags: Parsed["flags"], env: NodeJS.ProcessEnv): Promise<Uint8Array | undefined> =>
  secretKeyFromFlags(cwd, flags, env, "pseudonym-key", "WAYPOST_PSEUDONYM_KEY", "pseudonymisation key");
