/**
 * `waypost prove` figures (issue 11): solver time per guarantee on the example repository, and
 * how it grows with the number of journey nodes (the example's nodes cloned onto new events,
 * up to 200 nodes). A benchmark, not a test: it asserts nothing about time.
 *   npm run bench:prove   (npx vitest run --config bench/prove-figures.config.ts)
 * Set PROVE_SIZES=6,50,100,200 to choose the sizes (node counts; the example has 6).
 */
import { afterAll, test } from "vitest";
import { cpus, loadavg } from "node:os";
import { FsHost, MemoryHost } from "../compiler/source.js";
import { compile, STAGES } from "../compiler/pipeline.js";
import type { IR } from "../compiler/ir/ir.js";
import { prove, proveRepository, shutdownSolver, type ProveInput } from "../lifecycle/prove/index.js";
import { EXAMPLE, exampleFiles } from "../test/support/repo.js";

afterAll(() => shutdownSolver());

const line = (s: string): void => void process.stdout.write(s + "\n");

/** The example's plan with its nodes cloned onto new events (ids and events suffixed) until it has at least `nodes` nodes. */
async function generated(nodes: number): Promise<ProveInput> {
  const s = await compile(new MemoryHost(exampleFiles()), { until: "Plan" });
  const ir = s.ir as IR;
  const plan = ir.plan;
  const base = plan.nodes.slice();
  const copies = Math.max(1, Math.ceil(nodes / base.length));
  for (let k = 1; k < copies; k++) {
    for (const n of base) {
      const id = `${n.id}-g${k}`;
      const event = `${n.event}-g${k}`;
      plan.nodes.push({ ...structuredClone(n), id, event });
      (plan.events[event] ??= []).push(plan.nodes.length - 1);
      plan.event_fields[event] = { ...plan.event_fields[n.event]! };
      for (const sys of Object.values(plan.systems)) if (sys.includes(n.id)) sys.push(id);
      if (plan.arbitration?.[n.event]) plan.arbitration[event] = plan.arbitration[n.event]!;
    }
  }
  for (const name of ["Emit", "Bundle"] as const) await STAGES.find((x) => x.name === name)!.run(s);
  return { program: s.program!, ir, data: s.bundle!.data.waypost, bundle: s.bundle!.bytes };
}

// CPU of this process (z3's worker threads included): steadier than wall time on a shared machine.
const cpuS = (): number => {
  const c = process.cpuUsage();
  return (c.user + c.system) / 1e6;
};

test("figures", async () => {
  line(`machine: ${cpus().length} cores (${cpus()[0]?.model ?? "?"}), node ${process.version}, load average ${loadavg().map((x) => x.toFixed(2)).join(", ")}`);
  const t0 = performance.now();
  const c0 = cpuS();
  const ex = await proveRepository(new FsHost(EXAMPLE));
  line(`example repository, every guarantee and author invariant, cadence included: ${((performance.now() - t0) / 1000).toFixed(1)} s wall, ${(cpuS() - c0).toFixed(1)} s CPU (target ≤ 10 s)`);
  for (const r of ex.results) line(`  ${r.id.padEnd(48)} ${r.status.padEnd(8)} ${(r.ms / 1000).toFixed(2).padStart(7)} s  ${r.queries} queries`);
  const sizes = (process.env["PROVE_SIZES"] ?? "6,50,100,200").split(",").map(Number);
  for (const n of sizes) {
    const input = await generated(n);
    const g0 = performance.now();
    const gc = cpuS();
    const r = await prove(input);
    line(`${input.ir.plan.nodes.length} nodes, ${Object.keys(input.ir.plan.events).length} events, every built-in guarantee: ${((performance.now() - g0) / 1000).toFixed(1)} s wall, ${(cpuS() - gc).toFixed(1)} s CPU${input.ir.plan.nodes.length >= 200 ? " (target ≤ 60 s)" : ""}`);
    line(`    ${r.results.map((x) => `${x.id} ${x.status} ${(x.ms / 1000).toFixed(1)} s`).join(", ")}`);
  }
}, 3_600_000);
