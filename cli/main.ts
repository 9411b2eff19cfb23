/** The `waypost` command line: dispatches to one module per command in cli/commands/. */

import { WaypostRuntimeError } from "../runtime/errors.js";
import { InputError, UsageError, type Command, type CommandContext } from "./command.js";
import { formatProblem } from "./render/problem.js";
import { VERSION } from "./util.js";

/** Command name -> module; loaded lazily so `waypost check` never loads the Wasm toolchain. */
const COMMANDS: Record<string, () => Promise<{ command: Command }>> = {
  check: () => import("./commands/check.js"),
  build: () => import("./commands/build.js"),
  decide: () => import("./commands/decide.js"),
  "log verify": () => import("./commands/log-verify.js"),
  "log erase": () => import("./commands/log-erase.js"),
  demo: () => import("./commands/demo.js"),
  diff: () => import("./commands/diff.js"),
  replay: () => import("./commands/replay.js"),
  release: () => import("./commands/release.js"),
  rollback: () => import("./commands/rollback.js"),
  history: () => import("./commands/history.js"),
  test: () => import("./commands/test.js"),
  init: () => import("./commands/init.js"),
  fmt: () => import("./commands/fmt.js"),
  report: () => import("./commands/report.js"),
  serve: () => import("./commands/serve.js"),
  prove: () => import("./commands/prove.js"),
};

const IO_HINTS: Record<string, string> = {
  ENOENT: "a folder on the way does not exist",
  ENOTDIR: "a part of the path is a file, not a folder",
  EACCES: "permission denied",
  EPERM: "operation not permitted",
  EROFS: "the file system is read-only",
  ENOSPC: "no space left on the device",
  EISDIR: "it is a folder",
  EEXIST: "it already exists",
};

export async function main(argv: string[], io: Partial<CommandContext> = {}): Promise<number> {
  const stdout = io.stdout ?? ((s: string) => void process.stdout.write(s));
  const stderr = io.stderr ?? ((s: string) => void process.stderr.write(s));
  const env = io.env ?? process.env;
  let color = io.color ?? (Boolean(process.stdout.isTTY) && env["NO_COLOR"] === undefined);
  const args = argv.filter((a) => {
    if (a === "--color") color = true;
    else if (a === "--no-color") color = false;
    else return true;
    return false;
  });
  const first = args[0];
  if (first === undefined) {
    stderr(`waypost: give a command\n\n${await usage()}`);
    return 2;
  }
  if (first === "--help" || first === "-h" || first === "help") {
    stdout(await usage());
    return 0;
  }
  if (first === "--version" || first === "-v") {
    stdout(`waypost ${VERSION}\n`);
    return 0;
  }
  const two = `${first} ${args[1] ?? ""}`;
  const name = two in COMMANDS ? two : first;
  const loader = COMMANDS[name];
  if (!loader) {
    stderr(`waypost: unknown command \`${first}\`\n\n${await usage()}`);
    return 2;
  }
  const { command } = await loader();
  const rest = args.slice(name.split(" ").length);
  if (rest.includes("--help") || rest.includes("-h")) {
    stdout(command.usage + "\n");
    return 0;
  }
  const ctx: CommandContext = { argv: rest, cwd: io.cwd ?? process.cwd(), stdout, stderr, color, env };
  try {
    return await command.run(ctx);
  } catch (e) {
    if (e instanceof UsageError) {
      stderr(`waypost ${command.name}: ${e.message}\n\n${command.usage}\n`);
      return 2;
    }
    if (e instanceof InputError) {
      stderr(`waypost ${command.name}: error: ${e.message}\n${e.help ? `  = help: ${e.help}\n` : ""}`);
      return 2;
    }
    // A refused bundle, key or log that a command did not report itself: input, not a bug.
    if (e instanceof WaypostRuntimeError) {
      stderr(formatProblem(e, command.name));
      return 2;
    }
    // The file system said no (an unwritable --out, a full disk): the user's to fix, not a bug.
    const io = e as NodeJS.ErrnoException & { dest?: string };
    if (typeof io?.code === "string" && typeof io.syscall === "string" && IO_HINTS[io.code] !== undefined) {
      // A rename names the file being replaced (`dest`), not the temporary file beside it.
      const target = io.syscall === "rename" ? (io.dest ?? io.path) : io.path;
      const hint = io.code === "EEXIST" && io.syscall === "mkdir" ? "a file is in the way of a folder" : IO_HINTS[io.code];
      stderr(`waypost ${command.name}: cannot ${io.syscall === "open" || io.syscall === "mkdir" || io.syscall === "rename" ? "write" : io.syscall} \`${target ?? "?"}\`: ${hint}\n`);
      return 2;
    }
    // An internal bug: say so plainly, with the stack only when asked for.
    stderr(`waypost ${command.name}: internal error: ${(e as Error)?.message ?? String(e)}\n`);
    if (env["WAYPOST_DEBUG"]) stderr(`${(e as Error)?.stack ?? ""}\n`);
    else stderr("this is a bug in waypost; rerun with WAYPOST_DEBUG=1 for details and report it\n");
    return 70;
  }
}

/**
 * A writer for a process stream that survives a closed pipe (`waypost build | head -1`): once
 * the reader has gone (EPIPE), further output is dropped and the command carries on, so the
 * files it promised to write are still written and it exits with its own code. Exiting at the
 * first EPIPE, as an error listener calling process.exit would, leaves them half done.
 */
export function pipeSafe(stream: NodeJS.WritableStream): (text: string) => void {
  let closed = false;
  stream.on("error", (e: NodeJS.ErrnoException) => {
    if (e.code === "EPIPE" || e.code === "ERR_STREAM_DESTROYED") closed = true;
    else throw e;
  });
  return (text) => {
    if (!closed) stream.write(text);
  };
}

/** What bin/waypost.js runs: `main` on the process's own streams, made pipe-safe. */
export async function runProcess(argv: string[]): Promise<void> {
  process.exitCode = await main(argv, { stdout: pipeSafe(process.stdout), stderr: pipeSafe(process.stderr) });
}

async function usage(): Promise<string> {
  const lines: string[] = [];
  for (const [name, load] of Object.entries(COMMANDS)) {
    try {
      const { command } = await load();
      lines.push(`  ${name.padEnd(12)} ${command.summary}`);
    } catch {
      // A command whose module is not built yet is left out of the list.
    }
  }
  return `waypost ${VERSION}: policy-as-code for consent-first customer journeys

Usage: waypost <command> [options]

Commands:
${lines.join("\n")}

Run \`waypost <command> --help\` for a command's options. --no-color disables colour.
`;
}


