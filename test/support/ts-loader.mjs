// Lets a child `node` process run the TypeScript sources (`node --import ./ts-loader.mjs`), for
// the few tests that need a real process (exit codes, closed pipes) without building dist/.
import { register } from "node:module";

register("./ts-hooks.mjs", import.meta.url);
