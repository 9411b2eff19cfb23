/** A small hand-written IR for the engine tests: one system, one event, one node, one list. */
import type { BundleData, IR, Reason } from "../../compiler/ir/ir.js";

const r = (code: string, policy: string, message: string, source: string, channel?: string): Reason =>
  channel === undefined ? { code, policy, message, source } : { code, policy, message, source, channel };

export const smallLists: BundleData["lists"] = { "opt-out": { "C-OPTOUT": null, "C-OLD": "2020-01-01T00:00:00Z" } };

export function smallIR(): IR {
  return {
    conds: [
      { op: "cmp", cmp: "==", left: { op: "field", name: "policy.days_left" }, right: { op: "const", value: 90 } },
      { op: "in_list", list: "opt-out", item: { op: "field", name: "customer.id" } },
      { op: "not", arg: { op: "cmp", cmp: "==", left: { op: "field", name: "consent.email" }, right: { op: "const", value: true } } },
    ],
    plan: {
      version: 1,
      lists: { "opt-out": { kind: "suppression", match: "customer.id", reason: r("suppressed", "suppression/opt-out", "customer opted out", "policies/suppressions.yaml:3:5") } },
      systems: { crm: ["renewal-90"] },
      events: { "policy.renewal_due": [0] },
      event_fields: {
        "policy.renewal_due": { "customer.id": true, "customer.email": true, "consent.email": true, "policy.days_left": true, "customer.utc_offset": true },
      },
      nodes: [
        {
          id: "renewal-90",
          title: "Renewal reminder at day 90",
          purpose: "renewal",
          lawful_basis: "contract",
          event: "policy.renewal_due",
          priority: 10,
          risk: "low",
          valid_from: null,
          valid_until: null,
          rollout_bp: 10000,
          rollout_salt: "renewal-90",
          required: ["customer.id"],
          conditions: [
            {
              kind: "trigger",
              cond: 0,
              reason: r("trigger-matched", "node/renewal-90", "policy renews in 90 days", "journeys/renewal.yaml:6:5"),
              fail: r("trigger-not-matched", "node/renewal-90", "policy does not renew in 90 days", "journeys/renewal.yaml:6:5"),
            },
          ],
          gates: [
            { step: "suppression", cond: 1, outcome: "suppress", reason: r("suppressed", "suppression/opt-out", "customer opted out", "policies/suppressions.yaml:3:5") },
            {
              step: "consent",
              cond: 2,
              channel: "email",
              outcome: "suppress",
              reason: r("consent-missing", "consent/email", "no email consent", "policies/consent.yaml:4:3", "email"),
              pass: r("consent-granted", "consent/email", "email consent given", "policies/consent.yaml:4:3", "email"),
            },
          ],
          channels: ["email"],
          templates: { email: "tpl-renewal-90" },
          offer: null,
          experiment: null,
          explanation: "You are receiving this because your policy renews in 90 days.",
          review_reason: null,
          source: "journeys/renewal.yaml:1:1",
        },
      ],
      fields: {
        "customer.id": { type: "string", nullable: false, mask: "hash" },
        "customer.email": { type: "string", nullable: false, mask: "redact" },
        "customer.utc_offset": { type: "integer", nullable: false, min: -720, max: 840, mask: "none" },
        "consent.email": { type: "boolean", nullable: false, mask: "none" },
        "policy.days_left": { type: "integer", nullable: false, mask: "none" },
      },
      channels: ["email", "sms"],
      purposes: ["renewal"],
      offsets_ms: { email: 900000 },
      quiet_hours: [{ start_min: 1260, end_min: 480, channels: ["email"], reason: r("quiet-hours", "contact/email-night", "no email 21:00-08:00", "policies/contact.yaml:9:3", "email") }],
      keys: { customer: "customer.id", jurisdiction: "customer.jurisdiction", utc_offset: "customer.utc_offset" },
      reasons: Object.fromEntries(
        ["invalid-request", "system-not-allowed", "unknown-event", "field-not-allowed", "invalid-field", "missing-field", "no-eligible-node", "holdout"].map((code) => [
          code,
          r(code, "engine", code.replace(/-/g, " "), "engine"),
        ]),
      ),
    },
  };
}
