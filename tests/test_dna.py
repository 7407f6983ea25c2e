"""FASTA reading and windowing, on the bundled real genome slices and on hand-made files."""

import gzip
from pathlib import Path

import pytest

from nucleotide_transformer_hf.dna import (
    context_bp,
    context_tokens,
    is_fasta_name,
    is_gzip,
    is_table_name,
    open_maybe_gzip,
    read_fasta,
    reverse_complement,
    sequence_windows,
    strip_sequence_suffix,
    table_separator,
    window_starts,
)

GENOMES = Path(__file__).resolve().parent.parent / "data" / "genomes"


def test_bundled_human_mito_reads_with_its_single_n():
    (record,) = list(read_fasta(GENOMES / "human_mito_NC_012920.1.fa.gz"))
    assert record.name == "NC_012920.1"
    assert len(record.sequence) == 16569  # rCRS length
    assert record.sequence.count("N") == 1 and record.sequence[3106] == "N"  # position 3,107 (1-based) in rCRS
    assert record.sequence.startswith("GATCACAGGTCTATCACCC")  # the rCRS's first bases


def test_plain_and_gzip_multi_record(tmp_path):
    text = ">chr1 description\nACGT\nacgt\n\n>chr2\nNNNN\n"
    plain = tmp_path / "x.fa"
    plain.write_text(text)
    packed = tmp_path / "x.fasta"  # gzip detected by content, not by name
    with gzip.open(packed, "wt") as handle:
        handle.write(text)
    for path in (plain, packed):
        records = list(read_fasta(path))
        assert [(r.name, r.sequence) for r in records] == [("chr1", "ACGTacgt"), ("chr2", "NNNN")]


def test_sequence_before_header_is_an_error_naming_file_and_line(tmp_path):
    path = tmp_path / "bad.fa"
    path.write_text("\nACGT\n>chr1\nACGT\n")
    with pytest.raises(ValueError, match=r"bad\.fa, line 2: sequence data before"):
        list(read_fasta(path))


def test_windows():
    assert list(sequence_windows("ABCDEFGHIJ", 4)) == [(0, "ABCD"), (4, "EFGH")]
    assert list(sequence_windows("ABCDEFGHIJ", 4, 3)) == [(0, "ABCD"), (3, "DEFG"), (6, "GHIJ")]
    assert list(sequence_windows("ABC", 4)) == []
    with pytest.raises(ValueError, match="window size and stride must be positive"):
        list(sequence_windows("ABC", 0))


@pytest.mark.parametrize(
    "length, size, stride, cover_end, expected",
    [
        (10, 4, 4, True, [0, 4, 6]),  # the grid ends at 8: one more window flush with the end
        (12, 4, 4, True, [0, 4, 8]),  # the grid is flush: nothing added
        (3, 4, 4, True, [0]),  # shorter than a window: the one (short) window
        (10, 4, 3, True, [0, 3, 6]),
        (10, 4, 4, False, [0, 4]),  # whole windows only
        (3, 4, 4, False, []),
    ],
)
def test_window_starts_hand_worked(length, size, stride, cover_end, expected):
    assert window_starts(length, size, stride, cover_end=cover_end) == expected


@pytest.mark.parametrize("length", range(1, 40))
@pytest.mark.parametrize("size, stride", [(4, 4), (5, 3), (7, 2), (6, 6)])
def test_covering_windows_cover_every_position_and_stay_inside(length, size, stride):
    starts = window_starts(length, size, stride)
    covered = set()
    for start in starts:
        assert 0 <= start and min(start + size, length) <= length
        covered |= set(range(start, min(start + size, length)))
    assert covered == set(range(length)) and starts == sorted(set(starts))


def test_reverse_complement_and_suffix_rules(tmp_path):
    assert reverse_complement("AACGTn") == "nACGTT" and reverse_complement("RYK") == "MRY"
    with pytest.raises(ValueError, match=r"cannot complement 'X' at position 2"):
        reverse_complement("ACX")
    assert is_fasta_name("a/Genome.FNA.gz") and not is_fasta_name("x.csv") and is_table_name("t.tsv.gz")
    assert strip_sequence_suffix("ecoli_K12.fa.gz") == "ecoli_K12" and strip_sequence_suffix("train.csv") == "train"
    assert table_separator("x.csv.gz") == "," and table_separator("x.tsv") == "\t"
    packed = tmp_path / "t.txt"  # gzip found by content
    with gzip.open(packed, "wt") as handle:
        handle.write("hello\n")
    assert is_gzip(packed) and open_maybe_gzip(packed).read() == "hello\n"


def test_context_arithmetic_is_the_published_one():
    from nucleotide_transformer_hf import NucleotideTransformerConfig

    assert context_bp(NucleotideTransformerConfig.from_preset("v2")) == 12_282
    assert context_bp(NucleotideTransformerConfig.from_preset("v1")) == 5_994
    assert context_tokens(NucleotideTransformerConfig.from_preset("v2")) == 2_047
