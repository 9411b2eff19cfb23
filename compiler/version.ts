import { readFileSync } from "node:fs";
import * as path from "node:path";
import { packageRoot } from "./package-root.js";

const pkg = JSON.parse(readFileSync(path.join(packageRoot(), "package.json"), "utf8")) as { version: string; homepage?: string };

/** The compiler version recorded in every bundle's manifest. */
export const VERSION: string = pkg.version;

/** The project's repository (package.json `homepage`): SARIF and docs links are built on it. */
export const PROJECT_URL: string = (pkg.homepage ?? "https://github.com/waypost-dev/waypost").replace(/\/+$/, "");
