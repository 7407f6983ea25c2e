"""The task benchmark (`nucleotide-transformer evaluate-tasks`): every task of one or more data folders, five methods,
several seeds, one table and one chart.

Methods (`BENCHMARK_METHODS`):

* `ia3`: the pretrained model with IA3 scalings and a head (peft), as in the paper;
* `full`: the pretrained model, every weight trained;
* `probing`: frozen embeddings of every layer into logistic regression / MLP, the best layer chosen on validation;
* `random`: the same architecture trained from random weights;
* `kmer`: logistic regression on 6-mer counts.

Tasks are found in data folders laid out as in docs/tasks.md: a folder with `train`/`dev`/`test` files
(`.csv`/`.tsv`/`.fa`, optionally gzipped; GUE, Genomic Benchmarks) is one task; files with a `task` column (the NT
downstream layout `sequence,name,label,task`) hold one task per value; a `datasets` `save_to_disk` folder is read with
`datasets`; the published NT benchmark can also be named by its Hub id (`nt_downstream_tasks`, needs network).

Splits: `train` (GUE tasks without a train file train on `dev`, which is then noted), validation = `dev` when there is
a train file, else 10% of train drawn per seed; test = `test`, else 20% of the data held out once (seed 0). Every
method of a seed sees the same splits. The table reports the test MCC mean ± sd over seeds (sample sd) and the mean
training time.
"""

import csv
import fnmatch
import os
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .dna import strip_sequence_suffix
from .errors import InputError
from .finetuning import FinetuneSettings, finetune
from .kmer_baseline import kmer_baseline
from .probing import PROBES, probe_task
from .tasks import (
    TaskData,
    find_split_files,
    harmonise_splits,
    is_task_file_name,
    load_task,
    split_off,
    subsample,
    task_file_columns,
    task_values,
)

BENCHMARK_METHODS = ("ia3", "full", "probing", "random", "kmer")
"""Methods of the benchmark, in table order."""

METHOD_LABELS = {
    "ia3": "IA3 (pretrained)",
    "full": "full fine-tune (pretrained)",
    "probing": "probing (best layer)",
    "random": "random init, trained",
    "kmer": "6-mer counts + LR",
}
"""How each method is named in the table and the chart."""

NT_DOWNSTREAM_TASKS = {
    "InstaDeepAI/nucleotide_transformer_downstream_tasks": (
        "promoter_all",
        "promoter_tata",
        "promoter_no_tata",
        "enhancers",
        "enhancers_types",
        "splice_sites_all",
        "splice_sites_acceptors",
        "splice_sites_donors",
        "H3",
        "H3K4me1",
        "H3K4me2",
        "H3K4me3",
        "H3K9ac",
        "H3K14ac",
        "H3K36me3",
        "H3K79me3",
        "H4",
        "H4ac",
    ),
    "InstaDeepAI/nucleotide_transformer_downstream_tasks_revised": (
        "promoter_all",
        "promoter_tata",
        "promoter_no_tata",
        "enhancers",
        "enhancers_types",
        "splice_sites_all",
        "splice_sites_acceptors",
        "splice_sites_donors",
        "H2AFZ",
        "H3K27ac",
        "H3K27me3",
        "H3K36me3",
        "H3K4me1",
        "H3K4me2",
        "H3K4me3",
        "H3K9ac",
        "H3K9me3",
        "H4K20me1",
    ),
}
"""The 18 tasks of each published NT benchmark (docs/tasks.md#published-nt-benchmarks), by Hub dataset id."""


@dataclass
class TaskSource:
    """Where one benchmark task's data live: split files (optionally one `task` value in them), or a loader."""

    name: str
    files: dict[str, Path] = field(default_factory=dict)
    task_value: str | None = None
    loader: Any = None

    def load(self) -> dict[str, TaskData]:
        """The task's splits as `TaskData` (`train`, and `validation`/`test` where the source has them)."""
        if self.loader is not None:
            return self.loader()
        return harmonise_splits({split: load_task(path, task=self.task_value) for split, path in self.files.items()})


@dataclass
class BenchmarkTask:
    """A loaded task with its splits for one seed, and notes on how the splits were made."""

    name: str
    train: TaskData
    validation: TaskData
    test: TaskData
    notes: list[str]


def _sequence_tables(folder: Path) -> list[Path]:
    return [p for p in sorted(folder.iterdir()) if p.is_file() and is_task_file_name(p)]


def _datasets_folder_sources(folder: Path, name: str) -> list[TaskSource]:
    import datasets

    loaded = datasets.load_from_disk(str(folder))
    splits = dict(loaded) if isinstance(loaded, datasets.DatasetDict) else {"train": loaded}
    renamed = {
        {"dev": "validation", "valid": "validation", "val": "validation"}.get(k, k): v for k, v in splits.items()
    }
    first = next(iter(renamed.values()))
    values = sorted(set(first["task"])) if "task" in first.column_names else [None]

    def loader_for(value):
        return lambda: harmonise_splits({split: load_task(data, task=value) for split, data in renamed.items()})

    return [TaskSource(f"{name}/{value}" if value else name, loader=loader_for(value)) for value in values]


def find_task_sources(root: str | os.PathLike, skipped: list[str] | None = None) -> list[TaskSource]:
    """Every task under `root` (a folder, searched recursively, or one table file), named by its path relative to
    `root` (`gue/EMP_H3`, `nt_downstream_revised_sample/enhancers` in data folders laid out as in docs/tasks.md;
    `root`'s own name when it is a task itself). Task files are tables and FASTA files by `dna`'s suffix rules.
    Folders whose first task file has no `sequence` and `label` column (e.g. coordinate-only files) or cannot be read,
    or with several task files not named train/dev/test, are skipped and listed in `skipped`."""
    root = Path(root)
    skipped = skipped if skipped is not None else []
    folders = [root] if root.is_file() else [root, *sorted(p for p in root.rglob("*") if p.is_dir())]
    sources: list[TaskSource] = []
    datasets_folders: list[Path] = []
    for folder in folders:
        if folder == root:
            name = root.name
        else:
            name = folder.relative_to(root).as_posix()
        if folder.is_file():
            name = strip_sequence_suffix(name)
        if any(parent in folder.parents for parent in datasets_folders):
            continue  # the splits of a `save_to_disk` folder already read
        if folder.is_dir() and any((folder / f).exists() for f in ("dataset_dict.json", "dataset_info.json")):
            datasets_folders.append(folder)
            sources += _datasets_folder_sources(folder, name)
            continue
        if folder.is_file():
            files = {"train": folder}
        else:
            files = find_split_files(folder)
            if not files:
                tables = _sequence_tables(folder)
                if len(tables) != 1:
                    if tables:
                        skipped.append(f"{name}: {len(tables)} tables and no train/dev/test names")
                    continue
                files = {"train": tables[0]}
        try:
            columns = task_file_columns(next(iter(files.values())))
        except InputError as error:
            skipped.append(f"{name}: {error}")
            continue
        if "sequence" not in columns or "label" not in columns:
            skipped.append(f"{name}: no sequence/label columns ({', '.join(columns)})")
            continue
        if "task" in columns:
            for value in task_values(next(iter(files.values()))):
                sources.append(TaskSource(f"{name}/{value}", files, task_value=value))
        else:
            sources.append(TaskSource(name, files))
    return sources


def nt_downstream_sources(dataset_id: str, tasks: Sequence[str] | None = None) -> list[TaskSource]:
    """The published NT benchmark by Hub id, loaded with `datasets.load_dataset(dataset_id, task)` (one config per
    task, `train` and `test` splits; needs network and is not exercised by the tests)."""
    if dataset_id not in NT_DOWNSTREAM_TASKS:
        raise InputError(f"Unknown NT benchmark {dataset_id!r}; known: {', '.join(NT_DOWNSTREAM_TASKS)}.")
    names = tasks or NT_DOWNSTREAM_TASKS[dataset_id]

    def loader_for(task: str):
        def load() -> dict[str, TaskData]:
            import datasets

            loaded = datasets.load_dataset(dataset_id, task)
            return harmonise_splits(
                {
                    split: load_task(data, task=task if "task" in data.column_names else None)
                    for split, data in loaded.items()
                }
            )

        return load

    short = dataset_id.split("/")[-1]
    return [TaskSource(f"{short}/{task}", loader=loader_for(task)) for task in names]


def select_sources(sources: list[TaskSource], patterns: Sequence[str] | None) -> list[TaskSource]:
    """Sources whose name matches one of the shell patterns (`gue/EMP_*`), or whose last part equals one; all if none.

    Raises:
        InputError: for a pattern that matches nothing, listing the task names.
    """
    if not patterns:
        return sources
    chosen = []
    for pattern in patterns:
        matched = [s for s in sources if fnmatch.fnmatch(s.name, pattern) or s.name.split("/")[-1] == pattern]
        if not matched:
            raise InputError(f"No task matches {pattern!r}. Tasks: {', '.join(s.name for s in sources)}.")
        chosen += [s for s in matched if s not in chosen]
    return chosen


def prepare_task(
    name: str,
    splits: dict[str, TaskData],
    seed: int,
    max_train: int | None = None,
    max_test: int | None = None,
) -> BenchmarkTask:
    """The splits one seed uses (see the module docstring), with training and test rows capped (stratified draws;
    the test draw does not depend on the seed)."""
    notes = []
    if "train" in splits:
        train, validation = splits["train"], splits.get("validation")
    else:
        train, validation = splits["validation"], None
        notes.append("trained on the dev split (no train file)")
    test = splits.get("test")
    if test is None:
        train, test = split_off(train, 0.2, 0)
        notes.append("test = 20% held out of the data")
    if validation is None:
        train, validation = split_off(train, 0.1, seed)
        notes.append("validation = 10% of train per seed")
    if max_train is not None and len(train) > max_train:
        notes.append(f"train capped at {max_train} of {len(train)}")
        train = subsample(train, max_train, seed)
        validation = subsample(validation, max(max_train // 5, 50), seed)
    if max_test is not None and len(test) > max_test:
        notes.append(f"test capped at {max_test} of {len(test)}")
        test = subsample(test, max_test, 0)
    return BenchmarkTask(name, train, validation, test, notes)


@dataclass
class BenchmarkSettings:
    """Budget and hyper-parameters of `evaluate_tasks`.

    Attributes:
        methods: subset of `BENCHMARK_METHODS`.
        seeds: one run per seed and method.
        max_steps, batch_size, eval_steps, patience: training of `ia3`, `full` and `random` (early stopping on
            validation MCC, best checkpoint tested).
        learning_rates: per method (`random` trains from scratch, hence its higher default).
        max_train, max_test: caps on the rows used (stratified draws), for CPU budgets.
        min_examples: tasks with fewer rows in total are skipped (too small for a train/validation/test split).
        probe_layers: hidden-state indices to probe (None: all); probes: "logistic" and/or "mlp".
        pooling: sequence-head pooling for the fine-tuned models ("mean": over real tokens, as probing).
        verbose: progress lines (one per run).
    """

    methods: Sequence[str] = BENCHMARK_METHODS
    seeds: Sequence[int] = (0, 1, 2)
    max_steps: int = 1000
    batch_size: int = 16
    eval_steps: int = 100
    patience: int = 3
    learning_rates: dict[str, float] = field(default_factory=lambda: {"ia3": 3e-3, "full": 3e-4, "random": 1e-3})
    max_train: int | None = None
    max_test: int | None = None
    min_examples: int = 60
    probe_layers: Sequence[int] | None = None
    probes: Sequence[str] = ("logistic", "mlp")
    pooling: str = "mean"
    verbose: bool = True

    def __post_init__(self):
        unknown = [m for m in self.methods if m not in BENCHMARK_METHODS]
        if unknown:
            raise InputError(f"Unknown method(s) {unknown}; choose from {', '.join(BENCHMARK_METHODS)}.")
        if not self.seeds:
            raise InputError("Give at least one seed.")
        unknown = [p for p in self.probes if p not in PROBES]
        if unknown:
            raise InputError(f"Unknown probe(s) {unknown}; choose from {', '.join(PROBES)}.")


def run_method(
    method: str,
    task: BenchmarkTask,
    model_dir: str | os.PathLike,
    settings: BenchmarkSettings,
    seed: int,
    work_dir: Path,
    cache: dict[str, Any],
) -> dict[str, Any]:
    """One (task, method, seed) run: its test metrics, training seconds and row counts."""
    start = time.perf_counter()
    steps = None
    if method == "kmer":
        metrics = kmer_baseline(task.train, task.test, task.validation, seed=seed)
        seconds = time.perf_counter() - start
    elif method == "probing":
        if "encoder" not in cache:
            from .modeling_nucleotide_transformer import NucleotideTransformerModel
            from .tokenization_nucleotide_transformer import NucleotideTransformerTokenizerFast

            cache["encoder"] = NucleotideTransformerModel.from_pretrained(model_dir)
            cache["tokenizer"] = NucleotideTransformerTokenizerFast.from_pretrained(model_dir)
        result = probe_task(
            cache["encoder"],
            cache["tokenizer"],
            task.train,
            task.test,
            task.validation,
            layers=settings.probe_layers,
            probes=settings.probes,
            seed=seed,
        )
        metrics = {**result.best["test"], "layer": result.best["layer"], "probe": result.best["probe"]}
        seconds = result.seconds
    else:
        finetune_settings = FinetuneSettings(
            method="full" if method == "random" else method,
            random_init=method == "random",
            learning_rate=settings.learning_rates.get(method),
            max_steps=settings.max_steps,
            batch_size=settings.batch_size,
            eval_steps=settings.eval_steps,
            patience=settings.patience,
            seed=seed,
            pooling=settings.pooling,
            output_dir=str(work_dir / "checkpoints"),
            verbose=False,
        )
        result = finetune(model_dir, task.train, task.validation, task.test, finetune_settings)
        metrics, seconds, steps = result.test_metrics, result.train_seconds, result.steps
        shutil.rmtree(work_dir, ignore_errors=True)  # checkpoints only served to restore the best one
    return {
        "task": task.name,
        "method": method,
        "seed": seed,
        **{k: metrics.get(k) for k in ("mcc", "f1", "accuracy", "auroc")},
        "train_seconds": seconds,
        "steps": steps,
        "n_train": len(task.train),
        "n_validation": len(task.validation),
        "n_test": len(task.test),
        "detail": ", ".join(f"{k}={metrics[k]}" for k in ("layer", "probe", "C") if k in metrics),
        "notes": "; ".join(task.notes),
    }


def summarise_runs(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per (task, method): MCC mean and sample sd over seeds, mean training seconds, row counts, notes."""
    rows = []
    keys = list(dict.fromkeys((run["task"], run["method"]) for run in runs))
    for task, method in keys:
        group = [run for run in runs if run["task"] == task and run["method"] == method]
        mcc = np.array([run["mcc"] for run in group], dtype=float)
        rows.append(
            {
                "task": task,
                "method": method,
                "mcc_mean": float(mcc.mean()),
                "mcc_sd": float(mcc.std(ddof=1)) if mcc.size > 1 else 0.0,
                "seeds": mcc.size,
                "train_seconds": float(np.mean([run["train_seconds"] for run in group])),
                "n_train": group[0]["n_train"],
                "n_test": group[0]["n_test"],
                "notes": group[0]["notes"],
            }
        )
    return rows


def markdown_table(rows: list[dict[str, Any]]) -> str:
    """The summary as a Markdown table: task, method, MCC mean ± sd, train time, rows."""
    lines = [
        "| task | method | MCC (mean ± sd) | train time (s) | seeds | train / test rows |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for row in rows:
        lines.append(
            f"| {row['task']} | {METHOD_LABELS.get(row['method'], row['method'])} | "
            f"{row['mcc_mean']:.3f} ± {row['mcc_sd']:.3f} | {row['train_seconds']:.1f} | {row['seeds']} | "
            f"{row['n_train']} / {row['n_test']} |"
        )
    notes = sorted({(row["task"], row["notes"]) for row in rows if row["notes"]})
    if notes:
        lines += ["", "Notes: " + "; ".join(f"{task}: {note}" for task, note in notes) + "."]
    return "\n".join(lines)


def _write_csv(rows: list[dict[str, Any]], path: Path) -> None:
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def bar_chart(rows: list[dict[str, Any]], path: str | os.PathLike, title: str = "") -> None:
    """Grouped bars of MCC (mean, sd as error bars) per task and method, saved as PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tasks = list(dict.fromkeys(row["task"] for row in rows))
    methods = [m for m in BENCHMARK_METHODS if any(row["method"] == m for row in rows)]
    width = 0.8 / max(len(methods), 1)
    figure, axes = plt.subplots(figsize=(max(6.0, 1.1 * len(tasks) * max(len(methods), 2) / 3), 4.5))
    for index, method in enumerate(methods):
        by_task = {row["task"]: row for row in rows if row["method"] == method}
        positions = [t + (index - (len(methods) - 1) / 2) * width for t in range(len(tasks))]
        means = [by_task[t]["mcc_mean"] if t in by_task else np.nan for t in tasks]
        sds = [by_task[t]["mcc_sd"] if t in by_task else 0 for t in tasks]
        axes.bar(positions, means, width, yerr=sds, capsize=2, label=METHOD_LABELS[method])
    axes.set_xticks(range(len(tasks)))
    axes.set_xticklabels(
        tasks, rotation=45 if len(tasks) > 3 else 0, ha="right" if len(tasks) > 3 else "center", fontsize=8
    )
    axes.set_ylabel("test MCC (mean ± sd over seeds)")
    axes.axhline(0, color="black", linewidth=0.5)
    axes.legend(fontsize=8)
    if title:
        axes.set_title(title, fontsize=10)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


@dataclass
class BenchmarkReport:
    """Every run, the summary rows, the Markdown table and the files written."""

    runs: list[dict[str, Any]]
    summary: list[dict[str, Any]]
    markdown: str
    files: dict[str, Path]
    skipped: list[str]


def evaluate_tasks(
    model_dir: str | os.PathLike,
    sources: Sequence[TaskSource],
    out_dir: str | os.PathLike,
    settings: BenchmarkSettings | None = None,
) -> BenchmarkReport:
    """Runs every method and seed on every task and writes `runs.csv` (one line per run), `results.csv` and
    `results.md` (task, method, MCC mean ± sd, train time) and `results.png` (bar chart) into `out_dir`.

    Args:
        model_dir: a model folder with tokenizer files (ours, e.g. `outputs/quickstart/model`, or a converted NT).
        sources: tasks, from `find_task_sources` / `nt_downstream_sources` (and `select_sources`).
        out_dir: output folder (created).
        settings: budget and methods.
    """
    settings = settings or BenchmarkSettings()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    runs, skipped, cache = [], [], {}
    total = len(sources) * len(settings.seeds) * len(settings.methods)
    done = 0
    for source in sources:
        splits = source.load()
        size = sum(len(t) for t in splits.values())
        kinds = {t.kind for t in splits.values()}
        if size < settings.min_examples or not kinds <= {"binary", "multiclass"}:
            reason = f"{size} rows" if size < settings.min_examples else f"label kind {sorted(kinds)}"
            skipped.append(f"{source.name}: {reason}")
            done += len(settings.seeds) * len(settings.methods)
            if settings.verbose:
                print(f"skipping {source.name} ({reason})", flush=True)
            continue
        for seed in settings.seeds:
            task = prepare_task(source.name, splits, seed, settings.max_train, settings.max_test)
            for method in settings.methods:
                done += 1
                run = run_method(method, task, model_dir, settings, seed, out_dir / "work", cache)
                runs.append(run)
                if settings.verbose:
                    print(
                        f"[{done}/{total}] {source.name} {method} seed {seed}: MCC {run['mcc']:.3f} "
                        f"({run['train_seconds']:.1f} s, {run['n_train']} train / {run['n_test']} test)",
                        flush=True,
                    )
    if not runs:
        raise ValueError("No task was run: " + ("; ".join(skipped) or "no tasks found."))
    summary = summarise_runs(runs)
    markdown = markdown_table(summary)
    if skipped:
        markdown += "\n\nSkipped: " + "; ".join(skipped) + "."
    files = {
        "runs": out_dir / "runs.csv",
        "csv": out_dir / "results.csv",
        "markdown": out_dir / "results.md",
        "png": out_dir / "results.png",
    }
    _write_csv(runs, files["runs"])
    _write_csv(summary, files["csv"])
    files["markdown"].write_text(markdown + "\n")
    model_name = "/".join(Path(model_dir).parts[-2:])
    bar_chart(summary, files["png"], title=f"{model_name}: test MCC by task and method")
    return BenchmarkReport(runs, summary, markdown, files, skipped)


__all__ = [
    "BENCHMARK_METHODS",
    "METHOD_LABELS",
    "NT_DOWNSTREAM_TASKS",
    "BenchmarkReport",
    "BenchmarkSettings",
    "BenchmarkTask",
    "TaskSource",
    "bar_chart",
    "evaluate_tasks",
    "find_task_sources",
    "markdown_table",
    "nt_downstream_sources",
    "prepare_task",
    "run_method",
    "select_sources",
    "summarise_runs",
]
