/**
 * Diagnostic renderers: text (code frame with a caret, colour optional), json, sarif (2.1.0, for
 * code scanning) and github (workflow annotations). Line and column are computed here, only.
 */
import { createHash } from "node:crypto";
import pc from "picocolors";
import { PROJECT_URL } from "../../compiler/version.js";
import { codeDocsUrl, REGISTRY } from "../../lifecycle/codes.js";
import type { Diagnostic } from "../../compiler/diagnostics.js";
import type { SourceFile } from "../../compiler/source-file.js";

export type Format = "text" | "json" | "sarif" | "github";
export const FORMATS: readonly Format[] = ["text", "json", "sarif", "github"];

interface Located {
  d: Diagnostic;
  file?: string;
  line?: number;
  column?: number;
  endLine?: number;
  endColumn?: number;
}

function locate(d: Diagnostic, files: ReadonlyMap<string, SourceFile>): Located {
  if (!d.span) return { d };
  const f = files.get(d.span.file);
  if (!f) return { d, file: d.span.file };
  const s = f.position(d.span.start);
  const e = f.position(Math.max(d.span.end, d.span.start));
  return { d, file: d.span.file, line: s.line, column: s.column, endLine: e.line, endColumn: e.column };
}

export function summary(ds: readonly Diagnostic[], fileCount: number): { errors: number; warnings: number; text: string } {
  const errors = ds.filter((d) => d.severity === "error").length;
  const warnings = ds.filter((d) => d.severity === "warning").length;
  const plural = (n: number, w: string): string => `${n} ${w}${n === 1 ? "" : "s"}`;
  const files = plural(fileCount, "file");
  const text = errors + warnings === 0 ? `no problems in ${files}` : `${plural(errors, "error")}, ${plural(warnings, "warning")} in ${files}`;
  return { errors, warnings, text };
}

export function renderText(ds: readonly Diagnostic[], files: ReadonlyMap<string, SourceFile>, color: boolean): string {
  const c = pc.createColors(color);
  const out: string[] = [];
  for (const d of ds) {
    const l = locate(d, files);
    const sev = d.severity === "error" ? c.red(c.bold("error")) : d.severity === "warning" ? c.yellow(c.bold("warning")) : c.blue(c.bold("info"));
    out.push(`${sev}${c.dim(`[${d.code}]`)}: ${c.bold(d.message)}`);
    if (l.file) {
      out.push(`  ${c.blue("-->")} ${l.file}${l.line !== undefined ? `:${l.line}:${l.column}` : ""}`);
      const f = files.get(l.file);
      if (f && l.line !== undefined) out.push(...frame(f, l, c, d.severity));
    }
    for (const r of d.related ?? []) {
      const f = files.get(r.span.file);
      const pos = f ? f.position(r.span.start) : undefined;
      out.push(`  ${c.dim("=")} note: ${r.message} (${r.span.file}${pos ? `:${pos.line}:${pos.column}` : ""})`);
    }
    if (d.help) out.push(`  ${c.dim("=")} ${c.cyan("help")}: ${d.help}`);
    out.push("");
  }
  return out.join("\n");
}

function frame(f: SourceFile, l: Located, c: ReturnType<typeof pc.createColors>, sev: Diagnostic["severity"]): string[] {
  const line = l.line!;
  const width = String(line).length;
  const gutter = (n: string): string => c.blue(`${n.padStart(width)} |`);
  const text = f.lineText(line).replace(/\t/g, " ");
  const start = l.column! - 1;
  const end = l.endLine === line ? Math.max(l.endColumn! - 1, start + 1) : text.length;
  const caret = " ".repeat(start) + "^".repeat(Math.max(1, Math.min(end, Math.max(text.length, start + 1)) - start));
  const paint = sev === "error" ? c.red : sev === "warning" ? c.yellow : c.blue;
  return [gutter(""), `${gutter(String(line))} ${text}`, `${gutter("")} ${paint(caret)}`];
}

export function renderJson(ds: readonly Diagnostic[], files: ReadonlyMap<string, SourceFile>, fileCount: number): string {
  const s = summary(ds, fileCount);
  return JSON.stringify(
    {
      diagnostics: ds.map((d) => {
        const l = locate(d, files);
        return {
          code: d.code, severity: d.severity, message: d.message,
          ...(d.help ? { help: d.help } : {}),
          ...(l.file ? { file: l.file } : {}),
          ...(l.line !== undefined ? { line: l.line, column: l.column, endLine: l.endLine, endColumn: l.endColumn } : {}),
          ...(d.related ? { related: d.related.map((r) => ({ message: r.message, file: r.span.file, ...(files.get(r.span.file)?.position(r.span.start) ?? {}) })) } : {}),
        };
      }),
      summary: { errors: s.errors, warnings: s.warnings, files: fileCount },
    },
    null,
    2,
  );
}

export function renderSarif(ds: readonly Diagnostic[], files: ReadonlyMap<string, SourceFile>, version: string): string {
  const used = [...new Set(ds.map((d) => d.code))].sort();
  const prints = fingerprints(ds, files);
  return JSON.stringify(
    {
      $schema: "https://json.schemastore.org/sarif-2.1.0.json",
      version: "2.1.0",
      runs: [
        {
          tool: {
            driver: {
              name: "waypost",
              version,
              informationUri: PROJECT_URL,
              rules: used.map(sarifRule),
            },
          },
          results: ds.map((d, i) => {
            const l = locate(d, files);
            return {
              ruleId: d.code,
              ruleIndex: used.indexOf(d.code),
              level: sarifLevel[d.severity],
              message: { text: d.help ? `${d.message}\nhelp: ${d.help}` : d.message },
              locations: l.file
                ? [{ physicalLocation: { artifactLocation: { uri: l.file }, ...(l.line !== undefined ? { region: { startLine: l.line, startColumn: l.column, endLine: l.endLine, endColumn: l.endColumn } } : {}) } }]
                : [],
              partialFingerprints: { [FINGERPRINT]: prints[i]! },
            };
          }),
        },
      ],
    },
    null,
    2,
  );
}

const sarifLevel = { error: "error", warning: "warning", info: "note" } as const;

/** A rule from the registry: its summary, its help, and its section of docs/codes.md. */
function sarifRule(id: string): object {
  const c = REGISTRY.get(id);
  if (!c) return { id, shortDescription: { text: id } };
  return {
    id,
    shortDescription: { text: c.summary },
    helpUri: codeDocsUrl(id),
    help: { text: c.help, markdown: `${c.help}\n\n[${id} in the documentation](${codeDocsUrl(id)})` },
    defaultConfiguration: { level: sarifLevel[c.severity] },
  };
}

/** The partialFingerprints key; bump its version when the recipe changes (alerts then restart). */
const FINGERPRINT = "waypost/v1";

/**
 * Stable result identities, so code scanning tracks an alert across commits: a hash of the code,
 * the file, the text of the first line of the span (whitespace collapsed), the underlined text
 * and the message (which names the entities: node, field, purpose), never a line number, so an
 * edit above the finding does not make it a new alert. Identical findings on identical lines of
 * one file are told apart by their order, as GitHub does for its own line hashes.
 */
export function fingerprints(ds: readonly Diagnostic[], files: ReadonlyMap<string, SourceFile>): string[] {
  const seen = new Map<string, number>();
  const norm = (t: string): string => t.replace(/\s+/g, " ").trim();
  return ds.map((d) => {
    const f = d.span ? files.get(d.span.file) : undefined;
    const lineText = f && d.span ? f.lineText(f.position(d.span.start).line) : "";
    const snippet = f && d.span ? f.text.slice(d.span.start, Math.max(d.span.start, d.span.end)) : "";
    const key = [d.code, d.span?.file ?? "", norm(lineText), norm(snippet), d.message].join("\u0000");
    const n = seen.get(key) ?? 0;
    seen.set(key, n + 1);
    return `${createHash("sha256").update(key).digest("hex").slice(0, 32)}:${n + 1}`;
  });
}

/** GitHub workflow commands; data must escape %, CR and LF, properties also `:` and `,`. */
export function renderGithub(ds: readonly Diagnostic[], files: ReadonlyMap<string, SourceFile>): string {
  const esc = (s: string): string => s.replace(/%/g, "%25").replace(/\r/g, "%0D").replace(/\n/g, "%0A");
  const prop = (s: string): string => esc(s).replace(/:/g, "%3A").replace(/,/g, "%2C");
  return ds
    .map((d) => {
      const l = locate(d, files);
      const kind = d.severity === "error" ? "error" : d.severity === "warning" ? "warning" : "notice";
      const props = [
        ...(l.file ? [`file=${prop(l.file)}`] : []),
        ...(l.line !== undefined ? [`line=${l.line}`, `col=${l.column}`, `endLine=${l.endLine}`, `endColumn=${l.endColumn}`] : []),
        `title=${prop(`${d.code}`)}`,
      ];
      return `::${kind} ${props.join(",")}::${esc(d.help ? `${d.message}\nhelp: ${d.help}` : d.message)}`;
    })
    .join("\n");
}
