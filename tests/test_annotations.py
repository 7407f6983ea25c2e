"""GFF3/BED readers and element labels: strands, overlaps, window edges, promoters, N runs, the bundled slice, errors."""

import gzip
from pathlib import Path

import numpy as np
import pytest

from nucleotide_transformer_hf.annotations import (
    annotated_records,
    base_labels,
    read_bed,
    read_gff,
    token_labels,
)
from nucleotide_transformer_hf.errors import InputError
from nucleotide_transformer_hf.tasks import IGNORE_INDEX

DATA = Path(__file__).resolve().parent.parent / "data"
SLICE_GFF = DATA / "annotations" / "ecoli_K12_MG1655_NC_000913.3_1-120000.gff.gz"
SLICE_FASTA = DATA / "genomes" / "ecoli_K12_MG1655_NC_000913.3_1-120000.fa.gz"

GFF = """##gff-version 3
chr1\tt\tregion\t1\t200\t.\t+\t.\tID=r
chr1\tt\tgene\t21\t60\t.\t+\t.\tID=g1
chr1\tt\tCDS\t21\t60\t.\t+\t0\tParent=g1
chr1\tt\tgene\t101\t150\t.\t-\t.\tID=g2
chr1\tt\ttRNA\t101\t150\t.\t-\t.\tParent=g2
chr1\tt\texon\t101\t150\t.\t-\t.\tParent=g2
chr1\tt\trepeat_region\t140\t170\t.\t+\t.\tID=x
chr1\tt\tgene\t195\t200\t.\t-\t.\tID=g3
"""


def _files(tmp_path, gff=GFF, sequence=None):
    sequence = sequence or "ACGT" * 50
    fasta = tmp_path / "g.fa"
    fasta.write_text(f">chr1 test\n{sequence}\n")
    path = tmp_path / "a.gff"
    path.write_text(gff)
    return fasta, path


def _labels(tmp_path, start=0, end=200, promoter_bp=10, sequence=None):
    fasta, path = _files(tmp_path, sequence=sequence)
    annotation = read_gff(path)
    record = annotated_records(fasta, annotation)[0]
    elements = annotation.element_types()
    labels = base_labels(annotation, record, start, end, elements=elements, promoter_bp=promoter_bp)
    return labels, elements


def test_element_types_priority_strands_promoters(tmp_path):
    labels, elements = _labels(tmp_path)
    assert elements == ["tRNA", "CDS", "gene", "repeat_region", "promoter", "intergenic"]
    names = np.array(elements, dtype=object)[labels]
    assert set(names[:10]) == {"intergenic"}
    assert set(names[10:20]) == {"promoter"}  # + strand gene at 21: 10 bp upstream = bases 11-20
    assert set(names[20:60]) == {"CDS"}  # CDS outranks gene
    assert set(names[60:100]) == {"intergenic"}
    assert set(names[100:150]) == {"tRNA"}  # tRNA outranks its gene and the overlapping repeat
    assert set(names[150:160]) == {"repeat_region"}  # - strand promoter 151-160 loses to the repeat (140-170)
    assert set(names[160:170]) == {"repeat_region"}
    assert set(names[170:194]) == {"intergenic"}
    assert set(names[194:200]) == {"gene"}  # - strand gene at the record end: promoter clipped away


def test_window_cuts_features_and_n_runs_are_ignored(tmp_path):
    sequence = list("ACGT" * 50)
    sequence[30:36] = "NNNNNN"
    labels, elements = _labels(tmp_path, start=15, end=45, sequence="".join(sequence))
    names = [elements[i] if i != IGNORE_INDEX else "N" for i in labels]
    assert names[:5] == ["promoter"] * 5 and names[5:15] == ["CDS"] * 10
    assert names[15:21] == ["N"] * 6 and names[21:] == ["CDS"] * 9


def test_token_labels_follow_the_majority_rule(tmp_path, tiny):
    tokenizer = tiny[1]
    sequence = "ACGTAC" * 3 + "N" + "ACGTAC"
    labels = np.array([0] * 8 + [1] * 10 + [IGNORE_INDEX] + [1] * 6)
    ids, per_token = token_labels(tokenizer, sequence, labels)
    assert len(ids) == 5
    assert per_token.tolist() == [0, 1, 1, IGNORE_INDEX, 1]  # token 2 has 2 of 0 and 4 of 1


def test_bundled_slice_genes(tmp_path):
    annotation = read_gff(SLICE_GFF)
    record = annotated_records(SLICE_FASTA, annotation)[0]
    assert (record.name, record.seqid, record.offset, len(record.sequence)) == (
        "NC_000913.3:1-120000",
        "NC_000913.3",
        0,
        120000,
    )
    rows = [
        line.split("\t")
        for line in gzip.open(SLICE_GFF, "rt")
        if not line.startswith("#") and line.split("\t")[2] == "gene"
    ]
    overlapping = [r for r in rows if int(r[3]) <= 120000 and int(r[4]) >= 1]
    genes = annotation.overlapping(record.seqid, 0, 120000, types=["gene"])
    assert len(genes) == len(overlapping) == 109
    elements = annotation.element_types()
    labels = base_labels(annotation, record, 119000, 120000, elements=elements)
    assert elements[labels[-1]] == "CDS"  # ampE (119,281-120,135) is cut by the slice's end
    assert (labels != IGNORE_INDEX).all()


def test_bed_reader(tmp_path):
    path = tmp_path / "a.bed"
    path.write_text("track name=x\nchr1\t10\t20\tpromoter\t0\t-\nchr1\t30\t40\tenhancer\n")
    annotation = read_bed(path)
    assert [(f.type, f.start, f.end, f.strand, f.line) for f in annotation.features] == [
        ("promoter", 10, 20, "-", 2),
        ("enhancer", 30, 40, ".", 3),
    ]
    assert annotation.element_types() == ["promoter", "enhancer", "intergenic"]
    (tmp_path / "b.bed").write_text("chr1\t10\tx\tpromoter\n")
    with pytest.raises(InputError, match=r"b\.bed, line 1: end .x. is not an integer"):
        read_bed(tmp_path / "b.bed")


@pytest.mark.parametrize(
    "text, message",
    [
        ("##gff-version 3\n", r"a\.gff, line 1: no feature rows"),
        ("##gff-version 3\nchr1\tt\tgene\t5\n", r"a\.gff, line 2: a GFF3 row has 9"),
        ("##gff-version 3\nchr1\tt\tgene\t5\t4\t.\t+\t.\tID=g\n", r"a\.gff, line 2: coordinates 5-4"),
        ("##gff-version 3\nchr1\tt\tgene\t5\t9\t.\tx\t.\tID=g\n", r"a\.gff, line 2: strand"),
    ],
)
def test_malformed_gff(tmp_path, text, message):
    _, path = _files(tmp_path, gff=text)
    with pytest.raises(InputError, match=message):
        read_gff(path)


def test_seqid_and_coordinate_errors(tmp_path):
    fasta, path = _files(
        tmp_path, gff="##gff-version 3\nchr1\tt\tgene\t5\t9\t.\t+\t.\tID=g\nchr2\tt\tgene\t5\t9\t.\t+\t.\tID=h\n"
    )
    with pytest.raises(InputError, match=r"a\.gff, line 3: seqid 'chr2' names no record of .*g\.fa"):
        annotated_records(fasta, read_gff(path))
    fasta, path = _files(tmp_path, gff="##gff-version 3\nchr1\tt\tgene\t5\t201\t.\t+\t.\tID=g\n")
    with pytest.raises(InputError, match=r"a\.gff, line 2: gene ends at 201, past the end of chr1"):
        annotated_records(fasta, read_gff(path))
    (tmp_path / "empty.fa").write_text("")
    with pytest.raises(InputError, match=r"empty\.fa, line 1: no FASTA record"):
        annotated_records(tmp_path / "empty.fa", read_gff(path))
