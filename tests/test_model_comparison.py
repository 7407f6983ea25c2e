"""`evaluate-tasks` with several models: NT beside a tiny random BERT-style model with a BPE tokenizer trained with
`tokenizers` on bundled DNA (DNABERT-2's scheme) and a tiny character-level model with its own code (HyenaDNA's
scheme, `trust_remote_code`), on a bundled task of the revised NT benchmark; the methods a model cannot run, the
paper column, the nt-paper protocol and the engine's pooling for other tokenizers against transformers' own forward."""

import csv
import gzip
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from nucleotide_transformer_hf import (
    NucleotideTransformerConfig,
    NucleotideTransformerForMaskedLM,
    NucleotideTransformerTokenizerFast,
)
from nucleotide_transformer_hf.cli import main
from nucleotide_transformer_hf.errors import InputError
from nucleotide_transformer_hf.inference import mean_embeddings
from nucleotide_transformer_hf.model_zoo import describe_model, load_encoder
from nucleotide_transformer_hf.paper_results import (
    ORIGINAL_TASKS,
    REVISED_TASKS,
    lookup,
    match_published_model,
    paper_metric,
    paper_task,
    read_paper_results,
)
from nucleotide_transformer_hf.task_benchmark import (
    BenchmarkSettings,
    evaluate_tasks,
    find_task_sources,
    prepare_task,
    protocol_settings,
    select_sources,
)
from nucleotide_transformer_hf.tiny_models import build_tiny_bpe_model, build_tiny_char_model, bundled_dna

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "data" / "tasks" / "nt_revised_sample"
TINY = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37)


@pytest.fixture(scope="module", autouse=True)
def modules_cache(remote_code_cache):
    return remote_code_cache  # remote code is copied into a temporary modules cache, not the user's home


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("compared")
    torch.manual_seed(0)
    nt = root / "nucleotide-transformer-2.5b-multi-species"  # named after a published model: the paper column
    NucleotideTransformerForMaskedLM(NucleotideTransformerConfig.from_preset("v2", **TINY)).save_pretrained(nt)
    NucleotideTransformerTokenizerFast(vocab_layout="v2").save_pretrained(nt)
    bpe = build_tiny_bpe_model(root / "tiny-bpe", bundled_dna(max_bases=20_000), max_position_embeddings=512)
    char = build_tiny_char_model(root / "tiny-char", max_length=1024)
    short = build_tiny_char_model(root / "tiny-char-short", max_length=256)
    return {"nt": nt, "bpe": bpe, "char": char, "short": short}


def _read_csv(path: Path) -> list[dict]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def _promoters():
    return select_sources(find_task_sources(SAMPLE), ["promoter_all"])


def test_three_models_one_table_a_row_per_task_model_method(models, tmp_path, capsys):
    out = tmp_path / "out"
    args = ["evaluate-tasks", "--model", str(models["nt"]), "--model", str(models["bpe"]), "--model"]
    args += [str(models["char"]), "--model", str(models["short"]), str(SAMPLE), "--trust-remote-code"]
    args += ["--tasks", "promoter_all", "--methods", "ia3,full,probing,kmer", "--seeds", "0", "1"]
    args += ["--max-steps", "2", "--eval-steps", "2", "--batch-size", "8", "--probes", "logistic", "--quiet"]
    assert main(args + ["--out", str(out)]) == 0
    labels = [f"{p.parent.name}/{p.name}" for p in (models["nt"], models["bpe"], models["char"], models["short"])]
    runs = _read_csv(out / "runs.csv")
    expected = [(m, method, s) for s in "01" for m in labels for method in ("ia3", "full", "probing")]
    expected_kmer = [("(no model)", "kmer", s) for s in "01"]
    got = [(r["model"], r["method"], r["seed"]) for r in runs]
    assert sorted(got) == sorted(expected + expected_kmer) and len(got) == len(set(got))
    summary = _read_csv(out / "results.csv")
    keys = [(r["task"], r["model"], r["method"]) for r in summary]
    assert len(keys) == len(set(keys)) == 4 * 3 + 1
    by_key = {(r["model"], r["method"]): r for r in summary}
    nt, bpe, char, short = labels
    for key in [(nt, "ia3"), (nt, "full"), (nt, "probing"), (bpe, "ia3"), (bpe, "full"), (bpe, "probing")]:
        row = by_key[key]
        assert row["status"] == "ok", key
        assert -1 <= float(row["mcc_mean"]) <= 1 and row["seeds"] == "2"
    assert by_key[(char, "full")]["status"] == "ok" and by_key[(char, "probing")]["status"] == "ok"
    assert by_key[(char, "ia3")]["status"] == "not run: peft has no IA3 default for model type 'tiny_char_dna'"
    for method in ("ia3", "full", "probing"):
        assert by_key[(short, method)]["status"].startswith(
            "not run: context too short: longest sequence is 301 tokens, the model takes 256"
        )
    # one run per seed, the summary is their mean
    for row in summary:
        group = [r for r in runs if (r["model"], r["method"]) == (row["model"], row["method"]) and r["status"] == "ok"]
        if group:
            assert float(row["mcc_mean"]) == pytest.approx(np.mean([float(r["mcc"]) for r in group]))
    markdown = (out / "results.md").read_text()
    header = f"| task | method | {nt} | {bpe} | {char} | {short} | 6-mer LR (no model) |"
    assert header in markdown
    assert "peft has no IA3 default for model type 'tiny_char_dna'" in markdown
    assert "context: NT models cut longer sequences into windows" in markdown
    assert (out / "results.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert header in capsys.readouterr().out


def test_each_number_is_reproducible_by_seed(models, tmp_path):
    settings = BenchmarkSettings(
        methods=("full", "kmer"), seeds=(3,), max_steps=2, eval_steps=2, batch_size=8,
        probes=("logistic",), verbose=False,
    )  # fmt: skip
    chosen = [describe_model(models["bpe"]), describe_model(models["char"], trust_remote_code=True)]
    first = evaluate_tasks(chosen, _promoters(), tmp_path / "a", settings).runs
    second = evaluate_tasks(chosen, _promoters(), tmp_path / "b", settings).runs
    assert [r["mcc"] for r in first] == [r["mcc"] for r in second]
    assert all(r["status"] == "ok" for r in first)


def test_remote_code_is_an_explicit_opt_in(models, tmp_path, capsys):
    with pytest.raises(InputError, match="pass --trust-remote-code"):
        describe_model(models["char"])
    args = ["evaluate-tasks", "--model", str(models["char"]), str(SAMPLE), "--out", str(tmp_path / "o")]
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "pass --trust-remote-code" in err[0]
    assert not (tmp_path / "o").exists()


def test_pooling_over_real_tokens_equals_transformers_forward(models):
    """The engine's mean over real tokens, for a BPE model ([CLS] … [SEP], batched with padding) and a model without
    an attention mask (one pass per sequence), against each model's own forward on one unpadded sequence."""
    sequences = ["ACGTACGTTAGCCATGA" * 3, "TTGACA" * 20, "GATTACA"]
    for name, trust in (("bpe", False), ("char", True)):
        model = describe_model(models[name], trust_remote_code=trust)
        encoder, tokenizer = load_encoder(model)
        pooled = mean_embeddings(encoder, tokenizer, sequences, layers=[0, -1], batch_size=3)
        for sequence, got in zip(sequences, pooled):
            encoded = tokenizer(sequence, return_tensors="pt", return_special_tokens_mask=True)
            real = encoded.pop("special_tokens_mask")[0] == 0
            inputs = {"input_ids": encoded["input_ids"]}
            if name == "bpe":
                inputs["attention_mask"] = encoded["attention_mask"]
            with torch.no_grad():
                hidden = encoder(**inputs, output_hidden_states=True).hidden_states
            expected = np.stack([hidden[i][0, real].mean(0).numpy() for i in (0, -1)])
            np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
            assert 0 < int(real.sum()) < encoded["input_ids"].shape[1]  # special tokens were there and left out


def test_paper_column_holds_the_published_number(models, tmp_path):
    """A task of the original NT benchmark, run with a model named after a published one: the paper column holds
    the number of the shipped table for (task, model, IA3 fine-tuning) with its source; other rows stay empty."""
    rows = [line for line in gzip.open(SAMPLE / "sample.csv.gz", "rt") if ",enhancers\n" in line]
    data = tmp_path / "nucleotide_transformer_downstream_tasks" / "enhancers"
    data.mkdir(parents=True)
    with gzip.open(data / "train.csv.gz", "wt") as handle:
        handle.write("sequence,name,label,task\n" + "".join(rows))
    published = match_published_model(str(models["nt"]))
    assert published == "InstaDeepAI/nucleotide-transformer-2.5b-multi-species"
    model = describe_model(models["nt"], paper_name=published)
    settings = BenchmarkSettings(
        methods=("ia3", "probing"), seeds=(0,), max_steps=2, eval_steps=2, probes=("logistic",), verbose=False
    )
    report = evaluate_tasks([model], find_task_sources(tmp_path), tmp_path / "out", settings)
    by_method = {row["method"]: row for row in report.summary}
    expected = next(
        r for r in read_paper_results() if (r.benchmark, r.task, r.model) == ("original", "enhancers", published)
    )
    assert expected.metric == "mcc" and by_method["ia3"]["paper"] == f"{expected.value:.3f}"
    assert by_method["ia3"]["paper_source"] == expected.source
    assert by_method["probing"]["paper"] == ""
    assert f"paper ({model.label})" in report.markdown


def test_every_shipped_number_has_a_source_and_a_known_task():
    rows = read_paper_results()
    assert len(rows) >= 100
    for row in rows:
        assert row.benchmark in ("revised", "original")
        assert row.task in (REVISED_TASKS if row.benchmark == "revised" else ORIGINAL_TASKS)
        assert row.metric in ("mcc", "f1") and -1 <= row.value <= 1 and not math.isnan(row.value)
        assert len(row.source) > 20 and row.status in ("reported", "UNVERIFIED")
    # the NT 2.5B multi-species column of HyenaDNA's Table 4.2 (docs/paper_results.md, docs/tasks.md: 81.4 MCC, 98.4 F1)
    assert lookup("nucleotide_transformer_downstream_tasks/enhancers", rows[0].model, "ia3") is not None
    assert lookup("x/H3", "InstaDeepAI/nucleotide-transformer-2.5b-multi-species", "ia3").value == pytest.approx(0.814)
    donors = lookup(
        "nucleotide_transformer_downstream_tasks/splice_sites_donors",
        "InstaDeepAI/nucleotide-transformer-2.5b-multi-species",
        "ia3",
    )
    assert donors.metric == "f1" and donors.value == pytest.approx(0.984)


@pytest.mark.parametrize(
    "name, benchmark, expected",
    [
        ("nt_revised_sample/promoter_all", "auto", ("revised", "promoter_all")),
        (
            "nucleotide_transformer_downstream_tasks_revised/splice_sites_donor",
            "auto",
            ("revised", "splice_sites_donors"),
        ),
        ("nucleotide_transformer_downstream_tasks/H3K4me3", "auto", ("original", "H3K4me3")),
        ("my_copy/H4ac", "auto", ("original", "H4ac")),  # only the original benchmark has H4ac
        ("my_copy/enhancers", "auto", None),  # both have it, the name says neither
        ("my_copy/enhancers", "revised", ("revised", "enhancers")),
        ("gue/prom_core_all", "auto", None),  # another data set, not the paper's
        ("nt_revised_sample/H3", "auto", None),  # H3 is not a revised task
    ],
)
def test_task_names_map_to_the_paper_only_where_the_data_are_its_own(name, benchmark, expected):
    assert paper_task(name, benchmark) == expected


def test_paper_metric_per_benchmark():
    assert paper_metric("original", "promoter_tata") == "f1" and paper_metric("original", "splice_sites_all") == "f1"
    assert paper_metric("original", "H3") == "mcc" and paper_metric("revised", "promoter_all") == "mcc"


def test_nt_paper_protocol_folds_partition_the_training_split(tmp_path):
    settings = protocol_settings("nt-paper")
    assert (settings.folds, settings.max_steps, settings.batch_size, settings.learning_rates["ia3"]) == (
        10, 10_000, 8, 3e-3,
    )  # fmt: skip
    assert tuple(settings.methods) == ("ia3", "probing") and settings.replicates[3] == (3, 3)
    assert protocol_settings("nt-paper", folds=3, max_steps=5).folds == 3
    splits = _promoters()[0].load()
    tasks = [prepare_task("p", splits, seed=k, fold=k, folds=5) for k in range(5)]
    held = [tuple(t.validation.sequences) for t in tasks]
    train_rows = sorted(s for s in tasks[0].train.sequences + tasks[0].validation.sequences)
    assert sorted(s for fold in held for s in fold) == train_rows  # every training row is validation exactly once
    assert all(set(t.train.sequences).isdisjoint(t.validation.sequences) for t in tasks)
    assert all(t.test.sequences == tasks[0].test.sequences for t in tasks)
    with pytest.raises(InputError, match="Unknown protocol"):
        protocol_settings("nt-preprint")


def test_nt_paper_header_says_what_is_unknown(models, tmp_path):
    settings = protocol_settings(
        "nt-paper", folds=2, max_steps=2, eval_steps=2, methods=("probing",), probes=("logistic",), verbose=False
    )
    report = evaluate_tasks([describe_model(models["nt"])], _promoters(), tmp_path / "out", settings)
    assert report.markdown.startswith("Protocol: the NT paper's (`--protocol nt-paper`), 2 folds.")
    assert "not known from the paper: sequence pooling" in report.markdown
    assert [r["fold"] for r in report.runs] == [0, 1]


def test_nt_model_named_by_its_published_layout_is_nt(models, published_v1):
    assert describe_model(published_v1[0]).is_nt and describe_model(models["nt"]).is_nt
    assert not describe_model(models["bpe"]).is_nt
    assert describe_model(models["bpe"]).context_tokens == 512
    char = describe_model(models["char"], trust_remote_code=True)
    assert char.context_tokens == 1024 and char.own_code
    assert not describe_model(models["bpe"], trust_remote_code=True).own_code  # allowed, but it brings no code
