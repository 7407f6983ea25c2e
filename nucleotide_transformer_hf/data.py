"""Reading DNA: FASTA (plain or gzip) records and fixed-size windows over them."""

import gzip
import os
from collections.abc import Iterator
from dataclasses import dataclass


@dataclass(frozen=True)
class FastaRecord:
    """One FASTA record: `name` is the header's first word, `sequence` the concatenated lines (case kept)."""

    name: str
    sequence: str
    path: str


# IUPAC complements, both cases (case is kept: the reverse complement of soft-masked `acg` is `cgt`).
_COMPLEMENT = str.maketrans("ACGTNRYSWKMBDHVacgtnryswkmbdhv", "TGCANYRSWMKVHDBtgcanyrswmkvhdb")
_COMPLEMENT_ALPHABET = frozenset("ACGTNRYSWKMBDHVacgtnryswkmbdhv")


def reverse_complement(sequence: str) -> str:
    """The reverse complement of a DNA sequence; case is kept, `N` stays `N`, IUPAC codes map to their complements.

    Raises `ValueError` naming the first character (and its position) that is not a nucleotide or IUPAC code.
    """
    complemented = sequence.translate(_COMPLEMENT)
    if not set(complemented) <= _COMPLEMENT_ALPHABET:
        position = next(i for i, c in enumerate(sequence) if c not in _COMPLEMENT_ALPHABET)
        raise ValueError(f"cannot complement {sequence[position]!r} at position {position}.")
    return complemented[::-1]


def read_fasta(path: str | os.PathLike) -> Iterator[FastaRecord]:
    """Yields the records of a FASTA or FASTA.gz file (gzip detected from the magic bytes, not the name).

    Raises `ValueError` naming the file and line when sequence lines come before any `>` header or a header is empty.
    """
    path = os.fspath(path)
    with open(path, "rb") as probe:
        is_gzip = probe.read(2) == b"\x1f\x8b"
    opener = gzip.open if is_gzip else open
    name, chunks = None, []
    with opener(path, "rt") as handle:
        for line_number, line in enumerate(handle, start=1):
            line = line.strip()
            if not line:
                continue
            if line.startswith(">"):
                if name is not None:
                    yield FastaRecord(name, "".join(chunks), path)
                header = line[1:].split()
                if not header:
                    raise ValueError(f"{path}, line {line_number}: empty FASTA header.")
                name, chunks = header[0], []
            elif name is None:
                raise ValueError(f"{path}, line {line_number}: sequence data before the first '>' header.")
            else:
                chunks.append(line)
    if name is not None:
        yield FastaRecord(name, "".join(chunks), path)


def sequence_windows(
    sequence: str, window_bp: int, stride_bp: int | None = None, offset: int = 0
) -> Iterator[tuple[int, str]]:
    """Yields `(start, window)` for consecutive windows of `window_bp` bases every `stride_bp` (default: no overlap),
    the first one starting at `offset`.

    The last window is dropped when shorter than `window_bp`, so every window has the same length.
    """
    if window_bp <= 0:
        raise ValueError(f"window_bp must be positive, got {window_bp}.")
    stride_bp = stride_bp or window_bp
    if stride_bp <= 0:
        raise ValueError(f"stride_bp must be positive, got {stride_bp}.")
    if offset < 0:
        raise ValueError(f"offset must be non-negative, got {offset}.")
    for start in range(offset, len(sequence) - window_bp + 1, stride_bp):
        yield start, sequence[start : start + window_bp]


__all__ = ["FastaRecord", "read_fasta", "reverse_complement", "sequence_windows"]
