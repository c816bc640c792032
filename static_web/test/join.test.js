// @ts-check
// The stored join state into a document: what adds up is replayed exactly; anything else is
// refused (null), and the watcher joins with a snapshot instead.
import { test } from "node:test";
import assert from "node:assert/strict";
import { replayJoinState } from "../src/core/join.js";

const STATE = {
  streamId: "abcdefghijkl0001",
  title: "Demo",
  lang: "python",
  ended: false,
  head: { epoch: "e1", v: 3, t: 5 },
  keyframe: { epoch: "e1", v: 1, t: 1, doc: "hello 😀\n" },
  segments: [
    { epoch: "e1", from: 2, to: 3, t0: 2, deltas: [[0, [[0, 0, "# "]], [2, 2]], [5, [[10, 10, "!"]], null]], controls: [[1, { title: "Demo" }]] },
  ],
};

test("the keyframe and its segments give the document at the head, with its names and the last selection", () => {
  assert.deepEqual(replayJoinState(STATE), {
    epoch: "e1",
    v: 3,
    doc: "# hello 😀!\n",
    lang: "python",
    title: "Demo",
    ended: false,
    sel: [2, 2],
  });
  const ended = replayJoinState({ ...STATE, ended: true, title: null, lang: null, segments: [] , head: { epoch: "e1", v: 1, t: 1 } });
  assert.deepEqual(ended, { epoch: "e1", v: 1, doc: "hello 😀\n", lang: null, title: null, ended: true, sel: null });
  // a controls-only segment moves nothing
  const controls = { epoch: "e1", from: 4, to: 3, t0: 9, deltas: [], controls: [[0, { ended: true }]] };
  assert.equal(replayJoinState({ ...STATE, segments: [...STATE.segments, controls] })?.v, 3);
});

test("a join state that does not add up is refused", () => {
  const seg = STATE.segments[0];
  const broken = [
    null,
    "x",
    [],
    { ...STATE, keyframe: null },
    { ...STATE, keyframe: { ...STATE.keyframe, v: -1 } },
    { ...STATE, keyframe: { ...STATE.keyframe, doc: "a\r\nb" } },
    { ...STATE, segments: null },
    { ...STATE, segments: [{ ...seg, from: 3, to: 4 }] }, // does not follow the keyframe
    { ...STATE, segments: [{ ...seg, epoch: "e2" }] },
    { ...STATE, segments: [{ ...seg, to: 5 }] },
    { ...STATE, segments: [{ ...seg, deltas: [[0, [[50, 50, "x"]], null], [0, [], null]] }] }, // off the document
    { ...STATE, segments: [{ ...seg, deltas: [[0, "nope", null], [0, [], null]] }] },
    { ...STATE, segments: [{ ...seg, deltas: [[0, []], [0, [], null]] }] },
    { ...STATE, head: { epoch: "e1", v: 4, t: 5 } }, // says another head than it holds
  ];
  for (const state of broken) assert.equal(replayJoinState(state), null, JSON.stringify(state));
  // a selection outside the document is dropped, not trusted
  const far = { ...STATE, segments: [{ ...seg, deltas: [[0, [[0, 0, "# "]], [99, 99]], [5, [[10, 10, "!"]], null]] }] };
  assert.equal(replayJoinState(far)?.sel, null);
});
