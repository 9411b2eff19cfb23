import { defineConfig } from "vitest/config";

// The prove benchmark runs as one long vitest "test" so it can import the TypeScript sources.
export default defineConfig({
  test: { include: ["bench/prove-figures.ts"], globalSetup: ["test/global-setup.ts"], pool: "forks", testTimeout: 3_600_000 },
});
