"""`nucleotide-transformer evaluate-tasks` on a tiny model and tiny slices of real tasks: the files it writes, and
task discovery in data folders laid out as in docs/tasks.md."""

import csv
import gzip
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

import nucleotide_transformer_hf.task_benchmark as task_benchmark  # registers the subcommand
from nucleotide_transformer_hf import (
    NucleotideTransformerConfig,
    NucleotideTransformerForMaskedLM,
    NucleotideTransformerTokenizerFast,
)
from nucleotide_transformer_hf.cli import main
from nucleotide_transformer_hf.errors import InputError
from nucleotide_transformer_hf.task_benchmark import find_task_sources, prepare_task, select_sources

REPO = Path(__file__).resolve().parent.parent
TINY = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37)


@pytest.fixture(scope="module")
def tiny_model_dir(tmp_path_factory):
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("tiny-nt")
    NucleotideTransformerForMaskedLM(NucleotideTransformerConfig.from_preset("v2", **TINY)).save_pretrained(folder)
    NucleotideTransformerTokenizerFast(vocab_layout="v2").save_pretrained(folder)
    return folder


def _read_csv(path: Path) -> list[dict]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def _write_gz(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wt") as handle:
        handle.write(text)


def test_evaluate_tasks_writes_the_table_csv_and_chart(tiny_model_dir, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(REPO / "data" / "tasks" / "prom_core_all", data / "prom_core_all")
    shutil.copytree(REPO / "data" / "tasks" / "nt_revised_sample", data / "nt_revised_sample")
    out = tmp_path / "out"
    code = main(
        [
            "evaluate-tasks",
            str(tiny_model_dir),
            str(data),
            "--out",
            str(out),
            "--tasks",
            "prom_core_all",
            "nt_revised_sample/enhancers",
            "--seeds",
            "0",
            "1",
            "--max-steps",
            "3",
            "--eval-steps",
            "3",
            "--batch-size",
            "8",
            "--max-train",
            "48",
            "--max-test",
            "40",
            "--probe-layers",
            "0",
            "2",
            "--probes",
            "logistic",
            "--quiet",
        ]
    )
    assert code == 0
    tasks = ["prom_core_all", "nt_revised_sample/enhancers"]
    methods = list(task_benchmark.BENCHMARK_METHODS)
    runs = _read_csv(out / "runs.csv")
    assert [(r["task"], r["method"], r["seed"]) for r in runs] == [
        (task, method, str(seed)) for task in tasks for seed in (0, 1) for method in methods
    ]
    summary = _read_csv(out / "results.csv")
    assert [(r["task"], r["method"]) for r in summary] == [(task, method) for task in tasks for method in methods]
    markdown = (out / "results.md").read_text()
    for row in summary:
        mccs = [float(r["mcc"]) for r in runs if (r["task"], r["method"]) == (row["task"], row["method"])]
        assert float(row["mcc_mean"]) == pytest.approx(np.mean(mccs))
        assert float(row["mcc_sd"]) == pytest.approx(np.std(mccs, ddof=1))
        assert -1 <= float(row["mcc_mean"]) <= 1 and float(row["train_seconds"]) > 0
        label = task_benchmark.METHOD_LABELS[row["method"]]
        assert row["metric"] == "mcc" and row["metric_mean"] == row["mcc_mean"] and row["status"] == "ok"
        model = "(no model)" if row["method"] == "kmer" else "/".join(tiny_model_dir.parts[-2:])
        assert row["model"] == model
        cell = f"{float(row['mcc_mean']):.3f} ± {float(row['mcc_sd']):.3f}"
        assert f"| {row['task']} | {model} | {label} | MCC | {cell} |" in markdown
    prom = [r for r in runs if r["task"] == "prom_core_all"]
    assert {r["n_train"] for r in prom} == {"48"} and {r["n_test"] for r in prom} == {"40"}
    assert all(r["steps"] == "3" for r in runs if r["method"] in ("ia3", "lora", "full", "random"))
    assert all("layer=" in r["detail"] for r in runs if r["method"] == "probing")
    png = (out / "results.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    import matplotlib.image

    height, width, _ = matplotlib.image.imread(out / "results.png").shape
    assert width > 500 and height > 300


def test_task_discovery_in_a_data_folder_layout(tmp_path):
    root = tmp_path / "data"
    _write_gz(root / "gue" / "EMP_X" / "dev.csv.gz", "sequence,label\n" + "ACGTAC,0\nGGCCGG,1\n" * 40)
    _write_gz(root / "gue" / "EMP_X" / "test.csv.gz", "sequence,label\n" + "ACGTAC,0\nGGCCGG,1\n" * 10)
    _write_gz(root / "gue" / "tf_9" / "train.csv.gz", "sequence,label\n" + "ACGTAC,0\nGGCCGG,1\n" * 40)
    _write_gz(root / "gue" / "tf_9" / "dev.csv.gz", "sequence,label\n" + "ACGTAC,0\nGGCCGG,1\n" * 5)
    _write_gz(root / "gue" / "tf_9" / "test.csv.gz", "sequence,label\n" + "ACGTAC,0\nGGCCGG,1\n" * 5)
    _write_gz(
        root / "nt" / "sample.csv.gz",
        "sequence,name,label,task\n" + "ACGTAC,a,0,H3\nGGCCGG,b,1,H3\nTTTTTT,c,2,splice\n" * 30,
    )
    _write_gz(root / "coords" / "a.csv.gz", "id,region,start,end\n1,chr1,0,10\n")
    _write_gz(root / "coords" / "b.csv.gz", "id,region,start,end\n1,chr1,0,10\n")
    _write_gz(root / "coordinates_only" / "train.csv.gz", "id,region,start,end\n1,chr1,0,10\n")
    (root / "genome").mkdir()
    (root / "genome" / "chr.fa").write_text(">chr1\nACGT\n")
    skipped = []
    sources = find_task_sources(root, skipped)
    assert [s.name for s in sources] == ["gue/EMP_X", "gue/tf_9", "nt/H3", "nt/splice"]
    assert sorted(s.split(":")[0] for s in skipped) == ["coordinates_only", "coords", "genome"]

    emp = prepare_task("gue/EMP_X", sources[0].load(), seed=0)
    assert len(emp.train) + len(emp.validation) == 80 and len(emp.test) == 20
    assert "trained on the dev split (no train file)" in emp.notes
    nt = prepare_task("nt/H3", sources[2].load(), seed=1)
    assert len(nt.train) + len(nt.validation) + len(nt.test) == 60
    assert set(nt.train.sequences) <= {"ACGTAC", "GGCCGG"}
    tf = prepare_task("gue/tf_9", sources[1].load(), seed=0, max_train=20)
    assert len(tf.train) == 20 and len(tf.validation) == 10 and not any("held out" in note for note in tf.notes)

    assert [s.name for s in select_sources(sources, ["gue/*"])] == ["gue/EMP_X", "gue/tf_9"]
    assert [s.name for s in select_sources(sources, ["H3"])] == ["nt/H3"]
    with pytest.raises(InputError, match="No task matches 'H4'"):
        select_sources(sources, ["H4"])


def test_evaluate_tasks_rejects_unknown_methods_and_missing_data(tiny_model_dir, tmp_path, capsys):
    with pytest.raises(InputError, match=r"Unknown method\(s\) \['lasso'\]"):
        task_benchmark.BenchmarkSettings(methods=["kmer", "lasso"])
    assert main(["evaluate-tasks", str(tiny_model_dir), str(tmp_path / "missing"), "--out", str(tmp_path / "out")]) == 2
    assert "nucleotide-transformer evaluate-tasks: error: no such data folder or file:" in capsys.readouterr().err
