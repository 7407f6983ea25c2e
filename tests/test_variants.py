"""`score-variants` (VCF -> scores) and `evaluate-variants`, on the bundled real slices and on hand-made edge cases."""

import csv
import gzip
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import pipeline

from nucleotide_transformer_hf import (
    NucleotideTransformerForMaskedLM,
    NucleotideTransformerTokenizerFast,
    cli,
    variants,
)
from nucleotide_transformer_hf.variant_evaluation import PATHOGENIC_DIRECTION
from nucleotide_transformer_hf.variant_scoring import SCORE_NAMES
from nucleotide_transformer_hf.variants import (
    OUTPUT_COLUMNS,
    ReferenceGenome,
    make_chunks,
    plan_vcf,
    read_table,
    score_vcf,
)
from nucleotide_transformer_hf.vcf import VcfError, iter_vcf, read_vcf, reconcile_contigs

BUNDLED = Path(__file__).resolve().parent.parent / "data" / "variants"
GIAB_VCF = BUNDLED / "giab_chr20_10mb.vcf.gz"
GIAB_FASTA = BUNDLED / "hg19_chr20_1-10110000.fa.gz"
CLINVAR = BUNDLED / "clinvar_snv_200.csv.gz"
CONTEXT = 64  # tokens incl. <cls>: 378 bp windows
# Many small chunks, so that an interruption lands mid-run.
RUN = ["--chunk-size", "4", "--both-strands", "--batch-size", "32", "--no-progress"]


@pytest.fixture(scope="module")
def model_dir(tiny_saved):
    return tiny_saved  # conftest.py's tiny model, saved


@pytest.fixture(scope="module")
def loaded(model_dir):
    model = NucleotideTransformerForMaskedLM.from_pretrained(model_dir).eval()
    return model, NucleotideTransformerTokenizerFast.from_pretrained(model_dir)


@pytest.fixture(scope="module")
def giab_reference(model_dir, tmp_path_factory):
    """The bundled GIAB VCF scored in one uninterrupted process, with the options and the one intra-op thread of the
    subprocess runs it is compared with (`accelerate launch` gives each CPU process one thread, and a CPU matmul's
    rounding may depend on the thread count)."""
    out = tmp_path_factory.mktemp("reference") / "scores.tsv"
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        assert (
            cli.main(
                [
                    "score-variants",
                    "--vcf",
                    str(GIAB_VCF),
                    "--fasta",
                    str(GIAB_FASTA),
                    "--model",
                    str(model_dir),
                    "--out",
                    str(out),
                    *RUN,
                ]
            )
            == 0
        )
    finally:
        torch.set_num_threads(threads)
    return out


def subprocess_env() -> dict[str, str]:
    env = dict(os.environ, CUDA_VISIBLE_DEVICES="", TOKENIZERS_PARALLELISM="false", OMP_NUM_THREADS="1")
    env["PYTHONPATH"] = os.pathsep.join([str(Path(variants.__file__).parent.parent), env.get("PYTHONPATH", "")])
    return env


def test_bundled_giab_vcf_scores_every_snv_and_skips_indels(giab_reference):
    import pysam  # an independent reader of the same VCF

    with pysam.VariantFile(str(GIAB_VCF)) as vcf:
        alleles = [(r.pos, r.ref, alt) for r in vcf for alt in r.alts]
    rows = read_table(giab_reference)
    assert list(rows[0]) == list(OUTPUT_COLUMNS)
    assert [(int(r["pos"]), r["ref"], r["alt"]) for r in rows] == alleles  # every allele, in VCF order
    snvs = sum(len(ref) == len(alt) == 1 for _, ref, alt in alleles)
    assert snvs == 186 and len(alleles) == 222  # 221 records, one with two ALT alleles (README: 186 SNVs, 35 indels)
    assert sum(r["status"] == "scored" for r in rows) == snvs
    assert all(r["reason"].startswith("indel:") for r in rows if r["status"] != "scored")
    assert all(r[name] for r in rows if r["status"] == "scored" for name in SCORE_NAMES)


def test_vcf_rows_equal_the_variant_effect_pipeline_on_the_same_window(giab_reference, loaded):
    import pysam

    model, tokenizer = loaded
    score = pipeline("variant-effect", model=model, tokenizer=tokenizer, device="cpu")
    fasta = pysam.FastaFile(str(GIAB_FASTA))
    rows = [r for r in read_table(giab_reference) if r["status"] == "scored"][::40]
    for row in rows:
        start, end, pos = int(row["window_start"]), int(row["window_end"]), int(row["pos"])
        assert end - start + 1 == 378 and start <= pos <= end
        window = fasta.fetch("chr20", start - 1, end).upper()
        result = score(
            {"sequence": window, "position": pos - start, "ref": row["ref"], "alt": row["alt"]}, both_strands=True
        )
        for name in SCORE_NAMES:
            assert float(row[name]) == pytest.approx(result[name], rel=1e-5, abs=1e-5)  # float32, other batch


EDGE_FASTA_SEED = 21


def write_edge_case_inputs(folder: Path) -> tuple[Path, Path, str]:
    """A two-contig FASTA of random DNA and a VCF with one record of every kind (expected outcomes in the test)."""
    rng = np.random.default_rng(EDGE_FASTA_SEED)
    chr1, chr2 = ("".join(rng.choice(list("ACGT"), 300)) for _ in range(2))
    fasta = folder / "ref.fa"
    fasta.write_text(f">chr1 test\n{chr1[:150]}\n{chr1[150:]}\n>chr2\n{chr2}\n")

    def other(base):
        return "A" if base != "A" else "C"

    def comp(bases):
        return bases.translate(str.maketrans("ACGT", "TGCA"))

    def b(position):  # 1-based base of chr1
        return chr1[position - 1]

    third = next(x for x in "ACGT" if x not in (b(161), comp(b(161))))
    lines = [
        "##fileformat=VCFv4.2",
        "##contig=<ID=chr1,length=300>",
        "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO",
        f"chr1\t101\tsnv\t{b(101)}\t{other(b(101))}\t.\tPASS\t.",  # line 4
        f"1\t121\tno_chr\t{b(121)}\t{other(b(121))}\t.\tPASS\t.",  # 5: '1' -> chr1
        f"chr1\t141\tref_mismatch\t{other(b(141))}\t{b(141)}\t.\tPASS\t.",  # 6
        "chr9\t10\tunknown_contig\tA\tC\t.\tPASS\t.",  # 7
        f"chr1\t161\tmulti\t{b(161)}\t{comp(b(161))},{third},{b(161)}TT\t.\tPASS\t.",  # 8: three alleles
        f"chr1\t181\tdeletion\t{chr1[180:183]}\t{b(181)}\t.\tPASS\t.",  # 9
        f"chr1\t201\tmnv\t{chr1[200:202]}\t{comp(chr1[200:202])}\t.\tPASS\t.",  # 10
        f"chr1\t221\tpadded\t{chr1[220:222]}\t{b(221)}{other(b(222))}\t.\tPASS\t.",  # 11: AC>AT style -> SNV at 222
        f"chr1\t222\tsame_snv\t{b(222)}\t{other(b(222))}\t.\tPASS\t.",  # 12
        f"chr1\t241\tsymbolic\t{b(241)}\t<DEL>\t.\tPASS\t.",  # 13
        "chr1\tten\tbad_pos\tA\tC\t.\tPASS\t.",  # 14
        "chr1\t10\ttoo_few_columns\tA\tC",  # 15
        f"chr2\t299\tpast_end\t{chr2[298:]}A\tC\t.\tPASS\t.",  # 16
        f"chr2\t5\tn_allele\t{chr2[4]}\tN\t.\tPASS\t.",  # 17
    ]
    vcf = folder / "calls.vcf"
    vcf.write_text("\n".join(lines) + "\n")
    return fasta, vcf, chr1


EXPECTED_OUTCOMES = [  # (line, allele, id, status, reason category)
    (4, 1, "snv", "scored", ""),
    (5, 1, "no_chr", "scored", ""),
    (6, 1, "ref_mismatch", "flagged", "mismatch"),
    (7, 1, "unknown_contig", "skipped", "contig"),
    (8, 1, "multi", "scored", ""),
    (8, 2, "multi", "scored", ""),
    (8, 3, "multi", "skipped", "indel"),
    (9, 1, "deletion", "skipped", "indel"),
    (10, 1, "mnv", "skipped", "mnv"),
    (11, 1, "padded", "scored", ""),
    (12, 1, "same_snv", "scored", ""),
    (13, 1, "symbolic", "skipped", "symbolic"),
    (14, 0, "bad_pos", "skipped", "malformed"),
    (15, 0, "too_few_columns", "skipped", "malformed"),
    (16, 1, "past_end", "flagged", "mismatch"),
    (17, 1, "n_allele", "skipped", "allele"),
]


def test_every_kind_of_record_gets_its_documented_outcome(model_dir, loaded, tmp_path, capsys):
    fasta, vcf, chr1 = write_edge_case_inputs(tmp_path)
    out = tmp_path / "scores.tsv"
    assert (
        cli.main(
            [
                "score-variants",
                "--vcf",
                str(vcf),
                "--fasta",
                str(fasta),
                "--model",
                str(model_dir),
                "--out",
                str(out),
                "--no-progress",
            ]
        )
        == 0
    )
    summary = capsys.readouterr().out
    assert "14 records, 16 alleles: 6 scored, 2 flagged, 8 skipped" in summary
    rows = read_table(out)
    outcomes = [(int(r["line"]), int(r["allele"]), r["id"], r["status"], r["reason"].split(":")[0]) for r in rows]
    assert outcomes == EXPECTED_OUTCOMES
    by_id = {(r["id"], r["allele"]): r for r in rows}
    assert by_id[("no_chr", "1")]["contig"] == "chr1"
    assert "line 14: POS 'ten'" in by_id[("bad_pos", "0")]["reason"]
    assert "found 5" in by_id[("too_few_columns", "0")]["reason"]
    assert "REF" in by_id[("ref_mismatch", "1")]["reason"] and not by_id[("ref_mismatch", "1")]["cosine_similarity"]
    # The padded record is the same change as the plain SNV at 222: same window, same numbers.
    padded, plain = by_id[("padded", "1")], by_id[("same_snv", "1")]
    assert [padded[n] for n in SCORE_NAMES] == [plain[n] for n in SCORE_NAMES]
    # And every scored row equals the pipeline on the contig itself (300 bp: one window).
    model, tokenizer = loaded
    score = pipeline("variant-effect", model=model, tokenizer=tokenizer, device="cpu")
    for key, position in (("snv", 100), ("no_chr", 120), ("same_snv", 221)):
        row = by_id[(key, "1")]
        result = score({"sequence": chr1, "position": position, "ref": row["ref"], "alt": row["alt"]})
        assert (int(row["window_start"]), int(row["window_end"])) == (1, 300)
        for name in SCORE_NAMES:
            assert float(row[name]) == pytest.approx(result[name], rel=1e-5, abs=1e-5)  # float32, other batch


def test_parquet_output_holds_the_same_table(model_dir, tmp_path):
    pyarrow_parquet = pytest.importorskip("pyarrow.parquet")
    fasta, vcf, _ = write_edge_case_inputs(tmp_path)
    for suffix in ("tsv", "parquet"):
        assert (
            cli.main(
                [
                    "score-variants",
                    "--vcf",
                    str(vcf),
                    "--fasta",
                    str(fasta),
                    "--model",
                    str(model_dir),
                    "--out",
                    str(tmp_path / f"scores.{suffix}"),
                    "--no-progress",
                ]
            )
            == 0
        )
    table = pyarrow_parquet.read_table(tmp_path / "scores.parquet").to_pylist()
    tsv = read_table(tmp_path / "scores.tsv")
    assert len(table) == len(tsv) == len(EXPECTED_OUTCOMES)
    for a, b in zip(table, tsv):
        assert a["line"] == int(b["line"]) and a["status"] == b["status"] and a["reason"] == b["reason"]
        assert a["pos"] == (int(b["pos"]) if b["pos"].isdigit() else None)
        for name in SCORE_NAMES:
            assert a[name] == (float(b[name]) if b[name] else None)


@pytest.mark.parametrize(
    "content,message",
    [
        (b"", "is empty"),
        (b"chr1\t1\t.\tA\tC\t.\t.\t.\n", "line 1: data before the '#CHROM' header"),
        (b"##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\n", None),  # header only: valid, no records
        (b"#CHROM POS ID REF ALT\n", "line 1: the header line must start with #CHROM"),
        (
            b"#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\nchr1\tx\t.\tA\tC\t.\t.\t.\nchr1\t2\n",
            "none of its 2 data lines is a valid VCF record",
        ),
        (b"\x1f\x8b\x08\x00garbage", "cannot be read as gzip"),
        (b"\xff\xfe\x00binary", "line 1: not UTF-8 text"),
    ],
)
def test_whole_file_problems_raise_naming_file_and_line(tmp_path, content, message):
    path = tmp_path / "in.vcf"
    path.write_bytes(content)
    if message is None:
        assert read_vcf(path) == []
        return
    with pytest.raises(VcfError, match=message) as raised:
        read_vcf(path)
    assert str(path) in str(raised.value)


def test_bad_files_fail_the_command_and_write_nothing(model_dir, tmp_path, capsys):
    fasta, _, _ = write_edge_case_inputs(tmp_path)
    cases = {
        "empty.vcf": "",
        "wrong_assembly.vcf": "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\nchrZ\t5\t.\tA\tC\t.\t.\t.\n",
    }
    for name, text in cases.items():
        (tmp_path / name).write_text(text)
        out = tmp_path / f"{name}.tsv"
        code = cli.main(
            [
                "score-variants",
                "--vcf",
                str(tmp_path / name),
                "--fasta",
                str(fasta),
                "--model",
                str(model_dir),
                "--out",
                str(out),
                "--no-progress",
            ]
        )
        assert code == 2 and not out.exists()
    errors = capsys.readouterr().err
    assert "empty.vcf is empty" in errors
    assert "None of the VCF's contigs (chrZ) is in the FASTA (chr1, chr2)" in errors
    header_only = tmp_path / "header_only.vcf"
    header_only.write_text("##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n")
    assert (
        cli.main(
            [
                "score-variants",
                "--vcf",
                str(header_only),
                "--fasta",
                str(fasta),
                "--model",
                str(model_dir),
                "--out",
                str(tmp_path / "none.tsv"),
                "--no-progress",
            ]
        )
        == 0
    )
    assert (tmp_path / "none.tsv").read_text() == "\t".join(OUTPUT_COLUMNS) + "\n"
    assert "0 records, 0 alleles: 0 scored, 0 flagged, 0 skipped" in capsys.readouterr().out


def test_contig_names_are_reconciled_with_or_without_chr():
    mapping = reconcile_contigs(["1", "chr2", "MT", "chrX", "7"], ["chr1", "2", "chrM", "chrX"])
    assert mapping == {"1": "chr1", "chr2": "2", "MT": "chrM", "chrX": "chrX", "7": None}


def test_a_checkpoint_of_another_run_is_refused_unless_restart(model_dir, loaded, tmp_path):
    fasta, vcf, _ = write_edge_case_inputs(tmp_path)
    out = tmp_path / "scores.tsv"
    partial = tmp_path / "scores.tsv.partial"
    partial.mkdir()
    (partial / "meta.json").write_text('{"fingerprint": "another run", "chunks": 1}')
    model, tokenizer = loaded
    with pytest.raises(ValueError, match="other inputs or options.*--restart"):
        score_vcf(model, tokenizer, vcf, fasta, out, progress=False)
    assert not out.exists() and partial.exists()
    summary = score_vcf(model, tokenizer, vcf, fasta, out, progress=False, restart=True)
    assert summary["scored"] == 6 and out.exists() and not partial.exists()


def test_killed_run_leaves_no_output_and_resumes_to_the_identical_file(model_dir, giab_reference, tmp_path):
    out = tmp_path / "scores.tsv"
    partial = tmp_path / "scores.tsv.partial"
    command = [
        sys.executable,
        "-m",
        "nucleotide_transformer_hf",
        "score-variants",
        "--vcf",
        str(GIAB_VCF),
        "--fasta",
        str(GIAB_FASTA),
        "--model",
        str(model_dir),
        "--out",
        str(out),
        *RUN,
    ]
    process = subprocess.Popen(command, env=subprocess_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 240
    while not list(partial.glob("chunk-*.tsv")):  # wait until at least one chunk is checkpointed
        assert process.poll() is None, process.communicate()[1].decode()[-2000:]
        assert time.monotonic() < deadline, "no checkpoint after 240 s"
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.communicate()
    assert process.returncode == -signal.SIGKILL

    rows = plan_vcf(read_vcf(GIAB_VCF), ReferenceGenome(GIAB_FASTA), 378, 42)
    total = len(make_chunks(rows, 4))
    finished = len(list(partial.glob("chunk-*.tsv")))
    assert 0 < finished < total, (finished, total)  # killed mid-run
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scores.tsv.partial"]  # no output, no temp file

    resumed = subprocess.run(command, env=subprocess_env(), capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    counts = re.search(r"(\d+) of (\d+) chunks resumed", resumed.stdout)
    assert counts and int(counts[1]) >= finished and int(counts[2]) == total, resumed.stdout
    assert out.read_bytes() == giab_reference.read_bytes()
    assert not partial.exists()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_two_processes_under_accelerate_launch_write_the_one_process_file(model_dir, giab_reference, tmp_path):
    launcher = shutil.which("accelerate", path=os.path.dirname(sys.executable)) or shutil.which("accelerate")
    assert launcher, "accelerate's launcher is not installed"
    out = tmp_path / "scores.tsv"
    command = [
        launcher,
        "launch",
        "--multi_gpu",
        "--num_processes",
        "2",
        "--num_machines",
        "1",
        "--mixed_precision",
        "no",
        "--dynamo_backend",
        "no",
        "--main_process_port",
        str(free_port()),
        "-m",
        "nucleotide_transformer_hf",
        "score-variants",
        "--vcf",
        str(GIAB_VCF),
        "--fasta",
        str(GIAB_FASTA),
        "--model",
        str(model_dir),
        "--out",
        str(out),
        *RUN,
    ]
    result = subprocess.run(command, env=subprocess_env(), capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.count("score-variants:") == 1  # one merged summary, from process 0
    assert out.read_bytes() == giab_reference.read_bytes()


def test_evaluate_variants_reports_auroc_per_score_with_a_roc_plot(model_dir, tmp_path, capsys):
    assert (
        cli.main(
            [
                "evaluate-variants",
                "--data",
                str(CLINVAR),
                "--model",
                str(model_dir),
                "--out-dir",
                str(tmp_path),
                "--batch-size",
                "32",
                "--no-progress",
            ]
        )
        == 0
    )
    printed = capsys.readouterr().out
    assert "zero-shot AUROC on 200 of 200 variants (100 pathogenic, 100 benign)" in printed
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    with open(tmp_path / "scores.tsv") as handle:
        header, *lines = [line.rstrip("\n").split("\t") for line in handle]
    labels = np.array([int(line[header.index("label")]) for line in lines])
    for name in SCORE_NAMES:
        values = np.array([float(line[header.index(name)]) for line in lines]) * PATHOGENIC_DIRECTION[name]
        # AUROC by hand: the share of (pathogenic, benign) pairs ranked the right way, ties counting one half.
        diff = values[labels == 1][:, None] - values[labels == 0][None, :]
        by_hand = ((diff > 0).sum() + 0.5 * (diff == 0).sum()) / diff.size
        assert metrics[f"auroc_{name}"] == pytest.approx(by_hand, abs=1e-12)
        assert f"{name:18} {by_hand:.3f}" in printed
    assert (tmp_path / "roc.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_bundled_clinvar_slice_is_balanced_real_snvs():
    with gzip.open(CLINVAR, "rt") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 200 and sum(r["label"] == "1" for r in rows) == 100
    for row in rows:
        diff = [i for i, (a, b) in enumerate(zip(row["ref_seq"], row["alt_seq"])) if a != b]
        assert len(row["ref_seq"]) == len(row["alt_seq"]) == 1024 and diff == [512]


# ---- streaming, chunks and dry runs -----------------------------------------------------------------------------

SYNTHETIC_START, SYNTHETIC_END = 9_995_001, 10_110_000  # the real (non-N) sequence of the bundled chr20 slice


def write_synthetic_vcf(path: Path, records: int, seed: int = 0) -> Path:
    """`records` sorted calls on the bundled chr20 slice: mostly SNVs with the FASTA's REF, some multi-allelic, some
    indels; plain text (or gzip when `path` ends in .gz)."""
    import pysam

    sequence = pysam.FastaFile(str(GIAB_FASTA)).fetch("chr20", SYNTHETIC_START - 1, SYNTHETIC_END).upper()
    rng = np.random.default_rng(seed)
    offsets = np.sort(rng.integers(0, len(sequence) - 2, records))
    with (gzip.open if path.suffix == ".gz" else open)(path, "wt") as handle:
        handle.write("##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n")
        for i, offset in enumerate(offsets):
            ref = sequence[offset]
            alts = [base for base in "ACGT" if base != ref]
            alt = ",".join(alts[:2]) if i % 7 == 0 else alts[i % 3]
            if i % 10 == 0:
                ref, alt = sequence[offset : offset + 2], ref
            handle.write(f"chr20\t{SYNTHETIC_START + int(offset)}\ts{i}\t{ref}\t{alt}\t.\tPASS\t.\n")
    return path


def test_dry_run_writes_a_real_runs_rows_and_statuses_without_a_forward_pass(loaded, giab_reference, tmp_path):
    model, tokenizer = loaded

    def refuse(*_):
        raise AssertionError("a dry run called the model")

    hooks = [module.register_forward_pre_hook(refuse) for module in (model, model.base_model, model.lm_head)]
    try:
        summary = score_vcf(
            model,
            tokenizer,
            GIAB_VCF,
            GIAB_FASTA,
            tmp_path / "dry.tsv",
            chunk_size=4,
            both_strands=True,
            batch_size=32,
            progress=False,
            dry_run=True,
        )
    finally:
        for hook in hooks:
            hook.remove()
    assert summary["forward_passes"] == 0 and summary["scored"] == 186 and summary["rows"] == 222
    dry, real = read_table(tmp_path / "dry.tsv"), read_table(giab_reference)
    assert len(dry) == len(real) == 222
    kept = [name for name in OUTPUT_COLUMNS if name not in SCORE_NAMES]  # ids, status, reason, contig, window
    assert [[r[name] for name in kept] for r in dry] == [[r[name] for name in kept] for r in real]
    assert all(not r[name] for r in dry for name in SCORE_NAMES)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dry.tsv"]  # its checkpoint folder is gone


def test_output_does_not_depend_on_chunk_size(model_dir, giab_reference, tmp_path):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as the reference
    try:
        for size in ("1", "7", "100000"):
            out = tmp_path / f"scores_{size}.tsv"
            options = [*RUN[RUN.index("--both-strands") :], "--chunk-size", size]
            assert (
                cli.main(
                    [
                        "score-variants",
                        "--vcf",
                        str(GIAB_VCF),
                        "--fasta",
                        str(GIAB_FASTA),
                        "--model",
                        str(model_dir),
                        "--out",
                        str(out),
                        *options,
                    ]
                )
                == 0
            )
            assert out.read_bytes() == giab_reference.read_bytes(), size
    finally:
        torch.set_num_threads(threads)


def test_chunks_are_consecutive_rows_and_never_split_a_window():
    rows = plan_vcf(read_vcf(GIAB_VCF), ReferenceGenome(GIAB_FASTA), 378, 42)
    for size in (1, 4, 50):
        chunks = list(variants.iter_chunks(rows, size))
        assert [row for chunk in chunks for row in chunk] == rows  # every row once, in order
        windows = [{(r.contig, *r.window) for r in chunk if r.window} for chunk in chunks]
        assert all(not a & b for i, a in enumerate(windows) for b in windows[i + 1 :])  # a window in one chunk
        counts = [sum(r.window is not None for r in chunk) for chunk in chunks]
        assert all(count >= size for count in counts[:-1])
        assert [len(c) for c in make_chunks(rows, size)] == [len(c) for c in chunks]
    # A long run of unscorable rows is cut at the row limit (bounded memory), where no later row shares a window.
    limit = variants._chunk_row_limit(4)
    indels = [
        variants.VariantRow(i, 1, "chr20", str(i + 1), ".", "AC", "A", "skipped", "indel") for i in range(limit * 2 + 5)
    ]
    assert [len(chunk) for chunk in variants.iter_chunks(indels, 4)] == [limit, limit, 5]


def test_parquet_output_is_written_in_row_groups_that_hold_the_tsv_table(model_dir, loaded, tmp_path, monkeypatch):
    pyarrow_parquet = pytest.importorskip("pyarrow.parquet")
    monkeypatch.setattr(variants, "_PARQUET_ROWS", 50)
    model, tokenizer = loaded
    for suffix in ("tsv", "parquet"):
        score_vcf(model, tokenizer, GIAB_VCF, GIAB_FASTA, tmp_path / f"dry.{suffix}", progress=False, dry_run=True)
    parquet = pyarrow_parquet.ParquetFile(tmp_path / "dry.parquet")
    assert parquet.metadata.num_row_groups == 5  # 222 rows, 50 a group
    table, tsv = parquet.read().to_pylist(), read_table(tmp_path / "dry.tsv")
    assert [[str(a[n]) if a[n] is not None else "" for n in OUTPUT_COLUMNS] for a in table] == [
        [b[n] for n in OUTPUT_COLUMNS] for b in tsv
    ]


def test_the_reader_is_lazy(tmp_path):
    """The first record comes out before the reader gets to a break near the end of a large gzip file."""
    path = write_synthetic_vcf(tmp_path / "big.vcf.gz", 50_000)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 20])  # the tail cut off: the stream breaks near line 50,000
    records = iter_vcf(path)
    first = next(records)
    assert (first.line, first.id, first.problem) == (3, "s0", "")
    assert next(records).id == "s1"
    with pytest.raises(VcfError, match=r"cannot be read as gzip after line (\d+)") as raised:
        read_vcf(path)
    assert int(re.search(r"after line (\d+)", str(raised.value))[1]) > 40_000


def test_memory_of_a_dry_run_does_not_grow_with_the_vcf(loaded, tmp_path):
    """Peak Python allocations (tracemalloc: deterministic, not timed) of a whole dry run, 10x more records."""
    import tracemalloc

    model, tokenizer = loaded
    peaks = {}
    for records in (500, 1_000, 10_000):  # the first one warms up caches and imports
        vcf = write_synthetic_vcf(tmp_path / f"calls_{records}.vcf", records)
        tracemalloc.start()
        try:
            summary = score_vcf(
                model,
                tokenizer,
                vcf,
                GIAB_FASTA,
                tmp_path / f"{records}.tsv",
                chunk_size=64,
                progress=False,
                dry_run=True,
            )
            peaks[records] = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert summary["records"] == records and summary["rows"] > records
    assert peaks[10_000] < 1.5 * peaks[1_000], peaks


LATE_PROBLEMS = {  # found only at the end of the stream, after chunks were written
    "all_malformed.vcf": b"#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n" + b"chr1\tx\t.\tA\tC\t.\t.\t.\n" * 10_000,
    "no_header.vcf": b"##fileformat=VCFv4.2\n" * 10,
    "wrong_assembly.vcf": b"#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n" + b"chrZ\t5\t.\tA\tC\t.\t.\t.\n" * 5000,
}


@pytest.mark.parametrize(
    "name,content,message",
    [
        ("empty.vcf", b"", "is empty"),
        ("data_first.vcf", b"chr1\t1\t.\tA\tC\t.\t.\t.\n", "line 1: data before the '#CHROM' header"),
        ("bad_header.vcf", b"#CHROM POS ID REF ALT\n", "line 1: the header line must start with #CHROM"),
        ("binary.vcf", b"\xff\xfe\x00binary", "line 1: not UTF-8 text"),
        ("garbage.vcf.gz", b"\x1f\x8b\x08\x00garbage", "cannot be read as gzip"),
        ("all_malformed.vcf", LATE_PROBLEMS["all_malformed.vcf"], "none of its 10000 data lines is a valid VCF"),
        ("no_header.vcf", LATE_PROBLEMS["no_header.vcf"], "no '#CHROM' header line"),
        ("wrong_assembly.vcf", LATE_PROBLEMS["wrong_assembly.vcf"], r"None of the VCF's contigs \(chrZ\)"),
        ("truncated.vcf.gz", None, "cannot be read as gzip after line"),
    ],
)
def test_a_streamed_whole_file_problem_is_refused_and_leaves_nothing(
    loaded, tmp_path, monkeypatch, name, content, message
):
    model, tokenizer = loaded
    inputs = tmp_path / "in"
    inputs.mkdir()
    path = inputs / name
    if content is None:  # a large gzip file that breaks near its end, after many chunks
        write_synthetic_vcf(path, 20_000)
        path.write_bytes(path.read_bytes()[:-20])
    else:
        path.write_bytes(content)
    written = []
    original = variants.write_atomically
    monkeypatch.setattr(variants, "write_atomically", lambda p, w: (written.append(p.name), original(p, w)))
    results = tmp_path / "results"
    with pytest.raises(VcfError, match=message) as raised:
        score_vcf(
            model, tokenizer, path, GIAB_FASTA, results / "scores.tsv", chunk_size=4, progress=False, dry_run=True
        )
    if "contigs" not in message:
        assert str(path) in str(raised.value)
    assert not results.exists() or not list(results.iterdir())  # no output, no checkpoint, no temporary file
    if name in LATE_PROBLEMS or content is None:
        assert (
            any(n.startswith("chunk-") for n in written) or name == "no_header.vcf"
        )  # chunks were written, then removed
    else:
        assert written == []  # refused before the checkpoint folder was made
