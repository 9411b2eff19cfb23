// Tests run the TypeScript sources directly, but the Wasm backend needs the runtime library
// template that `npm run build` produces; build it once if it is missing or stale.
import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";

export default function setup(): void {
  const root = fileURLToPath(new URL("..", import.meta.url));
  execFileSync(process.execPath, ["scripts/build-wasmlib.mjs", "--if-stale"], { cwd: root, stdio: "inherit" });
}
