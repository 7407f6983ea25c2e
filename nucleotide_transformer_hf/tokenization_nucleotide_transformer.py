# Copyright 2026 The nucleotide-transformer-hf authors.
#
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#
#     http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS,
# WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
# See the License for the specific language governing permissions and
# limitations under the License.
"""Fast (Rust `tokenizers`) 6-mer tokenizer for the Nucleotide Transformer (NT v1 / v2).

This module is self-contained on purpose: it imports only the standard library, `tokenizers` and
`transformers`, so it can be copied next to a checkpoint and loaded as Hub remote code.
"""

import itertools
import os
import re

import numpy as np
from tokenizers import AddedToken, Regex, Tokenizer, decoders, normalizers, pre_tokenizers, processors
from tokenizers.models import WordLevel
from transformers import PreTrainedTokenizerFast
from transformers.tokenization_utils_base import BatchEncoding, TruncationStrategy
from transformers.utils import PaddingStrategy

NUCLEOTIDES = ("A", "T", "C", "G")
"""The four nucleotides in NT's vocabulary order (A, T, C, G — not alphabetical)."""

EXTRA_NUCLEOTIDES = ("N",)
"""Nucleotide tokens besides A/T/C/G; `N` is always a single token."""

IUPAC_AMBIGUITY_CODES = ("R", "Y", "S", "W", "K", "M", "B", "D", "H", "V")
"""IUPAC ambiguity codes accepted with `allow_iupac=True`; each one is tokenized as `N`."""

SPECIAL_TOKENS = ("<unk>", "<pad>", "<mask>", "<cls>", "<eos>", "<bos>")
"""The six special tokens of both vocabulary layouts."""

KMER_SIZE = 6
"""Length of the k-mer tokens."""

VOCAB_LAYOUTS = ("v1", "v2")
"""Known vocabulary layouts: `"v1"` (eos/bos last) and `"v2"` (eos/bos at ids 4/5)."""

DEFAULT_MODEL_MAX_LENGTH = {"v1": 1000, "v2": 2048}
"""Context length in tokens, `<cls>` included, of the models using each layout."""

_WHITESPACE = " \t\r\n"

# `__call__` options that need the generic (per-encoding Python lists) output path.
_GENERIC_PATH_OPTIONS = (
    "return_overflowing_tokens",
    "return_special_tokens_mask",
    "return_offsets_mapping",
    "return_length",
    "sanitize_control_tokens",
)

# Python-side policy: bytes that may appear anywhere in an input (deleted by `bytes.translate`, so a valid
# input translates to b"" without a Python-level loop).
_ALLOWED_BYTES = ("ACGTNacgtn" + _WHITESPACE).encode("ascii")
_IUPAC_LETTERS = "".join(IUPAC_AMBIGUITY_CODES) + "".join(IUPAC_AMBIGUITY_CODES).lower()
_ALLOWED_BYTES_IUPAC = _ALLOWED_BYTES + _IUPAC_LETTERS.encode("ascii")


# ---- vectorised path for plain A/C/G/T/N text -------------------------------------------------------------------

# Codes straight from the ASCII bytes of plain text, no lookup: `(byte >> 1) & 3` is A/a -> 0, C/c -> 1, T/t -> 2,
# G/g -> 3 ("bit order"), and bit 3 (0x08) is set in N, n and the batch separator "~" only (the run breaks).
_BIT_ORDER = "ACTG"
_SEPARATOR = "~"
_BREAK_BIT = np.uint8(0x08)
_WORD_BYTES = np.arange(8)  # byte offsets within a 64-bit word
_BIT_TO_VOCAB_DIGIT = np.array([NUCLEOTIDES.index(letter) for letter in _BIT_ORDER], dtype=np.int64)
# 6-mer value in bit order (base 4, first base most significant) -> the same 6-mer's value in vocabulary order.
_KMER_BIT_TO_VOCAB = sum(
    _BIT_TO_VOCAB_DIGIT[(np.arange(4**KMER_SIZE) >> (2 * (KMER_SIZE - 1 - i))) & 3] * 4 ** (KMER_SIZE - 1 - i)
    for i in range(KMER_SIZE)
)
_PLAIN_BYTES = b"ACGTNacgtn"
_CHUNK_BASES = 1 << 18  # bases per vectorised pass: its per-base buffers (a few hundred kB) stay in cache


def _plain_dna_chunks(texts: list) -> list[bytes] | None:
    """The texts as ASCII chunks of about `_CHUNK_BASES` bases, joined by the separator (whole texts, in order);
    None unless every text is a str of A/C/G/T/N only (either case). One C-level check per chunk, not per string."""
    chunks, start, bases = [], 0, 0
    separator = _SEPARATOR.encode("ascii")
    try:
        for end, text in enumerate([*texts, None]):
            if text is None or (end > start and bases + len(text) > _CHUNK_BASES):
                joined = _SEPARATOR.join(texts[start:end]).encode("ascii")
                # With the letters deleted, only the separators between texts may be left (one pass, no count).
                if joined.translate(None, _PLAIN_BYTES) != separator * (end - start - 1):
                    return None
                chunks.append(joined)
                start, bases = end, 0
            if text is not None:
                bases += len(text)
    except (TypeError, UnicodeEncodeError):  # not a str, or not ASCII
        return None
    return chunks


_KMER_ID_TABLES: dict[int, np.ndarray] = {}


def _kmer_id_table(first_kmer_id: int) -> np.ndarray:
    """6-mer value in bit order -> token id, for a vocabulary whose first 6-mer has id `first_kmer_id` (cached)."""
    if first_kmer_id not in _KMER_ID_TABLES:
        _KMER_ID_TABLES[first_kmer_id] = _KMER_BIT_TO_VOCAB + first_kmer_id
    return _KMER_ID_TABLES[first_kmer_id]


def _scratch(buffers: dict, name: str, dtype, size: int) -> np.ndarray:
    """A work buffer of `size` items kept in `buffers` from one chunk to the next (no fresh pages per chunk)."""
    buffer = buffers.get(name)
    if buffer is None or buffer.size < size:
        buffer = buffers[name] = np.empty(size, dtype=dtype)
    return buffer[:size]


def _spread(firsts: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """`[f, f + 1, ..., f + c - 1]` for each (f, c), concatenated."""
    steps = np.arange(int(counts.sum()), dtype=np.int64)
    return np.repeat(firsts - (np.cumsum(counts) - counts), counts) + steps


def _plain_dna_token_ids(
    joined: bytes, first_kmer_id: int, single_ids: np.ndarray, buffers: dict
) -> tuple[np.ndarray, np.ndarray]:
    """Token ids (no specials) of plain A/C/G/T/N strings (ASCII, joined by the separator: a `_plain_dna_chunks`
    chunk), concatenated, and the token count of each string.

    Same rule as the `tokenizers` pipeline: within each maximal run of A/C/G/T, 6-mers from the run's start and
    the remainder as single nucleotides; each N one token. Vectorised over the whole chunk, no per-base Python. Per
    base, five byte-wide passes into work buffers reused across chunks (`buffers`): the break flags (N and
    separators, then searched 8 bytes at a time), the 2-bit codes (two), and the value of the base pair at every
    position (two). A 6-mer's value is then read at its start as three pairs (three gathers per token), mapped to
    its id by one table, and written in order to the slots that tails and Ns leave free. `single_ids` are the ids
    of A, T, C, G, N. (numpy's uint8 `left_shift` is not vectorised, a multiplication is; `flatnonzero` is fast on
    booleans only; `take` converts indices that are not np.intp.)
    """
    raw = np.frombuffer(joined, dtype=np.uint8)
    size = raw.size
    words = -(-size // 8)
    flags = _scratch(buffers, "flags", np.uint8, 8 * words)
    np.bitwise_and(raw, _BREAK_BIT, out=flags[:size])
    flags[size:] = 0
    candidates = (np.flatnonzero(flags.view(np.uint64) != 0)[:, None] * 8 + _WORD_BYTES).ravel()
    breaks = candidates[flags[candidates] != 0]  # the A/C/G/T runs lie between
    is_n = raw[breaks] != np.uint8(ord(_SEPARATOR))
    codes = _scratch(buffers, "codes", np.uint8, size)
    np.right_shift(raw, np.uint8(1), out=codes)
    codes &= np.uint8(3)
    run_starts = np.concatenate(([0], breaks + 1))  # run r is [run_starts[r], run_ends[r]); breaks[r] follows it
    run_ends = np.concatenate((breaks, [size]))
    kmers = (run_ends - run_starts) // KMER_SIZE
    tails = run_ends - run_starts - kmers * KMER_SIZE
    # Output slot of each run's first token: the tokens of the runs before it and of their breaks (an N is one token).
    run_tokens = kmers + tails + np.append(is_n, False)
    first = np.concatenate(([0], np.cumsum(run_tokens)))
    total = int(first[-1])
    ids = np.empty(total, dtype=np.int64)
    tail_slots = _spread(first[:-1] + kmers, tails)
    n_slots = first[1:-1][is_n] - 1  # an N is the last token before the next run

    if size >= KMER_SIZE:
        pairs = _scratch(buffers, "pairs", np.uint8, size - 1)  # value of the base pair at each position
        np.multiply(codes[:-1], np.uint8(4), out=pairs)
        pairs |= codes[1:]
        kmers_before = np.cumsum(kmers) - kmers
        # Positions and values as np.intp: `take` converts any other index type first.
        starts = np.repeat((run_starts - KMER_SIZE * kmers_before).astype(np.intp), kmers)
        starts += np.arange(0, KMER_SIZE * int(kmers.sum()), KMER_SIZE, dtype=np.intp)
        values = pairs.take(starts).astype(np.intp)
        for offset in (2, 4):
            values *= 16
            values |= pairs[offset:].take(starts)
        is_kmer = np.ones(total, dtype=bool)
        is_kmer[tail_slots] = False
        is_kmer[n_slots] = False
        ids[is_kmer] = _kmer_id_table(first_kmer_id).take(values)

    tail_bases = _spread(run_starts + kmers * KMER_SIZE, tails)
    ids[tail_slots] = single_ids[_BIT_TO_VOCAB_DIGIT[codes[tail_bases]]]
    ids[n_slots] = single_ids[4]
    # Tokens up to each separator, hence per string.
    before = first[1:-1][~is_n]
    return ids, np.diff(np.concatenate(([0], before, [total])))


class _LazyEncodingsBatch(BatchEncoding):
    """A `BatchEncoding` whose `tokenizers` encodings (`.tokens()`, `.char_to_token()`, ...) are computed on first
    use, so that tensor-only calls never pay for offsets they do not read."""

    def __init__(self, data, compute_encodings, tensor_type):
        self._compute_encodings = compute_encodings
        super().__init__(data, encoding=None, tensor_type=tensor_type)

    @property
    def _encodings(self):
        if self._computed is None and self._compute_encodings is not None:
            self._computed = self._compute_encodings()
        return self._computed

    @_encodings.setter
    def _encodings(self, value):
        self._computed = value

    @property
    def is_fast(self) -> bool:
        return True


def build_vocab(layout: str = "v2") -> list[str]:
    """Return the 4107-token NT vocabulary, in id order, for a vocabulary layout.

    * `"v1"`: `[<unk>, <pad>, <mask>, <cls>] + 6-mers + [A, T, C, G, N] + [<eos>, <bos>]`
      (`AAAAAA` = 4, `A` = 4100, `N` = 4104, `<eos>` = 4105, `<bos>` = 4106).
    * `"v2"`: `[<unk>, <pad>, <mask>, <cls>, <eos>, <bos>] + 6-mers + [A, T, C, G, N]`
      (`AAAAAA` = 6, `N` = 4106).

    The 4096 6-mers are `itertools.product("ATCG", repeat=6)` (last position varies fastest), so
    `id(kmer) = first_kmer_id + sum(idx(c_i) * 4 ** (5 - i))` with A=0, T=1, C=2, G=3.

    Args:
        layout: `"v1"` or `"v2"`.

    Returns:
        The tokens; a token's id is its index.
    """
    if layout not in VOCAB_LAYOUTS:
        raise ValueError(f"Unknown NT vocabulary layout {layout!r}; expected one of {VOCAB_LAYOUTS}.")
    kmers = ["".join(kmer) for kmer in itertools.product(NUCLEOTIDES, repeat=KMER_SIZE)]
    standard = kmers + list(NUCLEOTIDES) + list(EXTRA_NUCLEOTIDES)
    if layout == "v1":
        return list(SPECIAL_TOKENS[:4]) + standard + list(SPECIAL_TOKENS[4:])
    return list(SPECIAL_TOKENS) + standard


def read_vocab_file(path: str | os.PathLike) -> list[str]:
    """Read a published NT `vocab.txt` (one token per line, id = line number) into a token list.

    Surrounding whitespace on each line and empty lines at the end of the file are ignored.
    """
    with open(path, encoding="utf-8") as handle:
        tokens = [line.strip() for line in handle.read().splitlines()]
    while tokens and not tokens[-1]:
        tokens.pop()
    return tokens


def detect_vocab_layout(vocab: list[str]) -> str:
    """Return `"v1"` or `"v2"` for a vocabulary (tokens in id order) that is exactly one of the NT layouts.

    Raises:
        ValueError: if the vocabulary matches neither layout (for example a 3-mer vocabulary).
    """
    vocab = list(vocab)
    for layout in VOCAB_LAYOUTS:
        if vocab == build_vocab(layout):
            return layout
    expected = len(build_vocab("v2"))
    if len(vocab) != expected:
        detail = f"it has {len(vocab)} tokens, both layouts have {expected}"
    else:
        first_diff = {
            layout: next(i for i, (a, b) in enumerate(zip(vocab, build_vocab(layout))) if a != b)
            for layout in VOCAB_LAYOUTS
        }
        detail = ", ".join(
            f"{layout} expects {build_vocab(layout)[i]!r} at id {i} but found {vocab[i]!r}"
            for layout, i in first_diff.items()
        )
    raise ValueError(
        "Vocabulary is not a Nucleotide Transformer 6-mer vocabulary in the v1 layout "
        "([<unk>,<pad>,<mask>,<cls>] + 6-mers + [A,T,C,G,N] + [<eos>,<bos>]) or the v2 layout "
        f"([<unk>,<pad>,<mask>,<cls>,<eos>,<bos>] + 6-mers + [A,T,C,G,N]): {detail}."
    )


def _build_backend(vocab: list[str], unk_token: str) -> Tokenizer:
    """The Rust pipeline: normalize (case, IUPAC, whitespace), split into 6-mers / singles, WordLevel lookup."""
    backend = Tokenizer(WordLevel({token: i for i, token in enumerate(vocab)}, unk_token=unk_token))
    # One-to-one replacements keep offsets aligned with the original string; whitespace removed from inside
    # a token stays inside that token's offsets, whitespace between tokens belongs to none.
    backend.normalizer = normalizers.Sequence(
        [normalizers.Replace(letter.lower(), letter) for letter in NUCLEOTIDES + EXTRA_NUCLEOTIDES]
        + [
            normalizers.Replace(Regex(f"[{_IUPAC_LETTERS}]"), "N"),
            normalizers.Replace(Regex("[ \t\r\n]"), ""),
        ]
    )
    # Leftmost non-overlapping 6-mers of A/C/G/T; anything else (tails shorter than 6, N) one character each.
    backend.pre_tokenizer = pre_tokenizers.Split(Regex(f"[ACGT]{{{KMER_SIZE}}}|[^\\s]"), behavior="isolated")
    backend.decoder = decoders.Fuse()
    backend.add_special_tokens(
        [AddedToken(token, special=True, normalized=False) for token in SPECIAL_TOKENS if token in vocab]
    )
    return backend


class NucleotideTransformerTokenizerFast(PreTrainedTokenizerFast):
    r"""
    Fast tokenizer for the Nucleotide Transformer (v1 and v2), backed by the Rust `tokenizers` library.

    It reproduces the ids of the reference JAX tokenizer and of the `EsmTokenizer` shipped with the Hub
    checkpoints (`eos_token=None`) on upper-case A/C/G/T/N input, and adds a documented policy for the rest.

    Tokenization rules:

    * **6-mers**: the sequence is cut into non-overlapping 6-mers from the left.
    * **Tails**: a run of A/C/G/T shorter than 6 (at the end, or before an `N`) becomes one token per nucleotide.
    * **N**: each `N` is its own token and the 6-mer grid restarts right after it.
    * **Case**: lower-case `a c g t n` are tokenized exactly like upper case.
    * **Whitespace**: space, `\t`, `\r` and `\n` anywhere in a sequence (e.g. FASTA line breaks) are removed
      *before* the 6-mer grid is laid, so `"ACG\nTGT"` is the single token `ACGTGT`. Offsets
      (`return_offsets_mapping=True`) still index into the original string; a token's span may then contain the
      removed whitespace.
    * **IUPAC codes** `R Y S W K M B D H V` (either case) are rejected by default; with `allow_iupac=True`
      each becomes an `N` token.
    * **Special tokens** `<unk> <pad> <mask> <cls> <eos> <bos>` written literally in the text are kept as
      single tokens with their vocabulary ids (so `"ACGT<mask>ACGT"` works with the fill-mask pipeline),
      except `<eos>`/`<bos>` with the v1 layout, whose ids (4105/4106) have no embedding row in the v1 models.
      Every encoding starts with `<cls>`; no `<eos>` is ever appended (NT has no EOS), and a pair is
      `<cls> A B`.
    * **Errors**: any other character raises `ValueError` naming the character, its 0-based position in the
      string and, for batch input, the index of the sequence. An encoding longer than `model_max_length`
      raises `ValueError` unless `truncation=True` is passed (then it is truncated as usual). Pre-tokenized
      input (`is_split_into_words=True`) raises `NotImplementedError`, because per-word 6-mer grids would
      silently differ from the grid of the joined sequence.
    * **model_max_length** defaults to the model context in tokens, `<cls>` included: 1000 for the v1
      layout (up to 5,994 bp), 2048 for v2 (up to 12,282 bp).

    The checks run in Python before encoding (one C-level scan per string); everything else runs in Rust, except
    the common tensor-only call (`return_tensors="pt"` or `"np"` on plain A/C/G/T/N text, no offsets, overflow,
    special-tokens mask, lengths or pairs), which a vectorised numpy encoder answers with the same ids (property-
    tested against the Rust pipeline); its `.encodings` (`.tokens()`, `.char_to_token()`, ...) are computed on
    first use. Calling the backend (`tokenizer.backend_tokenizer`) directly skips the checks: unknown characters
    then become one `<unk>` each and IUPAC codes always become `N`.

    Args:
        vocab_file (`str`, *optional*):
            A published NT `vocab.txt` (v1 or v2 layout, detected automatically).
        tokenizer_file (`str`, *optional*):
            A `tokenizer.json` written by `save_pretrained`; takes precedence over `vocab_file`.
        vocab_layout (`str`, *optional*, defaults to `"v2"`):
            `"v1"` or `"v2"`; used only when neither file is given. With a file, the layout is detected from the
            file's vocabulary and this argument is ignored.
        model_max_length (`int`, *optional*):
            Longest accepted encoding in tokens, `<cls>` included. Defaults to 1000 (v1) / 2048 (v2).
        allow_iupac (`bool`, *optional*, defaults to `False`):
            Accept the IUPAC ambiguity codes and tokenize each as `N`.
        unk_token, pad_token, mask_token, cls_token (`str`):
            The special tokens; the defaults are the ones of the NT vocabularies.
        eos_token, bos_token (`str`, *optional*, default to `None`):
            Not used by NT; kept `None` so that nothing is ever appended.

    Example:

    ```python
    >>> tokenizer = NucleotideTransformerTokenizerFast(vocab_layout="v1")
    >>> tokenizer("ACGTGTACNTGCACGGA")["input_ids"]
    [3, 737, 4100, 4102, 4104, 1935, 4103, 4100]
    ```
    """

    vocab_files_names = {"vocab_file": "vocab.txt", "tokenizer_file": "tokenizer.json"}
    model_input_names = ["input_ids", "attention_mask"]
    slow_tokenizer_class = None

    def __init__(
        self,
        vocab_file: str | None = None,
        tokenizer_file: str | None = None,
        vocab_layout: str = "v2",
        model_max_length: int | None = None,
        allow_iupac: bool = False,
        unk_token: str = "<unk>",
        pad_token: str = "<pad>",
        mask_token: str = "<mask>",
        cls_token: str = "<cls>",
        eos_token: str | None = None,
        bos_token: str | None = None,
        **kwargs,
    ):
        tokenizer_object = kwargs.pop("tokenizer_object", None)  # given by `train_new_from_iterator`
        if tokenizer_object is not None:
            backend = Tokenizer.from_str(tokenizer_object.to_str())
        elif tokenizer_file is not None and os.path.isfile(tokenizer_file):
            backend = Tokenizer.from_file(tokenizer_file)
        else:
            vocab = read_vocab_file(vocab_file) if vocab_file is not None else build_vocab(vocab_layout)
            backend = _build_backend(vocab, str(unk_token))
        base_vocab = backend.get_vocab(with_added_tokens=False)
        vocab_layout = detect_vocab_layout(sorted(base_vocab, key=base_vocab.__getitem__))

        self._tokenizer = backend
        self.vocab_layout = vocab_layout
        self.allow_iupac = bool(allow_iupac)
        if model_max_length is None:
            model_max_length = DEFAULT_MODEL_MAX_LENGTH[vocab_layout]
        super().__init__(
            vocab_file=vocab_file,
            vocab_layout=vocab_layout,
            model_max_length=model_max_length,
            allow_iupac=self.allow_iupac,
            unk_token=unk_token,
            pad_token=pad_token,
            mask_token=mask_token,
            cls_token=cls_token,
            eos_token=eos_token,
            bos_token=bos_token,
            **kwargs,
        )
        self.update_post_processor()

    @classmethod
    def convert_to_native_format(cls, trust_remote_code=False, **kwargs):
        """Pass the saved files through untouched: `__init__` loads `tokenizer.json` (or `vocab.txt`) itself."""
        return kwargs

    @classmethod
    def from_vocab_file(cls, vocab_file: str | os.PathLike, **kwargs) -> "NucleotideTransformerTokenizerFast":
        """Build the tokenizer from a published checkpoint's `vocab.txt` (v1 or v2 layout, auto-detected).

        `vocab_file` may also be the checkpoint folder that contains `vocab.txt`. Keyword arguments go to
        the constructor (e.g. `model_max_length`, `allow_iupac`).
        """
        vocab_file = os.fspath(vocab_file)
        if os.path.isdir(vocab_file):
            vocab_file = os.path.join(vocab_file, cls.vocab_files_names["vocab_file"])
        return cls(vocab_file=vocab_file, **kwargs)

    @property
    def can_save_slow_tokenizer(self) -> bool:
        # False keeps `tokenizer_class` in tokenizer_config.json as this class's name (no "Fast" stripping).
        return False

    def update_post_processor(self):
        """Install the NT template: `<cls> $A` for one sequence, `<cls> $A $B` for a pair, never an EOS."""
        cls_token = str(self.cls_token)
        self._tokenizer.post_processor = processors.TemplateProcessing(
            single=f"{cls_token}:0 $A:0",
            pair=f"{cls_token}:0 $A:0 $B:1",
            special_tokens=[(cls_token, self.cls_token_id)],
        )

    def build_inputs_with_special_tokens(
        self, token_ids_0: list[int], token_ids_1: list[int] | None = None
    ) -> list[int]:
        """Prepend `<cls>` (to the first sequence of a pair); no EOS or separator is added."""
        return [self.cls_token_id] + token_ids_0 + (token_ids_1 or [])

    def get_special_tokens_mask(
        self, token_ids_0: list[int], token_ids_1: list[int] | None = None, already_has_special_tokens: bool = False
    ) -> list[int]:
        """1 for a special token, 0 for a sequence token (`<cls>` is the only one this tokenizer adds)."""
        if already_has_special_tokens:
            return super().get_special_tokens_mask(token_ids_0, token_ids_1, already_has_special_tokens=True)
        return [1] + [0] * len(token_ids_0) + [0] * len(token_ids_1 or [])

    # ---- validation -------------------------------------------------------------------------------------------

    def _find_invalid_character(self, text: str, literal_tokens: bool = True) -> tuple[int, str] | None:
        allowed = _ALLOWED_BYTES_IUPAC if self.allow_iupac else _ALLOWED_BYTES
        if text.isascii() and not text.encode("ascii").translate(None, allowed):
            return None
        # Slow path, only for inputs that contain something else: skip literal added/special tokens.
        tokens = [t.content for t in self._tokenizer.get_added_tokens_decoder().values()] if literal_tokens else []
        if self.vocab_layout == "v1":  # <eos>/<bos> (ids 4105/4106) have no embedding row in the v1 models
            tokens = [token for token in tokens if token not in SPECIAL_TOKENS[4:]]
        tokens.sort(key=len, reverse=True)
        letters = "ACGTNacgtn" + (_IUPAC_LETTERS if self.allow_iupac else "")
        pattern = "".join(re.escape(token) + "|" for token in tokens) + f"[{letters}{_WHITESPACE}]+|(.)"
        for match in re.finditer(pattern, text, flags=re.DOTALL):
            if match.group(1) is not None:
                return match.start(1), match.group(1)
        return None

    def _validate(self, texts, is_batched: bool, argument: str = "text", split_special_tokens=None) -> None:
        if split_special_tokens is None:
            split_special_tokens = self.split_special_tokens
        for index, text in enumerate(texts):
            if not isinstance(text, str):
                continue  # the base class reports wrong input types
            found = self._find_invalid_character(text, literal_tokens=not split_special_tokens)
            if found is None:
                continue
            position, char = found
            where = f"sequence {index} of the batch" if is_batched else "the sequence"
            if argument != "text":
                where += f" (`{argument}`)"
            message = f"Invalid character {char!r} at position {position} of {where}."
            if char.upper() in IUPAC_AMBIGUITY_CODES:
                message += (
                    f" {char!r} is an IUPAC ambiguity code: pass allow_iupac=True to the tokenizer to tokenize "
                    "IUPAC codes (R, Y, S, W, K, M, B, D, H, V) as N."
                )
            else:
                if char in "Uu":
                    message += " RNA input must be written with T instead of U."
                elif char == "<" and self.vocab_layout == "v1" and text.startswith(SPECIAL_TOKENS[4:], position):
                    message += " <eos> and <bos> have no embedding in the v1 models and are refused in the text."
                message += (
                    " Nucleotide Transformer tokenizers accept A, C, G, T and N (either case), whitespace "
                    "(space, \\t, \\r, \\n), literal special tokens such as <mask>"
                    + (" and IUPAC ambiguity codes." if self.allow_iupac else "; IUPAC codes need allow_iupac=True.")
                )
            raise ValueError(message)

    def _check_lengths(self, encodings, is_batched: bool) -> None:
        limit = self.model_max_length
        if not encodings or max(len(e) for e in encodings) <= limit:
            return
        for index, encoding in enumerate(encodings):
            length = sum(encoding.attention_mask)  # padding excluded
            if length > limit:
                where = f"Sequence {index} of the batch" if is_batched else "The sequence"
                raise ValueError(
                    f"{where} is {length} tokens long (<cls> included), more than the tokenizer's "
                    f"model_max_length={limit}. Pass truncation=True to cut it to {limit} tokens, or split the "
                    "sequence into windows."
                )

    def _encode_plus(self, text, text_pair=None, **kwargs):
        if kwargs.get("is_split_into_words"):
            raise NotImplementedError(
                "NucleotideTransformerTokenizerFast does not accept pre-tokenized input (is_split_into_words=True): "
                "each word would get its own 6-mer grid. Join the pieces into one string per sequence instead."
            )
        is_batched = isinstance(text, (list, tuple))
        split = kwargs.get("split_special_tokens")
        texts = list(text) if is_batched else [text]
        # Plain A/C/G/T/N strings are valid by construction: one byte-level check serves both purposes.
        chunks = _plain_dna_chunks(texts) if text_pair is None else None
        plain = chunks is not None
        if not plain:
            self._validate(texts, is_batched, split_special_tokens=split)
        if text_pair is not None:
            self._validate(
                text_pair if is_batched else [text_pair], is_batched, argument="text_pair", split_special_tokens=split
            )
        check_length = kwargs.get("truncation_strategy", TruncationStrategy.DO_NOT_TRUNCATE) == (
            TruncationStrategy.DO_NOT_TRUNCATE
        )
        if self._can_encode_to_arrays(text, text_pair, kwargs):
            if plain:
                encoded = self._encode_plain_dna_to_arrays(texts, chunks, is_batched, check_length, **kwargs)
                if encoded is not None:
                    return encoded
            return self._encode_to_arrays(text, text_pair, is_batched, check_length, **kwargs)
        encoded = super()._encode_plus(text, text_pair=text_pair, **kwargs)
        if check_length:
            self._check_lengths(encoded.encodings, is_batched)
        return encoded

    def _can_encode_to_arrays(self, text, text_pair, kwargs) -> bool:
        # The common "tensors of ids + attention mask" call; everything else takes the generic path.
        return_tensors = kwargs.get("return_tensors")
        if return_tensors is None or str(getattr(return_tensors, "value", return_tensors)) not in ("pt", "np"):
            return False
        if any(kwargs.get(name) for name in _GENERIC_PATH_OPTIONS):
            return False
        if kwargs.get("return_token_type_ids") or (isinstance(text, (list, tuple)) and not text):
            return False
        return text_pair is None or isinstance(text_pair, (str, list, tuple))

    def _encode_plain_dna_to_arrays(self, texts, chunks, is_batched, check_length, **kwargs) -> BatchEncoding | None:
        # Vectorised numpy tokenization of plain A/C/G/T/N strings, bit-identical to the `tokenizers` pipeline;
        # returns None (generic path) when the result would be ragged, which only the generic path reports.
        token_id = self._tokenizer.token_to_id
        single_ids = np.array([token_id(letter) for letter in NUCLEOTIDES + EXTRA_NUCLEOTIDES], dtype=np.int64)
        first_kmer_id = token_id("A" * KMER_SIZE)
        pieces, counts, buffers = [], [], {}
        for joined in chunks:
            ids, chunk_counts = _plain_dna_token_ids(joined, first_kmer_id, single_ids, buffers)
            pieces.append(ids)
            counts.append(chunk_counts)
        specials = 1 if kwargs.get("add_special_tokens", True) else 0
        max_length = kwargs.get("max_length")
        truncate = kwargs.get("truncation_strategy", TruncationStrategy.DO_NOT_TRUNCATE) != (
            TruncationStrategy.DO_NOT_TRUNCATE
        )
        if truncate and max_length is not None:
            for index, (ids, chunk_counts) in enumerate(zip(pieces, counts)):
                if (chunk_counts + specials > max_length).any():
                    keep = np.minimum(chunk_counts, max(max_length - specials, 0))
                    rank = np.arange(ids.size) - np.repeat(np.cumsum(chunk_counts) - chunk_counts, chunk_counts)
                    pieces[index], counts[index] = ids[rank < np.repeat(keep, chunk_counts)], keep
        chunk_rows = np.cumsum([0] + [c.size for c in counts])
        counts = np.concatenate(counts)
        lengths = counts + specials
        if check_length and lengths.size and lengths.max() > self.model_max_length:
            index = int(np.argmax(lengths > self.model_max_length))
            where = f"Sequence {index} of the batch" if is_batched else "The sequence"
            raise ValueError(
                f"{where} is {int(lengths[index])} tokens long (<cls> included), more than the tokenizer's "
                f"model_max_length={self.model_max_length}. Pass truncation=True to cut it to "
                f"{self.model_max_length} tokens, or split the sequence into windows."
            )

        padding = kwargs.get("padding_strategy", PaddingStrategy.DO_NOT_PAD)
        width = int(lengths.max()) if lengths.size else 0
        if padding == PaddingStrategy.MAX_LENGTH and max_length is not None:
            width = max(width, max_length)
        elif padding == PaddingStrategy.DO_NOT_PAD and len(set(lengths.tolist())) > 1:
            return None
        multiple = kwargs.get("pad_to_multiple_of")
        if padding != PaddingStrategy.DO_NOT_PAD and multiple and width % multiple:
            width += multiple - width % multiple

        left = (kwargs.get("padding_side") or self.padding_side) == "left"
        row_start = width - lengths if left else np.zeros_like(lengths)
        columns = np.arange(width)
        row_end = (row_start + lengths)[:, None]
        input_ids = np.full((len(texts), width), self.pad_token_id, dtype=np.int64)
        body_start = (row_start + specials)[:, None]
        for ids, first, last in zip(pieces, chunk_rows[:-1], chunk_rows[1:]):
            # A boolean mask fills in row-major order, i.e. each row's ids in turn: no per-token index arithmetic.
            rows = slice(first, last)
            input_ids[rows][(columns >= body_start[rows]) & (columns < row_end[rows])] = ids
        if specials:
            input_ids[np.arange(len(texts)), row_start] = self.cls_token_id
        data = {"input_ids": input_ids}
        return_attention_mask = kwargs.get("return_attention_mask")
        if return_attention_mask is None or return_attention_mask:
            mask = np.empty((len(texts), width), dtype=np.int64)
            if left:  # the comparison writes straight into the int64 mask (no boolean temporary)
                np.greater_equal(columns, row_start[:, None], out=mask, casting="unsafe")
            else:
                np.less(columns, row_end, out=mask, casting="unsafe")
            data["attention_mask"] = mask
        return_tensors = kwargs["return_tensors"]
        if str(getattr(return_tensors, "value", return_tensors)) == "pt":
            import torch

            data = {key: torch.from_numpy(value) for key, value in data.items()}
            return_tensors = None  # already tensors

        def compute_encodings():
            settings = {
                key: kwargs.get(key, default)
                for key, default in (
                    ("padding_strategy", PaddingStrategy.DO_NOT_PAD),
                    ("truncation_strategy", TruncationStrategy.DO_NOT_TRUNCATE),
                    ("max_length", None),
                    ("stride", 0),
                    ("pad_to_multiple_of", None),
                    ("padding_side", None),
                )
            }
            self.set_truncation_and_padding(**settings)
            return self._tokenizer.encode_batch(texts, add_special_tokens=kwargs.get("add_special_tokens", True))

        return _LazyEncodingsBatch(data, compute_encodings, tensor_type=return_tensors)

    def _encode_to_arrays(self, text, text_pair, is_batched, check_length, **kwargs) -> BatchEncoding:
        # Same encodings as `TokenizersBackend._encode_plus`, but the padded ids and mask go to numpy in one
        # step instead of through per-sequence Python lists and `torch.tensor` on nested lists.
        if is_batched:
            batch = list(zip(text, text_pair)) if text_pair is not None else list(text)
        else:
            batch = [(text, text_pair)] if text_pair else [text]
        self.set_truncation_and_padding(
            padding_strategy=kwargs.get("padding_strategy", PaddingStrategy.DO_NOT_PAD),
            truncation_strategy=kwargs.get("truncation_strategy", TruncationStrategy.DO_NOT_TRUNCATE),
            max_length=kwargs.get("max_length"),
            stride=kwargs.get("stride", 0),
            pad_to_multiple_of=kwargs.get("pad_to_multiple_of"),
            padding_side=kwargs.get("padding_side"),
        )
        split_special_tokens = kwargs.get("split_special_tokens")
        if split_special_tokens is None:
            split_special_tokens = self.split_special_tokens
        self._tokenizer.encode_special_tokens = split_special_tokens
        encodings = self._tokenizer.encode_batch(batch, add_special_tokens=kwargs.get("add_special_tokens", True))
        if check_length:
            self._check_lengths(encodings, is_batched)

        return_attention_mask = kwargs.get("return_attention_mask")
        if return_attention_mask is None:
            return_attention_mask = "attention_mask" in self.model_input_names
        if len({len(encoding) for encoding in encodings}) == 1:
            data = {"input_ids": np.array([encoding.ids for encoding in encodings], dtype=np.int64)}
            if return_attention_mask:
                data["attention_mask"] = np.array([e.attention_mask for e in encodings], dtype=np.int64)
            if str(getattr(kwargs["return_tensors"], "value", kwargs["return_tensors"])) == "pt":
                import torch

                data = {key: torch.from_numpy(value) for key, value in data.items()}
        else:  # ragged: let BatchEncoding raise (pt) or build object arrays (np) exactly as the generic path does
            data = {"input_ids": [encoding.ids for encoding in encodings]}
            if return_attention_mask:
                data["attention_mask"] = [encoding.attention_mask for encoding in encodings]
        return BatchEncoding(data, encodings, tensor_type=kwargs["return_tensors"])

    def tokenize(self, text: str, pair: str | None = None, add_special_tokens: bool = False, **kwargs) -> list[str]:
        """Token strings of `text` (validated like `__call__`, but never rejected for its length)."""
        split = kwargs.get("split_special_tokens")
        self._validate([text], False, split_special_tokens=split)
        if pair is not None:
            self._validate([pair], False, argument="text_pair", split_special_tokens=split)
        return super()._encode_plus(text=text, text_pair=pair, add_special_tokens=add_special_tokens, **kwargs).tokens()

    def _eventual_warn_about_too_long_sequence(self, ids, max_length, verbose):
        # Too-long inputs raise in `_check_lengths` instead of warning.
        return

    # ---- saving -----------------------------------------------------------------------------------------------

    def save_vocabulary(self, save_directory: str, filename_prefix: str | None = None) -> tuple[str]:
        """Write `vocab.txt` in the published layout: one token per line, line number = id."""
        vocab = self._tokenizer.get_vocab(with_added_tokens=False)
        path = os.path.join(save_directory, (filename_prefix + "-" if filename_prefix else "") + "vocab.txt")
        with open(path, "w", encoding="utf-8") as handle:
            handle.write("\n".join(sorted(vocab, key=vocab.__getitem__)))
        return (path,)

    def _save_pretrained(self, save_directory, file_names, legacy_format=None, filename_prefix=None):
        file_names = super()._save_pretrained(save_directory, file_names, legacy_format, filename_prefix)
        return file_names + self.save_vocabulary(str(save_directory), filename_prefix)


__all__ = [
    "DEFAULT_MODEL_MAX_LENGTH",
    "IUPAC_AMBIGUITY_CODES",
    "KMER_SIZE",
    "NUCLEOTIDES",
    "NucleotideTransformerTokenizerFast",
    "SPECIAL_TOKENS",
    "VOCAB_LAYOUTS",
    "build_vocab",
    "detect_vocab_layout",
    "read_vocab_file",
]
