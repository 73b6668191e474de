"""Tokenizers the text models learn from their training text, saved as JSON in the config.

Both kinds turn any text they cover back into exactly the same text (unicode,
tabs and line breaks included). A character tokenizer covers only the characters
of its training text: :meth:`CharTokenizer.encode` refuses others (training must
not silently change its data), while ``encode_lenient`` (what generation uses)
stands in a similar known character or leaves the unknown one out. Each token also has the bytes it stands for,
so a stream of tokens is decoded incrementally with :class:`StreamDecoder`
even when byte-level BPE splits a character across tokens.

No torch here; the ``tokenizers`` library is imported only for BPE.
"""

from __future__ import annotations

import codecs
import json
import unicodedata
from collections.abc import Sequence
from functools import lru_cache
from typing import Any, Optional, Protocol

from studio.core.capabilities import ModelError

from .config import TOKENIZER_KINDS

#: Characters an untrained character tokenizer knows: printable ASCII, tab and line break.
DEFAULT_CHARACTERS = "\t\n" + "".join(chr(c) for c in range(32, 127))
#: Stand-ins, best first, for characters a character model may not know (before trying the
#: other case and the letter without its accent).
SIMILAR = {
    "\t": " ", "\u00a0": " ", "\u2009": " ", "\u202f": " ",
    "\u201c": "\"'", "\u201d": "\"'", "\u201e": "\"'", "\u00ab": "\"'", "\u00bb": "\"'", '"': "'",
    "\u2018": "'", "\u2019": "'", "\u201a": "'", "`": "'", "\u00b4": "'", "'": "\u2019",
    "\u2013": "-", "\u2014": "-", "\u2212": "-", "\u2026": ".",
    "[": "(", "]": ")", "{": "(", "}": ")", ";": ",", ":": ",", "!": ".", "?": ".",
}


class Tokenizer(Protocol):
    kind: str
    vocab_size: int
    #: the token a generation starts from when the prompt is empty
    start_id: int

    def encode(self, text: str) -> list[int]: ...

    def encode_lenient(self, text: str) -> list[int]:
        """Like ``encode``, but what the tokenizer cannot cover is replaced or left out, never refused."""

    def decode(self, ids: Sequence[int]) -> str: ...

    def token_bytes(self, token: int) -> bytes: ...

    def to_json(self) -> str: ...


class CharTokenizer:
    """One token per distinct character of the training text."""

    kind = "char"

    def __init__(self, characters: str) -> None:
        if not characters:
            raise ModelError("A character tokenizer needs at least one character.")
        self.characters = characters
        self.vocab_size = len(characters)
        self._index = {c: i for i, c in enumerate(characters)}
        self._stand_ins: dict[str, Optional[int]] = {}
        self.start_id = self._index.get("\n", 0)

    @classmethod
    def learn(cls, text: str) -> CharTokenizer:
        return cls("".join(sorted(set(text))))

    def encode(self, text: str) -> list[int]:
        try:
            return [self._index[c] for c in text]
        except KeyError:
            unknown = sorted({c for c in text if c not in self._index})
            shown = ", ".join(repr(c) for c in unknown[:10])
            raise ModelError(f"The text has characters this model never saw in training ({shown}); "
                             f"it knows {self.vocab_size} characters. Remove them and try again.") from None

    def encode_lenient(self, text: str) -> list[int]:
        """The ids of ``text``, each character the model never saw replaced by :meth:`stand_in`
        (and left out when there is none): "Hi" for a model that knows only lower case is "hi"."""
        index = self._index
        ids = []
        for c in text:
            i = index.get(c)
            if i is None:
                i = self.stand_in(c)
                if i is None:
                    continue
            ids.append(i)
        return ids

    def stand_in(self, character: str) -> Optional[int]:
        """The id of a known character like ``character``, or None: first :data:`SIMILAR`'s,
        then the other case, then the letter without its accent."""
        if character not in self._stand_ins:
            plain = unicodedata.normalize("NFKD", character)[:1]
            candidates = SIMILAR.get(character, "") + character.swapcase() + plain + plain.swapcase()
            self._stand_ins[character] = next((self._index[c] for c in candidates if c in self._index), None)
        return self._stand_ins[character]

    def decode(self, ids: Sequence[int]) -> str:
        return "".join(self.characters[i] for i in ids)

    def token_bytes(self, token: int) -> bytes:
        return self.characters[token].encode("utf-8")

    def to_json(self) -> str:
        return json.dumps({"kind": "char", "characters": self.characters})


class ByteBPETokenizer:
    """Byte-level BPE (as GPT-2's): every byte is a token, plus merges learned from the text."""

    kind = "bpe"

    def __init__(self, tokenizer: Any) -> None:
        self._tokenizer = tokenizer
        self.vocab_size = tokenizer.get_vocab_size()
        to_byte = {char: byte for byte, char in _bytes_to_unicode().items()}
        self._bytes = [bytes(to_byte[c] for c in tokenizer.id_to_token(i)) for i in range(self.vocab_size)]
        self.start_id = tokenizer.token_to_id(_bytes_to_unicode()[ord("\n")])

    @classmethod
    def learn(cls, text: str, vocab_size: int) -> ByteBPETokenizer:
        from tokenizers import Tokenizer as HFTokenizer
        from tokenizers import decoders, models, pre_tokenizers, trainers

        if vocab_size < 256:
            raise ModelError(f"A byte-level BPE tokenizer needs bpe_vocab_size of at least 256, not {vocab_size}.")
        tokenizer = HFTokenizer(models.BPE())
        tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tokenizer.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(vocab_size=vocab_size, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                      special_tokens=[], show_progress=False)
        tokenizer.train_from_iterator([text], trainer)
        return cls(tokenizer)

    @classmethod
    def from_str(cls, serialised: str) -> ByteBPETokenizer:
        from tokenizers import Tokenizer as HFTokenizer

        return cls(HFTokenizer.from_str(serialised))

    def encode(self, text: str) -> list[int]:
        return self._tokenizer.encode(text).ids

    def encode_lenient(self, text: str) -> list[int]:
        return self.encode(text)  # every byte is a token: nothing is unknown

    def decode(self, ids: Sequence[int]) -> str:
        return b"".join(self._bytes[i] for i in ids).decode("utf-8", errors="replace")

    def token_bytes(self, token: int) -> bytes:
        return self._bytes[token]

    def to_json(self) -> str:
        return json.dumps({"kind": "bpe", "tokenizer": self._tokenizer.to_str()})


class StreamDecoder:
    """Text of a token stream, piece by piece: a token that ends inside a UTF-8
    character gives "" until the character is complete. The pieces of a stream
    (the last one fed with ``final=True``) add up to ``decode`` of all its tokens."""

    def __init__(self, tokenizer: Tokenizer) -> None:
        self._tokenizer = tokenizer
        self._utf8 = codecs.getincrementaldecoder("utf-8")(errors="replace")

    def feed(self, token: Optional[int], final: bool = False) -> str:
        """The text ``token`` completes; ``token`` None (with ``final``) flushes what is held back."""
        data = b"" if token is None else self._tokenizer.token_bytes(token)
        return self._utf8.decode(data, final=final)


def learn_tokenizer(kind: str, text: str, bpe_vocab_size: int) -> Tokenizer:
    """A tokenizer of ``kind`` learned from ``text``."""
    check_kind(kind)
    if kind == "char":
        return CharTokenizer.learn(text)
    return ByteBPETokenizer.learn(text, bpe_vocab_size)


def tokenizer_for(config: Any) -> Tokenizer:
    """The config's learned tokenizer, or an untrained one of its kind (printable
    ASCII characters, or the 256 bytes) so a default config builds a working model."""
    check_kind(config.tokenizer)
    if config.tokenizer_json:
        return tokenizer_from_json(config.tokenizer_json)
    if config.tokenizer == "char":
        return CharTokenizer(DEFAULT_CHARACTERS)
    return ByteBPETokenizer.learn("", 256)


def tokenizer_from_json(serialised: str) -> Tokenizer:
    try:
        data = json.loads(serialised)
        if data["kind"] == "char":
            return CharTokenizer(data["characters"])
        if data["kind"] == "bpe":
            return ByteBPETokenizer.from_str(data["tokenizer"])
    except ModelError:
        raise
    except Exception as exc:
        raise ModelError(f"The model's saved tokenizer is damaged ({exc}).") from exc
    raise ModelError(f"The model's saved tokenizer is of an unknown kind {data['kind']!r}.")


def check_kind(kind: str) -> None:
    if kind not in TOKENIZER_KINDS:
        raise ModelError(f"Unknown tokenizer {kind!r}; choose one of {', '.join(TOKENIZER_KINDS)}.")


@lru_cache(maxsize=1)
def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2's map from bytes to printable characters, which byte-level BPE tokens are spelled in."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) \
        + list(range(ord("®"), ord("ÿ") + 1))
    chars = printable[:]
    extra = 0
    for byte in range(256):
        if byte not in printable:
            printable.append(byte)
            chars.append(256 + extra)
            extra += 1
    return dict(zip(printable, map(chr, chars), strict=True))
