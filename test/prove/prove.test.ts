import { afterAll, describe, expect, test } from "vitest";
import { FsHost } from "../../compiler/source.js";
import { proveRepository, shutdownSolver } from "../../lifecycle/prove/index.js";
import { EXAMPLE } from "../support/repo.js";

afterAll(() => shutdownSolver());

describe("waypost prove on the example repository", () => {
  test("guarantee (a): suppression lists hold for every request", async () => {
    const report = await proveRepository(new FsHost(EXAMPLE));
    const a = report.results.find((r) => r.id === "suppression")!;
    expect(a.status).toBe("proved");
  });
});
