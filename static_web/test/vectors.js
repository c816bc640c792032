// @ts-check
// The conformance vectors in tests/vectors/, read as harness/vectors.py reads them (the same
// {"repeat", "times": "<limit>[+-n]"} expansion from the contract's limits).
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { LIMITS } from "../src/core/contract.js";

const DIR = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "tests", "vectors");

export function loadVectors(name) {
  return JSON.parse(readFileSync(join(DIR, `${name}.json`), "utf8"));
}

export function expand(value, limits = LIMITS) {
  if (Array.isArray(value)) return value.map((v) => expand(v, limits));
  if (value && typeof value === "object") {
    const keys = Object.keys(value).sort();
    if (keys.length === 2 && keys[0] === "repeat" && keys[1] === "times") {
      const m = /^([A-Za-z]+)([+-]\d+)?$/.exec(String(value.times));
      if (!m || !(m[1] in limits)) throw new Error(`bad vector count ${value.times}`);
      return String(value.repeat).repeat(limits[m[1]] + Number(m[2] ?? 0));
    }
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, expand(v, limits)]));
  }
  return value;
}
