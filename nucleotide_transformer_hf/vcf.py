"""Reading a VCF as a stream of records (`iter_vcf`), for `score-variants` (`variants.py`).

* **Content detection**: plain text or gzip/bgzip, told apart by the file's first bytes, not its name.
* **Laziness**: `iter_vcf` is a generator; it reads the file line by line and holds one line at a time (plus a
  counter of valid records and the first problem), so a genome-wide call set streams at flat memory. `read_vcf` is
  `list(iter_vcf(path))`, for small files and tests.
* **Whole-file problems** raise `VcfError` naming the file and, where there is one, the line: an empty file, data
  before the `#CHROM` header, a header that is not `#CHROM POS ID REF ALT ...`, bytes that are not UTF-8 text before
  the header, gzip that cannot be decompressed (at the line where it breaks). Two can only be known at the end of
  the stream — no `#CHROM` header at all (a file of `##` lines), and *every* data line malformed — so `iter_vcf`
  raises them after yielding the last record: a consumer must not treat its output as final before the generator
  is exhausted.
* **Malformed lines** (fewer than 8 columns, an empty CHROM, POS not a positive integer, REF not A/C/G/T/N, an empty
  ALT allele, a header line among the data, bytes that are not UTF-8 after the header) come back as records with
  `problem` set.
* **Contig names**: `reconcile_contigs` maps a VCF contig to the FASTA's, as written or with `chr` added or removed
  (`MT` ↔ `chrM`).
"""

import gzip
import os
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from .dna import is_gzip
from .errors import InputError


class VcfError(InputError):
    """A VCF that cannot be used as a whole; the message names the file and, where there is one, the line."""


@dataclass(frozen=True)
class VcfRecord:
    """One VCF data line: `line` is its 1-based line number in the file; `problem` is set when it is malformed."""

    line: int
    chrom: str
    pos: str
    id: str
    ref: str
    alts: tuple[str, ...]
    problem: str = ""


def _parse_data_line(number: int, text: str) -> VcfRecord:
    fields = text.split("\t", 8)
    chrom, pos, vid, ref, alt = (fields + [""] * 5)[:5]
    problem = ""
    if len(fields) < 8:
        problem = f"line {number}: expected at least 8 tab-separated columns, found {len(fields)}"
    elif not chrom:
        problem = f"line {number}: empty CHROM"
    elif not pos.isdigit() or int(pos) < 1:
        problem = f"line {number}: POS {pos!r} is not a positive integer"
    elif not ref or set(ref.upper()) - set("ACGTN"):
        problem = f"line {number}: REF {ref!r} is not a run of A/C/G/T/N"
    elif not alt or "" in alt.split(","):
        problem = f"line {number}: ALT {alt!r} has an empty allele"
    return VcfRecord(number, chrom, pos, vid, ref, tuple(alt.split(",")) if alt else (), problem)


def iter_vcf(path: str | os.PathLike) -> Iterator[VcfRecord]:
    """Yields the data lines of a VCF (plain, gzip or bgzip, detected from the content) one at a time.

    Raises:
        VcfError: when the file as a whole is not usable (see the module docstring), possibly after the last record;
            malformed single lines come back as records with `problem` set instead.
    """
    path = os.fspath(path)
    packed = is_gzip(path)
    header_seen, any_line, number = False, False, 0
    valid, data_lines, first_problem = 0, 0, ""
    try:
        with (gzip.open if packed else open)(path, "rb") as handle:
            for number, raw in enumerate(handle, start=1):
                try:
                    text = raw.decode("utf-8").rstrip("\r\n")
                except UnicodeDecodeError:
                    if not header_seen:
                        raise VcfError(f"{path}, line {number}: not UTF-8 text; is this a VCF?") from None
                    record = VcfRecord(number, "", "", "", "", (), f"line {number}: not UTF-8 text")
                else:
                    if not text.strip():
                        continue
                    any_line = True
                    if not header_seen:
                        if text.startswith("##"):
                            continue
                        if not text.startswith("#"):
                            raise VcfError(
                                f"{path}, line {number}: data before the '#CHROM' header line; is this a VCF?"
                            )
                        if not text.startswith("#CHROM\tPOS\tID\tREF\tALT"):
                            raise VcfError(
                                f"{path}, line {number}: the header line must start with #CHROM, POS, ID, REF, ALT "
                                f"separated by tabs; found {text[:60]!r}."
                            )
                        header_seen = True
                        continue
                    if text.startswith("#"):
                        record = VcfRecord(number, "", "", "", "", (), f"line {number}: header line among the data")
                    else:
                        record = _parse_data_line(number, text)
                data_lines += 1
                if record.problem:
                    first_problem = first_problem or record.problem
                else:
                    valid += 1
                yield record
    except (OSError, EOFError, zlib.error) as error:
        if isinstance(error, FileNotFoundError):
            raise
        kind = "gzip" if packed else "text"
        raise VcfError(f"{path}: cannot be read as {kind} after line {number}: {error}") from error
    if not any_line:
        raise VcfError(f"{path} is empty: a VCF needs at least the '#CHROM' header line.")
    if not header_seen:
        raise VcfError(f"{path}: no '#CHROM' header line; is this a VCF?")
    if data_lines and not valid:
        raise VcfError(
            f"{path}: none of its {data_lines} data lines is a valid VCF record (first problem: {first_problem})."
        )


def read_vcf(path: str | os.PathLike) -> list[VcfRecord]:
    """All records of `iter_vcf(path)` as a list (for small files; `score-variants` streams instead)."""
    return list(iter_vcf(path))


def reconcile_contigs(vcf_contigs: Sequence[str], fasta_contigs: Sequence[str]) -> dict[str, str | None]:
    """Maps each VCF contig name to the FASTA's: as written, else with `chr` added or removed (`MT` ↔ `chrM`)."""
    fasta = set(fasta_contigs)
    mapping: dict[str, str | None] = {}
    for name in vcf_contigs:
        bare = name[3:] if name.lower().startswith("chr") else name
        candidates = [name, bare, "chr" + bare]
        if bare.upper() in ("M", "MT"):
            candidates += ["chrM", "MT", "M", "chrMT"]
        mapping[name] = next((candidate for candidate in candidates if candidate in fasta), None)
    return mapping


__all__ = ["VcfError", "VcfRecord", "iter_vcf", "read_vcf", "reconcile_contigs"]
