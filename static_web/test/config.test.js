// @ts-check
import { test } from "node:test";
import assert from "node:assert/strict";
import { shareLink, streamIdFromLocation } from "../src/config.js";

const loc = (url) => {
  const u = new URL(url);
  return { hash: u.hash, search: u.search };
};

test("the share link carries the stream id in the fragment and reads back", () => {
  const link = shareLink("Ab3_-xyz12345678", "https://codestream.example");
  assert.equal(link, "https://codestream.example/watch.html#Ab3_-xyz12345678");
  assert.equal(streamIdFromLocation(loc(link)), "Ab3_-xyz12345678");
  assert.equal(streamIdFromLocation(loc("https://x/watch.html?s=Ab3_-xyz12345678")), "Ab3_-xyz12345678");
});

test("anything that is not a stream id is refused", () => {
  for (const url of ["https://x/watch.html", "https://x/watch.html#short", "https://x/watch.html#bad<id>aaaaaaaaaa", "https://x/watch.html#" + "a".repeat(33)]) {
    assert.equal(streamIdFromLocation(loc(url)), null, url);
  }
});
