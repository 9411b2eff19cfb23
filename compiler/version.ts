import { readFileSync } from "node:fs";
import * as path from "node:path";
import { packageRoot } from "./package-root.js";

/** The compiler version recorded in every bundle's manifest. */
export const VERSION: string = (JSON.parse(readFileSync(path.join(packageRoot(), "package.json"), "utf8")) as { version: string }).version;
