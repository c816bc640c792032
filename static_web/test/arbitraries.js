// @ts-check
// fast-check generators shared by the *.property.test.js files (not a test file itself).
import fc from "fast-check";

export const RUNS = Number(process.env.FC_RUNS || 300);

// UTF-16 units of every kind: ASCII, BMP, surrogate pairs and lone surrogates. No "\r": the
// streamer's editor (CodeMirror) normalises line breaks to "\n", so real documents have none.
const unit = fc.oneof(
  fc.constantFrom("a", "b", " ", "\n", "\t", "é", "☕", "🥐"),
  fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c === 13 ? 10 : c)),
);
export const text = (maxLength = 30) => fc.string({ unit, maxLength });

/** Raw numbers turned into a change list that is valid step by step against `doc`. */
export function validChanges(doc, raw) {
  let len = doc.length;
  return raw.map(([a, b, insert]) => {
    const from = a % (len + 1);
    const to = from + (b % (len - from + 1));
    len += insert.length - (to - from);
    return [from, to, insert];
  });
}
export const rawChanges = fc.array(fc.tuple(fc.nat(), fc.nat(), text(12)), { maxLength: 8 });

// what a hostile or broken sender may put where a number or a string belongs (JSON values
// only: messages arrive parsed from JSON)
export const junk = fc.oneof(
  fc.constantFrom(-1, -0.5, 0.5, 1e300, -1e300, 2 ** 53, 2 ** 64, null, true, "", "1", [], {}),
  fc.integer(),
  fc.double(),
  fc.string({ maxLength: 5 }),
  fc.jsonValue({ maxDepth: 2 }),
);
