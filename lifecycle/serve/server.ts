/**
 * One `waypost serve` server (a cluster worker, or the only process): OPA's REST Data API for
 * the bundle's three entrypoints, OPA's `/health`, Prometheus `/metrics`.
 *
 *   POST /v1/data/waypost/decide {"input": REQUEST}  -> {"result": DECISION, "decision_id": ID}
 *   GET  /v1/data/waypost/decide?input=JSON          -> the same
 *   POST|GET /v1/data/waypost/suppressed | consent   -> {"result": ...}
 *   POST /  (OPA's default decision, raw input)      -> DECISION
 *   GET  /health[?bundles][&plugins]                  -> 200 {} once a bundle is active
 *   GET  /metrics                                     -> Prometheus text
 *
 * A decision is answered only once its log entry is durable (engine.decideDurable), so an
 * acknowledged decision survives a crash. Errors use OPA's shape {"code", "message"}.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { Engine } from "../../runtime/engine.js";
import { ENTRYPOINTS } from "../../runtime/contract.js";
import type { ServeMetrics } from "./metrics.js";

/** Largest request body accepted (a decision request is a few KiB). */
export const MAX_BODY_BYTES = 1 << 20;

const PATHS: Record<string, string> = {
  "waypost/decide": ENTRYPOINTS.decide,
  "waypost/suppressed": ENTRYPOINTS.suppressed,
  "waypost/consent": ENTRYPOINTS.consent,
};

export interface ServerState {
  engine: Engine;
  metrics: ServeMetrics;
  /** prom-client text for /metrics (the cluster's aggregate in a worker). */
  metricsText: () => Promise<{ contentType: string; text: string }>;
  bundleName: string;
  /** A decision log failure or a stopped uploader makes `/health?plugins` fail. */
  pluginProblem: () => string | null;
  version: string;
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

function send(res: ServerResponse, status: number, body: unknown, pretty: boolean): void {
  const text = (pretty ? JSON.stringify(body, null, 2) : JSON.stringify(body)) + "\n";
  res.writeHead(status, { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(text) });
  res.end(text);
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const declared = req.headers["content-length"];
  if (declared !== undefined && Number(declared) > MAX_BODY_BYTES) throw new HttpError(413, "invalid_parameter", `request body larger than ${MAX_BODY_BYTES} bytes`);
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of req as AsyncIterable<Buffer>) {
    n += c.length;
    if (n > MAX_BODY_BYTES) throw new HttpError(413, "invalid_parameter", `request body larger than ${MAX_BODY_BYTES} bytes`);
    chunks.push(c);
  }
  let body = Buffer.concat(chunks);
  const enc = req.headers["content-encoding"];
  if (enc === "gzip") {
    const { gunzipSync } = await import("node:zlib");
    try {
      body = gunzipSync(body, { maxOutputLength: MAX_BODY_BYTES });
    } catch (e) {
      throw new HttpError(400, "invalid_parameter", `body is not gzip within ${MAX_BODY_BYTES} bytes: ${(e as Error).message}`);
    }
  } else if (enc !== undefined && enc !== "identity") throw new HttpError(415, "invalid_parameter", `unsupported Content-Encoding \`${enc}\``);
  return body;
}

function parseJson(text: string, what: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch (e) {
    throw new HttpError(400, "invalid_parameter", `${what} is not JSON: ${(e as Error).message}`);
  }
}

/** The `input` of a Data API call: body {"input": ...} (POST) or ?input=JSON (GET); undefined when none. */
async function inputOf(req: IncomingMessage, url: URL): Promise<unknown> {
  if (req.method === "GET") {
    const q = url.searchParams.get("input");
    return q === null ? undefined : parseJson(q, "the input query parameter");
  }
  const body = await readBody(req);
  if (body.length === 0 || body.toString("utf8").trim() === "") return undefined;
  const doc = parseJson(body.toString("utf8"), "the request body");
  if (typeof doc !== "object" || doc === null || Array.isArray(doc)) throw new HttpError(400, "invalid_parameter", "the request body must be an object {\"input\": ...}");
  return (doc as Record<string, unknown>).input;
}

export function createDecisionServer(s: ServerState): Server {
  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? "/", "http://localhost");
    const pretty = url.searchParams.has("pretty") && url.searchParams.get("pretty") !== "false";
    const p = url.pathname.replace(/\/+$/, "") || "/";
    if (p === "/health") {
      if (req.method !== "GET") throw new HttpError(405, "method_not_allowed", "use GET");
      if (s.engine.revision === null) return send(res, 500, { error: "bundle not activated" }, pretty);
      if (url.searchParams.has("plugins")) {
        const problem = s.pluginProblem();
        if (problem !== null) return send(res, 500, { error: problem }, pretty);
      }
      return send(res, 200, {}, pretty);
    }
    if (p === "/metrics") {
      if (req.method !== "GET") throw new HttpError(405, "method_not_allowed", "use GET");
      const m = await s.metricsText();
      res.writeHead(200, { "Content-Type": m.contentType });
      res.end(m.text);
      return;
    }
    const isRoot = p === "/";
    if (!isRoot && !p.startsWith("/v1/data")) throw new HttpError(404, "resource_not_found", `no such API: ${p}`);
    if (req.method !== "POST" && req.method !== "GET") throw new HttpError(405, "method_not_allowed", `${req.method} is not supported here (use POST or GET)`);
    if (isRoot && req.method !== "POST") throw new HttpError(405, "method_not_allowed", "use POST");
    const rel = isRoot ? "waypost/decide" : p.slice("/v1/data".length).replace(/^\/+/, "");
    const entrypoint = PATHS[rel];
    let input: unknown;
    if (isRoot) {
      const body = await readBody(req);
      input = body.length === 0 ? undefined : parseJson(body.toString("utf8"), "the request body");
    } else input = await inputOf(req, url);
    if (entrypoint === undefined) {
      // As OPA answers for a document it does not define: no `result`.
      return send(res, 200, {}, pretty);
    }
    const t0 = process.hrtime.bigint();
    if (entrypoint === ENTRYPOINTS.decide) {
      const d = await s.engine.decideDurable(input);
      const ns = Number(process.hrtime.bigint() - t0);
      s.metrics.decided(entrypoint, ns / 1e9, d.outcome, d.node, d.channel);
      if (isRoot) return send(res, 200, d, pretty);
      const body: Record<string, unknown> = { result: d, decision_id: d.decision_id };
      if (url.searchParams.has("metrics")) body.metrics = { timer_server_handler_ns: ns };
      if (url.searchParams.has("provenance")) body.provenance = { version: s.version, bundles: { [s.bundleName]: { revision: d.revision } } };
      return send(res, 200, body, pretty);
    }
    const r = s.engine.evaluate(entrypoint, input);
    const ns = Number(process.hrtime.bigint() - t0);
    s.metrics.decided(entrypoint, ns / 1e9, r.ok ? "ok" : "error", null, null);
    if (!r.ok) throw new HttpError(500, "internal_error", r.error);
    const body: Record<string, unknown> = r.value === undefined ? {} : { result: r.value };
    // No decision_id: only decisions (`decide`) go to the decision log, as OPA gives ids to logged decisions only.
    if (url.searchParams.has("metrics")) body.metrics = { timer_server_handler_ns: ns };
    if (url.searchParams.has("provenance")) body.provenance = { version: s.version, bundles: { [s.bundleName]: { revision: r.revision } } };
    return send(res, 200, body, pretty);
  };
  return createServer({ keepAlive: true }, (req, res) => {
    handle(req, res).catch((e: unknown) => {
      if (res.headersSent) {
        res.destroy();
        return;
      }
      if (e instanceof HttpError) send(res, e.status, { code: e.code, message: e.message }, false);
      else send(res, 500, { code: "internal_error", message: e instanceof Error ? e.message : String(e) }, false);
    });
  });
}
