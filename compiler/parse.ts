/**
 * Stage 3, parse: turn validated documents into the typed Program (compiler/program.ts), read
 * suppression-list data files, and parse every condition string with the condition language
 * (compiler/condition/), mapping condition-local offsets back to file offsets.
 */
import { isUtf8 } from "node:buffer";
import { parseCondition } from "./condition/index.js";
import { diag, type Diagnostic, type Span } from "./diagnostics.js";
import { decodeText, refusal, scalarAt, spanAt, type DocPath, type SourceScalar } from "./load.js";
import type {
  Access, AllOr, ArbitrationKind, Channel, ConditionSite, Contact, Field, JourneyNode, MissingKey, Origin, Program, Purpose, Scope, SuppressionList,
} from "./program.js";
import { formatTime, parseTimestamp } from "./ir/time.js";
import { endOfLocalDay, knownZone, tzdataVersion } from "./tz.js";
import { SourceRefusal, type SourceHost } from "./source.js";
import { SourceFile } from "./source-file.js";
import { clockMinutes, durationMs, percentBp, timeMs } from "./units.js";
import type { ValidDocument } from "./validate.js";
import { COMPACT_MIN_ENTRIES, CompactListBuilder } from "./ir/compact-list.js";

/**
 * The largest entries file: Node reads a file into one buffer of at most 2 GiB - 1 bytes. Above
 * 512 MiB a file is only read line by line from its bytes (no whole-file string, which V8 caps
 * near 2^29 characters); such a file with a bad line is reported by line number.
 */
export const MAX_ENTRIES_FILE_BYTES = 2 ** 31 - 1;
const MAX_ENTRIES_TEXT_BYTES = 512 * 1024 * 1024;

// Validated documents are plain JSON-like values; these views keep the code readable.
type Obj = Record<string, unknown>;
const obj = (v: unknown): Obj => (v ?? {}) as Obj;
const arr = <T = unknown>(v: unknown): T[] => (Array.isArray(v) ? (v as T[]) : []);
const str = (v: unknown): string | undefined => (typeof v === "string" ? v : undefined);
const allOr = <T extends string>(v: unknown): AllOr<T> => (v === "all" ? "all" : arr<T>(v));
const missingKey = (v: unknown): { missing?: MissingKey } => (v === "suppress" || v === "allow" ? { missing: v } : {});

/** The zone a list's `until` dates end in when it declares none. */
export const DEFAULT_LIST_ZONE = "UTC";

/**
 * An entry's `until` as the instant the entry stops holding, RFC 3339 UTC (docs/ir.md,
 * "Suppression lists"): a date ends with that day in the list's zone, a timestamp is that
 * instant. Null past 9999-12-31T23:59:59.999Z, which no request time reaches (so: no expiry);
 * undefined when `until` is neither a date nor a timestamp. Memoised: a large `entries_file`
 * repeats a few dates.
 */
function expiryOf(zone: string): (until: string) => string | null | undefined {
  const memo = new Map<string, string | null | undefined>();
  return (until) => {
    if (memo.has(until)) return memo.get(until);
    const ms = endOfLocalDay(until, zone) ?? parseTimestamp(until);
    const out = ms === undefined ? undefined : (formatTime(ms) ?? null);
    memo.set(until, out);
    return out;
  };
}

export interface ParseResult {
  program: Program;
  diagnostics: Diagnostic[];
  /** Data files that diagnostics point into (so renderers can show their lines). */
  dataFiles: Map<string, SourceFile>;
}

export function emptyProgram(): Program {
  return {
    jurisdictions: new Map(),
    purposes: new Map(),
    holdouts: [],
    lists: new Map(),
    rules: [],
    access: {
      systems: new Map(), fieldsAllow: new Map(), fieldsDeny: new Map(),
      channels: { deny: [] }, offers: { deny: [] }, templates: new Map(), valueLists: new Map(),
    },
    contact: { arbitration: new Map(), offsetsMs: new Map(), quietHours: [], caps: [], cooldowns: [], channels: new Map() },
    nodes: [],
    conditions: [],
  };
}

export async function parse(docs: readonly ValidDocument[], host: SourceHost): Promise<ParseResult> {
  const p = emptyProgram();
  const ds: Diagnostic[] = [];
  const dataFiles = new Map<string, SourceFile>();
  const span = (o: Origin, part: "key" | "value" = "value"): Span => spanAt(o.doc, o.path, part);
  const dup = (what: string, id: string, here: Origin, first: Origin): void => {
    ds.push(diag("WP3001", "error", `duplicate ${what} \`${id}\``, span(here, "key"), `${what} ids must be unique; rename one of them`,
      [{ message: `\`${id}\` is first defined here`, span: span(first, "key") }]));
  };
  // `path` is the caller's own array (every caller makes it): the site's origin keeps it.
  const condition = (doc: ValidDocument, path: (string | number)[]): ConditionSite | undefined => {
    const node = scalarAt(doc, path);
    if (!node || typeof node.value !== "string") return undefined;
    const origin: Origin = { doc, path };
    const site = makeSite(doc.file.text, node, origin, spanAt(doc, path));
    const r = parseCondition(site.text);
    site.ast = r.ast;
    for (const d of r.diagnostics) {
      ds.push(diag(d.code, d.severity, d.message, { file: doc.file.path, start: site.offsetOf(d.start), end: site.offsetOf(d.end) }, d.help));
    }
    p.conditions.push(site);
    return site;
  };

  // Singletons first, so later documents can be read in any file order.
  const byKind = <K extends ValidDocument["kind"]>(k: K): ValidDocument[] => docs.filter((d) => d.kind === k);
  const singleton = (k: ValidDocument["kind"]): ValidDocument | undefined => {
    const all = byKind(k);
    for (const extra of all.slice(1)) {
      ds.push(diag("WP3003", "error", `more than one \`${k}\` document`, spanAt(extra, ["kind"]),
        `a policy repository has one \`${k}\`; merge this one into \`${all[0]!.file.path}\``,
        [{ message: "the first one is here", span: spanAt(all[0]!, ["kind"]) }]));
    }
    return all[0];
  };

  const dd = singleton("DataDictionary");
  if (dd) {
    const v = obj(dd.value);
    const keys = obj(v["keys"]);
    const fields = new Map<string, Field>();
    for (const [name, raw] of Object.entries(obj(v["fields"]))) {
      const f = obj(raw);
      const val = obj(f["validation"]);
      const sensitivity = str(f["sensitivity"]);
      const field: Field = {
        name,
        type: f["type"] as Field["type"],
        optional: f["optional"] === true,
        nullable: f["nullable"] === true,
        residency: arr<string>(f["residency"]),
        highRisk: f["high_risk"] === true,
        mask: (str(f["mask"]) as Field["mask"] | undefined) ??
          (sensitivity === "restricted" ? "redact" : sensitivity === "confidential" ? "hash" : "none"),
        origin: { doc: dd, path: ["fields", name] },
      };
      if (Array.isArray(val["values"])) field.values = arr<string>(val["values"]);
      if (typeof val["min"] === "number") field.min = val["min"];
      if (typeof val["max"] === "number") field.max = val["max"];
      if (typeof val["format"] === "string") field.format = val["format"];
      if (typeof f["retention"] === "string") field.retentionMs = durationMs(f["retention"]);
      if (typeof val["horizon"] === "number") field.horizon = val["horizon"];
      fields.set(name, field);
    }
    p.dictionary = {
      keys: {
        customer: String(keys["customer"]),
        jurisdiction: String(keys["jurisdiction"]),
        utc_offset: String(keys["utc_offset"]),
        ...(typeof keys["time_zone"] === "string" ? { time_zone: keys["time_zone"] } : {}),
      },
      fields,
      origin: { doc: dd, path: [] },
    };
  }

  const pd = singleton("Purposes");
  if (pd) {
    const v = obj(pd.value);
    for (const [id, raw] of Object.entries(obj(v["jurisdictions"]))) {
      const j = obj(raw);
      p.jurisdictions.set(id, {
        id,
        marketingRequiresConsent: j["marketing_requires_consent"] === true,
        ...(typeof j["minimum_marketing_age"] === "number" ? { minimumMarketingAge: j["minimum_marketing_age"] } : {}),
        origin: { doc: pd, path: ["jurisdictions", id] },
      });
    }
    for (const [id, raw] of Object.entries(obj(v["purposes"]))) {
      const u = obj(raw);
      const purpose: Purpose = {
        id,
        title: String(u["title"]),
        category: u["category"] as Purpose["category"],
        lawfulBasis: new Map(Object.entries(obj(u["lawful_basis"])).map(([j, b]) => [j, arr<string>(b)])),
        restrictions: [],
        origin: { doc: pd, path: ["purposes", id] },
      };
      if (u["consent"] !== undefined) {
        const c = obj(u["consent"]);
        purpose.consent = {
          channels: allOr<Channel>(c["channels"]),
          jurisdictions: allOr(c["jurisdictions"]),
          field: str(c["field"]) ?? "consent.{channel}.{purpose}",
          ...(str(c["withdrawn_field"]) !== undefined ? { withdrawnField: str(c["withdrawn_field"])! } : {}),
          ...(str(c["channels_field"]) !== undefined ? { channelsField: str(c["channels_field"])! } : {}),
          origin: { doc: pd, path: ["purposes", id, "consent"] },
          ...(typeof c["max_age"] === "string" ? { maxAgeMs: durationMs(c["max_age"]) } : {}),
        };
      }
      arr<Obj>(u["restrictions"]).forEach((r, i) => {
        const path = ["purposes", id, "restrictions", i];
        const when = condition(pd, [...path, "when"]);
        if (when) purpose.restrictions.push({ id: String(r["id"]), when, reason: String(r["reason"]), origin: { doc: pd, path } });
      });
      p.purposes.set(id, purpose);
    }
    for (const [id, raw] of Object.entries(obj(v["holdouts"]))) {
      const h = obj(raw);
      p.holdouts.push({
        id, salt: String(h["salt"]), shareBp: percentBp(String(h["share"])), purposes: arr<string>(h["purposes"]),
        origin: { doc: pd, path: ["holdouts", id] },
        ...(typeof h["reason"] === "string" ? { reason: h["reason"] } : {}),
      });
    }
  }

  const scope = (v: unknown): Scope => ({ channels: allOr<Channel>(obj(v)["channels"]), purposes: allOr(obj(v)["purposes"]) });
  const ruleOrigins = new Map<string, Origin>();
  for (const sd of byKind("Suppressions")) {
    const v = obj(sd.value);
    for (const [i, raw] of arr<Obj>(v["lists"]).entries()) {
      const origin: Origin = { doc: sd, path: ["lists", i] };
      const id = String(raw["id"]);
      const first = p.lists.get(id);
      if (first) {
        dup("suppression list", id, { doc: sd, path: ["lists", i, "id"] }, { ...first.origin, path: [...first.origin.path, "id"] });
        continue;
      }
      const list: SuppressionList = {
        id, reason: String(raw["reason"]), match: String(raw["match"]), scope: scope(raw["scope"]), ...missingKey(raw["missing"]),
        zone: DEFAULT_LIST_ZONE, entries: new Map(), origin,
      };
      if (typeof raw["title"] === "string") list.title = raw["title"];
      if (typeof raw["zone"] === "string") {
        // An unknown zone is an error; the dates are still read (in UTC) so later checks run.
        if (knownZone(raw["zone"])) list.zone = raw["zone"];
        else {
          ds.push(diag("WP3081", "error", `suppression list \`${id}\`: \`${raw["zone"]}\` is not a zone of the time-zone database (tzdata ${tzdataVersion()})`, spanAt(sd, ["lists", i, "zone"]),
            "use an IANA zone name such as `Europe/London` (case-sensitive), or leave `zone` out: `until` dates then end at midnight UTC"));
        }
      }
      const expiry = expiryOf(list.zone);
      for (const [k, e] of arr(raw["entries"]).entries()) {
        const key = typeof e === "string" ? e : String(obj(e)["key"]);
        const until = typeof e === "string" ? null : (str(obj(e)["until"]) ?? null);
        const at = until === null ? null : expiry(until);
        if (at === undefined) {
          ds.push(diag("WP1006", "error", `\`${until}\` is not a real date`, spanAt(sd, ["lists", i, "entries", k, "until"]), "write a date such as `2027-03-31`"));
        }
        if (list.entries.has(key)) {
          ds.push(diag("WP3016", "warning", `\`${key}\` is listed twice in \`${id}\``, spanAt(sd, ["lists", i, "entries", k]), "remove the repeated entry; the last one wins"));
        }
        list.entries.set(key, at === undefined ? until : at);
      }
      if (typeof raw["entries_file"] === "string") {
        list.entriesFile = raw["entries_file"];
        await readEntriesFile(host, sd, list, ["lists", i, "entries_file"], ds, dataFiles);
      }
      p.lists.set(id, list);
    }
    for (const [i, raw] of arr<Obj>(v["rules"]).entries()) {
      const origin: Origin = { doc: sd, path: ["rules", i] };
      const id = String(raw["id"]);
      const first = ruleOrigins.get(id);
      if (first) {
        dup("suppression rule", id, { doc: sd, path: ["rules", i, "id"] }, { ...first, path: [...first.path, "id"] });
        continue;
      }
      ruleOrigins.set(id, origin);
      const when = condition(sd, ["rules", i, "when"]);
      if (when) p.rules.push({ id, when, reason: String(raw["reason"]), scope: scope(raw["scope"]), ...missingKey(raw["missing"]), origin });
    }
  }

  const ad = singleton("AccessPolicy");
  if (ad) readAccess(ad, p.access);
  const cd = singleton("ContactPolicy");
  if (cd) readContact(cd, p.contact);

  const nodeOrigins = new Map<string, Origin>();
  for (const nd of byKind("JourneyNode")) {
    const v = obj(nd.value);
    const id = String(v["id"]);
    const origin: Origin = { doc: nd, path: [] };
    const first = nodeOrigins.get(id);
    if (first) {
      dup("journey node", id, { doc: nd, path: ["id"] }, { ...first, path: ["id"] });
      continue;
    }
    nodeOrigins.set(id, origin);
    const trig = obj(v["trigger"]);
    const action = obj(v["action"]);
    const node: JourneyNode = {
      id,
      title: String(v["title"]),
      owner: String(v["owner"]),
      purpose: String(v["purpose"]),
      lawfulBasis: String(v["lawful_basis"]),
      event: String(trig["event"]),
      eligibility: [],
      context: arr<string>(v["context"]),
      channels: arr<Channel>(action["channels"]),
      templates: new Map(Object.entries(obj(action["templates"])).map(([c, t]) => [c, String(t)])),
      risk: v["risk"] as JourneyNode["risk"],
      priority: Number(v["priority"]),
      rolloutBp: typeof v["rollout"] === "string" ? percentBp(v["rollout"]) : 10000,
      explanation: String(v["explanation"]),
      origin,
    };
    if (typeof trig["when"] === "string") {
      const site = condition(nd, ["trigger", "when"]);
      if (site) node.trigger = site;
    }
    const seenElig = new Map<string, number>();
    for (const [i, e] of arr<Obj>(v["eligibility"]).entries()) {
      const eid = String(e["id"]);
      const prev = seenElig.get(eid);
      if (prev !== undefined) {
        dup("eligibility rule", eid, { doc: nd, path: ["eligibility", i, "id"] }, { doc: nd, path: ["eligibility", prev, "id"] });
        continue;
      }
      seenElig.set(eid, i);
      const when = condition(nd, ["eligibility", i, "when"]);
      if (when) node.eligibility.push({ id: eid, when, ...(typeof e["description"] === "string" ? { description: e["description"] } : {}), origin: { doc: nd, path: ["eligibility", i] } });
    }
    if (typeof action["offer"] === "string") node.offer = action["offer"];
    if (v["review"] !== undefined) node.review = { team: String(obj(v["review"])["team"]), reason: String(obj(v["review"])["reason"]) };
    if (v["experiment"] !== undefined) {
      const x = obj(v["experiment"]);
      node.experiment = {
        salt: String(x["salt"]),
        holdoutBp: typeof x["holdout"] === "string" ? percentBp(x["holdout"]) : 0,
        variants: Object.entries(obj(x["variants"])).map(([vid, w]) => ({ id: vid, weightBp: percentBp(String(w)) })),
        origin: { doc: nd, path: ["experiment"] },
      };
    }
    const valid = obj(v["valid"]);
    for (const edge of ["from", "until"] as const) {
      const t = str(valid[edge]);
      if (t === undefined) continue;
      const ms = timeMs(t);
      if (ms === undefined) ds.push(diag("WP1006", "error", `\`${t}\` is not a real date`, spanAt(nd, ["valid", edge]), "write a date such as `2027-03-31`"));
      else if (edge === "from") node.validFrom = ms;
      else node.validUntil = ms;
    }
    p.nodes.push(node);
  }
  return { program: p, diagnostics: ds, dataFiles };
}

function readAccess(ad: ValidDocument, a: Access): void {
  const v = obj(ad.value);
  for (const [id, raw] of Object.entries(obj(v["systems"]))) {
    const s = obj(raw);
    const sel = (x: unknown) => ({ purposes: arr<string>(obj(x)["purposes"]), nodes: arr<string>(obj(x)["nodes"]) });
    a.systems.set(id, { id, region: String(s["region"]), allow: sel(s["allow"]), deny: sel(s["deny"]), origin: { doc: ad, path: ["systems", id] } });
  }
  const fields = obj(v["fields"]);
  for (const [which, target] of [["allow", a.fieldsAllow], ["deny", a.fieldsDeny]] as const) {
    for (const [purpose, patterns] of Object.entries(obj(fields[which]))) {
      target.set(purpose, { patterns: arr<string>(patterns), origin: { doc: ad, path: ["fields", which, purpose] } });
    }
  }
  for (const k of ["channels", "offers"] as const) {
    if (v[k] === undefined) continue;
    const x = obj(v[k]);
    a[k] = { deny: arr<string>(x["deny"]), origin: { doc: ad, path: [k] }, ...(Array.isArray(x["allow"]) ? { allow: arr<string>(x["allow"]) } : {}) };
  }
  for (const [id, raw] of Object.entries(obj(v["templates"]))) {
    const t = obj(raw);
    a.templates.set(id, {
      id, channel: t["channel"] as Channel, optOutFooter: t["opt_out_footer"] === true, denied: t["denied"] === true,
      origin: { doc: ad, path: ["templates", id] },
      ...(typeof t["length"] === "number" ? { length: t["length"] } : {}),
    });
  }
  for (const [id, values] of Object.entries(obj(v["lists"]))) a.valueLists.set(id, { values: arr<string>(values), origin: { doc: ad, path: ["lists", id] } });
}

function readContact(cd: ValidDocument, c: Contact): void {
  const v = obj(cd.value);
  for (const [event, raw] of Object.entries(obj(v["arbitration"]))) {
    const a = obj(raw);
    c.arbitration.set(event, {
      event, fallback: a["fallback"] === "next" ? "next" : "none", on: arr<ArbitrationKind>(a["on"]),
      origin: { doc: cd, path: ["arbitration", event] },
      ...(typeof a["reason"] === "string" ? { reason: a["reason"] } : {}),
    });
  }
  for (const [ch, d] of Object.entries(obj(v["offsets"]))) c.offsetsMs.set(ch, durationMs(String(d)));
  arr<Obj>(v["quiet_hours"]).forEach((q, i) => {
    c.quietHours.push({
      id: String(q["id"]), fromMin: clockMinutes(String(q["from"])), toMin: clockMinutes(String(q["to"])),
      channels: allOr<Channel>(q["channels"]), reason: str(q["reason"]) ?? `quiet hours ${String(q["from"])}-${String(q["to"])}`,
      origin: { doc: cd, path: ["quiet_hours", i] },
    });
  });
  arr<Obj>(v["caps"]).forEach((q, i) => {
    c.caps.push({
      id: String(q["id"]), max: Number(q["max"]), perMs: durationMs(String(q["per"])), per: String(q["per"]),
      reason: str(q["reason"]) ?? `at most ${String(q["max"])} per ${String(q["per"])}`,
      origin: { doc: cd, path: ["caps", i] },
      ...(typeof q["channel"] === "string" ? { channel: q["channel"] as Channel } : {}),
      ...(typeof q["purpose"] === "string" ? { purpose: q["purpose"] } : {}),
      ...(typeof q["node"] === "string" ? { node: q["node"] } : {}),
    });
  });
  arr<Obj>(v["cooldowns"]).forEach((q, i) => {
    c.cooldowns.push({
      id: String(q["id"]), after: String(q["after"]), forMs: durationMs(String(q["for"])), purposes: allOr(q["purposes"]),
      reason: str(q["reason"]) ?? `cool-down of ${String(q["for"])}`, origin: { doc: cd, path: ["cooldowns", i] },
    });
  });
  for (const [ch, raw] of Object.entries(obj(v["channels"]))) {
    const x = obj(raw);
    c.channels.set(ch, {
      origin: { doc: cd, path: ["channels", ch] },
      ...(typeof x["max_length"] === "number" ? { maxLength: x["max_length"] } : {}),
      ...(typeof x["opt_out_footer"] === "string" ? { optOutFooter: x["opt_out_footer"] as "required" | "marketing" | "never" } : {}),
    });
  }
}

/**
 * Reads `entries_file`: one key per line, optionally `key,until` (`until` converted as in
 * `entries`, in the list's zone); `#` starts a comment line.
 */
async function readEntriesFile(host: SourceHost, doc: ValidDocument, list: SuppressionList, path: DocPath, ds: Diagnostic[], dataFiles: Map<string, SourceFile>): Promise<void> {
  const rel = list.entriesFile!;
  const dir = doc.file.path.includes("/") ? doc.file.path.slice(0, doc.file.path.lastIndexOf("/")) : "";
  const full = normalise(dir === "" ? rel : `${dir}/${rel}`);
  const at = spanAt(doc, path);
  if (full === null) {
    ds.push(diag("WP0006", "error", `\`${rel}\` points outside the repository`, at, "data files must live inside the policy repository"));
    return;
  }
  let bytes: Uint8Array | null;
  try {
    bytes = await host.readFile(full);
  } catch (e) {
    ds.push(e instanceof SourceRefusal ? refusal(e.entry, "error", at) : diag("WP0006", "error", `cannot read \`${full}\``, at, (e as Error).message));
    return;
  }
  if (bytes === null) {
    ds.push(diag("WP0006", "error", `the data file \`${full}\` does not exist`, at, `create it, or fix the path (it is relative to \`${doc.file.path}\`)`));
    return;
  }
  if (bytes.length > MAX_ENTRIES_FILE_BYTES) {
    ds.push(diag("WP0004", "error", `\`${full}\` is too large (${bytes.length} bytes)`, at, `an entries file may be at most ${MAX_ENTRIES_FILE_BYTES} bytes (what Node reads into memory at once); split the list into several lists`));
    return;
  }
  if (bytes.length >= ENTRIES_BYTES_MIN) {
    const bad = readEntryLines(bytes, list);
    if (bad === true) return;
    // Too large for the text reading below, which reports the line in the file itself.
    if (bytes.length > MAX_ENTRIES_TEXT_BYTES) {
      ds.push(bad === 0
        ? diag("WP0003", "error", `\`${full}\` is not a UTF-8 text file`, at, "write one key per line, optionally `key,until`")
        : diag("WP0007", "error", `line ${bad} of \`${full}\` has no key or an invalid expiry date`, at, "write one key per line, optionally followed by `,` and an expiry date such as `2027-03-31`"));
      return;
    }
  }
  const text = decodeText(bytes);
  if (text === null) {
    ds.push(diag("WP0003", "error", `\`${full}\` is not a UTF-8 text file`, at, "write one key per line, optionally `key,until`"));
    return;
  }
  let lineNo = 0;
  let bad = 0;
  let offset = 0;
  const keys: string[] = [];
  const untils: (string | null)[] = [];
  const expiry = expiryOf(list.zone);
  for (const raw of text.split("\n")) {
    lineNo++;
    const lineStart = offset;
    offset += raw.length + 1;
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    const comma = line.indexOf(",");
    const key = (comma < 0 ? line : line.slice(0, comma)).trim();
    const until = comma < 0 ? null : line.slice(comma + 1).trim();
    const ends = until === null ? null : expiry(until);
    if (key === "" || ends === undefined) {
      // Report the first few in the data file itself (registered so renderers can show the line).
      if (bad++ < 5) {
        if (!dataFiles.has(full)) dataFiles.set(full, new SourceFile(full, text));
        ds.push(diag("WP0007", "error", key === "" ? "this line has no key" : `\`${until}\` is not a valid expiry date`,
          { file: full, start: lineStart + (key === "" ? 0 : raw.indexOf(",") + 1), end: lineStart + raw.length },
          "write one key per line, optionally followed by `,` and an expiry date such as `2027-03-31`",
          [{ message: `read through \`entries_file\` of list \`${list.id}\``, span: at }]));
      }
      continue;
    }
    keys.push(key);
    untils.push(ends);
  }
  // Keys sliced out of a large file keep the whole file alive and make sorting and object
  // building several times slower (V8 flattens them one by one); one JSON round trip copies
  // them into flat strings (1M hashed ids: plan stage 3 s -> 1.5 s).
  const flat = keys.length > 10_000 ? (JSON.parse(JSON.stringify(keys)) as string[]) : keys;
  if (flat.length >= COMPACT_MIN_ENTRIES) {
    // Only reached by a file under ENTRIES_BYTES_MIN (readEntryLines failed on it otherwise).
    const b = new CompactListBuilder();
    for (let i = 0; i < flat.length; i++) {
      const k = enc.encode(flat[i]!);
      b.add(k, 0, k.length, untils[i]!);
    }
    list.compact = b.finish();
    return;
  }
  for (let i = 0; i < flat.length; i++) list.entries.set(flat[i]!, untils[i]!);
}

const enc = new TextEncoder();
// ASCII whitespace, as String.prototype.trim removes it (the others are multi-byte in UTF-8).
const isSpace = (b: number): boolean => b === 0x20 || (b >= 0x09 && b <= 0x0d);

// Files from this size on are first read line by line from their bytes (readEntryLines).
const ENTRIES_BYTES_MIN = 1 << 20;

/**
 * A large entries file read line by line from its bytes: no whole-file string (V8 caps a string
 * near 2^29 characters) and no string per key. Each key is located in the bytes (trimmed as
 * String.prototype.trim trims; a line whose key starts or ends with a non-ASCII byte is decoded
 * to be trimmed exactly) and handed to a CompactListBuilder, which hashes it where it lies. A
 * list of COMPACT_MIN_ENTRIES or more is stored compact (docs/ir.md "Bundle data"); a smaller
 * one gets its keys as strings, the same lines, keys and expiries as the text reading below (a
 * line feed byte only ever ends a line in UTF-8; leading byte order marks are dropped as
 * decodeText drops them). Returns true, or, having changed nothing, 0 when the file is not
 * plain UTF-8 text or the 1-based number of the first bad line: the text reading then reports
 * it with its place in the file.
 */
function readEntryLines(bytes: Uint8Array, list: SuppressionList): true | number {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (buf.includes(0) || !isUtf8(buf)) return 0;
  let pos = 0;
  for (let bom = 0; bom < 2 && buf[pos] === 0xef && buf[pos + 1] === 0xbb && buf[pos + 2] === 0xbf; bom++) pos += 3;
  const expiry = expiryOf(list.zone);
  // Sized from the lines in the first 256 KiB: growing by copying costs more than the slack.
  const sample = Math.min(buf.length - pos, 1 << 18);
  let lines = 1;
  for (let i = buf.indexOf(0x0a, pos); i >= 0 && i < pos + sample; i = buf.indexOf(0x0a, i + 1)) lines++;
  const b = new CompactListBuilder(((buf.length - pos) / Math.max(1, sample)) * lines * 1.05 + 1024);
  let lineNo = 0;
  let comma = -2; // the next comma at or after the line's start (found once, not per line)
  while (pos <= buf.length) {
    lineNo++;
    let end = buf.indexOf(0x0a, pos);
    if (end < 0) end = buf.length;
    let s = pos;
    let e = end;
    pos = end + 1;
    while (s < e && isSpace(buf[s]!)) s++;
    while (e > s && isSpace(buf[e - 1]!)) e--;
    if (s === e || buf[s] === 0x23 /* # */) continue;
    if (buf[s]! >= 0x80 || buf[e - 1]! >= 0x80) {
      // Non-ASCII at an edge: Unicode whitespace may need trimming; decode this line.
      const line = buf.toString("utf8", s, e).trim();
      if (line === "" || line.startsWith("#")) continue;
      const comma = line.indexOf(",");
      const key = (comma < 0 ? line : line.slice(0, comma)).trim();
      const until = comma < 0 ? null : line.slice(comma + 1).trim();
      const ends = until === null ? null : expiry(until);
      if (key === "" || ends === undefined) return lineNo;
      const k = enc.encode(key);
      b.add(k, 0, k.length, ends);
      continue;
    }
    if (comma !== -1 && comma < s) comma = buf.indexOf(0x2c, s);
    let ke = comma >= 0 && comma < e ? comma : e;
    let ends: string | null | undefined = null;
    if (ke < e) {
      ends = expiry(buf.toString("utf8", ke + 1, e).trim());
      while (ke > s && isSpace(buf[ke - 1]!)) ke--;
      if (ke > s && buf[ke - 1]! >= 0x80) {
        // The key ends with a non-ASCII byte before the comma: trim it as a string.
        const k = enc.encode(buf.toString("utf8", s, ke).trim());
        if (k.length === 0 || ends === undefined) return lineNo;
        b.add(k, 0, k.length, ends);
        continue;
      }
    }
    if (ke === s || ends === undefined) return lineNo;
    b.add(buf, s, ke, ends);
  }
  if (b.count >= COMPACT_MIN_ENTRIES) list.compact = b.finish();
  else b.forEach((key, until) => list.entries.set(key, until));
  return true;
}

function normalise(p: string): string | null {
  const out: string[] = [];
  for (const seg of p.split("/")) {
    if (seg === "" || seg === ".") continue;
    if (seg === "..") {
      if (out.length === 0) return null;
      out.pop();
    } else out.push(seg);
  }
  return out.join("/");
}

/**
 * Maps offsets in a scalar's value back to the file. Plain and quoted one-line scalars map
 * exactly; for escapes and folded/literal blocks, a greedy alignment of the value's characters
 * with the raw source is exact for every character that appears literally.
 */
function makeSite(src: string, node: SourceScalar, origin: Origin, span: Span): ConditionSite {
  const text = String(node.value);
  const [start, end] = node.range ?? [span.start, span.end];
  const raw = src.slice(start, end);
  // The usual one-line scalar holds its value verbatim (after the opening quote, if quoted):
  // offsets map by a shift, as the alignment below would find.
  const quoted = node.type === "QUOTE_DOUBLE" || node.type === "QUOTE_SINGLE";
  if (text.length > 0 && (quoted ? raw.length === text.length + 2 && raw.startsWith(text, 1) : raw === text)) {
    const base = start + (quoted ? 1 : 0);
    return { text, origin, span, offsetOf: (i) => base + Math.max(0, Math.min(i, text.length)), ast: null };
  }
  const pos = new Array<number>(text.length + 1);
  let j = node.type === "QUOTE_DOUBLE" || node.type === "QUOTE_SINGLE" ? 1 : 0;
  for (let i = 0; i < text.length; i++) {
    let k = j;
    while (k < raw.length && raw[k] !== text[i]) k++;
    if (k >= raw.length) k = Math.min(j, raw.length - 1);
    pos[i] = start + Math.max(k, 0);
    j = k + 1;
  }
  pos[text.length] = text.length === 0 ? start : pos[text.length - 1]! + 1;
  return { text, origin, span, offsetOf: (i) => pos[Math.max(0, Math.min(i, text.length))]!, ast: null };
}
