import { promises as fs } from "node:fs";
import * as path from "node:path";
import type { SigningKeyInput } from "../compiler/bundle.js";
import { isJwsAlgorithm } from "../runtime/keys.js";
import { parseReplayKey } from "../runtime/log.js";
import type { Parsed } from "./args.js";
import { UsageError } from "./command.js";

/** The flags every bundle-writing command takes for signing. */
export const SIGNING_FLAGS = { sign: "string", "sign-alg": "string", "key-id": "string" } as const;

/** `--sign KEY.pem [--sign-alg ALG] [--key-id ID]` → a signing key, or undefined without `--sign`. */
export async function signingKeyFromFlags(cwd: string, flags: Parsed["flags"]): Promise<SigningKeyInput | undefined> {
  const file = flags["sign"];
  if (typeof file !== "string") return undefined;
  let pem: string;
  try {
    pem = await fs.readFile(path.resolve(cwd, file), "utf8");
  } catch {
    throw new UsageError(`cannot read the signing key \`${file}\``);
  }
  const alg = (flags["sign-alg"] as string | undefined) ?? (pem.includes("EC PRIVATE") ? "ES256" : "RS256");
  if (!isJwsAlgorithm(alg)) throw new UsageError(`unknown signing algorithm \`${alg}\``);
  return { pem, alg, ...(typeof flags["key-id"] === "string" ? { keyid: flags["key-id"] } : {}) };
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
