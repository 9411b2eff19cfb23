// Writes that must never be seen half-done (bundles, reports) go through one helper.
export { writeFileAtomic } from "../compiler/atomic-write.js";
