// Module hooks for ts-loader.mjs: `./x.js` imports resolve to `./x.ts` when only that exists,
// and each .ts file is transpiled on its own (types dropped, nothing checked: tsc does that).
// Transpiled files are cached on disk by content: importing TypeScript alone takes 1-2 s,
// which every child process and worker thread (runtime/dry-run.ts) would otherwise pay.
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";

const COMPILER_OPTIONS = { module: "ESNext", target: "ES2022", sourceMap: false };
const CACHE = fileURLToPath(new URL("../../node_modules/.cache/waypost-ts/", import.meta.url));
const tsVersion = JSON.parse(readFileSync(createRequire(import.meta.url).resolve("typescript/package.json"), "utf8")).version;
let ts;

export async function resolve(specifier, context, next) {
  if ((specifier.startsWith(".") || specifier.startsWith("file:")) && specifier.endsWith(".js") && context.parentURL?.startsWith("file:")) {
    const url = new URL(specifier, context.parentURL);
    const tsUrl = new URL(url.href.slice(0, -3) + ".ts");
    if (!existsSync(fileURLToPath(url)) && existsSync(fileURLToPath(tsUrl))) return { url: tsUrl.href, shortCircuit: true };
  }
  return next(specifier, context);
}

export async function load(url, context, next) {
  if (!url.endsWith(".ts")) return next(url, context);
  const file = fileURLToPath(url);
  const text = readFileSync(file, "utf8");
  const key = createHash("sha256").update(`${tsVersion}\n${JSON.stringify(COMPILER_OPTIONS)}\n${text}`).digest("hex");
  const cached = CACHE + key + ".js";
  if (existsSync(cached)) return { format: "module", source: readFileSync(cached, "utf8"), shortCircuit: true };
  ts ??= (await import("typescript")).default;
  const out = ts.transpileModule(text, {
    fileName: file,
    compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022, sourceMap: false },
  }).outputText;
  try {
    // Written whole, then renamed: concurrent processes never read half a file.
    mkdirSync(CACHE, { recursive: true });
    const tmp = `${cached}.${process.pid}.${Math.random().toString(36).slice(2)}`;
    writeFileSync(tmp, out);
    renameSync(tmp, cached);
  } catch {
    // The cache is an optimisation only.
  }
  return { format: "module", source: out, shortCircuit: true };
}
