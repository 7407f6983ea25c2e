"""The `nucleotide-transformer` console command, run as users run it (installed entry point)."""

import json
import shutil
import subprocess
import sys

import pytest

from nucleotide_transformer_hf import PUBLISHED_MODELS


def test_console_script_lists_presets():
    command = shutil.which("nucleotide-transformer") or shutil.which("nucleotide-transformer", path=sys.prefix + "/bin")
    assert command, "the nucleotide-transformer console script is not installed"
    result = subprocess.run([command, "presets"], capture_output=True, text=True, check=True)
    for name in PUBLISHED_MODELS:
        assert name in result.stdout
    assert "2048" in result.stdout and "1000" in result.stdout


def test_unknown_subcommand_fails():
    result = subprocess.run(
        [sys.executable, "-m", "nucleotide_transformer_hf.cli", "nope"], capture_output=True, text=True
    )
    assert result.returncode != 0 and "invalid choice" in result.stderr


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "nucleotide_transformer_hf", *args], capture_output=True, text=True)


def assert_one_line_error(result: subprocess.CompletedProcess, command: str, *fragments: str) -> None:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"nucleotide-transformer {command}: error: "), result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


@pytest.fixture(scope="module")
def model_without_tokenizer(tmp_path_factory):
    from nucleotide_transformer_hf import NucleotideTransformerConfig, NucleotideTransformerForMaskedLM

    folder = tmp_path_factory.mktemp("no-tokenizer")
    config = NucleotideTransformerConfig.from_preset(
        "v2", hidden_size=32, num_hidden_layers=1, num_attention_heads=4, intermediate_size=37
    )
    NucleotideTransformerForMaskedLM(config).save_pretrained(folder)
    return folder


VARIANT_ARGS = ["--data", "data/variants/clinvar_snv_200.csv.gz"]


def test_model_folder_errors_name_the_folder_and_what_is_missing(tmp_path, model_without_tokenizer):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert_one_line_error(
        run_cli("evaluate-variants", "--model", str(empty), *VARIANT_ARGS),
        "evaluate-variants",
        str(empty),
        "no config.json",
        "no model weights",
        "no tokenizer files",
    )
    assert_one_line_error(
        run_cli("evaluate-variants", "--model", str(model_without_tokenizer), *VARIANT_ARGS),
        "evaluate-variants",
        str(model_without_tokenizer),
        "no tokenizer files",
    )
    missing = tmp_path / "missing"
    assert_one_line_error(
        run_cli("evaluate-tasks", str(missing), "data/tasks", "--out", str(tmp_path / "out")),
        "evaluate-tasks",
        f"{missing}: no such model folder",
    )


def test_a_pickle_without_allow_pickle_is_a_one_line_error(tmp_path, model_without_tokenizer):
    import torch
    from safetensors.torch import load_file

    folder = tmp_path / "published"
    folder.mkdir()
    (folder / "config.json").write_text((model_without_tokenizer / "config.json").read_text())
    torch.save(load_file(model_without_tokenizer / "model.safetensors"), folder / "pytorch_model.bin")
    result = run_cli("convert", str(folder), str(tmp_path / "out"))
    assert_one_line_error(result, "convert", "pytorch_model.bin", "--allow-pickle")
    assert not (tmp_path / "out").exists()  # nothing half-written


@pytest.fixture
def model_dir(tmp_path, model_without_tokenizer):
    """The tiny model with its tokenizer, in a folder of the test's own."""
    from nucleotide_transformer_hf import NucleotideTransformerTokenizerFast

    folder = tmp_path / "model"
    shutil.copytree(model_without_tokenizer, folder)
    NucleotideTransformerTokenizerFast(vocab_layout="v2").save_pretrained(folder)
    return folder


def test_a_bad_vcf_is_a_one_line_error_naming_file_and_line(tmp_path, model_dir):
    vcf = tmp_path / "calls.vcf"
    vcf.write_text("chr20\t10\t.\tA\tG\t.\t.\t.\n")
    out = tmp_path / "scores.tsv"
    result = run_cli(
        "score-variants", "--vcf", str(vcf), "--fasta", "data/variants/hg19_chr20_1-10110000.fa.gz",
        "--model", str(model_dir), "--out", str(out), "--no-progress",
    )  # fmt: skip
    assert_one_line_error(result, "score-variants", str(vcf), "line 1")
    assert not out.exists()


def test_score_variants_dry_run_writes_every_row_with_empty_scores(tmp_path, model_dir):
    out = tmp_path / "plan.tsv"
    result = run_cli(
        "score-variants", "--vcf", "data/variants/giab_chr20_10mb.vcf.gz",
        "--fasta", "data/variants/hg19_chr20_1-10110000.fa.gz", "--model", str(model_dir), "--out", str(out),
        "--no-progress", "--dry-run",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    header, *rows = [line.split("\t") for line in out.read_text().splitlines()]
    scores = [header.index(name) for name in ("cosine_similarity", "mlm_log_ratio")]
    statuses = {row[header.index("status")] for row in rows}
    assert len(rows) == 222 and "scored" in statuses and "skipped" in statuses  # 221 records, one with two ALTs
    assert all(row[i] == "" for row in rows for i in scores)


def test_a_bug_keeps_its_traceback(monkeypatch):
    from nucleotide_transformer_hf import cli

    def broken(args):
        raise RuntimeError("a bug")

    help_text, add_arguments, _ = cli.SUBCOMMANDS["presets"]
    monkeypatch.setitem(cli.SUBCOMMANDS, "presets", (help_text, add_arguments, broken))
    with pytest.raises(RuntimeError, match="a bug"):
        cli.main(["presets"])


def test_every_subcommand_has_help():
    from nucleotide_transformer_hf.cli import SUBCOMMANDS

    assert sorted(SUBCOMMANDS) == sorted(
        [
            "presets",
            "convert",
            "push",
            "score-variants",
            "evaluate-variants",
            "evaluate-tasks",
            "export-onnx",
            "embed",
            "attention-map",
            "perplexity",
        ]
    )
    for name in SUBCOMMANDS:
        result = run_cli(name, "--help")
        assert result.returncode == 0 and f"usage: nucleotide-transformer {name}" in result.stdout


# ---- embed ------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def embed_model(tmp_path_factory):
    import torch

    from nucleotide_transformer_hf import (
        NucleotideTransformerConfig,
        NucleotideTransformerForMaskedLM,
        NucleotideTransformerTokenizerFast,
    )

    folder = tmp_path_factory.mktemp("embed-model")
    config = NucleotideTransformerConfig.from_preset(
        "v2",
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=4,
        intermediate_size=37,
        max_position_embeddings=66,
    )
    torch.manual_seed(0)
    NucleotideTransformerForMaskedLM(config).save_pretrained(folder)
    NucleotideTransformerTokenizerFast(vocab_layout="v2", model_max_length=64).save_pretrained(folder)
    return folder


def test_embed_writes_shards_and_a_manifest(tmp_path, embed_model):
    import json

    import pyarrow.parquet as pq

    table = tmp_path / "seqs.tsv"
    table.write_text("id\tsequence\na\tACGTACGTAC\nb\tGGGTTTAAACCCN\nc\tACGT\n")
    out = tmp_path / "emb"
    result = run_cli(
        "embed", "--model", str(embed_model), "--table", str(table), "--out", str(out), "--shard-size", "2",
        "--layers", "0", "1", "--both-strands", "--no-progress",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert f"embed: 3 inputs (27 bp) in 2 shards, 0 resumed from a checkpoint; wrote {out}" in result.stdout
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["options"]["layers"] == [0, 1] and manifest["options"]["both_strands"] is True
    rows = pq.read_table(out / "data").to_pydict()
    assert rows["id"] == ["a", "b", "c"] and len(rows["embedding_layer1"][0]) == 32


def test_embed_bad_input_is_one_line_exit_2(tmp_path, embed_model):
    bed = tmp_path / "regions.bed"
    bed.write_text("NC_000913.3\t0\t100\nchr9\t5\t50\n")
    fasta = tmp_path / "ref.fa"
    fasta.write_text(">NC_000913.3\n" + "ACGT" * 100 + "\n")
    out = tmp_path / "emb"
    common = ["embed", "--model", str(embed_model), "--out", str(out), "--no-progress"]
    assert_one_line_error(
        run_cli(*common, "--bed", str(bed), "--fasta", str(fasta)),
        "embed",
        f"{bed}, line 2: contig 'chr9' is not in {fasta}",
    )
    table = tmp_path / "seqs.csv"
    table.write_text("name,dna\nx,ACGT\n")
    assert_one_line_error(
        run_cli(*common, "--table", str(table)), "embed", f"{table}, line 1: no column 'sequence' (columns: name, dna)"
    )
    assert_one_line_error(run_cli(*common, "--bed", str(bed)), "embed", "--bed needs --fasta")
    assert not out.exists() and not (tmp_path / "emb.partial").exists()


ECOLI = "data/genomes/ecoli_K12_MG1655_NC_000913.3_1-120000.fa.gz"
ECOLI_GFF = "data/annotations/ecoli_K12_MG1655_NC_000913.3_1-120000.gff.gz"


def test_attention_map_and_perplexity_on_the_bundled_annotated_slice(tmp_path, model_dir):
    out = tmp_path / "attention"
    result = run_cli(
        "attention-map", "--model", str(model_dir), "--fasta", ECOLI, "--gff", ECOLI_GFF, "--out", str(out),
        "--window-bp", "6000", "--no-progress",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["windows"] == 20 and {"CDS", "intergenic", "promoter"} <= set(summary["elements"])
    assert (out / "attention_enrichment.tsv").is_file() and len(summary["heatmaps"]) == len(summary["elements"])

    out = tmp_path / "perplexity"
    result = run_cli(
        "perplexity", "--model", str(model_dir), "--fasta", ECOLI, "--gff", ECOLI_GFF, "--out", str(out),
        "--window-bp", "6000", "--no-progress",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    elements = (out / "elements.tsv").read_text()
    assert "CDS" in elements and "intergenic" in elements and (out / "perplexity.png").is_file()


def test_an_annotation_of_another_genome_is_a_one_line_error(tmp_path, model_dir):
    gff = tmp_path / "other.gff"
    gff.write_text("##gff-version 3\nchrZ\tRefSeq\tgene\t10\t200\t.\t+\t.\tID=g1\n")
    for command in ("attention-map", "perplexity"):
        out = tmp_path / command
        result = run_cli(command, "--model", str(model_dir), "--fasta", ECOLI, "--gff", str(gff), "--out", str(out))
        assert_one_line_error(result, command, str(gff), "line 2", "chrZ")
        assert not out.exists()
