"""DNA utilities, each once: reverse complement, gzip-aware reading, FASTA records, file-name rules, windows, and the
context <-> base-pair arithmetic. No torch, no transformers: every other module builds on this one.

Why by hand: FASTA here is read whole and sequentially (pretraining windows, labelled task files), where a
three-branch parser is all it takes; random access into an indexed genome (VCF scoring) goes through pysam or
pyfaidx instead (`variants.ReferenceGenome`).
"""

import gzip
import io
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from .errors import InputError

KMER_SIZE = 6
"""Bases in a full token (the tokenizer's `KMER_SIZE`; kept here so that this module needs no tokenizer import)."""

FASTA_SUFFIXES = (".fa", ".fasta", ".fna", ".fas")
"""File-name endings read as FASTA, each optionally followed by `.gz`."""

TABLE_SUFFIXES = (".csv", ".tsv", ".txt")
"""File-name endings read as tables (`.tsv` and `.txt` tab-separated), each optionally followed by `.gz`."""

GZIP_MAGIC = b"\x1f\x8b"

# IUPAC complements, both cases (case is kept: the reverse complement of soft-masked `acg` is `cgt`).
_COMPLEMENT = str.maketrans("ACGTNRYSWKMBDHVacgtnryswkmbdhv", "TGCANYRSWMKVHDBtgcanyrswmkvhdb")
_COMPLEMENT_ALPHABET = frozenset("ACGTNRYSWKMBDHVacgtnryswkmbdhv")


# ---- sequences -------------------------------------------------------------------------------------------------


def complement(sequence: str) -> str:
    """The base-wise complement (not reversed); case is kept, IUPAC codes map to their complements.

    Raises `ValueError` naming the first character (and its position) that is not a nucleotide or IUPAC code.
    """
    complemented = sequence.translate(_COMPLEMENT)
    if not set(complemented) <= _COMPLEMENT_ALPHABET:
        position = next(i for i, c in enumerate(sequence) if c not in _COMPLEMENT_ALPHABET)
        raise ValueError(f"cannot complement {sequence[position]!r} at position {position}.")
    return complemented


def reverse_complement(sequence: str) -> str:
    """The reverse complement of a DNA sequence; case is kept, `N` stays `N`, IUPAC codes map to their complements.

    Raises `ValueError` naming the first character (and its position) that is not a nucleotide or IUPAC code.
    """
    return complement(sequence)[::-1]


# ---- files -----------------------------------------------------------------------------------------------------


def is_gzip(path: str | os.PathLike) -> bool:
    """Whether the file starts with the gzip magic bytes (bgzip included); the name is not looked at."""
    with open(path, "rb") as probe:
        return probe.read(2) == GZIP_MAGIC


def open_maybe_gzip(path: str | os.PathLike, mode: str = "rt", encoding: str | None = "utf-8") -> io.IOBase:
    """Opens a plain or gzip-compressed file for reading, detected from its content (`mode` `"rt"` or `"rb"`)."""
    if mode not in ("rt", "rb"):
        raise ValueError(f"mode must be 'rt' or 'rb', got {mode!r}.")
    opener = gzip.open if is_gzip(path) else open
    return opener(path, mode, encoding=encoding) if mode == "rt" else opener(path, mode)


def _plain_name(path: str | os.PathLike) -> str:
    name = Path(path).name.lower()
    return name.removesuffix(".gz")


def is_fasta_name(path: str | os.PathLike) -> bool:
    """Whether the file name ends in a FASTA suffix, optionally followed by `.gz` (`x.fa`, `x.fna.gz`, ...)."""
    return _plain_name(path).endswith(FASTA_SUFFIXES)


def is_table_name(path: str | os.PathLike) -> bool:
    """Whether the file name ends in `.csv`, `.tsv` or `.txt`, optionally followed by `.gz`."""
    return _plain_name(path).endswith(TABLE_SUFFIXES)


def table_separator(path: str | os.PathLike) -> str:
    """`","` for `.csv[.gz]`, a tab for `.tsv[.gz]` and `.txt[.gz]`."""
    return "," if _plain_name(path).endswith(".csv") else "\t"


def strip_sequence_suffix(path: str | os.PathLike) -> str:
    """The file name without its FASTA or table suffix and `.gz` (`ecoli_K12.fa.gz` -> `ecoli_K12`); case kept."""
    name = Path(path).name
    plain = name[:-3] if name.lower().endswith(".gz") else name
    for suffix in sorted(FASTA_SUFFIXES + TABLE_SUFFIXES, key=len, reverse=True):
        if plain.lower().endswith(suffix):
            return plain[: -len(suffix)]
    return plain


# ---- FASTA -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FastaRecord:
    """One FASTA record: `name` is the header's first word, `sequence` the concatenated lines (case kept)."""

    name: str
    sequence: str
    path: str


def read_fasta(path: str | os.PathLike) -> Iterator[FastaRecord]:
    """Yields the records of a FASTA or FASTA.gz file (gzip detected from the magic bytes, not the name).

    Raises `InputError` naming the file and line when sequence lines come before any `>` header or a header is empty.
    """
    path = os.fspath(path)
    name, chunks = None, []
    with open_maybe_gzip(path, "rt") as handle:
        for line_number, line in enumerate(handle, start=1):
            line = line.strip()
            if not line:
                continue
            if line.startswith(">"):
                if name is not None:
                    yield FastaRecord(name, "".join(chunks), path)
                words = line[1:].split()
                if not words:
                    raise InputError(f"{path}, line {line_number}: empty FASTA header.")
                name, chunks = words[0], []
            elif name is None:
                raise InputError(f"{path}, line {line_number}: sequence data before the first '>' header.")
            else:
                chunks.append(line)
    if name is not None:
        yield FastaRecord(name, "".join(chunks), path)


# ---- windows ---------------------------------------------------------------------------------------------------


def window_starts(length: int, size: int, stride: int | None = None, *, cover_end: bool = True, offset: int = 0):
    """Start positions of windows of `size` every `stride` (default `size`: no overlap) over `length` items, the
    first at `offset`.

    With `cover_end` (the default) the windows cover everything: when the grid does not end flush with `length`, one
    more window ends exactly there, and a `length` no longer than `size` gives the one window `[0]`. Without it, only
    whole windows on the grid are kept (a tail shorter than `size` is dropped; `length < size` gives none).
    Used for token windows of long inputs, base-pair windows of task sequences and pretraining windows of genomes.
    """
    stride = size if stride is None else stride
    if size <= 0 or stride <= 0:
        raise ValueError(f"window size and stride must be positive, got {size} and {stride}.")
    if offset < 0:
        raise ValueError(f"offset must be non-negative, got {offset}.")
    if cover_end and length <= size:
        return [0]
    starts = list(range(offset, length - size + 1, stride))
    if cover_end and (not starts or starts[-1] + size < length):
        starts.append(length - size)
    return starts


def sequence_windows(sequence: str, window_bp: int, stride_bp: int | None = None, offset: int = 0):
    """Yields `(start, window)` for the whole windows of `window_bp` bases every `stride_bp` (default: no overlap),
    the first at `offset` (`window_starts` with `cover_end=False`: every window has the same length)."""
    for start in window_starts(len(sequence), window_bp, stride_bp, cover_end=False, offset=offset):
        yield start, sequence[start : start + window_bp]


# ---- context <-> base pairs ------------------------------------------------------------------------------------


def context_tokens(config, tokenizer=None) -> int:
    """Tokens one window holds besides `<cls>`: the model's context (`config.context_length`, 1,000 for v1 and
    2,048 for v2, `<cls>` included) capped by the tokenizer's `model_max_length`, minus the special tokens the
    tokenizer adds (`<cls>` only). `config` may be a config or a model."""
    config = getattr(config, "config", config)
    tokens = getattr(config, "context_length", None) or config.max_position_embeddings
    specials = 1
    if tokenizer is not None:
        tokens = min(tokens, tokenizer.model_max_length)
        specials = tokenizer.num_special_tokens_to_add()
    return int(tokens) - specials


def context_bp(config, tokenizer=None) -> int:
    """Bases that fill the context with 6-mers: `context_tokens * 6` (12,282 bp for v2, 5,994 bp for v1). A window
    with `N` or a short run makes more tokens than that (the 6-mer grid restarts) and no longer fits."""
    return context_tokens(config, tokenizer) * KMER_SIZE


__all__ = [
    "FASTA_SUFFIXES",
    "KMER_SIZE",
    "TABLE_SUFFIXES",
    "FastaRecord",
    "complement",
    "context_bp",
    "context_tokens",
    "is_fasta_name",
    "is_gzip",
    "is_table_name",
    "open_maybe_gzip",
    "read_fasta",
    "reverse_complement",
    "sequence_windows",
    "strip_sequence_suffix",
    "table_separator",
    "window_starts",
]
