// @ts-check
// The resume code `<streamId>.<ownerKey>`: formatted and read back; anything else is refused.
import { test } from "node:test";
import assert from "node:assert/strict";
import { LIMITS } from "../src/core/contract.js";
import { formatResumeCode, parseResumeCode } from "../src/core/resume-code.js";

const ID = "AAAAbbbbCCCCdddd";
const KEY = "q0-_Zx9".repeat(6) + "A";

test("a resume code is the stream id and the owner key, read back as they were", () => {
  const code = formatResumeCode(ID, KEY);
  assert.equal(code, `${ID}.${KEY}`);
  assert.deepEqual(parseResumeCode(code), { streamId: ID, ownerKey: KEY });
  assert.deepEqual(parseResumeCode(`  ${code}\n`), { streamId: ID, ownerKey: KEY }, "pasted with spaces around");
});

test("what is not a resume code is refused", () => {
  for (const bad of ["", ID, `${ID}.`, `.${KEY}`, `short.${KEY}`, `${ID}.${KEY}!`, `${ID}.a.b`, `${ID} .${KEY}`, `${ID}.${"k".repeat(LIMITS.ownerKeyChars + 1)}`, `https://x/#${ID}.${KEY}`]) {
    assert.equal(parseResumeCode(bad), null, bad);
  }
  assert.ok(parseResumeCode(`${ID}.${"k".repeat(LIMITS.ownerKeyChars)}`));
});
