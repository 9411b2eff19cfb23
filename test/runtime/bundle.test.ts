import { describe, expect, it } from "vitest";
import { generateKeyPairSync, createHash } from "node:crypto";
import { CompactSign } from "jose";
import { writeBundle, type SigningKeyInput } from "../../compiler/bundle.js";
import type { PublicKeyInput } from "../../runtime/keys.js";
import { readBundle } from "../../runtime/bundle.js";
import { WaypostRuntimeError } from "../../runtime/errors.js";
import { canonicalJson, opaStructuredText } from "../../runtime/json.js";
import { writeTarGz } from "../../compiler/tar-write.js";
import { readTarGz } from "../../runtime/tar.js";
import { gunzipSync } from "node:zlib";

const enc = new TextEncoder();
const rsa = generateKeyPairSync("rsa", { modulusLength: 2048 });
const rsa2 = generateKeyPairSync("rsa", { modulusLength: 2048 });
const ec = generateKeyPairSync("ec", { namedCurve: "P-256" });
const pem = {
  rsaPrivPkcs8: rsa.privateKey.export({ type: "pkcs8", format: "pem" }).toString(),
  rsaPrivPkcs1: rsa.privateKey.export({ type: "pkcs1", format: "pem" }).toString(),
  rsaPub: rsa.publicKey.export({ type: "spki", format: "pem" }).toString(),
  rsa2Pub: rsa2.publicKey.export({ type: "spki", format: "pem" }).toString(),
  ecPrivSec1: ec.privateKey.export({ type: "sec1", format: "pem" }).toString(),
  ecPub: ec.publicKey.export({ type: "spki", format: "pem" }).toString(),
};

const input = (revision = "r1") => ({
  wasm: new Uint8Array([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0]),
  data: { waypost: { plan: { version: 1, zeta: 1, alpha: [1.5, "x\u2028"] }, lists: { "opt-out": { "C-1": null } }, revision } },
  manifest: {
    revision,
    roots: ["waypost"],
    wasm: [
      { entrypoint: "waypost/decide", module: "/policy.wasm" },
      { entrypoint: "waypost/suppressed", module: "/policy.wasm" },
    ],
    metadata: { compiler: "waypost 0.1.0" },
  },
});

async function code(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    if (e instanceof WaypostRuntimeError) return e.code;
    throw e;
  }
  throw new Error("expected a WaypostRuntimeError");
}

/** Rebuilds a bundle with `edit` applied to its file map (names without leading slash). */
function edit(bundle: Uint8Array, f: (files: Map<string, Uint8Array>) => void): Uint8Array {
  const files = readTarGz(bundle, { rooted: true });
  f(files);
  return writeTarGz(new Map([...files].map(([k, v]) => [`/${k}`, v])));
}

describe("writeBundle", () => {
  it("is deterministic and round-trips", async () => {
    const a = await writeBundle(input());
    const b = await writeBundle(input());
    expect(Buffer.from(a).equals(Buffer.from(b))).toBe(true);
    const r = await readBundle(a, { skipVerify: true });
    expect(r.manifest.revision).toBe("r1");
    expect(r.manifest.wasm[0]).toEqual({ entrypoint: "waypost/decide", module: "/policy.wasm" });
    expect(r.signature).toBeNull();
    // data.json is canonical JSON (RFC 8785): keys sorted whatever the caller's order.
    expect(new TextDecoder().decode(r.dataBytes)).toBe(canonicalJson(input().data));
    expect(new TextDecoder().decode(r.dataBytes)).toMatch(/^\{"waypost":\{"lists":\{.*\},"plan":\{"alpha":.*"version":1,"zeta":1\},"revision":"r1"\}\}$/s);
    expect([...r.files.keys()].sort()).toEqual([".manifest", "data.json", "policy.wasm"]);
  });

  it("writes rooted names as opa build does", async () => {
    const tar = gunzipSync(await writeBundle(input()));
    expect(tar.subarray(0, 10).toString("latin1")).toBe("/.manifest");
  });

  it("signs in OPA's format", async () => {
    const b = await writeBundle({ ...input(), signingKey: { pem: pem.rsaPrivPkcs8, alg: "RS256", keyid: "ci" } });
    const files = readTarGz(b, { rooted: true });
    const sig = JSON.parse(new TextDecoder().decode(files.get(".signatures.json"))) as { signatures: string[] };
    expect(sig.signatures).toHaveLength(1);
    const [h, p] = sig.signatures[0]!.split(".");
    expect(JSON.parse(Buffer.from(h!, "base64url").toString())).toEqual({ alg: "RS256", kid: "ci" });
    const payload = JSON.parse(Buffer.from(p!, "base64url").toString()) as { files: { name: string; hash: string; algorithm: string }[]; keyid: string };
    expect(payload.keyid).toBe("ci");
    expect(payload.files.map((f) => f.name)).toEqual([".manifest", "data.json", "policy.wasm"]);
    expect(payload.files.every((f) => f.algorithm === "SHA-256")).toBe(true);
    // policy.wasm is hashed by bytes; structured files by OPA's canonical form.
    const wasmHash = createHash("sha256").update(files.get("policy.wasm")!).digest("hex");
    expect(payload.files[2]!.hash).toBe(wasmHash);
    const dataCanon = opaStructuredText(files.get("data.json")!);
    expect(dataCanon).toBe('{"waypost":{"lists":{"opt-out":{"C-1":null}},"plan":{"alpha":[1.5,"x\\u2028"],"version":1,"zeta":1},"revision":"r1"}}');
    expect(payload.files[1]!.hash).toBe(createHash("sha256").update(dataCanon).digest("hex"));
  });
});

describe("signature verification", () => {
  it.each<[string, () => SigningKeyInput, () => PublicKeyInput]>([
    ["RS256 PKCS#8", () => ({ pem: pem.rsaPrivPkcs8, alg: "RS256" as const }), () => pem.rsaPub],
    ["RS256 PKCS#1", () => ({ pem: pem.rsaPrivPkcs1, alg: "RS256" as const }), () => pem.rsaPub],
    ["ES256 SEC1", () => ({ pem: pem.ecPrivSec1, alg: "ES256" as const }), () => ({ key: pem.ecPub, alg: "ES256" as const })],
    ["HS256", () => ({ key: "s3cret-shared", alg: "HS256" as const }), () => ({ key: "s3cret-shared", alg: "HS256" as const })],
    ["RS256 JWK", () => ({ jwk: rsa.privateKey.export({ format: "jwk" }) as import("jose").JWK, alg: "RS256" as const }), () => rsa.publicKey.export({ format: "jwk" }) as import("jose").JWK],
  ])("%s: a signed bundle verifies", async (_n, signing, pub) => {
    const b = await writeBundle({ ...input(), signingKey: signing() });
    const r = await readBundle(b, { publicKey: pub() });
    expect(r.signature).not.toBeNull();
  });

  it("refuses a private PEM as the verification key: verifying hosts hold the public half only (WPR014)", async () => {
    const b = await writeBundle({ ...input(), signingKey: { pem: pem.rsaPrivPkcs8, alg: "RS256" } });
    expect(await code(readBundle(b, { publicKey: pem.rsaPrivPkcs1 }))).toBe("WPR014");
  });

  it("refuses an unsigned bundle when a key is given (WPR010)", async () => {
    expect(await code(readBundle(await writeBundle(input()), { publicKey: pem.rsaPub }))).toBe("WPR010");
  });

  it("refuses the wrong key (WPR011)", async () => {
    const b = await writeBundle({ ...input(), signingKey: { pem: pem.rsaPrivPkcs8, alg: "RS256" } });
    expect(await code(readBundle(b, { publicKey: pem.rsa2Pub }))).toBe("WPR011");
    expect(await code(readBundle(b, { publicKey: { key: pem.ecPub, alg: "ES256" } }))).toBe("WPR011");
    expect(await code(readBundle(b, { publicKey: { key: "some-hmac-secret", alg: "HS256" } }))).toBe("WPR011");
    // Without the right algorithm configured these are unusable keys, not wrong signatures.
    expect(await code(readBundle(b, { publicKey: pem.ecPub }))).toBe("WPR014");
    expect(await code(readBundle(b, { publicKey: "some-hmac-secret" }))).toBe("WPR014");
  });

  it("refuses an HS256 token forged with the public key as secret (alg confusion)", async () => {
    const base = await writeBundle({ ...input(), signingKey: { pem: pem.rsaPrivPkcs8, alg: "RS256" } });
    const files = readTarGz(base, { rooted: true });
    const token = (JSON.parse(new TextDecoder().decode(files.get(".signatures.json"))) as { signatures: string[] }).signatures[0]!;
    const payload = Buffer.from(token.split(".")[1]!, "base64url");
    const forged = await new CompactSign(payload).setProtectedHeader({ alg: "HS256" }).sign(enc.encode(pem.rsaPub));
    const b = edit(base, (f) => f.set(".signatures.json", enc.encode(JSON.stringify({ signatures: [forged] }))));
    expect(await code(readBundle(b, { publicKey: pem.rsaPub }))).toBe("WPR011");
  });

  it("refuses a tampered file (WPR012)", async () => {
    const b = await writeBundle({ ...input(), signingKey: { pem: pem.rsaPrivPkcs8, alg: "RS256" } });
    const tampered = edit(b, (f) => f.set("policy.wasm", new Uint8Array([0, 0x61, 0x73, 0x6d, 1, 0, 0, 1])));
    expect(await code(readBundle(tampered, { publicKey: pem.rsaPub }))).toBe("WPR012");
    const data2 = edit(b, (f) => f.set("data.json", enc.encode(JSON.stringify({ waypost: { plan: {}, lists: {}, revision: "r1" } }))));
    expect(await code(readBundle(data2, { publicKey: pem.rsaPub }))).toBe("WPR012");
  });

  it("accepts a whitespace-only reformat of a structured file, as OPA does", async () => {
    const b = await writeBundle({ ...input(), signingKey: { pem: pem.rsaPrivPkcs8, alg: "RS256" } });
    const pretty = edit(b, (f) => f.set("data.json", enc.encode(JSON.stringify(input().data, null, 2))));
    expect((await readBundle(pretty, { publicKey: pem.rsaPub })).signature).not.toBeNull();
  });

  it("refuses an extra or a missing file (WPR013)", async () => {
    const b = await writeBundle({ ...input(), signingKey: { pem: pem.rsaPrivPkcs8, alg: "RS256" } });
    const extra = edit(b, (f) => f.set("extra.rego", enc.encode("package x")));
    expect(await code(readBundle(extra, { publicKey: pem.rsaPub }))).toBe("WPR013");
  });

  it("refuses a signature listing a file the bundle lacks (WPR013)", async () => {
    const base = await writeBundle(input());
    const files = readTarGz(base, { rooted: true });
    const hash = (n: string) => createHash("sha256").update(n === "policy.wasm" ? files.get(n)! : opaStructuredText(files.get(n)!)).digest("hex");
    const listed = [".manifest", "data.json", "policy.wasm"].map((name) => ({ name, hash: hash(name), algorithm: "SHA-256" }));
    listed.push({ name: "gone.rego", hash: "00", algorithm: "SHA-256" });
    const token = await new CompactSign(enc.encode(JSON.stringify({ files: listed }))).setProtectedHeader({ alg: "RS256" }).sign(rsa.privateKey);
    const withSig = edit(base, (f) => f.set(".signatures.json", enc.encode(JSON.stringify({ signatures: [token] }))));
    expect(await code(readBundle(withSig, { publicKey: pem.rsaPub }))).toBe("WPR013");
  });

  it("refuses a weak hash algorithm in the payload (WPR011)", async () => {
    const base = await writeBundle(input());
    const files = readTarGz(base, { rooted: true });
    const listed = [...files.keys()].map((name) => ({ name, hash: createHash("md5").update(files.get(name)!).digest("hex"), algorithm: "MD5" }));
    const token = await new CompactSign(enc.encode(JSON.stringify({ files: listed }))).setProtectedHeader({ alg: "RS256" }).sign(rsa.privateKey);
    const withSig = edit(base, (f) => f.set(".signatures.json", enc.encode(JSON.stringify({ signatures: [token] }))));
    expect(await code(readBundle(withSig, { publicKey: pem.rsaPub }))).toBe("WPR011");
  });

  it("checks key id and scope", async () => {
    const b = await writeBundle({ ...input(), signingKey: { pem: pem.rsaPrivPkcs8, alg: "RS256", keyid: "ci", scope: "prod" } });
    expect(await code(readBundle(b, { publicKey: { key: pem.rsaPub, keyid: "other", scope: "prod" } }))).toBe("WPR011");
    expect(await code(readBundle(b, { publicKey: { key: pem.rsaPub, keyid: "ci" } }))).toBe("WPR011");
    expect((await readBundle(b, { publicKey: { key: pem.rsaPub, keyid: "ci", scope: "prod" } })).signature).toEqual({ keyid: "ci", scope: "prod", alg: "RS256" });
  });

  it("refuses an unusable key (WPR014)", async () => {
    const b = await writeBundle(input());
    expect(await code(readBundle(b, { publicKey: "-----BEGIN PUBLIC KEY-----\nnope\n-----END PUBLIC KEY-----" }))).toBe("WPR014");
    expect(await code(readBundle(b, { publicKey: { key: pem.rsaPub, alg: "ES256" } }))).toBe("WPR014");
  });
});

describe("bundle contents", () => {
  it("requires the three files (WPR007)", async () => {
    const b = await writeBundle(input());
    for (const name of [".manifest", "policy.wasm", "data.json"]) {
      expect(await code(readBundle(edit(b, (f) => f.delete(name)), { skipVerify: true }))).toBe("WPR007");
    }
  });

  it("validates the manifest (WPR008) and data.json (WPR009)", async () => {
    const b = await writeBundle(input());
    expect(await code(readBundle(edit(b, (f) => f.set(".manifest", enc.encode("{not json"))), { skipVerify: true }))).toBe("WPR008");
    expect(await code(readBundle(edit(b, (f) => f.set(".manifest", enc.encode('{"revision":"r1"}'))), { skipVerify: true }))).toBe("WPR008");
    expect(await code(readBundle(edit(b, (f) => f.set("data.json", enc.encode("[]"))), { skipVerify: true }))).toBe("WPR009");
    const otherRev = { waypost: { plan: {}, lists: {}, revision: "r0" } };
    expect(await code(readBundle(edit(b, (f) => f.set("data.json", enc.encode(JSON.stringify(otherRev)))), { skipVerify: true }))).toBe("WPR009");
  });

  it("reports a non-bundle as WPR001", async () => {
    expect(await code(readBundle(enc.encode("hello, this is not a bundle at all"), { skipVerify: true }))).toBe("WPR001");
  });
});
