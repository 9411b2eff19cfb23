import { it } from "vitest";
import { loadBundle } from "/work/main/runtime/index.js";
import { runawayBundle } from "/work/main/test/security/runaway-policy.js";
it("dr", async () => {
  const e = await loadBundle(await runawayBundle("a"), { skipVerify: true });
  const t = performance.now();
  console.log(await e.swap(await runawayBundle("b"), {}), performance.now() - t);
});
