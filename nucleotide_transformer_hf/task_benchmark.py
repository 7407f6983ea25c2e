"""The task benchmark (`nucleotide-transformer evaluate-tasks`): every task of one or more data folders, one or more
models, six methods, several seeds (or folds), one table and one chart.

Models (`model_zoo`): NT folders (ours, published or converted) and any Hugging Face checkpoint compared with them
(DNABERT-2-style BPE models, character-level models with their own code through `trust_remote_code`). Each model uses
its own tokenizer; a method a model cannot run gets a row that says why (`method_reason`), never a silent gap.

Methods (`BENCHMARK_METHODS`):

* `ia3`: the pretrained model with IA3 scalings and a head (peft), as in the paper (ours for NT, peft's per model
  type otherwise);
* `lora`: the same with LoRA;
* `full`: the pretrained model, every weight trained;
* `probing`: frozen embeddings of every layer, mean-pooled over the real tokens, into logistic regression / MLP, the
  best layer chosen on validation;
* `random`: the same architecture trained from random weights;
* `kmer`: logistic regression on 6-mer counts (no model; one row per task).

Tasks are found in data folders laid out as in docs/tasks.md: a folder with `train`/`dev`/`test` files
(`.csv`/`.tsv`/`.fa`, optionally gzipped; GUE, Genomic Benchmarks) is one task; files with a `task` column (the NT
downstream layout `sequence,name,label,task`) hold one task per value; a `datasets` `save_to_disk` folder is read with
`datasets`; the published NT benchmark can also be named by its Hub id (`nt_downstream_tasks`, needs network).

Splits: `train` (GUE tasks without a train file train on `dev`, which is then noted), validation = `dev` when there is
a train file, else 10% of train drawn per seed; test = `test`, else 20% of the data held out once (seed 0); with
`folds` (the NT paper's protocol, `protocol_settings("nt-paper")`) fold k of the training split is the validation.
Every model and method of a seed sees the same splits. The tables report the test metric mean ± sd over seeds or
folds (sample sd; MCC, or the paper's metric per task under "nt-paper"), the mean training time, and a "paper" column
with the published number where the task and model match one (`paper_results`).
"""

import csv
import fnmatch
import hashlib
import json
import os
import shutil
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from .configuration_nucleotide_transformer import NucleotideTransformerConfig
from .dna import context_bp, strip_sequence_suffix
from .errors import InputError
from .finetuning import FinetuneSettings, finetune
from .kmer_baseline import kmer_baseline
from .model_zoo import ComparedModel, classifier_reason, describe_model, load_encoder, load_tokenizer, peft_reason
from .paper_results import (
    NT_PAPER_PROTOCOL,
    NT_PAPER_UNKNOWNS,
    ORIGINAL_TASKS,
    REVISED_TASKS,
    format_number,
    lookup,
    paper_metric,
    paper_task,
)
from .precision import check_dtype, prepare_for_inference
from .probing import PROBES, probe_task
from .tasks import (
    TaskData,
    find_split_files,
    harmonise_splits,
    is_task_file_name,
    kfold_indices,
    load_task,
    split_off,
    subsample,
    task_file_columns,
    task_values,
)

BENCHMARK_METHODS = ("ia3", "lora", "full", "probing", "random", "kmer")
"""Methods of the benchmark, in table order."""

METHOD_LABELS = {
    "ia3": "IA3 (pretrained)",
    "lora": "LoRA (pretrained)",
    "full": "full fine-tune (pretrained)",
    "probing": "probing (best layer)",
    "random": "random init, trained",
    "kmer": "6-mer counts + LR",
}
"""How each method is named in the table and the chart."""

NT_DOWNSTREAM_TASKS = {
    "InstaDeepAI/nucleotide_transformer_downstream_tasks": ORIGINAL_TASKS,
    "InstaDeepAI/nucleotide_transformer_downstream_tasks_revised": REVISED_TASKS,
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
    fold: int | None = None,
    folds: int | None = None,
) -> BenchmarkTask:
    """The splits one seed uses (see the module docstring), with training and test rows capped (stratified draws;
    the test draw does not depend on the seed).

    With `fold` and `folds` (k-fold protocol): the training split (capped with seed 0, so that the folds partition
    the same rows) is cut into `folds` stratified folds (`tasks.kfold_indices`, seed 0); fold `fold` is the
    validation split, the rest is trained on; the test split is the same for every fold."""
    if fold is not None:
        return _prepare_fold(name, splits, fold, folds, max_train, max_test)
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


def _prepare_fold(name, splits, fold, folds, max_train, max_test) -> BenchmarkTask:
    notes = []
    train = splits.get("train")
    if train is None:
        train = splits["validation"]
        notes.append("trained on the dev split (no train file)")
    elif "validation" in splits:
        notes.append("dev split unused (validation = a fold of train)")
    test = splits.get("test")
    if test is None:
        train, test = split_off(train, 0.2, 0)
        notes.append("test = 20% held out of the data")
    if max_train is not None and len(train) > max_train:
        notes.append(f"train capped at {max_train} of {len(train)}")
        train = subsample(train, max_train, 0)
    if max_test is not None and len(test) > max_test:
        notes.append(f"test capped at {max_test} of {len(test)}")
        test = subsample(test, max_test, 0)
    kept, held_out = kfold_indices(train, folds, seed=0)[fold]
    notes.append(f"validation = fold k of {folds} of train")
    return BenchmarkTask(name, train.subset(np.sort(kept)), train.subset(np.sort(held_out)), test, notes)


PROTOCOLS = ("default", "nt-paper")
"""Evaluation protocols of `evaluate_tasks`: ours (seeds, MCC), and the NT paper's as far as it is known
(`protocol_settings("nt-paper")`, `paper_results.NT_PAPER_PROTOCOL`)."""

KMER_MODEL = "(no model)"
"""The model column of the 6-mer baseline, which uses no model."""


@dataclass
class BenchmarkSettings:
    """Budget and hyper-parameters of `evaluate_tasks`.

    Attributes:
        methods: subset of `BENCHMARK_METHODS`.
        seeds: one run per seed, model and method (ignored with `folds`).
        folds: k-fold cross-validation of the training split instead of seeds: fold k holds out 1/k of it as
            validation (the NT paper: 10 folds), its run uses seed k; the test split is the same for every fold.
        max_steps, batch_size, eval_steps, patience: training of `ia3`, `lora`, `full` and `random` (early stopping
            on validation MCC, best checkpoint tested).
        learning_rates: per method (`random` trains from scratch, hence its higher default).
        max_train, max_test: caps on the rows used (stratified draws), for CPU budgets.
        min_examples: tasks with fewer rows in total are skipped (too small for a train/validation/test split).
        probe_layers: hidden-state indices to probe (None: all); probes: "logistic" and/or "mlp".
        pooling: sequence-head pooling for the fine-tuned NT models ("mean": over real tokens, as probing); other
            models keep their own head.
        protocol: "default" or "nt-paper" (names the protocol in the results header; `protocol_settings` sets its
            values); the reported metric is MCC, or the paper's metric per task under "nt-paper".
        paper_benchmark: which published benchmark the "paper" column reads: "auto" (from the task names, see
            `paper_results.paper_task`), "revised" or "original".
        dtype: precision of the frozen encoder that probing embeds with (`precision.DTYPES`; training runs float32).
        verbose: progress lines (one per run).
    """

    methods: Sequence[str] = BENCHMARK_METHODS
    seeds: Sequence[int] = (0, 1, 2)
    folds: int | None = None
    max_steps: int = 1000
    batch_size: int = 16
    eval_steps: int = 100
    patience: int = 3
    learning_rates: dict[str, float] = field(
        default_factory=lambda: {"ia3": 3e-3, "lora": 5e-4, "full": 3e-4, "random": 1e-3}
    )
    max_train: int | None = None
    max_test: int | None = None
    min_examples: int = 60
    probe_layers: Sequence[int] | None = None
    probes: Sequence[str] = ("logistic", "mlp")
    pooling: str = "mean"
    protocol: str = "default"
    paper_benchmark: str = "auto"
    dtype: str = "float32"
    verbose: bool = True

    def __post_init__(self):
        unknown = [m for m in self.methods if m not in BENCHMARK_METHODS]
        if unknown:
            raise InputError(f"Unknown method(s) {unknown}; choose from {', '.join(BENCHMARK_METHODS)}.")
        if not self.seeds and not self.folds:
            raise InputError("Give at least one seed.")
        if self.folds is not None and self.folds < 2:
            raise InputError(f"Cross-validation needs at least 2 folds, got {self.folds}.")
        unknown = [p for p in self.probes if p not in PROBES]
        if unknown:
            raise InputError(f"Unknown probe(s) {unknown}; choose from {', '.join(PROBES)}.")
        if self.protocol not in PROTOCOLS:
            raise InputError(f"Unknown protocol {self.protocol!r}; choose from {', '.join(PROTOCOLS)}.")
        check_dtype(self.dtype)
        if self.paper_benchmark not in ("auto", "revised", "original"):
            raise InputError(f"Unknown paper benchmark {self.paper_benchmark!r}; auto, revised or original.")

    @property
    def replicates(self) -> list[tuple[int, int | None]]:
        """`(seed, fold)` of each replicate: `(k, k)` for the k-fold protocol, else `(seed, None)` per seed."""
        if self.folds:
            return [(fold, fold) for fold in range(self.folds)]
        return [(int(seed), None) for seed in self.seeds]


def protocol_settings(protocol: str = "default", **overrides: Any) -> BenchmarkSettings:
    """`BenchmarkSettings` of a protocol, with `overrides` (None values are ignored) on top.

    "nt-paper": 10-fold cross-validation of each task's training split (validation for early stopping, the test
    split tested), IA3 at learning rate 3e-3 with batch 8 for 10,000 steps per fold, probing with logistic regression
    and an MLP on every layer, methods IA3 and probing, the paper's metric per task (`paper_results.paper_metric`).
    What the paper leaves open is listed in `paper_results.NT_PAPER_UNKNOWNS` and printed in the results header."""
    values: dict[str, Any] = {}
    if protocol == "nt-paper":
        values = {
            "folds": 10,
            "max_steps": 10_000,
            "batch_size": 8,
            "methods": ("ia3", "probing"),
            "probes": ("logistic", "mlp"),
            "pooling": "mean",
        }
    elif protocol != "default":
        raise InputError(f"Unknown protocol {protocol!r}; choose from {', '.join(PROTOCOLS)}.")
    values.update({key: value for key, value in overrides.items() if value is not None})
    return BenchmarkSettings(protocol=protocol, **values)


def _as_models(models: Any) -> list[ComparedModel]:
    if isinstance(models, (str, os.PathLike, ComparedModel)):
        models = [models]
    described = [m if isinstance(m, ComparedModel) else describe_model(m) for m in models]
    if not described:
        raise InputError("Give at least one model.")
    labels = [m.label for m in described]
    if len(set(labels)) != len(labels):
        described = [replace(m, label=m.path) for m in described]
    return described


def _longest_tokens(tokenizer, task: BenchmarkTask) -> int:
    from .inference import token_counts

    sequences = task.train.sequences + task.validation.sequences + task.test.sequences
    return max(token_counts(tokenizer, sequences))


def method_reason(model: ComparedModel, method: str, longest_tokens: int, dtype: str = "float32") -> str | None:
    """Why `model` cannot run `method` on a task whose longest sequence has `longest_tokens` tokens (special
    tokens included), or None when it can: no peft default (IA3, LoRA), no sequence-classification class (IA3,
    LoRA, full, random), a context shorter than the task (models other than NT are not windowed), or int8 probing of
    a model that is not NT (`precision` quantises NT encoders only)."""
    if method == "kmer":
        return None
    if method == "probing" and dtype == "int8" and not model.is_nt:
        return "int8 inference is for NT encoders only (precision.prepare_for_inference)"
    if not model.is_nt and model.context_tokens is not None and longest_tokens > model.context_tokens:
        return f"context too short: longest sequence is {longest_tokens} tokens, the model takes {model.context_tokens}"
    if method in ("ia3", "lora"):
        return peft_reason(model, method) or classifier_reason(model)
    if method in ("full", "random"):
        return classifier_reason(model)
    return None


def run_method(
    method: str,
    task: BenchmarkTask,
    model: ComparedModel | str | os.PathLike,
    settings: BenchmarkSettings,
    seed: int,
    work_dir: Path,
    cache: dict[str, Any],
) -> dict[str, Any]:
    """One (task, model, method, seed) run: its test metrics, training seconds and row counts, or, for a method the
    model cannot run (`method_reason`), a row whose `status` says why."""
    model = _as_models(model)[0]
    state = cache.setdefault(model.path, {})
    longest = 0
    if method != "kmer":
        if "tokenizer" not in state:
            state["tokenizer"] = load_tokenizer(model)
        key = ("longest", task.name, seed)  # a seed's task is prepared once for all its models and methods
        if key not in state:
            state[key] = _longest_tokens(state["tokenizer"], task)
        longest = state[key]
    row = {
        "task": task.name,
        "model": KMER_MODEL if method == "kmer" else model.label,
        "method": method,
        "seed": seed,
    }
    reason = method_reason(model, method, longest, settings.dtype)
    counts = {"n_train": len(task.train), "n_validation": len(task.validation), "n_test": len(task.test)}
    if reason is not None:
        return {
            **row,
            **dict.fromkeys(("mcc", "f1", "accuracy", "auroc", "train_seconds", "steps")),
            **counts,
            "detail": "",
            "notes": "; ".join(task.notes),
            "status": f"not run: {reason}",
        }
    start = time.perf_counter()
    steps = None
    notes = list(task.notes)
    if method == "kmer":
        metrics = kmer_baseline(task.train, task.test, task.validation, seed=seed)
        seconds = time.perf_counter() - start
    elif method == "probing":
        if "encoder" not in state:
            state["encoder"] = prepare_for_inference(load_encoder(model)[0], settings.dtype)
        result = probe_task(
            state["encoder"],
            state["tokenizer"],
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
        window_bp = None
        if model.is_nt and model.context_tokens is not None and longest > model.context_tokens:
            # NT's own rule for sequences longer than its context: windows, predictions averaged per sequence
            window_bp = context_bp(NucleotideTransformerConfig.from_pretrained(model.path), state["tokenizer"])
            notes.append(f"{model.label}: windows of {window_bp} bp (longest sequence {longest} tokens)")
        finetune_settings = FinetuneSettings(
            method="full" if method == "random" else method,
            random_init=method == "random",
            learning_rate=settings.learning_rates.get(method),
            max_steps=settings.max_steps,
            batch_size=settings.batch_size,
            eval_steps=settings.eval_steps,
            patience=settings.patience,
            seed=seed,
            pooling=settings.pooling if model.is_nt else None,
            window_bp=window_bp,
            output_dir=str(work_dir / "checkpoints"),
            verbose=False,
        )
        result = finetune(model, task.train, task.validation, task.test, finetune_settings)
        metrics, seconds, steps = result.test_metrics, result.train_seconds, result.steps
        shutil.rmtree(work_dir, ignore_errors=True)  # checkpoints only served to restore the best one
    return {
        **row,
        **{k: metrics.get(k) for k in ("mcc", "f1", "accuracy", "auroc")},
        "train_seconds": seconds,
        "steps": steps,
        **counts,
        "detail": ", ".join(f"{k}={metrics[k]}" for k in ("layer", "probe", "C") if k in metrics),
        "notes": "; ".join(notes),
        "status": "ok",
    }


def report_metric(task: str, settings: BenchmarkSettings) -> str:
    """The metric reported for a task: MCC, or under the "nt-paper" protocol the paper's metric for it."""
    if settings.protocol == "nt-paper":
        matched = paper_task(task, settings.paper_benchmark)
        if matched is not None:
            return paper_metric(*matched)
    return "mcc"


def summarise_runs(
    runs: list[dict[str, Any]],
    settings: BenchmarkSettings | None = None,
    models: Sequence[ComparedModel] = (),
) -> list[dict[str, Any]]:
    """One row per (task, model, method): MCC mean and sample sd over seeds (or folds), the reported metric's mean
    and sd (`report_metric`), mean training seconds, row counts, notes, the status (`ok`, or why it was not run) and
    the published number of the model's paper counterpart (`ComparedModel.paper_name`) where there is one."""
    settings = settings or BenchmarkSettings()
    papers = {m.label: m.paper_name for m in models if m.paper_name}
    rows = []
    keys = list(dict.fromkeys((run["task"], run.get("model", ""), run["method"]) for run in runs))
    for task, model, method in keys:
        group = [run for run in runs if (run["task"], run.get("model", ""), run["method"]) == (task, model, method)]
        metric = report_metric(task, settings)
        ran = [run for run in group if run.get("status", "ok") == "ok"]
        mcc = np.array([run["mcc"] for run in ran], dtype=float)
        values = np.array([run[metric] for run in ran], dtype=float)
        published = lookup(task, papers[model], method, settings.paper_benchmark) if model in papers else None
        rows.append(
            {
                "task": task,
                "model": model,
                "method": method,
                "mcc_mean": float(mcc.mean()) if mcc.size else float("nan"),
                "mcc_sd": float(mcc.std(ddof=1)) if mcc.size > 1 else 0.0 if mcc.size else float("nan"),
                "metric": metric,
                "metric_mean": float(values.mean()) if values.size else float("nan"),
                "metric_sd": float(values.std(ddof=1)) if values.size > 1 else 0.0 if values.size else float("nan"),
                "seeds": mcc.size,
                "train_seconds": float(np.mean([run["train_seconds"] for run in ran])) if ran else float("nan"),
                "n_train": group[0]["n_train"],
                "n_test": group[0]["n_test"],
                "paper": format_number(published),
                "paper_source": published.source if published else "",
                "status": "ok" if ran else group[0]["status"],
                "notes": group[0]["notes"],
            }
        )
    return rows


def _cell(row: dict[str, Any] | None) -> str:
    if row is None:
        return ""
    if row["status"] != "ok":
        return row["status"]
    return f"{row['metric_mean']:.3f} ± {row['metric_sd']:.3f}"


def protocol_header(settings: BenchmarkSettings, models: Sequence[ComparedModel] = ()) -> str:
    """The header of a results file: the protocol, its splits and metric, the context rule, what is unknown."""
    replicates = f"{settings.folds} folds" if settings.folds else f"seeds {', '.join(map(str, settings.seeds))}"
    lines = []
    if settings.protocol == "nt-paper":
        lines.append(f"Protocol: the NT paper's (`--protocol nt-paper`), {replicates}.")
        lines += [f"- {key}: {value}." for key, value in NT_PAPER_PROTOCOL.items()]
        lines.append(
            f"- this run: at most {settings.max_steps} steps, batch {settings.batch_size}, IA3 learning rate "
            f"{settings.learning_rates.get('ia3')}; caps: train {settings.max_train}, test {settings.max_test}."
        )
        lines.append("- not known from the paper: " + "; ".join(NT_PAPER_UNKNOWNS) + ".")
    else:
        lines.append(
            f"Protocol: default, {replicates}; validation = the dev split, else 10% of train per seed (or fold k of "
            "the training split); test = the test split, else 20% held out; metric MCC."
        )
    lines.append(
        "- context: NT models cut longer sequences into windows; other models are not windowed, a task longer than "
        "their context gets a 'context too short' row. Embeddings are pooled over each model's real tokens."
    )
    for model in models:
        kind = "NT" if model.is_nt else f"{model.model_type}" + (", its own code" if model.own_code else "")
        paper = f"; paper column: {model.paper_name}" if model.paper_name else ""
        lines.append(f"- model {model.label}: {model.path} ({kind}; context {model.context_tokens} tokens{paper})")
    if any(model.paper_name for model in models):
        lines.append("- paper numbers: docs/paper_results.md; * = UNVERIFIED (secondary source).")
    return "\n".join(lines)


def markdown_table(rows: list[dict[str, Any]]) -> str:
    """The summary as Markdown: one row per (task, model, method) with the metric's mean ± sd, the paper's number,
    train time and rows; methods a model could not run say why."""
    lines = [
        "| task | model | method | metric | mean ± sd | paper | train time (s) | runs | train / test rows |",
        "|---|---|---|---|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        seconds = "" if row["status"] != "ok" else f"{row['train_seconds']:.1f}"
        lines.append(
            f"| {row['task']} | {row['model']} | {METHOD_LABELS.get(row['method'], row['method'])} | "
            f"{row['metric'].upper()} | {_cell(row)} | {row['paper']} | {seconds} | {row['seeds']} | "
            f"{row['n_train']} / {row['n_test']} |"
        )
    notes = sorted({(row["task"], row["notes"]) for row in rows if row["notes"]})
    if notes:
        lines += ["", "Notes: " + "; ".join(f"{task}: {note}" for task, note in notes) + "."]
    return "\n".join(lines)


def wide_table(rows: list[dict[str, Any]]) -> str:
    """Side by side: one row per (task, method), a column per model (mean ± sd, or why not run), the model-free
    6-mer baseline of the task, and the paper's numbers for models with a paper counterpart."""
    models = [m for m in dict.fromkeys(row["model"] for row in rows) if m != KMER_MODEL]
    paper_models = [m for m in models if any(r["model"] == m and r["paper"] for r in rows)]
    index = {(row["task"], row["model"], row["method"]): row for row in rows}
    header = ["task", "method", *models, "6-mer LR (no model)", *[f"paper ({m})" for m in paper_models]]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * 2 + "---:|" * (len(header) - 2)]
    for task in dict.fromkeys(row["task"] for row in rows):
        kmer = index.get((task, KMER_MODEL, "kmer"))
        methods = [m for m in BENCHMARK_METHODS if m != "kmer" and any((task, x, m) in index for x in models)]
        for method in methods or ["kmer"]:
            cells = [_cell(index.get((task, model, method))) for model in models]
            papers = [index[(task, m, method)]["paper"] if (task, m, method) in index else "" for m in paper_models]
            label = METHOD_LABELS.get(method, method) if methods else "-"
            lines.append("| " + " | ".join([task, label, *cells, _cell(kmer), *papers]) + " |")
    return "\n".join(lines)


def _write_csv(rows: list[dict[str, Any]], path: Path) -> None:
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def bar_chart(rows: list[dict[str, Any]], path: str | os.PathLike, title: str = "") -> None:
    """Grouped bars of the reported metric (mean, sd as error bars) per task and (model, method), saved as PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tasks = list(dict.fromkeys(row["task"] for row in rows))
    ran = [row for row in rows if row["status"] == "ok"]
    models = list(dict.fromkeys(row["model"] for row in ran))
    single = len([m for m in models if m != KMER_MODEL]) <= 1
    groups = [
        (model, method)
        for model in models
        for method in BENCHMARK_METHODS
        if any(row["model"] == model and row["method"] == method for row in ran)
    ]
    width = 0.8 / max(len(groups), 1)
    figure, axes = plt.subplots(figsize=(max(6.0, 1.1 * len(tasks) * max(len(groups), 2) / 3), 4.5))
    for position, (model, method) in enumerate(groups):
        by_task = {row["task"]: row for row in ran if row["model"] == model and row["method"] == method}
        offsets = [t + (position - (len(groups) - 1) / 2) * width for t in range(len(tasks))]
        means = [by_task[t]["metric_mean"] if t in by_task else np.nan for t in tasks]
        sds = [by_task[t]["metric_sd"] if t in by_task else 0 for t in tasks]
        label = METHOD_LABELS[method] if single or model == KMER_MODEL else f"{model}: {METHOD_LABELS[method]}"
        axes.bar(offsets, means, width, yerr=sds, capsize=2, label=label)
    axes.set_xticks(range(len(tasks)))
    axes.set_xticklabels(
        tasks, rotation=45 if len(tasks) > 3 else 0, ha="right" if len(tasks) > 3 else "center", fontsize=8
    )
    metrics = sorted({row["metric"].upper() for row in rows})
    axes.set_ylabel(f"test {'/'.join(metrics)} (mean ± sd)")
    axes.axhline(0, color="black", linewidth=0.5)
    axes.legend(fontsize=7)
    if title:
        axes.set_title(title, fontsize=10)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


@dataclass
class BenchmarkReport:
    """Every run, the summary rows, the Markdown (header, side-by-side table, long table) and the files written."""

    runs: list[dict[str, Any]]
    summary: list[dict[str, Any]]
    markdown: str
    files: dict[str, Path]
    skipped: list[str]


RUNS_LOG = "runs.jsonl"
"""Every finished run of `evaluate_tasks`, one JSON line each, appended as it ends (the resume point)."""


def _fingerprint(models: Sequence[ComparedModel], sources: Sequence[TaskSource], settings: BenchmarkSettings) -> str:
    described = {
        "models": [[m.path, m.label, m.trust_remote_code, m.paper_name] for m in models],
        "tasks": [s.name for s in sources],
        "settings": {k: v for k, v in asdict(settings).items() if k != "verbose"},
    }
    return hashlib.sha256(json.dumps(described, sort_keys=True, default=list).encode()).hexdigest()


def _resume(out_dir: Path, models, sources, settings) -> dict[tuple, dict[str, Any]]:
    """The runs an earlier, interrupted call with the same models, tasks and settings finished in `out_dir`, by
    (task, model, method, seed); a folder with runs of other settings is refused."""
    meta, log = out_dir / "settings.json", out_dir / RUNS_LOG
    fingerprint = _fingerprint(models, sources, settings)
    if meta.is_file() and log.is_file():
        if json.loads(meta.read_text()).get("fingerprint") != fingerprint:
            raise InputError(
                f"{out_dir}: holds runs of other models, tasks or settings ({RUNS_LOG}); give another --out or "
                "delete that folder."
            )
        runs = {}
        for line in log.read_text().splitlines():
            if line.strip():
                run = json.loads(line)
                runs[(run["task"], run["model"], run["method"], run["seed"])] = run
        if runs and settings.verbose:
            print(f"resuming: {len(runs)} runs done in {out_dir / RUNS_LOG}", flush=True)
        return runs
    log.unlink(missing_ok=True)
    meta.write_text(json.dumps({"fingerprint": fingerprint}) + "\n")
    return {}


def evaluate_tasks(
    models: "str | os.PathLike | ComparedModel | Sequence[str | os.PathLike | ComparedModel]",
    sources: Sequence[TaskSource],
    out_dir: str | os.PathLike,
    settings: BenchmarkSettings | None = None,
) -> BenchmarkReport:
    """Runs every model, method and seed (or fold) on every task and writes `runs.csv` (one line per run),
    `results.csv` (one per task, model and method), `results.md` (protocol header, side-by-side table, long table)
    and `results.png` (bar chart) into `out_dir`.

    Each finished run is appended to `out_dir/runs.jsonl`: the same call after an interruption skips the runs done
    (same models, tasks and settings, checked by a fingerprint in `settings.json`; other settings are refused).

    Args:
        models: one or more model folders (ours, a published or converted NT, or any Hugging Face checkpoint), or
            `model_zoo.ComparedModel`s (`describe_model(path, trust_remote_code=True)` for models with their own code).
        sources: tasks, from `find_task_sources` / `nt_downstream_sources` (and `select_sources`).
        out_dir: output folder (created).
        settings: protocol, budget and methods (`protocol_settings`).
    """
    settings = settings or BenchmarkSettings()
    models = _as_models(models)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    done_runs = _resume(out_dir, models, sources, settings)
    runs, skipped, cache = [], [], {}
    model_methods = [m for m in settings.methods if m != "kmer"]
    per_replicate = len(models) * len(model_methods) + ("kmer" in settings.methods)
    total = len(sources) * len(settings.replicates) * per_replicate
    done = 0
    for source in sources:
        splits = source.load()
        size = sum(len(t) for t in splits.values())
        kinds = {t.kind for t in splits.values()}
        if size < settings.min_examples or not kinds <= {"binary", "multiclass"}:
            reason = f"{size} rows" if size < settings.min_examples else f"label kind {sorted(kinds)}"
            skipped.append(f"{source.name}: {reason}")
            done += len(settings.replicates) * per_replicate
            if settings.verbose:
                print(f"skipping {source.name} ({reason})", flush=True)
            continue
        for seed, fold in settings.replicates:
            task = prepare_task(source.name, splits, seed, settings.max_train, settings.max_test, fold, settings.folds)
            plan = [(model, method) for model in models for method in model_methods]
            if "kmer" in settings.methods:
                plan.append((models[0], "kmer"))
            for model, method in plan:
                done += 1
                key = (source.name, KMER_MODEL if method == "kmer" else model.label, method, seed)
                if key in done_runs:
                    runs.append(done_runs[key])
                    continue
                run = run_method(method, task, model, settings, seed, out_dir / "work", cache)
                run["fold"] = fold
                runs.append(run)
                with open(out_dir / RUNS_LOG, "a") as log:  # one line per finished run: a rerun resumes here
                    log.write(json.dumps(run, default=float) + "\n")
                if settings.verbose:
                    what = (
                        f"MCC {run['mcc']:.3f} ({run['train_seconds']:.1f} s)"
                        if run["status"] == "ok"
                        else run["status"]
                    )
                    replicate = f"fold {fold}" if fold is not None else f"seed {seed}"
                    print(
                        f"[{done}/{total}] {source.name} {run['model']} {method} {replicate}: {what} "
                        f"({run['n_train']} train / {run['n_test']} test)",
                        flush=True,
                    )
    if not runs:
        raise ValueError("No task was run: " + ("; ".join(skipped) or "no tasks found."))
    summary = summarise_runs(runs, settings, models)
    markdown = "\n\n".join([protocol_header(settings, models), wide_table(summary), markdown_table(summary)])
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
    names = ", ".join(model.label for model in models)
    bar_chart(summary, files["png"], title=f"{names}: test metric by task, model and method")
    return BenchmarkReport(runs, summary, markdown, files, skipped)


__all__ = [
    "BENCHMARK_METHODS",
    "KMER_MODEL",
    "METHOD_LABELS",
    "NT_DOWNSTREAM_TASKS",
    "PROTOCOLS",
    "BenchmarkReport",
    "BenchmarkSettings",
    "BenchmarkTask",
    "TaskSource",
    "bar_chart",
    "evaluate_tasks",
    "find_task_sources",
    "markdown_table",
    "method_reason",
    "nt_downstream_sources",
    "prepare_task",
    "protocol_header",
    "protocol_settings",
    "report_metric",
    "run_method",
    "select_sources",
    "summarise_runs",
    "wide_table",
]
