/**
 * The README's commands run as written on a fresh clone: every shell line that calls waypost
 * goes through the `waypost` npm script (`npm run waypost -- …`) or `npx waypost` (an installed
 * package), names a real command, and the clone commands succeed. The package's `bin` puts
 * `waypost` on the PATH of whoever installs it.
 */
import { existsSync, readFileSync } from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { runCli } from "../support/cli.js";
import { ROOT } from "../support/repo.js";

const README = readFileSync(path.join(ROOT, "README.md"), "utf8");
const PKG = JSON.parse(readFileSync(path.join(ROOT, "package.json"), "utf8")) as { name: string; bin: Record<string, string>; scripts: Record<string, string>; files: string[] };
const SHELL_LINES = [...README.matchAll(/```sh\n([\s\S]*?)```/g)].flatMap((m) => m[1]!.split("\n")).map((l) => l.replace(/\s+#.*$/, "").trim()).filter(Boolean);
/** `waypost ARGS` invocations in a shell line, with how they are invoked. */
const calls = (line: string): { via: string; argv: string[] }[] =>
  line.split("&&").map((c) => c.trim()).flatMap((c) => {
    const m = /^(npm run waypost --|npx waypost|waypost)(?:\s+(.*))?$/.exec(c);
    return m ? [{ via: m[1]!, argv: (m[2] ?? "").split(/\s+/).filter(Boolean) }] : [];
  });

describe("README commands", () => {
  it("the package puts `waypost` on the PATH when installed, and the clone has the npm script", () => {
    expect(PKG.name).toBe("waypost");
    expect(PKG.bin).toEqual({ waypost: "bin/waypost.js" });
    expect(readFileSync(path.join(ROOT, PKG.bin["waypost"]!), "utf8").startsWith("#!/usr/bin/env node\n")).toBe(true);
    expect(PKG.files).toEqual(expect.arrayContaining(["bin/", "schemas/", "dist/cli/"]));
    expect(PKG.scripts["waypost"]).toBe("node bin/waypost.js");
  });

  it("no shell line calls a bare `waypost` (not on the PATH of a clone); every call names a command", async () => {
    const all = SHELL_LINES.flatMap(calls);
    expect(all.filter((c) => c.via === "waypost")).toEqual([]);
    expect(all.filter((c) => c.via === "npm run waypost --").length).toBeGreaterThanOrEqual(3);
    for (const c of all) {
      const name = c.argv[0] ?? "";
      const help = await runCli([...(c.argv.length && !c.argv[0]!.startsWith("-") ? [name] : ["--help"]), "--help"]);
      expect(help.code, `${c.via} ${c.argv.join(" ")}`).toBe(0);
    }
  });

  it("the clone's commands succeed as written (in-process, from the repository root)", async () => {
    const clone = SHELL_LINES.flatMap(calls).filter((c) => c.via === "npm run waypost --");
    for (const c of clone) {
      for (const a of c.argv.filter((x) => x.startsWith("examples/"))) expect(existsSync(path.join(ROOT, a)), a).toBe(true);
      const r = await runCli(c.argv, ROOT);
      // `test` draws a fresh seed each run: what is checked here is that the command runs as
      // written (not a usage or input error, 2); whether the policies pass is the suites' job.
      if (c.argv[0] === "test") {
        expect(r.code, `${c.argv.join(" ")}\n${r.stdout}\n${r.stderr}`).not.toBe(2);
        expect(r.stdout).toMatch(/\d+ cases passed/);
      } else expect(r.code, `${c.argv.join(" ")}\n${r.stdout}\n${r.stderr}`).toBe(0);
    }
  });
});
