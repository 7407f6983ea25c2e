"""Genome annotations (GFF3, BED) as per-nucleotide and per-token element labels (docs/analysis.md).

Lines are parsed by pysam's GFF3 and BED parsers (`pysam.asGFF3`, `pysam.asBED`); this module adds what they leave
out: the line number in every error, checks of the coordinates, the match of annotation seqids to FASTA records and
the labelling rules.

Labelling rules:

* **Elements.** Each base of a window gets one element, by `ELEMENT_PRIORITY` (highest first) when features
  overlap: ``rRNA > tRNA > tmRNA > ncRNA > CDS > gene > mobile_genetic_element > repeat_region >
  origin_of_replication > promoter``; any other feature type ranks below those (alphabetically among themselves),
  and uncovered bases are `intergenic`. A protein-coding gene's span is its CDS (same span in bacteria), so `gene`
  is left for genes without a CDS or RNA row (pseudogenes). `region`, `exon` (repeats its RNA) and
  `sequence_feature` rows are not elements (`IGNORED_TYPES`).
* **Promoter.** `promoter_bp` bases (default 100) upstream of each gene's start, on its strand (before `start` on
  `+`, after `end` on `-`; unstranded genes get none), clipped at the record's ends. It ranks lowest among named
  elements: a base inside another feature keeps that feature's label.
* **N.** Bases that are `N` (any case) are unlabelled (`IGNORE_INDEX`): they do not vote for their token's label and
  an all-`N` token is no attention target nor part of the background.
* **Tokens** take a label from their bases with `tasks.token_labels_from_bases` (majority; ties to the leftmost).
* **Seqids.** An annotation seqid names a FASTA record by its first header word; a record named `SEQID:START-END`
  (samtools region style, as the bundled genome slices are) is the slice START-END of SEQID: features are shifted
  into it and clipped at its edges. On a whole record, a feature past the record's end is an error.
"""

import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .dna import open_maybe_gzip, read_fasta
from .errors import InputError
from .tasks import IGNORE_INDEX, token_labels_from_bases

ELEMENT_PRIORITY = (
    "rRNA",
    "tRNA",
    "tmRNA",
    "ncRNA",
    "CDS",
    "gene",
    "mobile_genetic_element",
    "repeat_region",
    "origin_of_replication",
    "promoter",
)
"""Named element types, highest priority first (a base covered by several features takes the first)."""

INTERGENIC = "intergenic"
PROMOTER = "promoter"
IGNORED_TYPES = frozenset({"region", "exon", "sequence_feature"})
"""GFF feature types that are not elements: the whole record, exons (they repeat their RNA), misc features."""

DEFAULT_PROMOTER_BP = 100


@dataclass(frozen=True)
class Feature:
    """One annotation row: 0-based half-open `[start, end)` on `seqid`, strand `+`, `-` or `.`, file line number."""

    seqid: str
    type: str
    start: int
    end: int
    strand: str
    line: int


@dataclass
class Annotation:
    """The features of one GFF3 or BED file, in file order."""

    path: str
    features: list[Feature]

    def seqids(self) -> list[str]:
        return list(dict.fromkeys(f.seqid for f in self.features))

    def overlapping(self, seqid: str, start: int, end: int, types: Sequence[str] | None = None) -> list[Feature]:
        """Features on `seqid` overlapping 0-based `[start, end)` (of `types`, if given)."""
        return [
            f
            for f in self.features
            if f.seqid == seqid and f.start < end and f.end > start and (types is None or f.type in types)
        ]

    def element_types(self) -> list[str]:
        """Element names these features give, in priority order (promoter when there are genes), then intergenic."""
        present = {f.type for f in self.features if f.type not in IGNORED_TYPES}
        if "gene" in present:
            present.add(PROMOTER)
        return element_order(present)


def element_order(types) -> list[str]:
    """`types` ranked by `ELEMENT_PRIORITY` (unknown types after, alphabetically), then `intergenic`."""
    types = set(types) - {INTERGENIC}
    known = [t for t in ELEMENT_PRIORITY if t in types]
    return known + sorted(types - set(ELEMENT_PRIORITY)) + [INTERGENIC]


def _int_field(value: bytes, path: str, line_number: int, what: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise InputError(
            f"{path}, line {line_number}: {what} {value.decode(errors='replace')!r} is not an integer."
        ) from None


def read_gff(path: str | os.PathLike) -> Annotation:
    """Features of a GFF3 file (plain or gzip). Raises `InputError` naming file and line for a malformed row
    (not 9 tab-separated columns, a start or end that is not an integer, start < 1, end < start, a strand not
    `+`, `-`, `.` or `?`) and for a file with no feature row."""
    import pysam

    path = os.fspath(path)
    parser = pysam.asGFF3()
    features = []
    last = 0
    with open_maybe_gzip(path, "rb", encoding=None) as handle:
        for line_number, raw in enumerate(handle, start=1):
            last = line_number
            line = raw.rstrip(b"\r\n")
            if not line.strip() or line.startswith(b"#"):
                if line.startswith(b"##FASTA"):
                    break
                continue
            fields = line.split(b"\t")
            if len(fields) != 9:
                raise InputError(
                    f"{path}, line {line_number}: a GFF3 row has 9 tab-separated columns, this one has {len(fields)}."
                )
            start = _int_field(fields[3], path, line_number, "start")
            end = _int_field(fields[4], path, line_number, "end")
            if start < 1 or end < start:
                raise InputError(
                    f"{path}, line {line_number}: coordinates {start}-{end} (1-based, need 1 <= start <= end)."
                )
            try:
                row = parser(line, len(line))
            except (ValueError, AssertionError) as error:
                raise InputError(f"{path}, line {line_number}: malformed GFF3 row ({error}).") from None
            strand = row.strand
            if strand not in ("+", "-", ".", "?"):
                raise InputError(f"{path}, line {line_number}: strand {strand!r} is not +, -, . or ?.")
            features.append(Feature(row.contig, row.feature, row.start, row.end, strand, line_number))
    if not features:
        raise InputError(f"{path}, line {last}: no feature rows (an empty GFF3 file).")
    return Annotation(path, features)


def read_bed(path: str | os.PathLike) -> Annotation:
    """Features of a BED file (plain or gzip): the 4th column (name) is the element type, the 6th the strand
    (`.` when absent); `track`/`browser`/`#` lines are skipped. Errors as `read_gff`."""
    import pysam

    path = os.fspath(path)
    parser = pysam.asBed()
    features = []
    last = 0
    with open_maybe_gzip(path, "rb", encoding=None) as handle:
        for line_number, raw in enumerate(handle, start=1):
            last = line_number
            line = raw.rstrip(b"\r\n")
            if not line.strip() or line.startswith((b"#", b"track", b"browser")):
                continue
            fields = line.split(b"\t")
            if len(fields) < 4:
                raise InputError(
                    f"{path}, line {line_number}: a BED row needs at least 4 tab-separated columns (chrom, start, "
                    f"end, element type), this one has {len(fields)}."
                )
            start = _int_field(fields[1], path, line_number, "start")
            end = _int_field(fields[2], path, line_number, "end")
            if start < 0 or end <= start:
                raise InputError(
                    f"{path}, line {line_number}: coordinates {start}-{end} (0-based, need 0 <= start < end)."
                )
            try:
                row = parser(line, len(line))
            except (ValueError, AssertionError) as error:
                raise InputError(f"{path}, line {line_number}: malformed BED row ({error}).") from None
            strand = fields[5].decode() if len(fields) >= 6 else "."
            if strand not in ("+", "-", "."):
                raise InputError(f"{path}, line {line_number}: strand {strand!r} is not +, - or ..")
            features.append(Feature(row.contig, row.name, row.start, row.end, strand, line_number))
    if not features:
        raise InputError(f"{path}, line {last}: no feature rows (an empty BED file).")
    return Annotation(path, features)


def is_bed_name(path: str | os.PathLike) -> bool:
    name = os.fspath(path).lower()
    return name.endswith((".bed", ".bed.gz"))


def read_annotation(path: str | os.PathLike) -> Annotation:
    """`read_bed` for `.bed`/`.bed.gz` names, `read_gff` otherwise."""
    return read_bed(path) if is_bed_name(path) else read_gff(path)


# ---- FASTA records <-> annotation seqids -----------------------------------------------------------------------


@dataclass
class AnnotatedRecord:
    """A FASTA record and where it lies on its annotation seqid: base 0 of `sequence` is `offset` (0-based) there."""

    name: str
    sequence: str
    seqid: str
    offset: int
    path: str


def _slice_of(name: str) -> tuple[str, int] | None:
    """`("SEQID", offset)` for a record named `SEQID:START-END` (1-based START), else None."""
    seqid, colon, span = name.rpartition(":")
    if not colon or not seqid:
        return None
    start, dash, end = span.partition("-")
    if not dash or not start.isdigit() or not end.isdigit() or int(start) < 1:
        return None
    return seqid, int(start) - 1


def annotated_records(fasta_path: str | os.PathLike, annotation: Annotation) -> list[AnnotatedRecord]:
    """The FASTA records with their annotation seqid, checked against `annotation`: every seqid of the annotation
    must name a record (directly or as `SEQID:START-END`), and on a whole record no feature may end past the record's
    end. Raises `InputError` naming the file and line otherwise, and for a FASTA with no record."""
    fasta_path = os.fspath(fasta_path)
    records = []
    for record in read_fasta(fasta_path):
        sliced = None if record.name in annotation.seqids() else _slice_of(record.name)
        seqid, offset = sliced if sliced else (record.name, 0)
        records.append(AnnotatedRecord(record.name, record.sequence, seqid, offset, fasta_path))
    if not records:
        raise InputError(f"{fasta_path}, line 1: no FASTA record ('>' header) in the file.")
    by_seqid = {r.seqid: r for r in records}
    for feature in annotation.features:
        record = by_seqid.get(feature.seqid)
        if record is None:
            names = ", ".join(r.name for r in records[:5])
            raise InputError(
                f"{annotation.path}, line {feature.line}: seqid {feature.seqid!r} names no record of {fasta_path} "
                f"({names}{', ...' if len(records) > 5 else ''})."
            )
        if record.offset == 0 and record.name == feature.seqid and feature.end > len(record.sequence):
            raise InputError(
                f"{annotation.path}, line {feature.line}: {feature.type} ends at {feature.end}, past the end of "
                f"{feature.seqid} in {fasta_path} ({len(record.sequence)} bp)."
            )
    return records


# ---- labels ------------------------------------------------------------------------------------------------------


def base_labels(
    annotation: Annotation,
    record: AnnotatedRecord,
    start: int,
    end: int,
    *,
    elements: Sequence[str],
    promoter_bp: int = DEFAULT_PROMOTER_BP,
) -> np.ndarray:
    """Per-base element indexes (into `elements`) of `record.sequence[start:end]` (0-based record coordinates):
    highest-priority feature, promoter, else `intergenic`; `N` bases `IGNORE_INDEX`. Types not in `elements` are
    skipped (`elements` must hold `intergenic`)."""
    if promoter_bp < 0:
        raise ValueError(f"promoter_bp must be non-negative, got {promoter_bp}.")
    index = {name: i for i, name in enumerate(elements)}
    rank = {name: i for i, name in enumerate(element_order(elements))}
    length = end - start
    labels = np.full(length, index[INTERGENIC], dtype=np.int64)
    lo, hi = record.offset + start, record.offset + end  # window on the seqid
    record_lo, record_hi = record.offset, record.offset + len(record.sequence)
    spans = []  # (rank, start, end, type) on the seqid
    for feature in annotation.overlapping(record.seqid, record_lo - promoter_bp, record_hi + promoter_bp):
        if feature.type in index and feature.type not in IGNORED_TYPES:
            spans.append((rank[feature.type], feature.start, feature.end, feature.type))
        if feature.type == "gene" and PROMOTER in index and promoter_bp > 0:
            if feature.strand == "+":
                spans.append((rank[PROMOTER], feature.start - promoter_bp, feature.start, PROMOTER))
            elif feature.strand == "-":
                spans.append((rank[PROMOTER], feature.end, feature.end + promoter_bp, PROMOTER))
    for _, s, e, kind in sorted(spans, key=lambda span: -span[0]):  # lowest priority painted first
        s, e = max(s, lo, record_lo), min(e, hi, record_hi)
        if s < e:
            labels[s - lo : e - lo] = index[kind]
    window = np.frombuffer(record.sequence[start:end].upper().encode("ascii", "replace"), dtype=np.uint8)
    labels[window == ord("N")] = IGNORE_INDEX
    return labels


def token_labels(tokenizer, sequence: str, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """`(ids, token labels)` of `sequence` (no `<cls>`) with per-base `labels`, via the tokenizer's offsets and
    `tasks.token_labels_from_bases`."""
    from .inference import tokenize_whole

    ids, offsets = tokenize_whole(tokenizer, [sequence])
    per_token = token_labels_from_bases(labels, [tuple(row) for row in offsets[0].tolist()])
    return ids[0], np.asarray(per_token, dtype=np.int64)


__all__ = [
    "DEFAULT_PROMOTER_BP",
    "ELEMENT_PRIORITY",
    "IGNORED_TYPES",
    "INTERGENIC",
    "PROMOTER",
    "AnnotatedRecord",
    "Annotation",
    "Feature",
    "annotated_records",
    "base_labels",
    "element_order",
    "is_bed_name",
    "read_annotation",
    "read_bed",
    "read_gff",
    "token_labels",
]
