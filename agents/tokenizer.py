"""Project-owned word-level tokenizer built from task instructions (no hub download).

Ids: 0 ``<pad>``, 1 ``<bos>``, 2 ``<eos>``, 3 ``<unk>``, then words in sorted order, so
the same instruction set always gives the same ids. ``encode`` returns a fixed-length
sequence ``[<bos>, words..., <eos>, <pad>...]``.

Out-of-vocabulary policy (``oov``): ``"error"`` raises ``OutOfVocabularyError`` naming
the word (default: an unseen instruction is a configuration mistake worth stopping
for); ``"unk"`` maps unknown words to ``<unk>``.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from agents.errors import OutOfVocabularyError, TokenizerError
from core.errors import not_allowed

log = logging.getLogger(__name__)

SPECIALS: tuple[str, ...] = ("<pad>", "<bos>", "<eos>", "<unk>")
PAD, BOS, EOS, UNK = range(4)
OOV_POLICIES: tuple[str, ...] = ("error", "unk")
OVERFLOW_POLICIES: tuple[str, ...] = ("error", "truncate")
_WORD = re.compile(r"[a-z0-9]+|[^\sa-z0-9]")


def split_words(text: str) -> list[str]:
    """Lower-case words and single punctuation marks."""
    return _WORD.findall(text.lower())


@dataclass
class WordTokenizer:
    """Word-level tokenizer with a fixed capacity (ids must fit the model's text vocabulary)."""

    words: list[str]
    capacity: int
    oov: str = "error"
    overflow: str = "truncate"
    _index: dict[str, int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if self.oov not in OOV_POLICIES:
            raise TokenizerError(not_allowed("oov", self.oov, OOV_POLICIES))
        if self.overflow not in OVERFLOW_POLICIES:
            raise TokenizerError(not_allowed("overflow", self.overflow, OVERFLOW_POLICIES))
        if self.vocab_size > self.capacity:
            raise TokenizerError(
                f"vocabulary of {self.vocab_size} ids (4 specials + {len(self.words)} words) exceeds "
                f"capacity={self.capacity}; allowed: at most {self.capacity - len(SPECIALS)} words"
            )
        self._index = {w: i + len(SPECIALS) for i, w in enumerate(self.words)}

    @classmethod
    def build(
        cls,
        instructions: Iterable[str],
        capacity: int,
        oov: str = "error",
        overflow: str = "truncate",
    ) -> WordTokenizer:
        """Vocabulary = every word of ``instructions`` (sorted, deduplicated)."""
        words = sorted({w for text in instructions for w in split_words(text)})
        return cls(words=words, capacity=capacity, oov=oov, overflow=overflow)

    @property
    def vocab_size(self) -> int:
        return len(SPECIALS) + len(self.words)

    def encode(self, text: str, length: int) -> list[int]:
        """Fixed-length ids ``[<bos>, words, <eos>, <pad>...]`` of ``text``."""
        ids = [BOS]
        for w in split_words(text):
            if w in self._index:
                ids.append(self._index[w])
            elif self.oov == "unk":
                ids.append(UNK)
            else:
                raise OutOfVocabularyError(
                    f"word {w!r} of instruction {text!r} is not in the tokenizer vocabulary "
                    f"({len(self.words)} words); allowed: known words, or build the tokenizer "
                    f"with oov='unk' to map unknown words to <unk>"
                )
        ids.append(EOS)
        if len(ids) > length:
            if self.overflow == "error":
                raise TokenizerError(
                    f"instruction {text!r} needs {len(ids)} tokens; allowed: at most length={length}"
                )
            log.warning("instruction %r truncated from %d to %d tokens", text, len(ids), length)
            ids = [*ids[: length - 1], EOS]
        return ids + [PAD] * (length - len(ids))

    def decode(self, ids: Iterable[int]) -> str:
        inv = {v: k for k, v in self._index.items()}
        return " ".join(
            inv.get(int(i), SPECIALS[int(i)] if int(i) < 4 else "?") for i in ids if int(i) > EOS
        )

    def to_dict(self) -> dict:
        return {
            "type": "word",
            "words": self.words,
            "capacity": self.capacity,
            "oov": self.oov,
            "overflow": self.overflow,
        }

    @classmethod
    def from_dict(cls, d: dict) -> WordTokenizer:
        if d.get("type") != "word" or not isinstance(d.get("words"), list):
            raise TokenizerError(not_allowed("tokenizer type", d.get("type"), ["word"]))
        return cls(
            words=list(d["words"]),
            capacity=int(d["capacity"]),
            oov=d["oov"],
            overflow=d["overflow"],
        )

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=1))

    @classmethod
    def load(cls, path: str | Path) -> WordTokenizer:
        return cls.from_dict(json.loads(Path(path).read_text()))
