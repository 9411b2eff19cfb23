/**
 * The typed policy program: what the parse stage builds from validated documents and what the
 * check and plan stages read. Every element keeps the document it came from, so any later
 * diagnostic can point at the exact key or value.
 */
import type { Cond } from "./condition/ast.js";
import type { Span } from "./diagnostics.js";
import type { LoadedDocument } from "./load.js";
import type { FieldSpec } from "./ir/ir.js";
import type { CompactList } from "./ir/compact-list.js";

export type Channel = "email" | "sms" | "push" | "in_app" | "letter" | "phone" | "web";
export const CHANNELS: readonly Channel[] = ["email", "sms", "push", "in_app", "letter", "phone", "web"];

/** `all`, or an explicit list. */
export type AllOr<T extends string = string> = "all" | T[];
export const covers = <T extends string>(a: AllOr<T> | undefined, x: T): boolean =>
  a === "all" || (a !== undefined && a.includes(x));

/** Where something is: the document and the path inside it. */
export interface Origin {
  doc: LoadedDocument;
  path: (string | number)[];
}

export interface Field {
  name: string;
  /** `time_zone`: an IANA zone name out of `values` (the allowed zones); the plan sees a string. */
  type: FieldSpec["type"] | "time_zone";
  optional: boolean;
  nullable: boolean;
  values?: string[];
  min?: number;
  max?: number;
  format?: string;
  retentionMs?: number;
  /** time_zone fields: the last year whose transitions the plan embeds. */
  horizon?: number;
  residency: string[];
  highRisk: boolean;
  mask: FieldSpec["mask"];
  origin: Origin;
}

export interface Dictionary {
  keys: { customer: string; jurisdiction: string; utc_offset: string; time_zone?: string };
  fields: Map<string, Field>;
  origin: Origin;
}

/** A condition string in a document, parsed, with its mapping back to file offsets. */
export interface ConditionSite {
  text: string;
  origin: Origin;
  span: Span; // the whole scalar
  /** File offset of the character at `i` in `text` (i may equal text.length). */
  offsetOf: (i: number) => number;
  ast: Cond | null;
  /** Filled by the check stage: the fields and named lists the condition reads. */
  reads?: { name: string; span: Span }[];
  lists?: { name: string; span: Span }[];
}

export interface Jurisdiction {
  id: string;
  marketingRequiresConsent: boolean;
  minimumMarketingAge?: number;
  origin: Origin;
}

export interface Restriction {
  id: string;
  when: ConditionSite;
  reason: string;
  origin: Origin;
}

export interface Purpose {
  id: string;
  title: string;
  category: "service" | "marketing";
  lawfulBasis: Map<string, string[]>; // jurisdiction -> bases
  consent?: {
    channels: AllOr<Channel>;
    jurisdictions: AllOr;
    maxAgeMs?: number;
    field: string; // template with {channel} and {purpose}
    /** Template of the field holding when the consent was withdrawn (docs/ir.md "Consent states"). */
    withdrawnField?: string;
    /** Template ({purpose} only) of a `string[]` field: the channels the consent covers. */
    channelsField?: string;
    origin: Origin;
  };
  restrictions: Restriction[];
  origin: Origin;
}

export interface Scope {
  channels: AllOr<Channel>;
  purposes: AllOr;
}

export interface SuppressionList {
  id: string;
  title?: string;
  reason: string;
  match: string;
  scope: Scope;
  /** What a request without a usable key means, when the list says (docs/ir.md, "Suppression"). */
  missing?: MissingKey;
  /** The IANA zone an entry's `until` date ends in (`UTC` unless the list declares `zone`). */
  zone: string;
  /**
   * key -> expiry or null (no expiry). The parse stage stores the exact instant as RFC 3339
   * UTC: a date `until` is already converted to the end of that day in `zone`.
   */
  entries: Map<string, string | null>;
  /**
   * A large list read from its `entries_file` (compiler/ir/compact-list.ts): its data.json form,
   * digests instead of keys; `entries` is then empty.
   */
  compact?: CompactList;
  entriesFile?: string;
  origin: Origin;
}

/** `suppress`: a missing key suppresses (the safe choice); `allow`: the list or rule does not apply. */
export type MissingKey = "suppress" | "allow";

export interface SuppressionRule {
  id: string;
  when: ConditionSite;
  reason: string;
  scope: Scope;
  missing?: MissingKey;
  origin: Origin;
}

export interface System {
  id: string;
  region: string;
  allow: { purposes: string[]; nodes: string[] };
  deny: { purposes: string[]; nodes: string[] };
  origin: Origin;
}

export interface Template {
  id: string;
  channel: Channel;
  length?: number;
  optOutFooter: boolean;
  denied: boolean;
  origin: Origin;
}

export interface Access {
  systems: Map<string, System>;
  fieldsAllow: Map<string, { patterns: string[]; origin: Origin }>;
  fieldsDeny: Map<string, { patterns: string[]; origin: Origin }>;
  channels: { allow?: string[]; deny: string[]; origin?: Origin };
  offers: { allow?: string[]; deny: string[]; origin?: Origin };
  templates: Map<string, Template>;
  valueLists: Map<string, { values: string[]; origin: Origin }>;
}

export interface QuietHoursRule {
  id: string;
  fromMin: number;
  toMin: number;
  channels: AllOr<Channel>;
  reason: string;
  origin: Origin;
}

export interface Cap {
  id: string;
  max: number;
  perMs: number;
  /** The window as written (`7d`), for messages. */
  per: string;
  channel?: Channel;
  purpose?: string;
  node?: string;
  reason: string;
  origin: Origin;
}

export interface Cooldown {
  id: string;
  after: string;
  forMs: number;
  purposes: AllOr;
  reason: string;
  origin: Origin;
}

/** The blocks an event's arbitration may fall back on (docs/ir.md step 5). */
export const ARBITRATION_KINDS = ["suppression", "lawful-basis", "restriction", "consent", "cap", "cool-down", "quiet-hours"] as const;
export type ArbitrationKind = (typeof ARBITRATION_KINDS)[number];

/** An event's declared arbitration (ContactPolicy `arbitration`). */
export interface EventArbitration {
  event: string;
  fallback: "next" | "none";
  on: ArbitrationKind[];
  reason?: string;
  origin: Origin;
}

/** A universal holdout (Purposes `holdouts`): one control group for every node of its purposes. */
export interface Holdout {
  id: string;
  salt: string;
  shareBp: number;
  purposes: string[];
  reason?: string;
  origin: Origin;
}

export interface Contact {
  /** event -> its declared arbitration, in file order. */
  arbitration: Map<string, EventArbitration>;
  offsetsMs: Map<string, number>;
  quietHours: QuietHoursRule[];
  caps: Cap[];
  cooldowns: Cooldown[];
  channels: Map<string, { maxLength?: number; optOutFooter?: "required" | "marketing" | "never"; origin: Origin }>;
}

export interface Eligibility {
  id: string;
  when: ConditionSite;
  description?: string;
  origin: Origin;
}

export interface JourneyNode {
  id: string;
  title: string;
  owner: string;
  purpose: string;
  lawfulBasis: string;
  event: string;
  trigger?: ConditionSite;
  eligibility: Eligibility[];
  context: string[];
  channels: Channel[];
  templates: Map<string, string>;
  offer?: string;
  risk: "low" | "medium" | "high";
  review?: { team: string; reason: string };
  priority: number;
  experiment?: { salt: string; holdoutBp: number; variants: { id: string; weightBp: number }[]; origin: Origin };
  rolloutBp: number;
  validFrom?: number;
  validUntil?: number;
  explanation: string;
  origin: Origin;
}

export interface Program {
  dictionary?: Dictionary;
  jurisdictions: Map<string, Jurisdiction>;
  purposes: Map<string, Purpose>;
  /** Universal holdouts, in declared order. */
  holdouts: Holdout[];
  lists: Map<string, SuppressionList>;
  rules: SuppressionRule[];
  access: Access;
  contact: Contact;
  nodes: JourneyNode[];
  /** Every condition, in document order: the check stage type-checks each. */
  conditions: ConditionSite[];
}
