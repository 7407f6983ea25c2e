"""The streaming VCF reader (`nucleotide_transformer_hf.vcf`): records one at a time, malformed lines as records,
whole-file problems as `VcfError` (some of them only at the end of the stream)."""

import gzip
import types

import pytest

from nucleotide_transformer_hf.vcf import VcfError, iter_vcf, read_vcf, reconcile_contigs

HEADER = "##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"


def test_the_reader_is_a_generator_and_read_vcf_its_list(tmp_path):
    path = tmp_path / "calls.vcf"
    path.write_text(HEADER + "chr1\t5\ta\tA\tC,G\t.\t.\t.\n\nchr1\t9\tb\tT\tA\t.\t.\tDP=3\tGT\t0/1\n")
    records = iter_vcf(path)
    assert isinstance(records, types.GeneratorType)
    assert [(r.line, r.id, r.alts, r.problem) for r in records] == [(3, "a", ("C", "G"), ""), (5, "b", ("A",), "")]
    assert read_vcf(path) == list(iter_vcf(path))


def test_malformed_lines_come_back_as_records_with_their_problem(tmp_path):
    path = tmp_path / "calls.vcf.gz"  # gzip, told by content
    lines = [
        "chr1\t5\tok\tA\tC\t.\t.\t.",
        "chr1\t5\tshort\tA\tC",
        "\t5\tno_chrom\tA\tC\t.\t.\t.",
        "chr1\t0\tzero\tA\tC\t.\t.\t.",
        "chr1\t5\tbad_ref\tAX\tC\t.\t.\t.",
        "chr1\t5\tempty_alt\tA\tC,\t.\t.\t.",
        "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO",
    ]
    with gzip.open(path, "wt") as handle:
        handle.write(HEADER + "\n".join(lines) + "\n")
    with gzip.open(path, "ab") as handle:
        handle.write(b"chr1\t5\t\xff\tA\tC\t.\t.\t.\n")
    problems = [r.problem for r in iter_vcf(path)]
    assert problems[0] == ""
    for problem, expected in zip(
        problems[1:],
        ["found 5", "empty CHROM", "POS '0'", "REF 'AX'", "ALT 'C,'", "header line among the data", "not UTF-8"],
    ):
        assert expected in problem
    assert [p.split(":")[0] for p in problems[1:]] == [f"line {n}" for n in range(4, 11)]


@pytest.mark.parametrize(
    "text,yielded,message",
    [
        ("##fileformat=VCFv4.2\n" * 3, 0, "no '#CHROM' header line"),
        (HEADER + "chr1\tx\t.\tA\tC\t.\t.\t.\n" * 3, 3, "none of its 3 data lines is a valid VCF record"),
    ],
)
def test_end_of_stream_problems_raise_after_the_last_record(tmp_path, text, yielded, message):
    path = tmp_path / "calls.vcf"
    path.write_text(text)
    records = iter_vcf(path)
    for _ in range(yielded):
        assert next(records).problem
    with pytest.raises(VcfError, match=message) as raised:
        next(records)
    assert str(path) in str(raised.value)


def test_a_gzip_file_that_breaks_midway_yields_its_records_up_to_the_break(tmp_path):
    path = tmp_path / "calls.vcf.gz"
    body = "".join(f"chr1\t{i + 1}\tv{i}\tA\tC\t.\t.\t.\n" for i in range(30_000))
    path.write_bytes(gzip.compress((HEADER + body).encode())[:-30])
    seen = 0
    with pytest.raises(VcfError, match=r"cannot be read as gzip after line \d+"):
        for record in iter_vcf(path):
            assert record.id == f"v{seen}"
            seen += 1
    assert seen > 20_000


def test_contig_names_are_reconciled_in_the_reader_module():
    assert reconcile_contigs(["chrMT", "X"], ["MT", "chrX"]) == {"chrMT": "MT", "X": "chrX"}
