/**
 * Bundle signatures cannot be steered by whoever wrote the bundle (issue 8, item 1). One block
 * per JWS attack class; each forged token is otherwise valid (a correct signature by the key
 * named, unless the attack is the key itself), so the refusal shown is the check under test.
 * Tokens the jose signer will not produce (`none`, `crit`, `b64: false`, foreign headers) are
 * assembled by hand and signed with node:crypto.
 */
import { afterAll, describe, expect, it } from "vitest";
import { createHmac, generateKeyPairSync, sign as cryptoSign, type KeyObject } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CompactSign, exportJWK } from "jose";
import { writeBundle, type SigningKeyInput } from "../../compiler/bundle.js";
import { readBundle } from "../../runtime/bundle.js";
import { WaypostRuntimeError } from "../../runtime/errors.js";
import { keyMaterialFromFile, resolveSigningKey, resolveVerificationKey, type PublicKeyInput } from "../../runtime/keys.js";
import { writeTarGz } from "../../compiler/tar-write.js";
import { readTarGz } from "../../runtime/tar.js";
import { runCli } from "../support/cli.js";

const enc = new TextEncoder();
const dec = new TextDecoder();

const rsa = generateKeyPairSync("rsa", { modulusLength: 2048 });
const ec = generateKeyPairSync("ec", { namedCurve: "P-256" });
const ec384 = generateKeyPairSync("ec", { namedCurve: "P-384" });
const ed = generateKeyPairSync("ed25519");
const attacker = generateKeyPairSync("rsa", { modulusLength: 2048 });
const spki = (k: KeyObject): string => k.export({ type: "spki", format: "pem" }).toString();
const pkcs8 = (k: KeyObject): string => k.export({ type: "pkcs8", format: "pem" }).toString();
const rsaPub = spki(rsa.publicKey);
const ecPub = spki(ec.publicKey);
/** What an operator's key file often looks like: a comment above the PEM block. */
const commentedRsaPub = `# bundle signing key, prod (rotated 2026-01)\n${rsaPub}`;

const input = (revision = "r1") => ({
  wasm: new Uint8Array([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0]),
  data: { waypost: { plan: { version: 1 }, lists: { "opt-out": { "C-1": null } }, revision } },
  manifest: { revision, roots: ["waypost"], wasm: [{ entrypoint: "waypost/decide", module: "/policy.wasm" }], metadata: {} },
});

const signed = (signingKey: SigningKeyInput, revision = "r1") => writeBundle({ ...input(revision), signingKey });
const rsaSigned = (revision = "r1", keyid?: string) => signed({ pem: pkcs8(rsa.privateKey), alg: "RS256", ...(keyid ? { keyid } : {}) }, revision);

async function refusal(p: Promise<unknown>): Promise<{ code: string; message: string }> {
  try {
    await p;
  } catch (e) {
    if (e instanceof WaypostRuntimeError) return { code: e.code, message: e.message };
    throw e;
  }
  throw new Error("expected the bundle to be refused");
}

const files = (bundle: Uint8Array) => readTarGz(bundle, { rooted: true });
const repack = (f: Map<string, Uint8Array>) => writeTarGz(new Map([...f].map(([k, v]) => [`/${k}`, v])));
const tokenOf = (bundle: Uint8Array): string => (JSON.parse(dec.decode(files(bundle).get(".signatures.json"))) as { signatures: string[] }).signatures[0]!;
/** The genuine signed payload (file list and digests) of a bundle. */
const payloadOf = (bundle: Uint8Array): Uint8Array => Buffer.from(tokenOf(bundle).split(".")[1]!, "base64url");
const withSignatures = (bundle: Uint8Array, tokens: string[]): Uint8Array => {
  const f = files(bundle);
  f.set(".signatures.json", enc.encode(JSON.stringify({ signatures: tokens })));
  return repack(f);
};

const b64u = (b: Uint8Array | string) => Buffer.from(typeof b === "string" ? enc.encode(b) : b).toString("base64url");

/** A compact JWS with any header, signed over `header.payload` as RFC 7515 says. */
function rawToken(header: Record<string, unknown>, payload: Uint8Array, key: KeyObject | Uint8Array | null): string {
  const input = `${b64u(JSON.stringify(header))}.${b64u(payload)}`;
  const alg = String(header.alg);
  let sig: Uint8Array = new Uint8Array();
  if (key instanceof Uint8Array) sig = createHmac(`sha${alg.slice(2)}`, key).update(input).digest();
  else if (key !== null) {
    if (alg === "EdDSA") sig = cryptoSign(null, enc.encode(input), key);
    else if (alg.startsWith("ES")) sig = cryptoSign(`sha${alg.slice(2)}`, enc.encode(input), { key, dsaEncoding: "ieee-p1363" });
    else sig = cryptoSign(`sha${alg.slice(2)}`, enc.encode(input), key);
  }
  return `${input}.${b64u(sig)}`;
}

describe("the genuine article still verifies", () => {
  it.each<[string, SigningKeyInput, PublicKeyInput]>([
    ["RS256 with OPA's default algorithm", { pem: pkcs8(rsa.privateKey), alg: "RS256" }, rsaPub],
    ["RS256 from a key file with a comment line above the PEM", { pem: pkcs8(rsa.privateKey), alg: "RS256" }, keyMaterialFromFile(commentedRsaPub)],
    ["RS256 from a certificate-free PEM with text after it", { pem: pkcs8(rsa.privateKey), alg: "RS256" }, `${rsaPub}\n-- exported by openssl\n`],
    ["ES256 configured explicitly", { pem: pkcs8(ec.privateKey), alg: "ES256" }, { key: ecPub, alg: "ES256" }],
    ["EdDSA configured explicitly", { key: ed.privateKey, alg: "EdDSA" }, { key: spki(ed.publicKey), alg: "EdDSA" }],
    ["PS256 configured explicitly", { pem: pkcs8(rsa.privateKey), alg: "PS256" }, { key: rsaPub, alg: "PS256" }],
    ["HS256 only with the algorithm configured explicitly", { key: "a shared secret of decent length!", alg: "HS256" }, { key: keyMaterialFromFile("a shared secret of decent length!\n"), alg: "HS256" }],
  ])("%s", async (_name, signing, verify) => {
    const r = await readBundle(await signed(signing), { publicKey: verify });
    expect(r.signature).toMatchObject({ alg: signing.alg });
  });
});

describe("RS/HS confusion: the public key's text used as an HMAC secret", () => {
  for (const [label, keyText] of [
    ["plain PEM", rsaPub],
    ["PEM with a comment line above it", commentedRsaPub],
  ] as const) {
    it(`is refused (${label})`, async () => {
      const genuine = await rsaSigned();
      const configured = keyMaterialFromFile(keyText); // what `--public-key FILE` reads
      // The attacker signs with HS256 using every plausible spelling of the public key as the secret.
      for (const secret of [keyText, keyText.trim(), rsaPub, rsaPub.trim()]) {
        const forged = await new CompactSign(payloadOf(genuine)).setProtectedHeader({ alg: "HS256" }).sign(enc.encode(secret));
        const r = await refusal(readBundle(withSignatures(genuine, [forged]), { publicKey: configured }));
        expect(r).toMatchObject({ code: "WPR011", message: expect.stringContaining("signed with `HS256` but the key is configured for `RS256`") });
      }
      // And the same key verifies the genuine bundle: the PEM was read as PEM.
      expect((await readBundle(genuine, { publicKey: configured })).signature?.alg).toBe("RS256");
    });
  }

  it("a PEM key configured for HS256 is refused as a key, never used as a secret", async () => {
    const r = await refusal(readBundle(await rsaSigned(), { publicKey: { key: commentedRsaPub, alg: "HS256" } }));
    expect(r).toMatchObject({ code: "WPR014", message: expect.stringContaining("never used as an HMAC secret") });
  });

  it("text that is neither PEM nor JWK is not taken as a secret unless HS* is configured", async () => {
    const r = await refusal(readBundle(await rsaSigned(), { publicKey: "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA" }));
    expect(r).toMatchObject({ code: "WPR014", message: expect.stringContaining("neither PEM nor a JWK") });
    // A damaged PEM (BEGIN without END) is refused, not reinterpreted.
    const torn = await refusal(readBundle(await rsaSigned(), { publicKey: rsaPub.replace(/-----END[^]*$/, "") }));
    expect(torn).toMatchObject({ code: "WPR014", message: expect.stringContaining("without its matching") });
  });
});

describe("ES/HS confusion", () => {
  it("an HS256 token made with the EC public key's text is refused", async () => {
    const genuine = await signed({ pem: pkcs8(ec.privateKey), alg: "ES256" });
    const forged = await new CompactSign(payloadOf(genuine)).setProtectedHeader({ alg: "HS256" }).sign(enc.encode(ecPub));
    const r = await refusal(readBundle(withSignatures(genuine, [forged]), { publicKey: { key: ecPub, alg: "ES256" } }));
    expect(r).toMatchObject({ code: "WPR011", message: expect.stringContaining("signed with `HS256`") });
  });

  it("an EC key without its algorithm is not guessed to be ES256 (OPA's default is RS256)", async () => {
    const genuine = await signed({ pem: pkcs8(ec.privateKey), alg: "ES256" });
    const r = await refusal(readBundle(genuine, { publicKey: ecPub }));
    expect(r).toMatchObject({ code: "WPR014", message: expect.stringContaining("cannot be used with `RS256`") });
  });
});

describe("`alg: none` and any algorithm other than the configured one", () => {
  it.each(["none", "None", "NONE"])("refuses `alg: %s`", async (alg) => {
    const genuine = await rsaSigned();
    const r = await refusal(readBundle(withSignatures(genuine, [rawToken({ alg }, payloadOf(genuine), null)]), { publicKey: rsaPub }));
    expect(r.code).toBe("WPR011");
    expect(r.message).toMatch(alg === "none" ? /unsigned \(`alg: none`\)/ : /signed with `None|signed with `NONE/);
  });

  it("refuses a token without `alg`", async () => {
    const genuine = await rsaSigned();
    const r = await refusal(readBundle(withSignatures(genuine, [rawToken({ typ: "JWT" }, payloadOf(genuine), null)]), { publicKey: rsaPub }));
    expect(r).toMatchObject({ code: "WPR011", message: expect.stringContaining("no algorithm") });
  });

  it("refuses PS256 by the right key when RS256 is configured (and the reverse)", async () => {
    const ps = await signed({ pem: pkcs8(rsa.privateKey), alg: "PS256" });
    expect(await refusal(readBundle(ps, { publicKey: rsaPub }))).toMatchObject({ code: "WPR011", message: expect.stringContaining("`PS256`") });
    expect(await refusal(readBundle(await rsaSigned(), { publicKey: { key: rsaPub, alg: "RS512" } }))).toMatchObject({ code: "WPR011" });
  });
});

describe("key-type mismatch: the key must fit the configured algorithm", () => {
  const jwkOct = { kty: "oct", k: Buffer.from("secret").toString("base64url") };
  it.each<[string, PublicKeyInput]>([
    ["an EC P-256 key configured for RS256", { key: ecPub, alg: "RS256" }],
    ["an RSA key configured for ES256", { key: rsaPub, alg: "ES256" }],
    ["an EC P-384 key configured for ES256 (wrong curve)", { key: spki(ec384.publicKey), alg: "ES256" }],
    ["an Ed25519 key configured for ES256", { key: spki(ed.publicKey), alg: "ES256" }],
    ["an Ed25519 key with the default RS256", spki(ed.publicKey)],
    ["an RSA key configured for EdDSA", { key: rsaPub, alg: "EdDSA" }],
    ["secret bytes without an HS* algorithm", enc.encode("secret")],
    ["an `oct` JWK without an HS* algorithm", jwkOct as PublicKeyInput],
    ["a secret KeyObject configured for RS256", { key: createHmacKey(), alg: "RS256" }],
    ["an RSA key configured for HS256", { key: rsa.publicKey, alg: "HS256" }],
  ])("refuses %s (WPR014)", async (_name, key) => {
    expect((await refusal(readBundle(await rsaSigned(), { publicKey: key }))).code).toBe("WPR014");
  });

  it("refuses a private key where a public key is expected, with how to derive the public half", async () => {
    for (const key of [pkcs8(rsa.privateKey), rsa.privateKey, await exportJWK(rsa.privateKey)] as PublicKeyInput[]) {
      const r = await refusal(readBundle(await rsaSigned(), { publicKey: key }));
      expect(r).toMatchObject({ code: "WPR014", message: expect.stringContaining("-pubout") });
    }
  });

  it("refuses a key file holding several PEM blocks", async () => {
    const r = await refusal(readBundle(await rsaSigned(), { publicKey: rsaPub + spki(attacker.publicKey) }));
    expect(r).toMatchObject({ code: "WPR014", message: expect.stringContaining("2 PEM blocks") });
  });
});

function createHmacKey(): KeyObject {
  return resolveVerificationKey({ key: enc.encode("secret"), alg: "HS256" }).key;
}

describe("headers that name or carry a key are refused, even on a good signature", () => {
  const attackerJwk = () => exportJWK(attacker.publicKey);
  it.each<[string, () => Promise<Record<string, unknown>>]>([
    ["jwk", async () => ({ jwk: await attackerJwk() })],
    ["jku", async () => ({ jku: "https://attacker.example/keys.json" })],
    ["x5u", async () => ({ x5u: "https://attacker.example/cert.pem" })],
    ["x5c", async () => ({ x5c: ["MIIBszCCAVmgAwIBAgIUQ"] })],
    ["x5t", async () => ({ x5t: "dGh1bWJwcmludA" })],
    ["x5t#S256", async () => ({ "x5t#S256": "dGh1bWJwcmludA" })],
  ])("`%s`", async (name, extra) => {
    const genuine = await rsaSigned();
    // Signed by the configured key: only the header is wrong.
    const byRightKey = rawToken({ alg: "RS256", ...(await extra()) }, payloadOf(genuine), rsa.privateKey);
    const r = await refusal(readBundle(withSignatures(genuine, [byRightKey]), { publicKey: rsaPub }));
    expect(r).toMatchObject({ code: "WPR011", message: expect.stringContaining(`\`${name}\` names or carries a key`) });
  });

  it("an embedded `jwk` of the attacker's key, signed by the attacker, is refused", async () => {
    const genuine = await rsaSigned();
    const forged = rawToken({ alg: "RS256", jwk: await attackerJwk() }, payloadOf(genuine), attacker.privateKey);
    expect((await refusal(readBundle(withSignatures(genuine, [forged]), { publicKey: rsaPub }))).code).toBe("WPR011");
  });
});

describe("`kid`: the token may only name the configured key", () => {
  it("a `kid` when the configured key has no id is refused", async () => {
    const r = await refusal(readBundle(await rsaSigned("r1", "attacker"), { publicKey: rsaPub }));
    expect(r).toMatchObject({ code: "WPR011", message: expect.stringContaining("signed by key `attacker` but the verification key has no id") });
  });

  it("another `kid` than the configured key id is refused", async () => {
    const r = await refusal(readBundle(await rsaSigned("r1", "other"), { publicKey: { key: rsaPub, keyid: "ci" } }));
    expect(r).toMatchObject({ code: "WPR011", message: expect.stringContaining("expected `ci`") });
  });

  it("no `kid` at all when the key has an id is refused", async () => {
    const r = await refusal(readBundle(await rsaSigned(), { publicKey: { key: rsaPub, keyid: "ci" } }));
    expect(r).toMatchObject({ code: "WPR011", message: expect.stringContaining("names no key id") });
  });

  it("a header `kid` and a payload `keyid` that disagree are refused", async () => {
    const genuine = await rsaSigned("r1", "ci");
    const payload = JSON.parse(dec.decode(payloadOf(genuine))) as Record<string, unknown>;
    const token = rawToken({ alg: "RS256", kid: "ci" }, enc.encode(JSON.stringify({ ...payload, keyid: "other" })), rsa.privateKey);
    const r = await refusal(readBundle(withSignatures(genuine, [token]), { publicKey: { key: rsaPub, keyid: "ci" } }));
    expect(r).toMatchObject({ code: "WPR011", message: expect.stringContaining("names two keys") });
  });

  it("the matching `kid` verifies", async () => {
    expect((await readBundle(await rsaSigned("r1", "ci"), { publicKey: { key: rsaPub, keyid: "ci" } })).signature).toMatchObject({ keyid: "ci" });
  });
});

describe("JWS extensions are refused", () => {
  it("`crit`", async () => {
    const genuine = await rsaSigned();
    const token = rawToken({ alg: "RS256", crit: ["exp"], exp: 4102444800 }, payloadOf(genuine), rsa.privateKey);
    const r = await refusal(readBundle(withSignatures(genuine, [token]), { publicKey: rsaPub }));
    expect(r).toMatchObject({ code: "WPR011", message: expect.stringContaining("`crit`") });
  });

  it("`b64: false` (with or without `crit`)", async () => {
    const genuine = await rsaSigned();
    for (const header of [{ alg: "RS256", b64: false }, { alg: "RS256", b64: false, crit: ["b64"] }]) {
      // RFC 7797: the signing input holds the payload unencoded; the token carries it detached-style.
      const payload = payloadOf(genuine);
      const h = b64u(JSON.stringify(header));
      const sig = cryptoSign("sha256", Buffer.concat([enc.encode(`${h}.`), payload]), rsa.privateKey);
      const token = `${h}.${b64u(payload)}.${b64u(sig)}`;
      const r = await refusal(readBundle(withSignatures(genuine, [token]), { publicKey: rsaPub }));
      expect(r.code).toBe("WPR011");
      expect(r.message).toMatch(/`b64: false`|`crit`/);
    }
  });
});

describe("`.signatures.json` must hold exactly one token", () => {
  it("two valid tokens are refused (which one vouches for the files would be ambiguous)", async () => {
    const genuine = await rsaSigned();
    const r = await refusal(readBundle(withSignatures(genuine, [tokenOf(genuine), tokenOf(genuine)]), { publicKey: rsaPub }));
    expect(r).toMatchObject({ code: "WPR011", message: expect.stringContaining("exactly one JWS token (it holds 2)") });
  });

  it("a forged token next to the genuine one is refused", async () => {
    const genuine = await rsaSigned();
    const forged = rawToken({ alg: "RS256" }, enc.encode('{"files":[]}'), attacker.privateKey);
    expect((await refusal(readBundle(withSignatures(genuine, [forged, tokenOf(genuine)]), { publicKey: rsaPub }))).code).toBe("WPR011");
  });

  it("no token is refused", async () => {
    expect((await refusal(readBundle(withSignatures(await rsaSigned(), []), { publicKey: rsaPub }))).code).toBe("WPR011");
  });
});

describe("a signature covers exactly this bundle's files", () => {
  it("a genuine signature taken from another bundle is refused (digests differ)", async () => {
    const other = await rsaSigned("r0"); // an older release, genuinely signed
    const current = await writeBundle(input("r2")); // unsigned files the attacker wants served
    const r = await refusal(readBundle(withSignatures(current, [tokenOf(other)]), { publicKey: rsaPub }));
    expect(r).toMatchObject({ code: "WPR012", message: expect.stringContaining("does not match its signed digest") });
  });

  it("a signature that leaves a file out is refused", async () => {
    const genuine = await rsaSigned();
    const f = files(genuine);
    f.set("extra.rego", enc.encode("package x"));
    expect((await refusal(readBundle(repack(f), { publicKey: rsaPub }))).code).toBe("WPR013");
  });

  it.each([
    ["a duplicated entry", (n: string) => [n, n]],
    ["the same file in two spellings", (n: string) => [n, `/${n}`]],
  ])("%s in the signed file list is refused", async (_label, names) => {
    const genuine = await rsaSigned();
    const payload = JSON.parse(dec.decode(payloadOf(genuine))) as { files: { name: string; hash: string; algorithm: string }[] };
    const data = payload.files.find((f) => f.name.endsWith("data.json"))!;
    const files2 = [...payload.files.filter((f) => f !== data), ...names("data.json").map((name) => ({ ...data, name }))];
    const token = rawToken({ alg: "RS256" }, enc.encode(JSON.stringify({ ...payload, files: files2 })), rsa.privateKey);
    const r = await refusal(readBundle(withSignatures(genuine, [token]), { publicKey: rsaPub }));
    expect(r).toMatchObject({ code: "WPR011", message: expect.stringContaining("twice") });
  });

  it.each(["../data.json", "/../data.json", "./data.json", "x/../data.json", "a//data.json", "//data.json", "\\data.json", "data.json\u0000", "", "/", ".signatures.json"])(
    "a signed file named %j is refused",
    async (name) => {
      const genuine = await rsaSigned();
      const payload = JSON.parse(dec.decode(payloadOf(genuine))) as { files: { name: string; hash: string; algorithm: string }[] };
      const files2 = [...payload.files, { name, hash: "00", algorithm: "SHA-256" }];
      const token = rawToken({ alg: "RS256" }, enc.encode(JSON.stringify({ ...payload, files: files2 })), rsa.privateKey);
      const r = await refusal(readBundle(withSignatures(genuine, [token]), { publicKey: rsaPub }));
      expect(r.code).toBe("WPR011");
      expect(r.message).toMatch(/unsafe file name|itself/);
    },
  );
});

describe("signing side", () => {
  it("derives the algorithm from the private key's actual type, not from its text", () => {
    expect(resolveSigningKey(pkcs8(rsa.privateKey)).alg).toBe("RS256");
    expect(resolveSigningKey(pkcs8(ec.privateKey)).alg).toBe("ES256"); // PKCS#8: no "EC PRIVATE" in the text
    expect(resolveSigningKey(pkcs8(ec384.privateKey)).alg).toBe("ES384");
    expect(resolveSigningKey(`# note\n${pkcs8(ed.privateKey)}`).alg).toBe("EdDSA");
    expect(resolveSigningKey(pkcs8(rsa.privateKey), "PS256").alg).toBe("PS256");
  });

  it.each<[string, () => PublicKeyInput, string]>([
    ["a public key", () => rsaPub, "cannot sign"],
    ["a public KeyObject", () => rsa.publicKey, "cannot sign"],
    ["a secret without an HS* algorithm", () => "shared secret", "not a private key"],
    ["an EC key with an RSA algorithm", () => ({ key: pkcs8(ec.privateKey), alg: "RS256" }), "cannot be used with `RS256`"],
  ])("refuses %s (WPR014)", (_n, key, message) => {
    let err: unknown;
    try {
      resolveSigningKey(key());
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(WaypostRuntimeError);
    expect(err).toMatchObject({ code: "WPR014", message: expect.stringContaining(message) });
  });

  const dir = mkdtempSync(join(tmpdir(), "waypost-jws-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it.each([
    ["a public key", () => rsaPub, "cannot sign"],
    ["a file that is not a key", () => "hello\n", "not a private key"],
    ["a private key with a mismatched --sign-alg", () => pkcs8(ec.privateKey), "cannot be used with `RS256`"],
  ])("`waypost build --sign` given %s is a usage error (exit 2)", async (_n, text, message) => {
    const file = join(dir, "key.pem");
    writeFileSync(file, text());
    const extra = message.includes("RS256") ? ["--sign-alg", "RS256"] : [];
    const r = await runCli(["build", dir, "--out", join(dir, "out"), "--sign", file, ...extra]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(message);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });
});
