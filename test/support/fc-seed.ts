// FC_SEED=N makes every fast-check property in the run reproducible (failures print their seed).
import fc from "fast-check";

const seed = process.env["FC_SEED"];
if (seed !== undefined && seed !== "") fc.configureGlobal({ seed: Number(seed) });
