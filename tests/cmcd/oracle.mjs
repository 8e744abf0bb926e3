// The SVTA common-media-library's CMCD decoder as an independent oracle: reads CMCD lines on stdin,
// writes one JSON object per line (decodeCmcd's result; SfToken/SfItem flattened to plain values).
import { decodeCmcd } from "@svta/cml-cmcd";
import { readFileSync } from "node:fs";

function plain(value) {
  if (Array.isArray(value)) return value.map(plain);
  if (value && typeof value === "object") {
    if ("value" in value) return plain(value.value); // SfItem / SfToken-like wrappers
    if (typeof value.description === "string") return value.description; // Symbol tokens
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, plain(v)]));
  }
  if (typeof value === "symbol") return value.description;
  return value;
}

const lines = readFileSync(0, "utf8").split("\n").filter((line) => line.trim() !== "");
for (const line of lines) process.stdout.write(JSON.stringify(plain(decodeCmcd(line))) + "\n");
