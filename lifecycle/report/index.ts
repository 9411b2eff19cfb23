/**
 * `waypost report`: the model of a policy repository (model.ts) rendered as one HTML file
 * (html.ts) whose links point at the sources (links.ts).
 */
import * as path from "node:path";
import { FsHost } from "../../compiler/source.js";
import { renderReportHtml } from "./html.js";
import { linkBaseFor } from "./links.js";
import { buildReportModel, type ModelOptions, type ReportModel } from "./model.js";

export { buildReportModel, parseProveResults, policyViews, type ReportModel, type ProveResult } from "./model.js";
export { renderReportHtml } from "./html.js";
export { linkBaseFor, hrefOf, webUrlOf, type LinkBase } from "./links.js";

export interface ReportOutput {
  model: ReportModel;
  html: string;
}

/** The report of the policy repository in `dir`, with links relative to `outDir` (or to the Git host). */
export async function makeReport(dir: string, outDir: string, opts: ModelOptions = {}): Promise<ReportOutput> {
  const model = await buildReportModel(new FsHost(path.resolve(dir)), opts);
  const links = await linkBaseFor(path.resolve(dir), path.resolve(outDir));
  return { model, html: renderReportHtml(model, links) };
}
