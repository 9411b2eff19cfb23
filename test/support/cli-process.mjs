// The CLI as bin/waypost.js runs it, from the TypeScript sources (with ts-loader.mjs).
import { runProcess } from "../../cli/main.ts";

await runProcess(process.argv.slice(2));
