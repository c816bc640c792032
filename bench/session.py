"""The recorded editing session both modes replay: `bench/session.json`.

A realistic editor session, as timestamped operations: someone adds a function to an existing
Python file at a human pace (6-7 keys/s with pauses at line ends and between words), makes typos
and backspaces over them, deletes a word, moves the cursor, pastes a block, undoes the paste and
redoes it. Each operation replaces `[at, at + delete)` of the document as left by the previous
one with `insert`, and leaves the selection `sel`; that is what an editor's change listener sees,
and both wire formats are derived from it.

The file is generated once, deterministically (`python -m bench.session` rewrites it; same seed,
same file) and committed, so every run replays exactly the same keystrokes.
"""

from __future__ import annotations

import json
import random
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import BENCH_DIR

SESSION_PATH = BENCH_DIR / "session.json"
SEED = 20261125

START_DOC = '''"""Inventory helpers."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Item:
    sku: str
    name: str
    quantity: int
    price_cents: int


def total_value(items: list[Item]) -> int:
    """Value of everything in stock, in cents."""
    return sum(item.quantity * item.price_cents for item in items)
'''

# typed at the end of START_DOC, line by line (indentation comes from the editor on Enter)
TYPED = [
    "",
    "",
    "def low_stock(items: list[Item], threshold: int = 5) -> list[Item]:",
    '    """Items to reorder, fewest first."""',
    "    low = [item for item in items if item.quantity < threshold]",
    "    return sorted(low, key=lambda item: item.quantity)",
]

PASTED = '''

def by_sku(items: list[Item]) -> dict[str, Item]:
    """Index items by SKU; a later duplicate wins."""
    return {item.sku: item for item in items}
'''


@dataclass(frozen=True)
class Op:
    t_ms: int  # since the session started
    kind: str  # type | delete | paste | undo | redo | move
    at: int
    delete: int
    insert: str
    sel: tuple[int, int]

    def to_json(self) -> dict[str, Any]:
        return {
            "t": self.t_ms,
            "kind": self.kind,
            "at": self.at,
            "del": self.delete,
            "ins": self.insert,
            "sel": list(self.sel),
        }


def load(path: Path = SESSION_PATH) -> tuple[str, list[Op]]:
    data = json.loads(path.read_text())
    ops = [
        Op(o["t"], o["kind"], o["at"], o["del"], o["ins"], (o["sel"][0], o["sel"][1]))
        for o in data["ops"]
    ]
    return data["doc"], ops


def apply(doc: str, op: Op) -> str:
    if not 0 <= op.at <= op.at + op.delete <= len(doc):
        raise ValueError(f"op {op} outside a document of length {len(doc)}")
    return doc[: op.at] + op.insert + doc[op.at + op.delete :]


class _Recorder:
    """Plays a typist against a document and writes down every operation."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.doc = START_DOC.rstrip("\n")
        self.cursor = len(self.doc)
        self.t = 0.0
        self.ops: list[Op] = []

    def wait(self, low_ms: float, high_ms: float) -> None:
        self.t += self.rng.uniform(low_ms, high_ms)

    def key_gap(self) -> None:
        # lognormal inter-key time around 150 ms: ~6.5 keys/s with a long tail
        self.t += min(900.0, self.rng.lognormvariate(4.95, 0.35))

    def edit(self, kind: str, at: int, delete: int, insert: str) -> Op:
        op = Op(round(self.t), kind, at, delete, insert, (at + len(insert), at + len(insert)))
        self.doc = apply(self.doc, op)
        self.cursor = at + len(insert)
        self.ops.append(op)
        return op

    def move(self, to: int) -> None:
        self.cursor = to
        self.ops.append(Op(round(self.t), "move", to, 0, "", (to, to)))

    def type_text(self, text: str) -> None:
        for i, ch in enumerate(text):
            if ch.isalpha() and self.rng.random() < 0.03:  # a typo, seen and fixed
                self.key_gap()
                self.edit("type", self.cursor, 0, self.rng.choice("asdfjkl"))
                self.wait(180, 420)
                self.edit("delete", self.cursor - 1, 1, "")
            self.key_gap()
            self.edit("type", self.cursor, 0, ch)
            if ch == " " and self.rng.random() < 0.1:
                self.wait(200, 600)  # thinking between words
            if i == len(text) // 2 and self.rng.random() < 0.2:
                self.wait(500, 1000)

    def newline(self, indent: str) -> None:
        self.key_gap()
        self.edit("type", self.cursor, 0, "\n" + indent)  # Enter, with the editor's indent
        self.wait(200, 700)


def generate(seed: int = SEED) -> dict[str, Any]:
    rec = _Recorder(random.Random(seed))
    start_doc = rec.doc
    for n, line in enumerate(TYPED):
        stripped = line.lstrip(" ")
        indent = line[: len(line) - len(stripped)]
        rec.newline(indent)
        rec.type_text(stripped)
        if n == 4:  # second thoughts: delete the last word with Backspace, retype it
            word = stripped.rsplit(" ", 1)[-1]
            rec.wait(500, 900)
            for _ in word:
                rec.key_gap()
                rec.edit("delete", rec.cursor - 1, 1, "")
            rec.type_text(word)
        if n == 3:  # look something up above, then come back
            rec.wait(400, 800)
            rec.move(start_doc.index("class Item"))
            rec.wait(800, 1200)
            rec.move(len(rec.doc))
    # paste a helper, undo it, think, redo it
    rec.wait(500, 900)
    rec.edit("paste", rec.cursor, 0, PASTED.rstrip("\n"))
    rec.wait(800, 1200)
    last = rec.ops[-1]
    rec.edit("undo", last.at, len(last.insert), "")
    rec.wait(800, 1200)
    rec.edit("redo", last.at, 0, last.insert)
    rec.wait(400, 800)
    rec.newline("")
    typed = sum(1 for op in rec.ops if op.kind == "type")
    return {
        "about": "Generated by `python -m bench.session` (see its docstring); replayed by "
        "bench/compare.py in both modes.",
        "seed": seed,
        "typed_chars": typed,
        "duration_ms": rec.ops[-1].t_ms,
        "doc": start_doc,
        "final_doc": rec.doc,
        "ops": [op.to_json() for op in rec.ops],
    }


def main(argv: list[str] | None = None) -> int:
    session = generate()
    SESSION_PATH.write_text(json.dumps(session, indent=0) + "\n")
    kinds: dict[str, int] = {}
    for op in session["ops"]:
        kinds[op["kind"]] = kinds.get(op["kind"], 0) + 1
    print(
        f"wrote {SESSION_PATH}: {len(session['ops'])} operations {kinds}, "
        f"{session['typed_chars']} typed characters, {session['duration_ms'] / 1000:.1f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
