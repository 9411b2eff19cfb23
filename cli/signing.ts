import { promises as fs } from "node:fs";
import * as path from "node:path";
import type { SigningKeyInput } from "../compiler/bundle.js";
import { isJwsAlgorithm } from "../runtime/keys.js";
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
