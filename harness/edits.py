"""Random edits a person makes, performed through the streamer page: typing (ASCII,
non-ASCII, emoji), large pastes, deletions of selections, undo, cursor jumps.

Every choice comes from the caller's seeded `random.Random`, so a failing run repeats with
its seed (timing still varies: undo groups, for one, depend on the clock).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from harness.pages import StreamerPage

WORDS = [
    "def", "return", "self", "lambda", "x", "value", "for", "in", "if", "None", "await",
    "naïve", "café", "Straße", "東京", "данные", "λ", "π", "→", "≠", "½",
]  # fmt: skip
EMOJI = ["😀", "🚀", "👩‍💻", "🇺🇦", "✓", "🧪", "❤️", "👍🏽"]
SNIPPET = (
    "    for i, row in enumerate(rows):  # ünïcode ✓ 🚀\n        total += row.get('n', 0) * 1.5\n"
)

# the caret/selection as fractions of the document; positions never split a surrogate pair
_SELECT = """([fa, fh]) => {
  const view = window.codestream.view, doc = view.state.doc, n = doc.length;
  const snap = (f) => {
    let p = Math.floor(f * n);
    const c = doc.sliceString(p, p + 1).charCodeAt(0);
    if (c >= 0xdc00 && c <= 0xdfff) p -= 1;
    return Math.max(0, p);
  };
  view.dispatch({selection: {anchor: snap(fa), head: snap(fh)}});
  view.focus();
}"""
_LENGTH = "() => window.codestream.view.state.doc.length"


@dataclass
class EditCounts:
    edits: int = 0
    typed_chars: int = 0
    pasted_chars: int = 0
    deletions: int = 0
    undos: int = 0


class Editor:
    """Performs one random edit at a time on a streamer page."""

    def __init__(
        self, page: StreamerPage, rng: random.Random, *, max_paste: int, max_doc: int
    ) -> None:
        self.page = page
        self.rng = rng
        self.max_paste = max_paste
        self.max_doc = max_doc
        self.counts = EditCounts()

    def _text(self) -> str:
        rng = self.rng
        parts = []
        for _ in range(rng.randint(1, 6)):
            roll = rng.random()
            if roll < 0.6:
                parts.append(rng.choice(WORDS))
            elif roll < 0.8:
                parts.append(rng.choice(EMOJI))
            else:
                parts.append(rng.choice(["\n", "(", ")", ": ", "'", '"', "\t", " = "]))
        return " ".join(parts)

    def select(self, anchor: float, head: float) -> None:
        self.page.page.evaluate(_SELECT, [anchor, head])

    def step(self) -> str:
        """One edit; returns its kind (for the log)."""
        rng, kb = self.rng, self.page.page.keyboard
        self.counts.edits += 1
        if self.page.page.evaluate(_LENGTH) > self.max_doc:  # keep the document bounded
            start = rng.random() * 0.3
            self.select(start, start + 0.5)
            kb.press("Backspace")
            self.counts.deletions += 1
            return "trim"
        roll = rng.random()
        if roll < 0.40:
            text = self._text()
            kb.type(text)  # key by key, through the editor's own input handling
            self.counts.typed_chars += len(text)
            return "type"
        if roll < 0.52:
            text = self._text() + "\n"
            kb.insert_text(text)  # what an IME or dictation delivers in one go
            self.counts.typed_chars += len(text)
            return "insert"
        if roll < 0.60:
            size = self.max_paste if rng.random() < 0.15 else rng.choice([200, 2_000, 20_000])
            text = (SNIPPET * (size // len(SNIPPET) + 1))[:size]  # code points: no half emoji
            self.page.paste(text)
            self.counts.pasted_chars += len(text)
            return "paste"
        if roll < 0.75:
            start = rng.random()
            self.select(start, min(1.0, start + rng.random() * 0.05))
            kb.press("Backspace")
            self.counts.deletions += 1
            return "delete"
        if roll < 0.83:
            for _ in range(rng.randint(1, 8)):
                kb.press("Backspace")
            self.counts.deletions += 1
            return "backspace"
        if roll < 0.90:
            for _ in range(rng.randint(1, 3)):
                kb.press("Control+z")
            self.counts.undos += 1
            return "undo"
        if roll < 0.95:
            kb.press(rng.choice(["Control+Home", "Control+End", "ArrowUp", "ArrowDown", "End"]))
            return "move"
        self.select(rng.random(), rng.random())
        return "move"
