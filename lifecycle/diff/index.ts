/**
 * `waypost diff BASE HEAD`: what a change does, for reviewers. Each side is a Git revision
 * (compiled from the commit's tree, decided by the reference interpreter) or a bundle file
 * (decided by its policy.wasm through the runtime). The report has three parts: the changes by
 * entity with `file:line`, the decision impact (flips grouped, widening first, with a minimal
 * example each), and the risk call-outs that need extra approval.
 */
import { promises as fs } from "node:fs";
import * as path from "node:path";
import { writeTarGz } from "../../compiler/tar-write.js";
import { createPseudonymiser, loadBundle, readBundle, type Engine, type Pseudonymiser, type VerifyOptions } from "../../runtime/index.js";
import { sha256Hex } from "../../runtime/json.js";
import { WaypostRuntimeError } from "../../runtime/errors.js";
import { hasErrors } from "../../compiler/diagnostics.js";
import { fail, ok, openRepo, snapshotOf, subdirOf, type CommitInfo, type Result } from "../git.js";
import { decide as interpret } from "../../compiler/ir/interpret.js";
import type { BundleData, IR, JsonValue } from "../../compiler/ir/ir.js";
import { decodeBundleData } from "../../compiler/ir/reason-table.js";
import { isCompactList } from "../../compiler/ir/compact-list.js";
import { compile } from "../../compiler/pipeline.js";
import { caseRequest } from "../testing/cases.js";
import { loadSuites, type Suite } from "../testing/suite.js";
import { FsHost, type SourceHost } from "../../compiler/source.js";
import { diffEntities, entitiesFromPlan, entitiesFromSources, type Entity, type EntityChange } from "./entities.js";
import { holdoutShifts, shiftMessage } from "./holdouts.js";
import { generateRequests, irConstants, measureImpact, type Decider, type DecisionView, type ImpactReport, type Sample } from "./impact.js";

export interface SideInfo {
  spec: string;
  kind: "git" | "bundle";
  revision: string;
  commit: { oid: string; author: string; date: string; subject: string } | null;
}

export interface Side {
  info: SideInfo;
  data: BundleData;
  ir: IR | null;
  sourceEntities: Map<string, Entity> | null;
  planEntities: Map<string, Entity>;
  decide: Decider;
  /** Where its example requests and test cases are read from (null for a bundle). */
  host: SourceHost | null;
}

export interface RiskCallout {
  kind: "widening" | "high-risk-node" | "lawful-basis" | "suppression-scope" | "consent" | "holdout-shift";
  message: string;
  ref: string | null;
}

export interface DiffReport {
  base: SideInfo;
  head: SideInfo;
  /** `sources` when both sides are revisions, `bundle` when either is a bundle file. */
  view: "sources" | "bundle";
  entities: EntityChange[];
  risks: RiskCallout[];
  impact: ImpactReport;
  generator: { seed: number; runs: number };
  /** `--prove`: what the solver established over every request (lifecycle/prove/diff.ts). */
  proof?: ProofSummary;
}

export interface ProofSummary {
  /** Per direction: `none` proved (no request flips that way), `found` (witnesses, replayed in the impact), `unknown`. */
  widening: "none" | "found" | "unknown";
  narrowing: "none" | "found" | "unknown";
  witnesses: number;
  unknown: string[];
  ms: number;
}

export const toView = (d: unknown): DecisionView => {
  const o = (typeof d === "object" && d !== null ? d : {}) as Record<string, unknown>;
  const s = (v: unknown): string | null => (typeof v === "string" ? v : null);
  return {
    outcome: (s(o["outcome"]) ?? "deny") as DecisionView["outcome"],
    node: s(o["node"]),
    channel: s(o["channel"]),
    template: s(o["template"]),
    variant: s(o["variant"]),
    send_at: s(o["send_at"]),
    reasons: Array.isArray(o["reasons"]) ? (o["reasons"] as JsonValue[]) : [],
  };
};

const commitInfo = (c: CommitInfo): SideInfo["commit"] => ({
  oid: c.oid,
  author: `${c.author.name} <${c.author.email}>`,
  date: c.authorDate,
  subject: c.message.split("\n")[0] ?? "",
});

/**
 * For replaying logged (masked) requests: the bundle with the keys of every list whose match
 * field the log masks (`mask: hash`) replaced by what the log holds for them, so a masked
 * customer id is found on the lists it was on: its pseudonym under the runtime's
 * pseudonymisation key (runtime/log.ts), or, without that key, `sha256:<hex of the UTF-8>` as
 * logs written before keyed pseudonyms hold. Unsigned on purpose: it never leaves this process.
 */
function hashListKeys(files: ReadonlyMap<string, Uint8Array>, data: { waypost: BundleData }, pseudonyms: Pseudonymiser | null): Uint8Array {
  const wp = data.waypost;
  const lists: BundleData["lists"] = {};
  for (const [id, entries] of Object.entries(wp.lists)) {
    const match = wp.plan.lists[id]?.match;
    const hashed = match !== null && match !== undefined && wp.plan.fields[match]?.mask === "hash";
    const mask = (k: string): string => (pseudonyms !== null ? pseudonyms.pseudonym(k) : `sha256:${sha256Hex(k)}`);
    // A compact list holds digests of the keys, not the keys: a masked key cannot be looked up
    // in it (it stays as built; docs/ir.md "Bundle data").
    lists[id] = hashed && !isCompactList(entries) ? Object.fromEntries(Object.entries(entries).map(([k, v]) => [mask(k), v])) : entries;
  }
  const next = new Map(files);
  next.delete(".signatures.json");
  next.set("data.json", new TextEncoder().encode(JSON.stringify({ ...data, waypost: { ...wp, lists } })));
  return writeTarGz(next);
}

/**
 * Opens a bundle file: data for the entity diff, an engine for decisions. `maskedRequests`:
 * the requests will come from a decision log (see hashListKeys), pseudonymised under
 * `pseudonymKey` when given. `verify`: the signer's key, or
 * an explicit `skipVerify` (WPR018 without either, as everywhere a bundle is loaded).
 */
export async function openBundleSide(
  file: string,
  spec: string,
  opts: { maskedRequests?: boolean; pseudonymKey?: Uint8Array; verify?: VerifyOptions } = {},
): Promise<Result<Side & { engine: Engine }>> {
  let bytes: Uint8Array;
  try {
    bytes = await fs.readFile(file);
  } catch (e) {
    return fail("WP5007", `cannot read the bundle \`${spec}\`: ${(e as Error).message}`, "give a bundle file written by `waypost build`, or a Git revision");
  }
  let engine: Engine;
  let data: BundleData;
  try {
    // Verified (or explicitly not) once, on the file's own bytes; the engine then loads those
    // bytes, or a copy derived from them in this process, without checking again.
    const contents = await readBundle(bytes, opts.verify ?? {});
    // data.json stores the plan's reasons in its reason table: decoded to the in-memory plan.
    data = decodeBundleData((contents.data as unknown as { waypost: unknown }).waypost);
    const pseudonyms = opts.pseudonymKey !== undefined ? createPseudonymiser(opts.pseudonymKey) : null;
    engine = await loadBundle(opts.maskedRequests ? hashListKeys(contents.files, contents.data as unknown as { waypost: BundleData }, pseudonyms) : bytes, { skipVerify: true });
  } catch (e) {
    const why = e instanceof WaypostRuntimeError ? `${e.code}: ${e.message}` : (e as Error).message;
    const code = e instanceof WaypostRuntimeError ? e.code : "";
    const help =
      code === "WPR018" || code === "WPR019"
        ? "give the signer's public key with `--public-key KEY` (and `--alg`, `--key-id`), or `--skip-verify` to read the bundle unverified"
        : /^WPR01[0-4]$/.test(code)
          ? "the bundle is not the one its signer produced, or the key, algorithm or key id is not the signer's"
          : "rebuild it with `waypost build`";
    return fail("WP5007", `\`${spec}\` is not a usable Waypost bundle (${why})`, help);
  }
  return ok({
    info: { spec, kind: "bundle", revision: data.revision, commit: null },
    data,
    ir: null,
    sourceEntities: null,
    planEntities: entitiesFromPlan(data),
    // The decision id depends on the revision: not part of what a reviewer compares.
    decide: (req) => toView(engine.decide(req)),
    host: null,
    engine,
  });
}

/** Opens a Git revision: compiled from the commit's tree, decided by the reference interpreter. */
export async function openGitSide(dir: string, spec: string): Promise<Result<Side>> {
  const repo = await openRepo(dir);
  if (!repo.ok) return repo;
  const snap = await snapshotOf(repo.value, spec, subdirOf(repo.value, dir));
  if (!snap.ok) return snap;
  const state = await compile(snap.value.host, { until: "Plan" }); // decided by the interpreter: no Wasm needed
  if (hasErrors(state.diagnostics) || !state.ir || !state.lists || !state.program || !state.documents) {
    const errors = state.diagnostics.filter((d) => d.severity === "error");
    const first = errors[0];
    const where = first?.span ? ` (${state.files.get(first.span.file)?.ref(first.span.start) ?? first.span.file})` : "";
    return fail("WP5006", `\`${spec}\` has ${errors.length} policy error${errors.length === 1 ? "" : "s"}; first: ${first?.code ?? ""} ${first?.message ?? ""}${where}`, `run \`waypost build --rev ${spec}\` to see them all`);
  }
  const ir = state.ir;
  const data: BundleData = { plan: ir.plan, lists: state.lists, revision: snap.value.commit.oid };
  return ok({
    info: { spec, kind: "git", revision: snap.value.commit.oid, commit: commitInfo(snap.value.commit) },
    data,
    ir,
    sourceEntities: entitiesFromSources(state.documents, state.program),
    planEntities: entitiesFromPlan(data),
    decide: (req) => toView(interpret(ir, data, req)),
    host: snap.value.host,
  });
}

/** A side from what the user typed: an existing file is a bundle, anything else a revision. */
export async function openSide(dir: string, cwd: string, spec: string, verify?: VerifyOptions): Promise<Result<Side>> {
  const file = path.resolve(cwd, spec);
  let isFile = false;
  try {
    isFile = (await fs.stat(file)).isFile();
  } catch {
    isFile = false;
  }
  if (!isFile && /\.(tar\.gz|tgz)$/.test(spec)) {
    return fail("WP5007", `the bundle file \`${spec}\` does not exist`, "build it with `waypost build`, or give a Git revision");
  }
  return isFile ? openBundleSide(file, spec, verify ? { verify } : {}) : openGitSide(dir, spec);
}

// ---------------------------------------------------------------------------------------------
// Requests: examples and test cases

const dec = new TextDecoder();

/**
 * `requests/*.json` (not `*.expected.json`), and the request of every case in the
 * policy tests (`tests/*.yaml`, read by `waypost test`'s own loader so defaults, overrides and
 * table rows expand exactly as they do there).
 */
export async function handWrittenRequests(hosts: readonly SourceHost[]): Promise<Sample[]> {
  const out: Sample[] = [];
  const seen = new Set<string>();
  const push = (request: unknown, origin: "example" | "test", label: string): void => {
    if (typeof request !== "object" || request === null || Array.isArray(request)) return;
    const key = JSON.stringify(request);
    if (seen.has(key)) return;
    seen.add(key);
    out.push({ request: request as JsonValue, origin, label });
  };
  for (const host of hosts) {
    let files: string[];
    try {
      files = await host.listFiles();
    } catch {
      continue;
    }
    for (const f of files) {
      if (!/^requests\/[^/]+\.json$/.test(f) || f.endsWith(".expected.json")) continue;
      const bytes = await host.readFile(f).catch(() => null);
      if (!bytes) continue;
      try {
        const v: unknown = JSON.parse(dec.decode(bytes));
        if (Array.isArray(v)) v.forEach((r, i) => push(r, "example", `${f}#${i + 1}`));
        else push(v, "example", f);
      } catch {
        // Broken example files are reported by their own commands, not by diff.
      }
    }
    // Test files with problems are `waypost test`'s to report; diff takes the cases it can.
    const { suites } = await loadSuites(host).catch(() => ({ suites: [] as Suite[] }));
    for (const suite of suites) {
      for (const c of suite.cases) {
        const req = caseRequest(c);
        if (req.system !== "" && req.event !== "" && req.now !== "") push(req, "test", `${c.file} › ${c.name}`);
      }
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Risk call-outs

function risks(changes: readonly EntityChange[], base: Side, head: Side, impact: ImpactReport): RiskCallout[] {
  const out: RiskCallout[] = [];
  if (impact.widening > 0) {
    out.push({ kind: "widening", message: `${impact.widening} evaluated decision${impact.widening === 1 ? "" : "s"} newly send (${impact.groups.filter((g) => g.widening).length} group${impact.groups.filter((g) => g.widening).length === 1 ? "" : "s"})`, ref: null });
  }
  const entitiesOf = (s: Side): Map<string, Entity> => s.sourceEntities ?? s.planEntities;
  for (const c of changes) {
    const before = entitiesOf(base).get(`${c.kind}:${c.id}`);
    const after = entitiesOf(head).get(`${c.kind}:${c.id}`);
    const paths = c.properties.map((p) => p.path);
    if (c.kind === "node" && (before?.risk === "high" || after?.risk === "high")) {
      out.push({ kind: "high-risk-node", message: `high-risk node \`${c.id}\` ${c.change}${paths.length ? ` (${paths.join(", ")})` : ""}`, ref: c.ref });
    }
    const basis = c.properties.filter((p) => p.path === "lawful_basis" || p.path.startsWith("lawful_basis."));
    if ((c.kind === "node" || c.kind === "purpose") && basis.length) {
      for (const p of basis) out.push({ kind: "lawful-basis", message: `${c.kind} \`${c.id}\`: lawful basis \`${p.path}\` ${p.before ?? "(none)"} → ${p.after ?? "(none)"}`, ref: p.ref });
    }
    if (c.kind === "suppression-list" || c.kind === "suppression-rule") {
      if (c.change === "removed") out.push({ kind: "suppression-scope", message: `${c.kind} \`${c.id}\` removed`, ref: c.ref });
      for (const p of c.properties) {
        if (/^(scope|match|when)(\.|$)/.test(p.path)) out.push({ kind: "suppression-scope", message: `${c.kind} \`${c.id}\`: \`${p.path}\` ${p.before ?? "(none)"} → ${p.after ?? "(none)"}`, ref: p.ref });
      }
      if (c.entries && c.entries.removed > 0) out.push({ kind: "suppression-scope", message: `suppression list \`${c.id}\`: ${c.entries.removed} entr${c.entries.removed === 1 ? "y" : "ies"} removed`, ref: c.ref });
    }
    if (c.kind === "node" && base.sourceEntities === null) {
      // Bundle view: suppression scope shows as the node's suppression gates.
      const g = c.properties.find((p) => p.path === "gates");
      if (g && /suppression/.test(g.before ?? "")) out.push({ kind: "suppression-scope", message: `node \`${c.id}\`: suppression gates changed`, ref: g.ref });
    }
    if (c.kind === "consent" && (c.change === "removed" || c.properties.length > 0)) {
      out.push({ kind: "consent", message: `consent rule of purpose \`${c.id}\` ${c.change}${paths.length ? ` (${paths.join(", ")})` : ""}`, ref: c.ref });
    }
  }
  return out;
}

export interface DiffOptions {
  seed?: number;
  runs?: number;
  /** Extra hosts to read examples and tests from (e.g. the working directory). */
  requestHosts?: SourceHost[];
  /** `--prove`: the solver's witness requests (decided on both sides like the others) and its summary. */
  proof?: { witnesses: Sample[]; summary: ProofSummary };
}

export async function diffSides(base: Side, head: Side, opts: DiffOptions = {}): Promise<DiffReport> {
  const view = base.sourceEntities && head.sourceEntities ? "sources" : "bundle";
  const entities = view === "sources" ? diffEntities(base.sourceEntities!, head.sourceEntities!) : diffEntities(base.planEntities, head.planEntities);
  const hosts = [head.host, base.host, ...(opts.requestHosts ?? [])].filter((h): h is SourceHost => h !== null);
  const handWritten = await handWrittenRequests(hosts);
  const seed = opts.seed ?? 1;
  const runs = opts.runs ?? 2000;
  const consts = irConstants([...(base.ir?.conds ?? []), ...(head.ir?.conds ?? [])]);
  const generated = runs > 0 ? await generateRequests({ plans: [base.data, head.data], seeds: handWritten.map((s) => s.request), constants: consts, seed, runs }) : [];
  const impact = measureImpact([...handWritten, ...(opts.proof?.witnesses ?? []), ...generated], base.decide, head.decide);
  // WP5013: a salt or share change moves customers between control and treatment.
  const shifts = holdoutShifts(base.data.plan, head.data.plan).map((s): RiskCallout => ({ kind: "holdout-shift", message: `WP5013 ${shiftMessage(s)}`, ref: null }));
  return { base: base.info, head: head.info, view, entities, risks: [...risks(entities, base, head, impact), ...shifts], impact, generator: { seed, runs }, ...(opts.proof ? { proof: opts.proof.summary } : {}) };
}

/** Working-directory examples (the checkout), when the folder exists. */
export const workingDirHost = (dir: string): SourceHost => new FsHost(dir);
