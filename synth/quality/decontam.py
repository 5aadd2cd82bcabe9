"""Decontamination: drop records that share a run of `chars` characters (64 by default) with a benchmark
question, after both sides are normalised the same way (synth.quality.text.normalise: NFKC, lower case,
punctuation to spaces, whitespace collapsed).

How it stays fast for 100k records × 10k questions (docs/benchmarks.md, Decontamination):

1. Index: with w = chars // 2, the 64-bit polynomial hash of every w-character window of every question
   (at every offset) goes into one sorted numpy array; the hash of every `chars`-character window, with the
   question and offset it came from, into a second one.
2. Scan: a record's text is cut into w-character windows at stride w only (~n/w hashes per record instead of
   n). Any shared run of `chars` = 2w characters contains at least one whole stride-aligned window, so a record
   with no aligned window in the first array cannot share such a run: the scan is one vectorised hash and one
   `searchsorted` over all records together.
3. Confirm: around each aligned hit, the `chars` windows that contain it (they start at most chars - w
   before it) are looked up in the second array, and a hit there is compared character by character with
   the question it names. Hash collisions thus never drop a record, and a common short phrase ("which of the
   following is the most likely diagnosis") costs ~2·chars characters of hashing per occurrence, not one
   comparison per question that contains it.

Hashes are polynomial (h = Σ c[i+j]·B^(L-1-j) mod 2⁶⁴ over code points); every window of a long text is
hashed in a few numpy passes through prefix sums (`Prefix`).

A question shorter than `chars` cannot share such a run and is counted in `summary["short_questions"]`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from synth.quality.base import Doc, Stage, StageContext
from synth.quality.config import DecontaminationConfig
from synth.quality.text import normalise

if TYPE_CHECKING:
    import numpy as np

_BASE = 0x9E3779B97F4A7C15  # odd 64-bit multiplier; arithmetic wraps mod 2**64
_CHUNK = 4096  # records hashed per numpy pass


@dataclass(frozen=True)
class Question:
    source: str  # file or folder name as configured
    row: str  # row number (1-based; "split[row]" in a DatasetDict)
    id: str | None
    text: str  # normalised

    def label(self) -> str:
        return f"{self.source} #{self.row}" + (f" (id {self.id})" if self.id is not None else "")


@dataclass(frozen=True)
class Contamination:
    question: Question
    snippet: str  # the longest shared run around the first match (normalised text)
    record_pos: int


def _codes(text: str) -> np.ndarray:
    import numpy as np

    return np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)


class Prefix:
    """Prefix sums that give the hash of any window in O(1): with Q[i] = Σ_{k<i} c[k]·B⁻ᵏ (B is odd, so it has
    an inverse mod 2⁶⁴), the window [s, s+L) hashes to B^(s+L-1)·(Q[s+L] − Q[s]) = Σ c[k]·B^(s+L-1-k) —
    exactly the Horner hash, in a handful of vector passes whatever L is."""

    def __init__(self, codes: np.ndarray):
        import numpy as np

        n = len(codes)
        with np.errstate(over="ignore"):
            self.pow = self._powers(_BASE, n)
            inv = self._powers(pow(_BASE, -1, 2**64), n)
            self.q = np.concatenate([np.zeros(1, dtype=np.uint64), np.cumsum(codes * inv, dtype=np.uint64)])
        self.n = n

    @staticmethod
    def _powers(base: int, n: int) -> np.ndarray:
        """base**i mod 2⁶⁴ for i < n (cumprod wraps, as all uint64 arithmetic here)."""
        import numpy as np

        p = np.full(n, base, dtype=np.uint64)
        if n:
            p[0] = 1
        return np.cumprod(p, dtype=np.uint64)

    def windows(self, width: int) -> np.ndarray:
        """Hash of every `width`-long window, by start position."""
        import numpy as np

        m = self.n - width + 1
        if m <= 0:
            return np.zeros(0, dtype=np.uint64)
        with np.errstate(over="ignore"):
            return self.pow[width - 1 : width - 1 + m] * (self.q[width : width + m] - self.q[:m])  # type: ignore[no-any-return]


def window_hashes(codes: np.ndarray, width: int) -> np.ndarray:
    """Hash of every `width`-long window of `codes`: h = Σ_j c[i+j]·B^(width-1-j) mod 2⁶⁴."""
    return Prefix(codes).windows(width)


def _row_hashes(rows: np.ndarray) -> np.ndarray:
    """Hash of each row of a (k, width) array of code points: the same function as `window_hashes`, as one
    integer matrix-vector product (it wraps mod 2⁶⁴ like the rest)."""
    import numpy as np

    width = rows.shape[1]
    powers = np.array([pow(_BASE, width - 1 - j, 2**64) for j in range(width)], dtype=np.uint64)
    return rows @ powers  # type: ignore[no-any-return]


class HashSet:
    """Membership of 64-bit hashes: a sorted array, fronted by a bitmap over the hashes' top bits.

    `searchsorted` of millions of unsorted keys into millions of values is cache-bound (seconds); the bitmap
    (≈32 bits per value, so ≈3 % false hits) answers most keys with one memory access, and only the keys it
    lets through are sorted and searched.
    """

    def __init__(self, values: np.ndarray, presorted: bool = False):
        import numpy as np

        # Duplicates are harmless to searchsorted (and np.unique is slower than a sort).
        self.values = values if presorted else np.sort(values)
        self.bits = int(min(32, max(16, np.ceil(np.log2(max(len(values), 1) * 32)))))
        self.bitmap = np.zeros(2**self.bits // 8, dtype=np.uint8)
        b = self._buckets(self.values)
        np.bitwise_or.at(self.bitmap, b >> 3, (np.uint8(1) << (b & 7).astype(np.uint8)))

    def _buckets(self, h: np.ndarray) -> np.ndarray:
        import numpy as np

        return (h >> np.uint64(64 - self.bits)).astype(np.int64)  # type: ignore[no-any-return]

    def __len__(self) -> int:
        return len(self.values)

    def contains(self, h: np.ndarray) -> np.ndarray:
        import numpy as np

        out = np.zeros(len(h), dtype=bool)
        if not len(self.values) or not len(h):
            return out
        b = self._buckets(h)
        maybe = np.nonzero((self.bitmap[b >> 3] >> (b & 7).astype(np.uint8)) & 1)[0]
        keys = h[maybe]
        order = np.argsort(keys)
        idx = np.minimum(np.searchsorted(self.values, keys[order]), len(self.values) - 1)
        out[maybe[order]] = self.values[idx] == keys[order]
        return out


def _concat_hashes(texts: list[str], w: int, chars: int) -> tuple[np.ndarray, ...]:
    """For texts hashed as one concatenation: (w-window hashes, chars-window hashes, owner text, start of each
    text), each window array masked to windows inside one text (their first and last character's owner agree).
    """
    import numpy as np

    lens = np.array([len(t) for t in texts], dtype=np.int64)
    codes = _codes("".join(texts))
    owner = np.repeat(np.arange(len(texts), dtype=np.int32), lens)
    starts = np.concatenate([[0], np.cumsum(lens)[:-1]]).astype(np.int64)
    prefix = Prefix(codes)
    hw, hf = prefix.windows(w), prefix.windows(chars)
    small_ok = owner[: len(hw)] == owner[w - 1 : w - 1 + len(hw)]
    full_ok = owner[: len(hf)] == owner[chars - 1 : chars - 1 + len(hf)]
    return hw, small_ok, hf, full_ok, owner, starts


class BenchmarkIndex:
    """The hashed windows of a list of normalised benchmark questions (see the module docstring)."""

    def __init__(self, questions: list[Question], chars: int):
        import numpy as np

        self.questions = questions
        self.chars = chars
        self.w = chars // 2
        hw, small_ok, hf, full_ok, _, starts = _concat_hashes([q.text for q in questions], self.w, chars)
        self.small = HashSet(hw[small_ok])
        pos = np.nonzero(full_ok)[0]
        hf = hf[pos]
        order = np.argsort(hf)
        self.full = hf[order]
        self.full_set = HashSet(self.full, presorted=True)
        # Where each full window starts in the concatenation; its question and offset are derived on a hit.
        self.full_at = pos[order]
        self.starts = starts

    def candidates(self, texts: list[str]) -> dict[int, list[int]]:
        """Text index → start of each of its stride-aligned w-windows found in some question (texts with none
        are absent)."""
        import numpy as np

        w = self.w
        out: dict[int, list[int]] = {}
        for lo in range(0, len(texts), _CHUNK):
            chunk = [t[: len(t) - len(t) % w] for t in texts[lo : lo + _CHUNK]]
            text = "".join(chunk).encode("utf-32-le")
            rows = np.frombuffer(text, dtype=np.uint32).reshape(-1, w)
            if not len(rows):
                continue
            counts = np.array([len(t) // w for t in chunk])
            which = np.repeat(np.arange(len(chunk)), counts)
            first_row = np.concatenate([[0], np.cumsum(counts)[:-1]])
            for r in np.nonzero(self.small.contains(_row_hashes(rows)))[0]:
                i = int(which[r])
                out.setdefault(lo + i, []).append(int(r - first_row[i]) * w)
        return out

    def confirm(self, texts: list[str], candidates: dict[int, list[int]]) -> dict[int, Contamination]:
        """Text index → the first exact shared run of `chars` characters with a question.

        Only the neighbourhood of each aligned hit is hashed — the `chars` windows that contain it start
        within chars - w before it — so a common phrase costs ~2·chars characters per hit, not the record."""
        import numpy as np

        w, chars = self.w, self.chars
        spots = [(i, p) for i in sorted(candidates) for p in candidates[i]]
        found: dict[int, Contamination] = {}
        for lo in range(0, len(spots), _CHUNK * 8):
            part = spots[lo : lo + _CHUNK * 8]
            offs = [max(0, p + w - chars) for _, p in part]
            snippets = [texts[i][o : p + chars] for (i, p), o in zip(part, offs, strict=True)]
            _, _, hf, full_ok, owner, starts = _concat_hashes(snippets, w, chars)
            for g in np.nonzero(full_ok & self.full_set.contains(hf))[0]:
                k = int(owner[g])
                i = part[k][0]
                if i in found:
                    continue
                text, p = texts[i], offs[k] + int(g - starts[k])
                a = np.searchsorted(self.full, hf[g], side="left")
                b = np.searchsorted(self.full, hf[g], side="right")
                for m in range(a, b):
                    at = int(self.full_at[m])
                    qi = int(np.searchsorted(self.starts, at, side="right")) - 1
                    q, qp = self.questions[qi], at - int(self.starts[qi])
                    if text[p : p + chars] == q.text[qp : qp + chars]:
                        found[i] = Contamination(q, _grow(text, p, q.text, qp, chars), p)
                        break
        return found


def _grow(a: str, i: int, b: str, j: int, n: int) -> str:
    """The shared run a[i:i+n] == b[j:j+n], extended both ways as far as the texts agree."""
    while i > 0 and j > 0 and a[i - 1] == b[j - 1]:
        i, j, n = i - 1, j - 1, n + 1
    while i + n < len(a) and j + n < len(b) and a[i + n] == b[j + n]:
        n += 1
    return a[i : i + n].strip()


# ------------------------------------------------------------------------------------- benchmark files


def _rows(path: Path) -> list[tuple[str, Any]]:
    """(row label, raw record) of a .jsonl/.json/.parquet file, a datasets save_to_disk folder (every split),
    or a folder of such files."""
    from synth.cases.importers import iter_raw

    if path.is_dir():
        if (path / "dataset_info.json").exists() or (path / "dataset_dict.json").exists():
            import importlib

            # By name: a type checker run from the repository root would see its datasets/ data folder.
            datasets: Any = importlib.import_module("datasets")
            ds = datasets.load_from_disk(str(path))
            if isinstance(ds, datasets.DatasetDict):
                return [(f"{split}[{n}]", rec) for split in ds for n, rec in enumerate(ds[split], start=1)]
            return [(str(n), rec) for n, rec in enumerate(ds, start=1)]
        files = sorted(
            f for f in path.rglob("*") if f.is_file() and f.suffix.lower() in {".jsonl", ".json", ".parquet"}
        )
        if not files:
            raise ValueError(f"decontaminate: {path}: no dataset (save_to_disk) and no .jsonl/.json/.parquet")
        return [(f"{f.relative_to(path)}:{n}", rec) for f in files for n, rec in iter_raw(f)]
    if not path.exists():
        raise FileNotFoundError(f"decontaminate: benchmark {path} does not exist")
    return [(str(n), rec) for n, rec in iter_raw(path)]


def load_questions(paths: list[Path], field: str) -> tuple[list[Question], dict[str, int]]:
    """Normalised questions of every benchmark, and counts of what could not be used."""
    questions: list[Question] = []
    skipped = {"unreadable": 0, "no_field": 0}
    for path in paths:
        before = len(questions)
        for row, rec in _rows(Path(path)):
            if not isinstance(rec, dict):
                skipped["unreadable"] += 1  # a SkipRecord (bad JSON line) or a non-object row
                continue
            text = rec.get(field)
            if not isinstance(text, str) or not text.strip():
                skipped["no_field"] += 1
                continue
            rid = rec.get("id")
            questions.append(
                Question(Path(path).name, row, None if rid is None else str(rid), normalise(text))
            )
        if len(questions) == before:
            # A benchmark that yields nothing would make the stage pass everything without saying so.
            raise ValueError(f"decontaminate: no {field!r} text in {path}")
    return questions, skipped


class DecontaminationFilter(Stage):
    name: ClassVar[str] = "decontaminate"

    def __init__(self, cfg: DecontaminationConfig):
        self.cfg = cfg
        self._index: BenchmarkIndex | None = None
        self.summary: dict[str, Any] = {}

    @property
    def index(self) -> BenchmarkIndex:
        if self._index is None:
            questions, skipped = load_questions(self.cfg.benchmarks, self.cfg.field)
            self._index = BenchmarkIndex(questions, self.cfg.chars)
            self.summary.update(
                questions=len(questions),
                short_questions=sum(len(q.text) < self.cfg.chars for q in questions),
                skipped_rows=skipped,
            )
        return self._index

    def find(self, texts: list[str]) -> dict[int, Contamination]:
        """Position in `texts` → its contamination, for the texts that share a run with a question."""
        index = self.index
        norm = [normalise(t) for t in texts]
        candidates = index.candidates(norm)
        found = index.confirm(norm, candidates)
        # Candidates that did not confirm are shared w-windows only: common phrases, or hash collisions.
        self.summary["candidates"] = self.summary.get("candidates", 0) + len(candidates)
        return found

    async def run(self, docs: list[Doc], ctx: StageContext) -> list[Doc]:
        found = self.find([d.text for d in docs])
        kept = []
        for i, d in enumerate(docs):
            hit = found.get(i)
            if hit is None:
                kept.append(d)
                continue
            snippet = hit.snippet if len(hit.snippet) <= 120 else hit.snippet[:119] + "…"
            ctx.drop(
                d,
                self.name,
                f"contamination: shares {len(hit.snippet)} characters with {hit.question.label()}: "
                + json.dumps(snippet, ensure_ascii=False),
            )
        self.summary["dropped"] = self.summary.get("dropped", 0) + len(found)
        return kept
