"""FASTA reading and windowing, on the bundled real genome slices and on hand-made files."""

import gzip
from pathlib import Path

import pytest

from nucleotide_transformer_hf.data import read_fasta, sequence_windows

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
    with pytest.raises(ValueError, match="window_bp"):
        list(sequence_windows("ABC", 0))
