/**
 * The plan's reason table (docs/ir.md "Bundle data"): how `data.json` stores the plan's reasons.
 *
 * In memory a plan holds a Reason object wherever a reason is reported. In `data.json` each of
 * those places holds an integer instead, an index into `plan.reason_table`, where every distinct
 * reason is written once. A 10,000-node plan repeats the same suppression, consent, cap and
 * lawful-basis reasons on every node: inline, they were nine tenths of its data.json (43 MB),
 * which every build compresses and every load copies and parses into Wasm memory.
 *
 * A node's own reasons (its candidate, condition, gate, experiment and review reasons) mostly
 * differ from another node's only by the node's id, event or file: the table stores them as
 * templates, whose `policy`, `message` or `source` is a list of pieces (text, or 0/1/2 for the
 * node's id, event and file), so 10,000 nodes share a few hundred entries. The node keys in
 * NODE_PART_KEYS then hold values that repeat across nodes (the same gates, required fields,
 * channels...): data.json writes each distinct value once, in `plan.node_parts`, and the node
 * holds its index. Last, a node's keys other than NODE_OWN_KEYS (its id, event, priority,
 * rollout salt and source) form its *shape*, a node part too: nodes of one template share it
 * (docs/ir.md "Bundle data").
 *
 * The evaluators decide on the decoded plan (the Wasm engine resolves the indices once, when the
 * data is parsed, and a template when it reports it), so a decision does not depend on which
 * form the data was written in.
 */
import type { BundleData, Plan, Reason } from "./ir.js";

type Obj = Record<string, unknown>;

const isObj = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);

/**
 * Where reasons are, by the kind of object that holds them: the keys whose value is a reason.
 * Every other key is not one (a node's `candidate` object holds only reasons).
 */
const REASON_KEYS: Readonly<Record<string, readonly string[]>> = {
  condition: ["fail", "reason"],
  gate: ["pass", "reason"],
  node: ["review_reason"],
  experiment: ["holdout_reason", "treatment_reason"],
  variant: ["reason"],
  holdout: ["control_reason", "treatment_reason"],
  quiet: ["reason"],
  list: ["reason"],
  arbitration: ["exhausted_reason"],
};

const REASON_FIELDS = ["code", "policy", "message", "source", "channel"] as const;

/** Canonical text of a reason (its keys sorted): identical reasons share one table entry. */
function reasonKey(r: Obj): string {
  // The usual shape (string values under a reason's own keys) without sorting: each field's
  // value or, when absent, 0 (no string is 0), in a fixed order. Any other shape: sorted entries.
  let n = 0;
  for (const k of REASON_FIELDS) if (k in r) n++;
  if (n === Object.keys(r).length && REASON_FIELDS.every((k) => !(k in r) || typeof r[k] === "string")) {
    return "r" + JSON.stringify(REASON_FIELDS.map((k) => (k in r ? r[k] : 0)));
  }
  const keys = Object.keys(r).sort();
  return "o" + JSON.stringify(keys.map((k) => [k, r[k]]));
}

/**
 * Calls `visit(holder, key)` on every place of `plan` that holds a reason, in the order the
 * table is numbered: the order of first occurrence in the plan's canonical JSON (object keys
 * sorted, arrays in order).
 */
function eachReasonSlot(plan: Obj, visit: (holder: Obj, key: string, node: Obj | null) => void): void {
  let node: Obj | null = null; // the node whose reasons are being visited
  const slots = (o: unknown, kind: string): void => {
    if (!isObj(o)) return;
    for (const k of REASON_KEYS[kind] ?? []) if (k in o) visit(o, k, node);
  };
  const sorted = (o: Obj): string[] => Object.keys(o).sort();
  for (const top of sorted(plan)) {
    const v = plan[top];
    if (top === "arbitration" && isObj(v)) for (const e of sorted(v)) slots(v[e], "arbitration");
    else if (top === "holdouts" && Array.isArray(v)) for (const h of v) slots(h, "holdout");
    else if (top === "lists" && isObj(v)) for (const l of sorted(v)) slots(v[l], "list");
    else if (top === "quiet_hours" && Array.isArray(v)) for (const q of v) slots(q, "quiet");
    else if (top === "reasons" && isObj(v)) for (const code of sorted(v)) visit(v, code, null);
    else if (top === "nodes" && Array.isArray(v)) {
      for (const n of v) {
        if (!isObj(n)) continue;
        node = n;
        // A node's keys in sorted order: candidate, conditions, experiment, gates, review_reason.
        const cand = n.candidate;
        if (isObj(cand)) for (const k of sorted(cand)) visit(cand, k, n);
        if (Array.isArray(n.conditions)) for (const c of n.conditions) slots(c, "condition");
        const x = n.experiment;
        if (isObj(x)) {
          slots(x, "experiment");
          if (Array.isArray(x.variants)) for (const vr of x.variants) slots(vr, "variant");
        }
        if (Array.isArray(n.gates)) for (const g of n.gates) slots(g, "gate");
        slots(n, "node");
        node = null;
      }
    }
  }
}

/**
 * A copy of the plan in which every object that holds a reason is a fresh (shallow) copy, so
 * its slots can be rewritten; everything else is shared with the input.
 */
function holdersCopied(plan: Obj): Obj {
  const obj = (v: unknown): unknown => (isObj(v) ? { ...v } : v);
  const arr = (v: unknown, f: (x: unknown) => unknown = obj): unknown => (Array.isArray(v) ? v.map(f) : v);
  const vals = (v: unknown): unknown => (isObj(v) ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, obj(x)])) : v);
  const out: Obj = { ...plan };
  if ("arbitration" in out) out.arbitration = vals(out.arbitration);
  if ("holdouts" in out) out.holdouts = arr(out.holdouts);
  if ("lists" in out) out.lists = vals(out.lists);
  if ("quiet_hours" in out) out.quiet_hours = arr(out.quiet_hours);
  if ("reasons" in out) out.reasons = obj(out.reasons);
  out.nodes = arr(out.nodes, (n) => {
    if (!isObj(n)) return n;
    const c: Obj = { ...n };
    if (isObj(n.candidate)) c.candidate = { ...n.candidate };
    if (Array.isArray(n.conditions)) c.conditions = arr(n.conditions);
    if (Array.isArray(n.gates)) c.gates = arr(n.gates);
    if (isObj(n.experiment)) c.experiment = { ...n.experiment, variants: arr(n.experiment.variants) };
    return c;
  });
  return out;
}

/**
 * Node keys whose value data.json writes once in `plan.node_parts`, the node holding its index
 * (in the encoded plan, after its reasons became indices: equal gates of two nodes are then
 * equal). Sorted, the order parts are numbered in.
 */
export const NODE_PART_KEYS = ["candidate", "channels", "conditions", "explanation", "gates", "required", "templates", "title"] as const;

/** The node keys data.json keeps on the node itself; every other key is in its shape (`shape`). */
export const NODE_OWN_KEYS: readonly string[] = ["event", "id", "priority", "rollout_salt", "source"];

/** The reason fields a template may split into pieces. */
const TEMPLATE_FIELDS = ["policy", "message", "source"] as const;
// A shorter id, event or file is left in the text (a template of it would rarely be shared).
const MIN_VAR = 4;

/**
 * A node's template variables (docs/ir.md "Bundle data"): 0 its `id`, 1 its `event`, 2 its file
 * (`source` without the trailing `:line:col`); undefined when the node has none.
 */
export function nodeVars(n: Obj): readonly (string | undefined)[] {
  const str = (v: unknown): string | undefined => (typeof v === "string" && v !== "" ? v : undefined);
  let file: string | undefined;
  if (typeof n.source === "string") {
    const m = /:[0-9]+:[0-9]+$/.exec(n.source);
    if (m && m.index > 0) file = n.source.slice(0, m.index);
  }
  return [str(n.id), str(n.event), file];
}

/** `s` as pieces (text, or a variable's number) when a variable occurs in it, else null. */
function pieces(s: string, vars: readonly (string | undefined)[]): (string | number)[] | null {
  const out: (string | number)[] = [];
  let i = 0;
  for (;;) {
    let best = -1;
    let at = -1;
    vars.forEach((v, k) => {
      if (v === undefined || v.length < MIN_VAR) return;
      const j = s.indexOf(v, i);
      if (j >= 0 && (best < 0 || j < at || (j === at && v.length > vars[best]!.length))) {
        best = k;
        at = j;
      }
    });
    if (best < 0) break;
    if (at > i) out.push(s.slice(i, at));
    out.push(best);
    i = at + vars[best]!.length;
  }
  if (out.length === 0) return null;
  if (i < s.length) out.push(s.slice(i));
  return out;
}

/** Reason `r` of node `n` as a template, or `r` itself when no field names the node. */
function template(r: Obj, n: Obj | null): Obj {
  if (n === null) return r;
  const vars = nodeVars(n);
  let out: Obj | null = null;
  for (const k of TEMPLATE_FIELDS) {
    const v = r[k];
    if (typeof v !== "string") continue;
    const p = pieces(v, vars);
    if (p === null) continue;
    out ??= { ...r };
    out[k] = p;
  }
  return out ?? r;
}

/** Reason `t` (a table entry, maybe a template) for node `n`; throws on a piece `n` cannot fill. */
function instantiate(t: Obj, n: Obj | null): Obj {
  let out: Obj | null = null;
  for (const k of TEMPLATE_FIELDS) {
    const v = t[k];
    if (!Array.isArray(v)) continue;
    const vars = n === null ? [] : nodeVars(n);
    let s = "";
    for (const p of v) {
      if (typeof p === "string") s += p;
      else if (typeof p === "number" && vars[p] !== undefined) s += vars[p];
      else throw new Error(`plan reason template piece ${JSON.stringify(p)} has no value${n === null ? " outside a node" : ` on node ${String(n.id)}`}`);
    }
    out ??= { ...t };
    out[k] = s;
  }
  return out ?? t;
}

/**
 * The plan as `data.json` stores it: each reason replaced by its index in `reason_table`
 * (distinct reasons, a node's own as templates, numbered by first occurrence), then each
 * node's NODE_PART_KEYS values by their index in `node_parts` (distinct values, numbered by
 * first occurrence: nodes in order, keys sorted), then each node's keys but NODE_OWN_KEYS by
 * `shape`, the index in `node_parts` of an object holding them (keys sorted; a part numbered
 * after the node's other parts). `null` (a node without a review reason) stays `null`. A
 * node's default rollout salt is left out, the node written as a row, a system's node list in
 * node order as a bitmap, an event's candidates as an index string and an event field set equal
 * to an earlier event's as that event's name (docs/ir.md "Bundle data"). The input is not modified.
 */
export function encodePlan(plan: Plan): Obj {
  const out = holdersCopied(plan as unknown as Obj);
  const table: Obj[] = [];
  const index = new Map<string, number>();
  eachReasonSlot(out, (holder, key, node) => {
    const r = holder[key];
    if (!isObj(r)) return;
    const t = template(r, node);
    const k = reasonKey(t);
    let i = index.get(k);
    if (i === undefined) {
      i = table.length;
      index.set(k, i);
      table.push(t);
    }
    holder[key] = i;
  });
  out.reason_table = table;
  const parts: unknown[] = [];
  const partIndex = new Map<string, number>();
  const part = (v: unknown): number => {
    const text = JSON.stringify(v);
    let i = partIndex.get(text);
    if (i === undefined) {
      i = parts.length;
      partIndex.set(text, i);
      parts.push(v);
    }
    return i;
  };
  if (Array.isArray(out.nodes)) {
    const listed = listings(plan.events);
    out.nodes = out.nodes.map((n: unknown, i: number) => {
      if (!isObj(n)) return n;
      const c: Obj = { ...n };
      for (const k of NODE_PART_KEYS) if (k in c) c[k] = part(c[k]);
      const own: Obj = {};
      const shape: Obj = {};
      for (const k of Object.keys(c).sort()) (NODE_OWN_KEYS.includes(k) ? own : shape)[k] = c[k];
      own.shape = part(shape);
      // The salt the compiler gives every node (plan.ts): written only when it is another.
      if (typeof own.id === "string" && own.rollout_salt === defaultSalt(own.id)) delete own.rollout_salt;
      if (!ROW_KEYS.every((k) => k in own)) return own;
      const row = ROW_KEYS.map((k) => own[k]);
      if ("rollout_salt" in own) row.push(own.rollout_salt);
      // The event that lists the node, and only it: the row says so with null.
      if (listed.get(i) === own.event) row[1] = null;
      return row;
    });
  }
  out.node_parts = parts;
  if (isObj(plan.systems) && Array.isArray(plan.nodes)) {
    const ids = (plan.nodes as unknown[]).map((n) => (isObj(n) ? n.id : undefined));
    out.systems = Object.fromEntries(Object.entries(plan.systems).map(([s, v]) => [s, systemBitmap(v, ids) ?? v]));
  }
  if (isObj(plan.events) && Array.isArray(plan.nodes)) {
    const n = plan.nodes.length;
    out.events = Object.fromEntries(Object.entries(plan.events).map(([e, v]) => [e, indexString(v, n) ?? v]));
  }
  if (isObj(plan.event_fields)) out.event_fields = sharedFieldSets(plan.event_fields);
  return out;
}

/**
 * Event field sets (docs/ir.md "Bundle data"): a set equal to an earlier event's (key order
 * aside) is written as that event's name, the first event with the set; the others as they are.
 */
function sharedFieldSets(sets: Obj): Obj {
  const first = new Map<string, string>();
  return Object.fromEntries(
    Object.entries(sets).map(([e, v]) => {
      if (!isObj(v)) return [e, v];
      const key = JSON.stringify(Object.keys(v).sort().map((k) => [k, v[k]]));
      const named = first.get(key);
      if (named !== undefined) return [e, named];
      first.set(key, e);
      return [e, v];
    }),
  );
}

/** The event field sets of an encoded plan with each shared set back (sharedFieldSets); throws on a name that is not an event with a set. */
function fieldSets(sets: Obj): Obj {
  return Object.fromEntries(
    Object.entries(sets).map(([e, v]) => {
      if (typeof v !== "string") return [e, v];
      const named = Object.prototype.hasOwnProperty.call(sets, v) ? sets[v] : undefined;
      if (!isObj(named)) throw new Error(`plan event_fields of ${e} names ${JSON.stringify(v)}, which is not an event with a field set`);
      return [e, named];
    }),
  );
}

// ---------------------------------------------------------------------------------------------
// The node table (docs/ir.md "Bundle data"): plan.nodes as one string.

/** Rows per block: a row's strings are written against its block's first row (its *head*). */
export const NODE_TABLE_BLOCK = 64;
/** The 64 characters of a packed string's two lengths, by value. */
const PACK_DIGITS = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz-_";
/** A character a node table may hold (printable ASCII but the JSON escapes), and a member's. */
const TABLE_CHARS = /^[\x20-\x21\x23-\x5b\x5d-\x7e]*$/;
const MEMBER_CHARS = /^[\x20-\x21\x23-\x3a\x3c-\x5b\x5d-\x7b\x7d\x7e]*$/;
const INT = /^-?(0|[1-9][0-9]{0,14})$/;
const INDEX = /^(0|[1-9][0-9]{0,8})$/;

/** String s packed against its head's member h: its shared prefix and suffix lengths, then the rest. */
function packStr(s: string, h: string): string {
  const m = Math.min(s.length, h.length);
  let pre = 0;
  while (pre < m && pre < 63 && s[pre] === h[pre]) pre++;
  let suf = 0;
  while (suf < 63 && pre + suf < m && s[s.length - 1 - suf] === h[h.length - 1 - suf]) suf++;
  return PACK_DIGITS[pre]! + PACK_DIGITS[suf]! + s.slice(pre, s.length - suf);
}

/**
 * The node rows of an encoded plan as a node table, or null when one cannot be written so (a
 * node that is not a row, a string member with a character the table cannot hold, a priority
 * or shape that is not a small integer): then they stay rows.
 */
function nodeTableOf(nodes: unknown[]): string | null {
  if (nodes.length === 0) return null;
  const str = (v: unknown): v is string => typeof v === "string" && MEMBER_CHARS.test(v);
  let out = "";
  let head: unknown[] = [];
  for (let i = 0; i < nodes.length; i++) {
    const r = nodes[i];
    if (!Array.isArray(r) || (r.length !== 5 && r.length !== 6)) return null;
    const [id, event, priority, shape, source] = r;
    if (!str(id) || !(event === null || str(event)) || !str(source) || (r.length === 6 && !str(r[5]))) return null;
    if (typeof priority !== "number" || !INT.test(String(priority)) || typeof shape !== "number" || !INDEX.test(String(shape))) return null;
    if (i % NODE_TABLE_BLOCK === 0) head = r;
    const pack = (k: number): string => packStr(r[k] as string, i % NODE_TABLE_BLOCK === 0 || typeof head[k] !== "string" ? "" : (head[k] as string));
    out += `${pack(0)}|${event === null ? "" : pack(1)}|${priority}|${shape}|${pack(4)}${r.length === 6 ? `|${pack(5)}` : ""};`;
  }
  return out;
}

/** The rows of node table t (nodeTableOf's inverse); throws when t is not a node table. */
function nodeTableRows(t: string): unknown[][] {
  const bad = (i: number, why: string): Error => new Error(`plan node table row ${i} ${why}`);
  if (!TABLE_CHARS.test(t)) throw new Error("plan node table holds a character that is not printable ASCII, or a quote or backslash");
  if (t !== "" && !t.endsWith(";")) throw new Error("plan node table does not end with ;");
  const texts = t === "" ? [] : t.slice(0, -1).split(";");
  const out: unknown[][] = [];
  let head: (string | null)[] = [];
  texts.forEach((text, i) => {
    const m = text.split("|");
    if (m.length !== 5 && m.length !== 6) throw bad(i, `has ${m.length} members (a row is id|event|priority|shape|source and maybe |salt)`);
    const isHead = i % NODE_TABLE_BLOCK === 0;
    const unpack = (k: number): string => {
      const s = m[k]!;
      const pre = s.length >= 2 ? PACK_DIGITS.indexOf(s[0]!) : -1;
      const suf = s.length >= 2 ? PACK_DIGITS.indexOf(s[1]!) : -1;
      const h = isHead ? "" : (head[k] ?? "");
      if (pre < 0 || suf < 0 || pre + suf > h.length) throw bad(i, `member ${k} is not a packed string of its head's (${JSON.stringify(s)})`);
      return h.slice(0, pre) + s.slice(2) + h.slice(h.length - suf);
    };
    if (!INT.test(m[2]!)) throw bad(i, `priority ${JSON.stringify(m[2])} is not an integer`);
    if (!INDEX.test(m[3]!)) throw bad(i, `shape ${JSON.stringify(m[3])} is not an index`);
    const row: unknown[] = [unpack(0), m[1] === "" ? null : unpack(1), Number(m[2]), Number(m[3]), unpack(4)];
    if (m.length === 6) row.push(unpack(5));
    if (isHead) head = [row[0] as string, row[1] as string | null, null, null, row[4] as string, (row[5] as string | undefined) ?? null];
    out.push(row);
  });
  return out;
}

/**
 * An encoded plan (encodePlan) with its nodes, when all are rows that can be, as a node table
 * (docs/ir.md "Bundle data"): what data.json stores. The input is not modified.
 */
export function withNodeTable(encoded: Obj): Obj {
  if (!Array.isArray(encoded.nodes)) return encoded;
  const t = nodeTableOf(encoded.nodes);
  return t === null ? encoded : { ...encoded, nodes: t };
}

/** The hex digits of n - 1 (at least 1): the width of a node index among n nodes. */
const indexWidth = (n: number): number => (n <= 1 ? 1 : (n - 1).toString(16).length);

/**
 * An event's candidate list (node indices) as an *index string* (docs/ir.md "Bundle data"):
 * each index in lowercase hex, zero-padded to indexWidth(nodes) digits, concatenated. Null when
 * an element is not an index of the n nodes (then it stays a list).
 */
function indexString(v: unknown, n: number): string | null {
  if (!Array.isArray(v) || !v.every((i) => Number.isInteger(i) && i >= 0 && i < n)) return null;
  const w = indexWidth(n);
  return (v as number[]).map((i) => i.toString(16).padStart(w, "0")).join("");
}

/** The node indices of index string `s` (indexString); throws when it is not one for n nodes. */
function indexList(event: string, s: string, n: number): number[] {
  const w = indexWidth(n);
  const out: number[] = [];
  if (s.length % w === 0 && /^[0-9a-f]*$/.test(s)) for (let i = 0; i < s.length; i += w) out.push(parseInt(s.slice(i, i + w), 16));
  if (out.length * w !== s.length || out.some((i) => i >= n)) throw new Error(`plan event ${event} is not an index string of ${n} nodes (${w} lowercase hex digits each)`);
  return out;
}

/**
 * A node *row* (docs/ir.md "Bundle data"): an encoded node as the list of these members, in
 * this order, the last only when the salt is not the default.
 */
const ROW_KEYS = ["id", "event", "priority", "shape", "source"] as const;

/** Row `r` as the encoded node object it stands for; throws when it is not a row. */
function rowNode(r: unknown[]): Obj {
  if (r.length !== 5 && r.length !== 6) throw new Error(`plan node row of ${r.length} members (a row is [id, event, priority, shape, source] and maybe a rollout salt)`);
  const o: Obj = Object.fromEntries(ROW_KEYS.map((k, i) => [k, r[i]]));
  if (r.length === 6) o.rollout_salt = r[5];
  return o;
}

/**
 * Each node index listed exactly once among the candidate lists of `events` (arrays), and the
 * event that lists it; an index listed more than once maps to undefined.
 */
function listings(events: unknown): Map<number, string | undefined> {
  const out = new Map<number, string | undefined>();
  if (!isObj(events)) return out;
  for (const [e, v] of Object.entries(events)) {
    if (!Array.isArray(v)) continue;
    for (const i of v) if (typeof i === "number") out.set(i, out.has(i) ? undefined : e);
  }
  return out;
}

/** A node's rollout salt when the encoded node has none (docs/ir.md "Bundle data"). */
const defaultSalt = (id: string): string => `${id}#rollout`;

/**
 * A system's node ids as a bitmap over plan.nodes (docs/ir.md "Bundle data"): lowercase hex,
 * digit k holding nodes 4k..4k+3, node 4k+j in bit j (value 2^j); ceil(nodes / 4) digits.
 * Null when the list is not exactly the listed nodes in node order (then it stays a list).
 */
function systemBitmap(v: unknown, ids: readonly unknown[]): string | null {
  if (!Array.isArray(v)) return null;
  const digits = new Uint8Array(Math.ceil(ids.length / 4));
  let k = 0;
  for (let i = 0; i < ids.length && k < v.length; i++) {
    if (typeof ids[i] === "string" && ids[i] === v[k]) {
      digits[i >> 2]! |= 1 << (i & 3);
      k++;
    }
  }
  if (k !== v.length || new Set(ids).size !== ids.length) return null;
  let out = "";
  for (const d of digits) out += d.toString(16);
  return out;
}

/** The node ids of system bitmap `bm` (systemBitmap); throws when it is not one for these nodes. */
function systemIds(system: string, bm: string, nodes: readonly unknown[]): string[] {
  if (bm.length !== Math.ceil(nodes.length / 4) || !/^[0-9a-f]*$/.test(bm)) throw new Error(`plan system ${system} is not a node bitmap (${nodes.length} nodes: ${Math.ceil(nodes.length / 4)} lowercase hex digits)`);
  const out: string[] = [];
  nodes.forEach((n, i) => {
    if (((parseInt(bm[i >> 2]!, 16) >> (i & 3)) & 1) === 0) return;
    const id = isObj(n) ? n.id : undefined;
    if (typeof id !== "string") throw new Error(`plan system ${system} lists node ${i}, which has no id`);
    out.push(id);
  });
  return out;
}

/**
 * The in-memory plan of an encoded one (`encodePlan`'s inverse): node shapes merged into their
 * nodes, node parts and reason indices replaced by their entries (templates filled in for their node), `reason_table` and
 * `node_parts` removed, the node table's rows, rows, default salts, systems' node lists, events' candidates and shared
 * event field sets back. A plan without them, or a value already inline, is taken as is. Throws
 * on an index that is not in its table, a template piece its node cannot fill, a node table, system
 * bitmap or index string that is not one for the plan's nodes, or a field set naming no event's set.
 */
export function decodePlan(encoded: unknown): Plan {
  if (!isObj(encoded)) return encoded as Plan;
  const withParts: Obj = { ...encoded };
  const parts = withParts.node_parts;
  delete withParts.node_parts;
  if (typeof withParts.nodes === "string") withParts.nodes = nodeTableRows(withParts.nodes);
  if (isObj(withParts.event_fields)) withParts.event_fields = fieldSets(withParts.event_fields);
  const partAt = (i: unknown, parts: unknown[]): unknown => {
    if (typeof i !== "number" || !Number.isInteger(i) || i < 0 || i >= parts.length) throw new Error(`plan node part index ${String(i)} is not in node_parts (${parts.length} entries)`);
    return parts[i];
  };
  if (isObj(withParts.events) && Array.isArray(withParts.nodes)) {
    const n = withParts.nodes.length;
    withParts.events = Object.fromEntries(Object.entries(withParts.events).map(([e, v]) => [e, typeof v === "string" ? indexList(e, v, n) : v]));
  }
  const listed = listings(withParts.events);
  if (Array.isArray(parts) && Array.isArray(withParts.nodes)) {
    withParts.nodes = withParts.nodes.map((n: unknown, i: number) => {
      if (Array.isArray(n)) {
        n = rowNode(n);
        if ((n as Obj).event === null) {
          const e = listed.get(i);
          if (e === undefined) throw new Error(`plan node row ${i} has no event and is not listed under exactly one event`);
          (n as Obj).event = e;
        }
      }
      if (!isObj(n)) return n;
      let c: Obj = { ...n };
      if ("shape" in c) {
        // The node's own keys win over its shape's (the encoder never writes both).
        const shape = partAt(c.shape, parts);
        if (!isObj(shape)) throw new Error(`plan node shape ${String(c.shape)} is not an object`);
        const { shape: _s, ...own } = c;
        c = { ...shape, ...own };
        if (!("rollout_salt" in c) && typeof c.id === "string") c.rollout_salt = defaultSalt(c.id);
      }
      for (const k of NODE_PART_KEYS) if (typeof c[k] === "number") c[k] = partAt(c[k], parts);
      return c;
    });
  }
  if (isObj(withParts.systems) && Array.isArray(withParts.nodes)) {
    const nodes = withParts.nodes as unknown[];
    withParts.systems = Object.fromEntries(Object.entries(withParts.systems).map(([s, v]) => [s, typeof v === "string" ? systemIds(s, v, nodes) : v]));
  }
  const out = holdersCopied(withParts);
  const table = out.reason_table;
  delete out.reason_table;
  if (!Array.isArray(table)) return out as unknown as Plan;
  eachReasonSlot(out, (holder, key, node) => {
    const i = holder[key];
    if (typeof i !== "number") return;
    const r: unknown = Number.isInteger(i) ? table[i] : undefined;
    if (!isObj(r)) throw new Error(`plan reason index ${i} is not in reason_table (${table.length} entries)`);
    holder[key] = instantiate(r, node) as unknown as Reason;
  });
  return out as unknown as Plan;
}

/** `{waypost: data}` as data.json stores it: the plan encoded (`encodePlan`), its nodes as a node table (`withNodeTable`). */
export function encodeBundleData(data: BundleData): Obj {
  return { ...data, plan: withNodeTable(encodePlan(data.plan)) };
}

/** The bundle data of a data.json's `waypost` value: the plan decoded (`decodePlan`). */
export function decodeBundleData(data: unknown): BundleData {
  if (!isObj(data)) return data as unknown as BundleData;
  return { ...(data as unknown as BundleData), plan: decodePlan(data.plan) };
}
