/**
 * Issue 8, item 8: the repository boundary holds. A symlinked policy file, folder or
 * `entries_file` that resolves outside the policy repository is refused with a located
 * diagnostic (WP0008), never read; FIFOs, symlink loops and dangling links are reported
 * (WP0009), never opened or skipped silently. Symlinks that stay inside the repository are
 * followed. A build from a Git commit treats symlink entries (mode 120000) the same way.
 */
import * as fsSync from "node:fs";
import { promises as fs } from "node:fs";
import { execFileSync } from "node:child_process";
import * as os from "node:os";
import * as path from "node:path";
import git from "isomorphic-git";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openSnapshot } from "../../lifecycle/git.js";
import { compile } from "../../compiler/pipeline.js";
import { FsHost, SourceRefusal, type SourceHost } from "../../compiler/source.js";
import { EXAMPLE } from "../support/repo.js";
import { runCli } from "../support/cli.js";

const posix = process.platform !== "win32";
let base: string;
let outside: string;
let n = 0;

beforeAll(async () => {
  base = await fs.mkdtemp(path.join(os.tmpdir(), "wp-boundary-"));
  // Outside every repository below: files that would give away that they were read.
  outside = path.join(base, "outside");
  await fs.mkdir(path.join(outside, "journeys"), { recursive: true });
  await fs.writeFile(path.join(outside, "extra.yaml"), "apiVersion: waypost/v1\nkind: NotAKind\n");
  await fs.writeFile(path.join(outside, "journeys", "stolen.yaml"), "apiVersion: waypost/v1\nkind: NotAKind\n");
  await fs.writeFile(path.join(outside, "deceased.txt"), "C-SECRET-1\nC-SECRET-2\n");
});

afterAll(async () => {
  await fs.rm(base, { recursive: true, force: true });
});

/** A fresh copy of the example policy repository. */
async function repo(): Promise<string> {
  const dir = path.join(base, `repo-${++n}`);
  for (const d of ["policies", "journeys"]) await fs.cp(path.join(EXAMPLE, d), path.join(dir, d), { recursive: true });
  return dir;
}

/** `severity code file[:line:col]` per diagnostic, as the golden tests write them. */
async function diagnostics(host: SourceHost): Promise<string[]> {
  const s = await compile(host, { until: "Check" });
  return s.diagnostics.map((d) => {
    const f = d.span ? s.files.get(d.span.file) : undefined;
    const pos = f && d.span && d.span.end > 0 ? f.position(d.span.start) : undefined;
    return `${d.severity} ${d.code} ${d.span ? `${d.span.file}${pos ? `:${pos.line}:${pos.column}` : ""}` : "-"}`;
  });
}
const check = (dir: string) => diagnostics(new FsHost(dir));

// The `entries_file: data/deceased.txt` value in policies/suppressions.yaml.
const ENTRIES_AT = "policies/suppressions.yaml:38:19";
const DECEASED = "policies/data/deceased.txt";

describe.skipIf(!posix)("working directory", () => {
  it("the example repository is clean", async () => {
    expect(await check(await repo())).toEqual([]);
  });

  it("a policy file symlinked out of the repository: WP0008 at the file, not read", async () => {
    const dir = await repo();
    await fs.symlink(path.join(outside, "extra.yaml"), path.join(dir, "policies", "extra.yaml"));
    expect(await check(dir)).toEqual(["error WP0008 policies/extra.yaml"]);
  });

  it("a relative link that climbs out: WP0008", async () => {
    const dir = await repo();
    await fs.symlink(path.relative(path.join(dir, "journeys"), path.join(outside, "extra.yaml")), path.join(dir, "journeys", "up.yaml"));
    expect(await check(dir)).toEqual(["error WP0008 journeys/up.yaml"]);
  });

  it("a folder symlinked out of the repository: WP0008 at the folder, nothing under it read", async () => {
    const dir = await repo();
    await fs.symlink(path.join(outside, "journeys"), path.join(dir, "journeys", "shared"));
    expect(await check(dir)).toEqual(["error WP0008 journeys/shared"]);
  });

  it("the whole policies/ folder symlinked elsewhere: WP0008", async () => {
    const dir = await repo();
    const moved = path.join(base, `moved-${n}`);
    await fs.rename(path.join(dir, "policies"), moved);
    await fs.symlink(moved, path.join(dir, "policies"));
    const got = await check(dir);
    expect(got[0]).toBe("error WP0008 policies");
    expect(got.every((d) => !d.includes("policies/"))).toBe(true);
  });

  it("an entries_file symlinked out: WP0008 where the policy names it (file:line:col), never read", async () => {
    const dir = await repo();
    await fs.rm(path.join(dir, DECEASED));
    await fs.symlink(path.join(outside, "deceased.txt"), path.join(dir, DECEASED));
    expect(await check(dir)).toEqual([`warning WP0008 ${DECEASED}`, `error WP0008 ${ENTRIES_AT}`]);
    const r = await runCli(["check", dir]);
    expect(r.code).toBe(1);
    expect(r.stdout + r.stderr).toContain("error[WP0008]: `policies/data/deceased.txt` is a symlink");
    expect(r.stdout + r.stderr).toContain(`--> ${ENTRIES_AT}`);
    expect(r.stdout + r.stderr).toContain("help: the compiler reads only files inside the policy repository");
    expect(r.stdout + r.stderr).not.toContain("C-SECRET");
    expect(r.stderr).not.toMatch(/^\s+at /m);
  });

  it("a FIFO in policies/: WP0009, reported without opening it (opening would block)", async () => {
    const dir = await repo();
    execFileSync("mkfifo", [path.join(dir, "policies", "pipe.yaml")]);
    expect(await check(dir)).toEqual(["error WP0009 policies/pipe.yaml"]);
  });

  it("a FIFO as an entries_file: WP0009 at the reference, without blocking", async () => {
    const dir = await repo();
    await fs.rm(path.join(dir, DECEASED));
    execFileSync("mkfifo", [path.join(dir, DECEASED)]);
    expect(await check(dir)).toEqual([`warning WP0009 ${DECEASED}`, `error WP0009 ${ENTRIES_AT}`]);
  });

  it("a FIFO behind a symlink inside the repository: still refused", async () => {
    const dir = await repo();
    execFileSync("mkfifo", [path.join(dir, "pipe")]);
    await fs.symlink("../pipe", path.join(dir, "journeys", "via-link.yaml"));
    expect(await check(dir)).toEqual(["error WP0009 journeys/via-link.yaml"]);
    // Asked for directly (as an entries_file would be), the host refuses it too.
    await expect(new FsHost(dir).readFile("journeys/via-link.yaml")).rejects.toBeInstanceOf(SourceRefusal);
  });

  it("symlink loops: a file link to itself, two links to each other, a folder link to an ancestor", async () => {
    const dir = await repo();
    await fs.symlink("loop.yaml", path.join(dir, "policies", "loop.yaml"));
    await fs.symlink("b.yaml", path.join(dir, "journeys", "a.yaml"));
    await fs.symlink("a.yaml", path.join(dir, "journeys", "b.yaml"));
    await fs.symlink("..", path.join(dir, "journeys", "again"));
    expect(await check(dir)).toEqual([
      "error WP0009 journeys/a.yaml",
      "error WP0009 journeys/again",
      "error WP0009 journeys/b.yaml",
      "error WP0009 policies/loop.yaml",
    ]);
  });

  it("a dangling link: WP0009", async () => {
    const dir = await repo();
    await fs.symlink("nowhere.yaml", path.join(dir, "policies", "gone.yaml"));
    expect(await check(dir)).toEqual(["error WP0009 policies/gone.yaml"]);
  });

  it("symlinks that stay inside the repository are followed", async () => {
    const dir = await repo();
    await fs.mkdir(path.join(dir, "shared"));
    await fs.rename(path.join(dir, "journeys", "cross-sell-home.yaml"), path.join(dir, "shared", "cross-sell-home.yaml"));
    await fs.symlink("../shared/cross-sell-home.yaml", path.join(dir, "journeys", "cross-sell-home.yaml"));
    await fs.rename(path.join(dir, DECEASED), path.join(dir, "shared", "deceased.txt"));
    await fs.symlink("../../shared/deceased.txt", path.join(dir, DECEASED));
    await fs.mkdir(path.join(dir, "more-journeys"));
    await fs.rename(path.join(dir, "journeys", "onboarding-nudge.yaml"), path.join(dir, "more-journeys", "onboarding-nudge.yaml"));
    await fs.symlink("../more-journeys", path.join(dir, "journeys", "more"));
    expect(await check(dir)).toEqual([]);
    const files = await new FsHost(dir).listFiles();
    expect(files).toContain("journeys/cross-sell-home.yaml");
    expect(files).toContain("journeys/more/onboarding-nudge.yaml");
  });

  it("a folder swapped for a link out after the host read from it: refused, the outside file not returned", async () => {
    const dir = await repo();
    const host = new FsHost(dir);
    expect(await host.readFile("journeys/cross-sell-home.yaml")).not.toBeNull(); // the folder's real path is now known
    await fs.rename(path.join(dir, "journeys"), path.join(dir, "journeys-before"));
    await fs.symlink(path.join(outside, "journeys"), path.join(dir, "journeys"));
    await expect(host.readFile("journeys/stolen.yaml")).rejects.toBeInstanceOf(SourceRefusal);
  });
});

describe.skipIf(!posix)("a build from a Git commit (symlink entries, mode 120000)", () => {
  let dir: string;
  beforeAll(async () => {
    dir = await repo();
    await fs.mkdir(path.join(dir, "shared"));
    // Inside: followed, as in a checkout.
    await fs.rename(path.join(dir, "journeys", "cross-sell-home.yaml"), path.join(dir, "shared", "cross-sell-home.yaml"));
    await fs.symlink("../shared/cross-sell-home.yaml", path.join(dir, "journeys", "cross-sell-home.yaml"));
    // Outside, absolute and relative; a loop; a folder link out; an entries_file link out.
    await fs.symlink(path.join(outside, "extra.yaml"), path.join(dir, "policies", "extra.yaml"));
    await fs.symlink("../../outside/extra.yaml", path.join(dir, "journeys", "up.yaml"));
    await fs.symlink("loop.yaml", path.join(dir, "policies", "loop.yaml"));
    await fs.symlink(path.join(outside, "journeys"), path.join(dir, "journeys", "shared"));
    await fs.rm(path.join(dir, DECEASED));
    await fs.symlink(path.join(outside, "deceased.txt"), path.join(dir, DECEASED));
    await git.init({ fs: fsSync, dir, defaultBranch: "main" });
    await git.add({ fs: fsSync, dir, filepath: "." });
    const who = { name: "Ada Reviewer", email: "ada@northwind.example", timestamp: 1_780_000_000, timezoneOffset: 0 };
    await git.commit({ fs: fsSync, dir, message: "policies with links", author: who, committer: who });
  });

  it("the commit stores the links as symlink entries", async () => {
    const head = await git.resolveRef({ fs: fsSync, dir, ref: "HEAD" });
    const entries: Record<string, string> = {};
    await git.walk({
      fs: fsSync,
      dir,
      trees: [git.TREE({ ref: head })],
      map: async (p, [e]) => {
        if (e && (await e.type()) === "blob") entries[p] = (await e.mode()).toString(8);
        return p;
      },
    });
    expect(entries["policies/extra.yaml"]).toBe("120000");
    expect(entries["journeys/cross-sell-home.yaml"]).toBe("120000");
  });

  it("links out of the tree are refused with the same codes as in the working directory; links inside are followed", async () => {
    const snap = await openSnapshot(dir, "HEAD");
    if (!snap.ok) throw new Error(snap.error.message);
    const fromGit = await diagnostics(snap.value.host);
    // A link out of a Git tree may stand for a folder (nothing says what its target is), so
    // every one is an error, the data file's too.
    expect(fromGit).toEqual([
      "error WP0008 journeys/shared",
      "error WP0008 journeys/up.yaml",
      `error WP0008 ${DECEASED}`,
      "error WP0008 policies/extra.yaml",
      "error WP0009 policies/loop.yaml",
    ]);
    expect(await snap.value.host.listFiles()).toContain("journeys/cross-sell-home.yaml");
    await expect(snap.value.host.readFile(DECEASED)).rejects.toBeInstanceOf(SourceRefusal);
    await expect(snap.value.host.readFile("journeys/shared/stolen.yaml")).rejects.toBeInstanceOf(SourceRefusal);
    // The checkout refuses the same paths with the same codes (the data file link, known
    // there to be a file, is a warning until a policy reads it).
    const strip = (d: string) => d.replace(/^\w+ /, "");
    expect((await check(dir)).map(strip)).toEqual(fromGit.map(strip));
  });

  it("`waypost build --rev` refuses the commit, exit 1, nothing read from outside", async () => {
    const out = path.join(base, "git-out");
    const r = await runCli(["build", dir, "--rev", "HEAD", "--out", out]);
    expect(r.code).toBe(1);
    expect(r.stdout + r.stderr).toContain("error[WP0008]");
    expect(r.stdout + r.stderr).not.toContain("C-SECRET");
    expect(r.stderr).not.toMatch(/^\s+at /m);
    expect(fsSync.existsSync(path.join(out, "bundle.tar.gz"))).toBe(false);
  });
});
