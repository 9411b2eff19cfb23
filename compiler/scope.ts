/**
 * What applies to a journey node: the suppression lists and rules, restrictions, consent
 * requirements, caps, cool-downs and quiet hours in its scope, and the context fields those
 * policies need. The check stage and the plan stage both use it, so what is checked is exactly
 * what is compiled.
 */
import { covers, type Cap, type Channel, type Cooldown, type JourneyNode, type Program, type QuietHoursRule, type Restriction, type SuppressionList, type SuppressionRule } from "./program.js";

export interface ImpliedField {
  name: string;
  why: string; // "suppression list `deceased`", "consent for `sms`", ...
  optional: boolean;
}

export interface NodeScope {
  lists: { list: SuppressionList; channels: Channel[] | "all" }[];
  rules: { rule: SuppressionRule; channels: Channel[] | "all" }[];
  restrictions: Restriction[];
  /** Per channel: the grant time field, and the withdrawal and channel-set fields when declared. */
  consent: { channel: Channel; field: string; withdrawn?: string; channels?: string }[];
  consentJurisdictions: "all" | string[];
  consentMaxAgeMs?: number;
  caps: { cap: Cap; channel?: Channel }[];
  cooldowns: Cooldown[];
  quietHours: QuietHoursRule[];
  /** Fields the node may receive beyond its declared context, and why. */
  implied: Map<string, ImpliedField>;
  /** Jurisdictions (known to Purposes) where the node's lawful basis is permitted. */
  basisJurisdictions: string[];
}

const channelsIn = (node: JourneyNode, scope: "all" | Channel[]): Channel[] | "all" | null => {
  if (scope === "all") return "all";
  const hit = node.channels.filter((c) => scope.includes(c));
  return hit.length === 0 ? null : hit.length === node.channels.length ? "all" : hit;
};

export function consentField(template: string, channel: string, purpose: string): string {
  return template.replace(/\{channel\}/g, channel).replace(/\{purpose\}/g, purpose);
}

export function nodeScope(p: Program, node: JourneyNode): NodeScope {
  const implied = new Map<string, ImpliedField>();
  const imply = (name: string, why: string, optional: boolean): void => {
    const prev = implied.get(name);
    if (!prev) implied.set(name, { name, why, optional });
    else if (!optional) prev.optional = false;
  };
  const dict = p.dictionary;
  if (dict) {
    imply(dict.keys.customer, "the customer key", false);
    imply(dict.keys.jurisdiction, "the customer's jurisdiction", false);
    imply(dict.keys.utc_offset, "the customer's UTC offset (quiet hours)", false);
    if (dict.keys.time_zone !== undefined) {
      imply(dict.keys.time_zone, "the customer's time zone (local time, quiet hours)", dict.fields.get(dict.keys.time_zone)?.optional ?? true);
    }
  }
  const optionalField = (name: string): boolean => dict?.fields.get(name)?.optional ?? false;

  const lists: NodeScope["lists"] = [];
  for (const list of p.lists.values()) {
    if (!covers(list.scope.purposes, node.purpose)) continue;
    const ch = channelsIn(node, list.scope.channels);
    if (ch === null) continue;
    lists.push({ list, channels: ch });
    imply(list.match, `suppression list \`${list.id}\``, optionalField(list.match));
  }
  const rules: NodeScope["rules"] = [];
  for (const rule of p.rules) {
    if (!covers(rule.scope.purposes, node.purpose)) continue;
    const ch = channelsIn(node, rule.scope.channels);
    if (ch === null) continue;
    rules.push({ rule, channels: ch });
    for (const r of rule.when.reads ?? []) imply(r.name, `suppression rule \`${rule.id}\``, true);
  }
  const purpose = p.purposes.get(node.purpose);
  const restrictions = purpose?.restrictions ?? [];
  for (const r of restrictions) for (const f of r.when.reads ?? []) imply(f.name, `restriction \`${r.id}\` of purpose \`${node.purpose}\``, true);
  const consent: NodeScope["consent"] = [];
  if (purpose?.consent) {
    for (const ch of node.channels) {
      if (!covers(purpose.consent.channels, ch)) continue;
      const field = consentField(purpose.consent.field, ch, purpose.id);
      const entry: NodeScope["consent"][number] = { channel: ch, field };
      imply(field, `consent for \`${ch}\``, true);
      if (purpose.consent.withdrawnField !== undefined) {
        entry.withdrawn = consentField(purpose.consent.withdrawnField, ch, purpose.id);
        imply(entry.withdrawn, `consent withdrawal for \`${ch}\``, true);
      }
      if (purpose.consent.channelsField !== undefined) {
        entry.channels = consentField(purpose.consent.channelsField, ch, purpose.id);
        imply(entry.channels, `the channels the consent for \`${purpose.id}\` covers`, true);
      }
      consent.push(entry);
    }
  }
  const caps: NodeScope["caps"] = [];
  for (const cap of p.contact.caps) {
    if (cap.purpose !== undefined && cap.purpose !== node.purpose) continue;
    if (cap.node !== undefined && cap.node !== node.id) continue;
    if (cap.channel !== undefined) {
      if (node.channels.includes(cap.channel)) caps.push({ cap, channel: cap.channel });
    } else caps.push({ cap });
  }
  const cooldowns = p.contact.cooldowns.filter((c) => covers(c.purposes, node.purpose));
  for (const c of cooldowns) imply(c.after, `cool-down \`${c.id}\``, true);
  const quietHours = p.contact.quietHours.filter((q) => node.channels.some((c) => covers(q.channels, c)));
  const basisJurisdictions = purpose
    ? [...p.jurisdictions.keys()].filter((j) => (purpose.lawfulBasis.get(j) ?? []).includes(node.lawfulBasis)).sort()
    : [];
  const out: NodeScope = {
    lists, rules, restrictions, consent,
    consentJurisdictions: purpose?.consent?.jurisdictions ?? "all",
    caps, cooldowns, quietHours, implied, basisJurisdictions,
  };
  if (purpose?.consent?.maxAgeMs !== undefined) out.consentMaxAgeMs = purpose.consent.maxAgeMs;
  return out;
}

/**
 * `nodeScope` for many nodes of one program: a scope depends on the node only through its
 * purpose, lawful basis and channels (and its id, when a cap names it), so nodes alike share one
 * (10,000 generated nodes: a handful of scopes). Scopes are read-only. Make one per run: the
 * scope reads the conditions' fields, which the check stage fills in.
 */
export function nodeScopes(p: Program): (node: JourneyNode) => NodeScope {
  const capped = new Set<string>();
  for (const cap of p.contact.caps) if (cap.node !== undefined) capped.add(cap.node);
  const known = new Map<string, NodeScope>();
  return (node) => {
    if (capped.has(node.id)) return nodeScope(p, node);
    const key = `${node.purpose}\0${node.lawfulBasis}\0${node.channels.join("\0")}`;
    let s = known.get(key);
    if (s === undefined) known.set(key, (s = nodeScope(p, node)));
    return s;
  };
}

/** `customer.*` matches `customer.region`; anything else matches exactly. */
export function fieldMatches(pattern: string, name: string): boolean {
  return pattern.endsWith(".*") ? name.startsWith(pattern.slice(0, -1)) : pattern === name;
}

/** The systems allowed to request a node (deny beats allow). */
export function systemsFor(p: Program, node: JourneyNode): string[] {
  const out: string[] = [];
  for (const s of p.access.systems.values()) {
    const allowed = s.allow.purposes.includes(node.purpose) || s.allow.nodes.includes(node.id);
    const denied = s.deny.purposes.includes(node.purpose) || s.deny.nodes.includes(node.id);
    if (allowed && !denied) out.push(s.id);
  }
  return out.sort();
}
