// A small data dictionary and list set for the checker and lowering tests.
import type { ConditionEnv, FieldInfo } from "../../compiler/condition/index.js";

export const env: ConditionEnv = {
  fields: new Map<string, FieldInfo>([
    ["customer.region", { type: "string", values: ["EU", "UK", "US"] }],
    ["customer.id", { type: "string" }],
    ["customer.email", { type: "string", nullable: true }],
    ["customer.language", { type: "string", values: ["en", "fr", "de"] }],
    ["customer.age", { type: "integer" }],
    ["customer.score", { type: "number" }],
    ["customer.is_minor", { type: "boolean" }],
    ["customer.segments", { type: "string[]", values: ["vip", "new", "churn-risk"] }],
    ["customer.balances", { type: "number[]" }],
    ["policy.renewal_date", { type: "date" }],
    ["policy.start_date", { type: "date" }],
    ["claim.opened_at", { type: "timestamp" }],
    ["consent.email.marketing", { type: "boolean", nullable: true }],
  ]),
  lists: new Map([
    ["fraud-suspected", { kind: "suppression" as const }],
    ["do-not-contact", { kind: "suppression" as const }],
    ["priority-postcodes", { kind: "values" as const }],
  ]),
};
