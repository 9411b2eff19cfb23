/**
 * How the CLI prints an error value (a lifecycle `Result` error, a runtime refusal): one line
 * `error[CODE]: message`, then `  = help: ...`, the command's own advice when it has some for
 * this situation, otherwise the code's help from the registry. Every command prints errors
 * this way, as `waypost check` prints diagnostics.
 */
import { REGISTRY } from "../../lifecycle/codes.js";
import type { Problem } from "../../runtime/codes.js";

export function formatProblem(p: Problem, command?: string): string {
  const help = p.help ?? REGISTRY.get(p.code)?.help;
  return `${command ? `waypost ${command}: ` : ""}error[${p.code}]: ${p.message}\n${help ? `  = help: ${help}\n` : ""}`;
}
