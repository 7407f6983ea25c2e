"""Fine-tuning the Nucleotide Transformer on labelled sequences.

* **peft defaults**: `register_peft_defaults()` adds `model_type="nucleotide_transformer"` to peft's default IA3 and
  LoRA target maps, so a plain `IA3Config(task_type="SEQ_CLS")` with no module lists gives the paper's IA3: learned
  rescaling vectors on the attention keys (l_k), values (l_v) and the FFN intermediate activations (l_ff), with the
  classification head trainable.
* **Task data**: `load_task` reads CSV/TSV (optionally gzipped), FASTA with labels in the headers, or a local
  `datasets` dataset into a `TaskData`; `load_task_splits` reads a folder of `train`/`dev`/`test` files. Label kinds:
  binary, multi-class, multi-label, regression and nucleotide-level token classification.
* **Training**: `finetune` (Trainer, early stopping on a validation split, IA3 / LoRA / full), `cross_validate`
  (k folds of the training set as validation, as in the paper), `predict` (with an optional sliding window).
* **Baseline**: `kmer_baseline`, logistic regression on overlapping 6-mer counts.

peft 0.21 reads transformers' deprecated `is_gradient_checkpointing` when it wraps a model, which warns
(`FutureWarning`) from inside the libraries; exactly that warning, by message and category, is silenced around our
`get_peft_model` call (no other warning arises in our IA3, LoRA or full fine-tuning, `predict` or `merge_adapter`).
"""

import contextlib
import math
import os
import re
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from transformers import (
    DataCollatorForTokenClassification,
    DataCollatorWithPadding,
    EarlyStoppingCallback,
    EvalPrediction,
    PreTrainedModel,
    Trainer,
    TrainingArguments,
)
from transformers.trainer_callback import PrinterCallback

from .configuration_nucleotide_transformer import NucleotideTransformerConfig
from .metrics import task_metrics
from .modeling_nucleotide_transformer import (
    NucleotideTransformerForSequenceClassification,
    NucleotideTransformerForTokenClassification,
    NucleotideTransformerPreTrainedModel,
)
from .peft_defaults import PEFT_DEFAULT_MAX_LAYERS, ia3_modules_for, register_peft_defaults
from .tokenization_nucleotide_transformer import KMER_SIZE, NucleotideTransformerTokenizerFast

LABEL_KINDS = ("binary", "multiclass", "multilabel", "regression", "token")
"""Supported label kinds: sequence-level classes, multi-hot labels, real-valued targets, one class per base."""

METHODS = ("ia3", "lora", "full")
"""Fine-tuning methods: peft IA3 (the paper's), peft LoRA, or every weight trained."""

IGNORE_INDEX = -100
"""Label of positions without a target (`<cls>`, padding, unlabelled bases); ignored by the losses and metrics."""

PEFT_CHECKPOINTING_WARNING = r"`is_gradient_checkpointing` is deprecated"
"""Start of the `FutureWarning` that peft 0.21 triggers inside transformers 5 when it wraps a model (it reads the
deprecated `is_gradient_checkpointing`); `silence_peft_checkpointing_warning` silences exactly this one."""


@contextlib.contextmanager
def silence_peft_checkpointing_warning():
    """Silences, inside the block, the one deprecation warning that peft raises from library internals
    (`PEFT_CHECKPOINTING_WARNING`, a `FutureWarning`); every other warning is shown as usual."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=PEFT_CHECKPOINTING_WARNING, category=FutureWarning)
        yield


def trainable_parameters(model: torch.nn.Module) -> tuple[int, int]:
    """(trainable, total) parameter counts, each tensor counted once."""
    seen, trainable, total = set(), 0, 0
    for parameter in model.parameters():
        if id(parameter) in seen:
            continue
        seen.add(id(parameter))
        total += parameter.numel()
        trainable += parameter.numel() if parameter.requires_grad else 0
    return trainable, total


def describe_trainable(model: torch.nn.Module) -> str:
    """One line: trainable and total parameters and the trainable fraction."""
    trainable, total = trainable_parameters(model)
    return f"trainable params: {trainable:,d} || all params: {total:,d} || trainable%: {100 * trainable / total:.4f}"


# ---- task data -------------------------------------------------------------------------------------------------------


@dataclass
class TaskData:
    """One split of a labelled task.

    Attributes:
        sequences: DNA strings (whitespace removed).
        labels: class ids `(n,)` (binary, multiclass), multi-hot `(n, labels)` (multilabel), floats `(n,)` or
            `(n, targets)` (regression), or for "token" a list of per-base class-id arrays, each as long as its
            sequence (`IGNORE_INDEX` for unlabelled bases).
        kind: one of `LABEL_KINDS`.
        num_labels: classes (binary, multiclass, token), labels (multilabel) or targets (regression).
        label_names: class names when the file had text labels, in id order.
        names: record names, when the source has them (FASTA headers, the NT `name` column).
        source: where the data came from, for error messages.
    """

    sequences: list[str]
    labels: Any
    kind: str
    num_labels: int
    label_names: list[str] | None = None
    names: list[str] | None = None
    source: str = "<memory>"

    def __post_init__(self):
        if self.kind not in LABEL_KINDS:
            raise ValueError(
                f"{self.source}: unknown label kind {self.kind!r}; choose one of {', '.join(LABEL_KINDS)}."
            )
        if len(self.labels) != len(self.sequences):
            raise ValueError(f"{self.source}: {len(self.sequences)} sequences but {len(self.labels)} labels.")
        if self.kind == "token":
            for index, (sequence, labels) in enumerate(zip(self.sequences, self.labels)):
                if len(labels) != len(sequence):
                    raise ValueError(
                        f"{self.source}, row {index}: {len(labels)} per-base labels for a sequence of {len(sequence)} bp."
                    )

    def __len__(self) -> int:
        return len(self.sequences)

    def subset(self, indices: Sequence[int] | np.ndarray) -> "TaskData":
        """The rows `indices`, in that order."""
        indices = np.asarray(indices, dtype=int)
        labels = [self.labels[i] for i in indices] if self.kind == "token" else np.asarray(self.labels)[indices]
        names = [self.names[i] for i in indices] if self.names is not None else None
        return replace(self, sequences=[self.sequences[i] for i in indices], labels=labels, names=names)

    @property
    def stratify_labels(self) -> np.ndarray | None:
        """Class ids to stratify splits on (single-label classification only)."""
        return np.asarray(self.labels) if self.kind in ("binary", "multiclass") else None


_SEQUENCE_FILE = re.compile(r"\.(csv|tsv|txt|fa|fasta|fna)(\.gz)?$", re.IGNORECASE)
_FASTA_FILE = re.compile(r"\.(fa|fasta|fna)(\.gz)?$", re.IGNORECASE)
_WHITESPACE = re.compile(r"\s+")


def _as_class_ids(values: Sequence[Any], source: str) -> tuple[np.ndarray, list[str] | None]:
    """Integer labels as they are (0..K-1); text labels mapped to ids in sorted order."""
    array = np.asarray(values)
    if array.dtype.kind in "iu" or (array.dtype.kind == "f" and np.all(np.mod(array, 1) == 0)):
        ids = array.astype(np.int64)
        if ids.size and ids.min() < 0:
            row = int(np.argmax(ids < 0))
            raise ValueError(f"{source}, row {row}: class labels must be 0 or more, got {ids[row]}.")
        return ids, None
    names = sorted({str(v) for v in values})
    lookup = {name: i for i, name in enumerate(names)}
    return np.array([lookup[str(v)] for v in values], dtype=np.int64), names


def _parse_base_labels(value: Any, length: int, source: str, row: int) -> np.ndarray:
    """Per-base labels from a string of digits (`.` or `-` = unlabelled), whitespace-separated ints, or a list."""
    if isinstance(value, str):
        text = value.strip()
        items = text.split() if re.search(r"\s", text) else list(text)
        try:
            labels = np.array([IGNORE_INDEX if item in (".", "-") else int(item) for item in items], dtype=np.int64)
        except ValueError:
            raise ValueError(
                f"{source}, row {row}: per-base labels must be digits (one per base, '.' or '-' for none) or "
                f"whitespace-separated integers; got {text[:40]!r}."
            ) from None
    else:
        labels = np.asarray(value, dtype=np.int64)
    if labels.size != length:
        raise ValueError(f"{source}, row {row}: {labels.size} per-base labels for a sequence of {length} bp.")
    return labels


def infer_label_kind(values: Sequence[Any], sequences: Sequence[str]) -> str:
    """Label kind of one label column: lists or digit strings as long as their sequences → "token"; other lists →
    "multilabel"; non-integer numbers → "regression"; two classes → "binary"; more → "multiclass"."""
    first = values[0] if len(values) else None
    if isinstance(first, (list, tuple, np.ndarray)):
        if all(len(v) == len(s) for v, s in zip(values, sequences)) and len({len(s) for s in sequences}) > 1:
            return "token"
        return "multilabel"
    if isinstance(first, str) and all(
        isinstance(v, str) and len(v.strip()) == len(s) and len(s) > 1 and re.fullmatch(r"[0-9.\-]+", v.strip())
        for v, s in zip(values, sequences)
    ):
        return "token"
    array = np.asarray(_numbers_if_numeric(list(values)))
    if array.dtype.kind == "f" and not np.all(np.mod(array, 1) == 0):
        return "regression"
    return "binary" if len(set(array.tolist())) <= 2 else "multiclass"


def task_from_columns(
    sequences: Sequence[str],
    label_columns: dict[str, Sequence[Any]],
    kind: str | None = None,
    names: Sequence[str] | None = None,
    source: str = "<memory>",
) -> TaskData:
    """Builds a `TaskData` from a sequence column and one or more label columns.

    Several label columns make a multi-label task (0/1 columns) or a multi-target regression (`kind="regression"`).
    `kind=None` infers the kind with `infer_label_kind` (several columns: "multilabel").
    """
    sequences = [_WHITESPACE.sub("", str(s)) for s in sequences]
    for row, sequence in enumerate(sequences):
        if not sequence:
            raise ValueError(f"{source}, row {row}: empty sequence.")
    columns = list(label_columns)
    if not columns:
        raise ValueError(f"{source}: no label column given.")
    if kind is None:
        kind = "multilabel" if len(columns) > 1 else infer_label_kind(list(label_columns[columns[0]]), sequences)
    if kind != "token":
        label_columns = {c: _numbers_if_numeric(list(v)) for c, v in label_columns.items()}
    if kind not in LABEL_KINDS:
        raise ValueError(f"{source}: unknown label kind {kind!r}; choose one of {', '.join(LABEL_KINDS)}.")
    label_names = None
    if len(columns) > 1:
        if kind not in ("multilabel", "regression"):
            raise ValueError(
                f"{source}: several label columns ({', '.join(columns)}) need kind multilabel or regression."
            )
        matrix = np.column_stack([np.asarray(label_columns[c]) for c in columns])
        labels = matrix.astype(np.float32) if kind == "regression" else matrix.astype(np.int64)
        label_names, num_labels = columns, len(columns)
    else:
        values = list(label_columns[columns[0]])
        if kind == "token":
            labels = [_parse_base_labels(v, len(s), source, row) for row, (v, s) in enumerate(zip(values, sequences))]
            labelled = [a[a != IGNORE_INDEX] for a in labels]
            num_labels = int(max((a.max() for a in labelled if a.size), default=0)) + 1
        elif kind == "multilabel":
            labels = np.asarray([np.asarray(v, dtype=np.int64) for v in values])
            if labels.ndim != 2:
                raise ValueError(f"{source}: multi-label rows must all have the same number of labels.")
            num_labels = labels.shape[1]
        elif kind == "regression":
            try:
                labels = np.asarray(values, dtype=np.float32)
            except ValueError:
                raise ValueError(f"{source}: regression labels must be numbers.") from None
            num_labels = 1 if labels.ndim == 1 else labels.shape[1]
        else:
            labels, label_names = _as_class_ids(values, source)
            num_labels = max(int(labels.max()) + 1 if labels.size else 0, 2)
    return TaskData(
        sequences=sequences,
        labels=labels,
        kind=kind,
        num_labels=num_labels,
        label_names=label_names,
        names=[str(n) for n in names] if names is not None else None,
        source=source,
    )


def _read_table(path: Path):
    import pandas as pd

    name = path.name.lower().removesuffix(".gz")
    separator = "\t" if name.endswith((".tsv", ".txt")) else ","
    # Everything as text: per-base label strings such as "0011" must keep their leading zeros; numbers are
    # recognised afterwards (`_numbers_if_numeric`).
    return pd.read_csv(path, sep=separator, dtype=str, keep_default_na=False)


def _numbers_if_numeric(values: list[Any]) -> list[Any]:
    """Text labels that are all integers (or all numbers) as ints (floats); anything else unchanged."""
    if not values or not all(isinstance(v, str) for v in values):
        return values
    for convert in (int, float):
        try:
            return [convert(v) for v in values]
        except ValueError:
            continue
    return values


def _read_labelled_fasta(path: Path) -> tuple[list[str], list[str], list[str]]:
    from .dna import read_fasta

    sequences, labels, names = [], [], []
    for index, record in enumerate(read_fasta(path)):
        if "|" not in record.name:
            raise ValueError(
                f"{path}, record {index} ({record.name!r}): the label must be the last '|'-separated field of the "
                "header, e.g. '>seq42|1'."
            )
        name, label = record.name.rsplit("|", 1)
        sequences.append(record.sequence)
        labels.append(label)
        names.append(name)
    return sequences, labels, names


def load_task(
    source: "str | os.PathLike | Any",
    sequence_column: str = "sequence",
    label_columns: Sequence[str] | str = ("label",),
    kind: str | None = None,
    task: str | None = None,
    task_column: str = "task",
) -> TaskData:
    """Reads one split of a labelled task.

    Args:
        source: a CSV/TSV file (`.csv`, `.tsv`, `.txt`, optionally `.gz`; header row), a FASTA file whose headers end
            in `|label` (`>seq42|1`), a folder written by `datasets`' `save_to_disk` (one split), or an in-memory
            `datasets.Dataset` / pandas DataFrame.
        sequence_column: column holding the DNA.
        label_columns: the label column, or several (multi-label 0/1 columns or multi-target regression).
        kind: one of `LABEL_KINDS`; inferred from the labels when `None` (see `infer_label_kind`).
        task: keep only rows whose `task_column` equals this (the NT downstream layout `sequence,name,label,task`).
        task_column: the column naming the task of each row.

    Raises:
        ValueError: naming the file and row for missing columns, empty sequences or malformed labels.
    """
    label_columns = [label_columns] if isinstance(label_columns, str) else list(label_columns)
    names = None
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        where = str(path)
        if not path.exists():
            raise FileNotFoundError(f"No task file at {path}.")
        if path.is_dir():
            import datasets

            frame = datasets.load_from_disk(str(path))
            if isinstance(frame, datasets.DatasetDict):
                raise ValueError(f"{path} holds several splits ({', '.join(frame)}); use load_task_splits.")
            frame = frame.to_pandas()
        elif _FASTA_FILE.search(path.name):
            sequences, labels, names = _read_labelled_fasta(path)
            return task_from_columns(sequences, {"label": labels}, kind=kind, names=names, source=where)
        else:
            frame = _read_table(path)
    else:
        where = f"<{type(source).__name__}>"
        frame = source.to_pandas() if hasattr(source, "to_pandas") else source
    missing = [c for c in [sequence_column, *label_columns] if c not in frame.columns]
    if missing:
        raise ValueError(
            f"{where}: missing column(s) {', '.join(missing)}; the columns are {', '.join(map(str, frame.columns))}."
        )
    if task is not None:
        if task_column not in frame.columns:
            raise ValueError(f"{where}: no {task_column!r} column to select task {task!r} from.")
        frame = frame[frame[task_column] == task].reset_index(drop=True)
        if frame.empty:
            raise ValueError(f"{where}: no rows for task {task!r}.")
        where = f"{where} [task {task}]"
    if "name" in frame.columns:
        names = frame["name"].astype(str).tolist()
    empty = frame[sequence_column].isna()
    if empty.any():
        raise ValueError(f"{where}, row {int(np.argmax(empty.to_numpy()))}: empty sequence.")
    return task_from_columns(
        frame[sequence_column].tolist(),
        {c: frame[c].tolist() for c in label_columns},
        kind=kind,
        names=names,
        source=where,
    )


SPLIT_NAMES = {"train": ("train",), "validation": ("dev", "validation", "valid", "val"), "test": ("test",)}
"""File stems recognised as each split by `load_task_splits`."""


def find_split_files(folder: str | os.PathLike) -> dict[str, Path]:
    """`{"train" | "validation" | "test": file}` for the split files in a folder (e.g. GUE's `dev.csv.gz`)."""
    found: dict[str, Path] = {}
    for path in sorted(Path(folder).iterdir()):
        if not path.is_file() or not _SEQUENCE_FILE.search(path.name):
            continue
        stem = _SEQUENCE_FILE.sub("", path.name).lower()
        for split, stems in SPLIT_NAMES.items():
            if stem in stems and split not in found:
                found[split] = path
    return found


def load_task_splits(folder: str | os.PathLike, **load_kwargs: Any) -> dict[str, TaskData]:
    """Every split file of a task folder (`train`, `dev`/`validation`, `test`; any supported format), read with
    `load_task(**load_kwargs)`; without an explicit `kind`, the kind inferred from the training split applies to all."""
    files = find_split_files(folder)
    if not files:
        raise FileNotFoundError(f"No train/dev/test files (.csv, .tsv, .fa, optionally .gz) in {folder}.")
    first = "train" if "train" in files else next(iter(files))
    splits = {first: load_task(files[first], **load_kwargs)}
    if load_kwargs.get("kind") is None:  # the other splits take the kind inferred from the training split
        load_kwargs = {**load_kwargs, "kind": splits[first].kind}
    splits.update({split: load_task(path, **load_kwargs) for split, path in files.items() if split != first})
    return harmonise_splits(splits)


def harmonise_splits(splits: dict[str, TaskData]) -> dict[str, TaskData]:
    """Makes the splits of one task agree on kind, number of labels and text-label ids (e.g. a test split that lacks
    one class of a 3-class task, or text labels that map to ids over the union of all splits)."""
    kinds = {task.kind for task in splits.values()}
    if kinds <= {"binary", "multiclass"}:
        named = [task for task in splits.values() if task.label_names]
        if named and len(named) != len(splits):
            raise ValueError(f"{named[0].source}: some splits have text labels and others numbers.")
        names = sorted({name for task in named for name in task.label_names})
        if names:
            ids = {name: i for i, name in enumerate(names)}
            splits = {
                split: replace(
                    task,
                    labels=np.array([ids[task.label_names[i]] for i in task.labels], dtype=np.int64),
                    label_names=names,
                )
                for split, task in splits.items()
            }
        num_labels = max(max(task.num_labels for task in splits.values()), len(names))
        kind = "binary" if num_labels == 2 else "multiclass"
        return {split: replace(task, kind=kind, num_labels=num_labels) for split, task in splits.items()}
    if len(kinds) > 1:
        raise ValueError(f"The splits disagree on the label kind: {sorted(kinds)}.")
    num_labels = max(task.num_labels for task in splits.values())
    return {split: replace(task, num_labels=num_labels) for split, task in splits.items()}


# ---- splitting -------------------------------------------------------------------------------------------------------


def kfold_indices(task: TaskData, folds: int, seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """`folds` (train indices, held-out indices) pairs; every row is held out exactly once. Stratified by class for
    single-label classification (scikit-learn `StratifiedKFold`), plain shuffled `KFold` otherwise."""
    from sklearn.model_selection import KFold, StratifiedKFold

    if folds < 2:
        raise ValueError(f"Cross-validation needs at least 2 folds, got {folds}.")
    if folds > len(task):
        raise ValueError(f"{task.source}: {folds} folds for only {len(task)} sequences.")
    labels = task.stratify_labels
    if labels is not None and np.bincount(labels).min(initial=folds) >= folds:
        splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
        return list(splitter.split(np.zeros(len(task)), labels))
    return list(KFold(n_splits=folds, shuffle=True, random_state=seed).split(np.zeros(len(task))))


def split_off(task: TaskData, held_out: float | int, seed: int = 0) -> tuple[TaskData, TaskData]:
    """(kept, held out): a random `held_out` fraction (float) or number (int) of the rows held out, stratified by class
    for single-label tasks whose classes all have two rows or more; both parts keep the original row order."""
    from sklearn.model_selection import train_test_split

    indices = np.arange(len(task))
    labels = task.stratify_labels
    counts = np.bincount(labels) if labels is not None else None
    stratify = labels if counts is not None and counts[counts > 0].min() >= 2 else None
    kept, removed = train_test_split(indices, test_size=held_out, random_state=seed, stratify=stratify)
    return task.subset(np.sort(kept)), task.subset(np.sort(removed))


def subsample(task: TaskData, max_rows: int | None, seed: int = 0) -> TaskData:
    """Exactly `max_rows` rows drawn at random (stratified as `split_off`), or all rows when there are not more."""
    if max_rows is None or len(task) <= max_rows:
        return task
    kept, _ = split_off(task, len(task) - max_rows, seed)
    return kept


# ---- tokens, lengths, windows --------------------------------------------------------------------------------------

_TOKEN_PATTERN = re.compile(f"[ACGT]{{{KMER_SIZE}}}|.", re.DOTALL)


def token_count(sequence: str) -> int:
    """Tokens the NT tokenizer makes of `sequence`, `<cls>` included (6-mers of A/C/G/T runs, everything else one
    token each; the tokenizer's own split rule)."""
    return len(_TOKEN_PATTERN.findall(_WHITESPACE.sub("", sequence.upper()))) + 1


def check_sequence_lengths(task: TaskData, max_tokens: int) -> None:
    """Raises `ValueError` naming the first sequence (index, name, bp, tokens) longer than `max_tokens` tokens."""
    for index, sequence in enumerate(task.sequences):
        tokens = token_count(sequence)
        if tokens > max_tokens:
            name = f" ({task.names[index]})" if task.names else ""
            raise ValueError(
                f"{task.source}: sequence {index}{name} is {len(sequence)} bp = {tokens} tokens (<cls> included), "
                f"longer than the model's context of {max_tokens} tokens. Use a sliding window (window_bp=..., "
                "`--window-bp` in examples/finetune.py) or shorten the sequences."
            )


def window_starts(length: int, window_bp: int, stride_bp: int) -> list[int]:
    """Starts of windows covering `length` bases: every `stride_bp`, plus one ending at the sequence end."""
    if length <= window_bp:
        return [0]
    starts = list(range(0, length - window_bp + 1, stride_bp))
    if starts[-1] + window_bp < length:
        starts.append(length - window_bp)
    return starts


@dataclass
class Windows:
    """A task cut into windows: `task` holds the windows, `owner[i]` and `start[i]` the sequence and base offset of
    window `i`."""

    task: TaskData
    owner: np.ndarray
    start: np.ndarray


def make_windows(task: TaskData, window_bp: int, stride_bp: int | None = None) -> Windows:
    """Cuts every sequence into windows of `window_bp` bases (stride `stride_bp`, default half a window; both
    multiples of 6 so that the windows keep the sequence's 6-mer grid). A window takes its sequence's label, or for
    token tasks its slice of the per-base labels."""
    if window_bp <= 0 or window_bp % KMER_SIZE:
        raise ValueError(f"window_bp must be a positive multiple of {KMER_SIZE}, got {window_bp}.")
    stride_bp = stride_bp or max(KMER_SIZE, window_bp // 2 // KMER_SIZE * KMER_SIZE)
    if stride_bp <= 0 or stride_bp % KMER_SIZE or stride_bp > window_bp:
        raise ValueError(f"stride_bp must be a multiple of {KMER_SIZE} in (0, window_bp], got {stride_bp}.")
    sequences, labels, owner, start = [], [], [], []
    for index, sequence in enumerate(task.sequences):
        for begin in window_starts(len(sequence), window_bp, stride_bp):
            sequences.append(sequence[begin : begin + window_bp])
            labels.append(task.labels[index][begin : begin + window_bp] if task.kind == "token" else task.labels[index])
            owner.append(index)
            start.append(begin)
    if task.kind != "token":
        labels = np.asarray(labels)
    windowed = replace(task, sequences=sequences, labels=labels, names=None, source=f"{task.source} (windows)")
    return Windows(windowed, np.asarray(owner), np.asarray(start))


def token_labels_from_bases(base_labels: Sequence[int], offsets: Sequence[tuple[int, int]]) -> list[int]:
    """Per-token labels from per-base labels, through the tokenizer's offsets.

    Rule: a token takes the most frequent label among its bases (unlabelled bases, `IGNORE_INDEX`, do not vote); a tie
    goes to the tied label that occurs first (leftmost) in the token. A single-base token (`N`, tail nucleotides) takes
    its base's label. Special tokens (empty offsets: `<cls>`) and tokens with no labelled base get `IGNORE_INDEX`.
    """
    result = []
    for start, end in offsets:
        votes = [int(label) for label in base_labels[start:end] if label != IGNORE_INDEX]
        if not votes:
            result.append(IGNORE_INDEX)
            continue
        counts: dict[int, int] = {}
        for label in votes:
            counts[label] = counts.get(label, 0) + 1
        best = max(counts.values())
        result.append(next(label for label in votes if counts[label] == best))
    return result


def base_scores_from_tokens(token_scores: np.ndarray, offsets: Sequence[tuple[int, int]], length: int) -> np.ndarray:
    """Per-base scores `(length, classes)`: each base gets the scores of the token covering it (NaN if none)."""
    scores = np.full((length, token_scores.shape[-1]), np.nan)
    for row, (start, end) in enumerate(offsets):
        if end > start:
            scores[start:end] = token_scores[row]
    return scores


# ---- encoding, models ------------------------------------------------------------------------------------------------


def encode_task(task: TaskData, tokenizer: NucleotideTransformerTokenizerFast, max_tokens: int | None = None):
    """A `datasets.Dataset` with `input_ids`, `attention_mask` and `labels` for `Trainer` (token tasks: one label per
    token, see `token_labels_from_bases`). Sequences longer than `max_tokens` raise (see `check_sequence_lengths`)."""
    from datasets import Dataset

    if max_tokens is not None:
        check_sequence_lengths(task, max_tokens)
    if task.kind == "token":
        encoded = tokenizer(task.sequences, return_offsets_mapping=True)
        labels = [
            token_labels_from_bases(base_labels, offsets)
            for base_labels, offsets in zip(task.labels, encoded["offset_mapping"])
        ]
    else:
        encoded = tokenizer(task.sequences)
        array = np.asarray(task.labels)
        labels = array.astype(np.float32).tolist() if task.kind in ("multilabel", "regression") else array.tolist()
    return Dataset.from_dict(
        {"input_ids": encoded["input_ids"], "attention_mask": encoded["attention_mask"], "labels": labels}
    )


ModelSource = str | os.PathLike | NucleotideTransformerConfig | NucleotideTransformerPreTrainedModel
"""A model folder, a config (random weights) or a model in memory."""


def _head_class(kind: str):
    return (
        NucleotideTransformerForTokenClassification
        if kind == "token"
        else NucleotideTransformerForSequenceClassification
    )


def load_model_for_task(
    source: ModelSource,
    kind: str,
    num_labels: int,
    *,
    random_init: bool = False,
    pooling: str | None = None,
    seed: int = 0,
) -> NucleotideTransformerPreTrainedModel:
    """The encoder of `source` with a fresh task head (sequence classification/regression, or token classification).

    Args:
        source: a model folder (ours, or a published NT checkpoint), a config (random weights), or a model in memory
            (its encoder weights are copied).
        kind: one of `LABEL_KINDS`; sets the head and `problem_type`.
        num_labels: head outputs.
        random_init: same architecture, encoder re-initialised at random (the "random-init" baseline).
        pooling: `"cls"` or `"mean"` for the sequence head (`config.classifier_pooling`); the source's when None.
        seed: seed of the head (and of the encoder with `random_init`).
    """
    head = _head_class(kind)
    overrides: dict[str, Any] = {"num_labels": num_labels}
    if kind != "token":
        overrides["problem_type"] = problem_type_for(kind)
        if pooling is not None:
            overrides["classifier_pooling"] = pooling
    torch.manual_seed(seed)
    if isinstance(source, NucleotideTransformerConfig):
        return head(NucleotideTransformerConfig.from_dict({**source.to_dict(), **overrides}))
    if isinstance(source, PreTrainedModel):
        config = NucleotideTransformerConfig.from_dict({**source.config.to_dict(), **overrides})
        model = head(config)
        if not random_init:
            model.esm.load_state_dict(source.base_model.state_dict())
        return model
    if random_init:
        config = NucleotideTransformerConfig.from_pretrained(source, **overrides)
        return head(config)
    return head.from_pretrained(source, **overrides)


def problem_type_for(kind: str) -> str:
    """transformers' `problem_type` for a label kind."""
    return {"multilabel": "multi_label_classification", "regression": "regression"}.get(
        kind, "single_label_classification"
    )


def apply_method(
    model: NucleotideTransformerPreTrainedModel,
    method: str,
    *,
    lora_rank: int = 8,
    lora_alpha: int = 16,
    lora_dropout: float = 0.05,
    verbose: bool = True,
) -> torch.nn.Module:
    """Wraps `model` for `method`: `"ia3"` (peft `IA3Config` with our registered defaults), `"lora"` (peft
    `LoraConfig`, query/value), or `"full"` (unchanged, every weight trainable). Prints the trainable fraction."""
    if method not in METHODS:
        raise ValueError(f"Unknown method {method!r}; choose one of {', '.join(METHODS)}.")
    if method == "full":
        for parameter in model.parameters():
            parameter.requires_grad_(True)
        if verbose:
            print(describe_trainable(model))
        return model
    from peft import IA3Config, LoraConfig, get_peft_model

    register_peft_defaults()
    task_type = "TOKEN_CLS" if isinstance(model, NucleotideTransformerForTokenClassification) else "SEQ_CLS"
    if method == "ia3":
        if model.config.num_hidden_layers > PEFT_DEFAULT_MAX_LAYERS:
            targets, feedforward = ia3_modules_for(model.config.num_hidden_layers)
            peft_config = IA3Config(task_type=task_type, target_modules=targets, feedforward_modules=feedforward)
        else:
            peft_config = IA3Config(task_type=task_type)
    else:
        peft_config = LoraConfig(task_type=task_type, r=lora_rank, lora_alpha=lora_alpha, lora_dropout=lora_dropout)
    with silence_peft_checkpointing_warning():
        peft_model = get_peft_model(model, peft_config)
    if verbose:
        peft_model.print_trainable_parameters()
    return peft_model


def merge_adapter(model: torch.nn.Module) -> NucleotideTransformerPreTrainedModel:
    """A peft model's adapter folded into the weights (`merge_and_unload`), with the trained head in place.

    peft 0.21's IA3 unload fails on a head made of several layers in `modules_to_save` (our `classifier`, and
    RoBERTa's or ESM's): it reads `.weight` of the head module (huggingface/peft#3114, PR #3213). The trained head
    copy is put in place first, which is what the unload would do, then peft merges the scalings.
    """
    from peft.utils import ModulesToSaveWrapper

    base = model.get_base_model()
    for name, module in list(base.named_modules()):
        if isinstance(module, ModulesToSaveWrapper):
            parent_name, _, child_name = name.rpartition(".")
            parent = base.get_submodule(parent_name) if parent_name else base
            setattr(parent, child_name, module.modules_to_save[model.active_adapter])
    return model.merge_and_unload()


# ---- training --------------------------------------------------------------------------------------------------------

DEFAULT_LEARNING_RATES = {"ia3": 3e-3, "lora": 5e-4, "full": 1e-4}
"""Learning rates per method: 3e-3 for IA3 as in the paper's recipe (nt-reference §5, UNVERIFIED), common values for
LoRA and full fine-tuning."""


@dataclass
class FinetuneSettings:
    """Training settings shared by `finetune`, `cross_validate`, the example script and the task benchmark.

    Attributes:
        method: "ia3", "lora" or "full".
        learning_rate: Adam(W) learning rate; `DEFAULT_LEARNING_RATES[method]` when None.
        max_steps: optimiser steps (the paper: 10,000 per fold).
        batch_size: sequences per step (the paper: 8).
        eval_steps: evaluate on the validation split every this many steps (early stopping, best checkpoint).
        patience: stop after this many evaluations without improvement of the validation metric.
        seed: seed of the head, data order and dropout.
        pooling: sequence-head pooling, "cls" or "mean" (None: the model config's).
        window_bp: if set, sequences are cut into windows of this many bases (predictions averaged per sequence);
            otherwise a sequence longer than the context raises.
        stride_bp: window stride (default half a window).
        output_dir: Trainer checkpoints and logs.
        lora_rank: LoRA rank.
        random_init: train the same architecture from random weights (baseline).
        weight_decay, warmup_ratio: as in `TrainingArguments`.
        verbose: print the trainable fraction and Trainer progress.
    """

    method: str = "ia3"
    learning_rate: float | None = None
    max_steps: int = 10_000
    batch_size: int = 8
    eval_steps: int = 500
    patience: int = 5
    seed: int = 0
    pooling: str | None = None
    window_bp: int | None = None
    stride_bp: int | None = None
    output_dir: str = "outputs/finetune"
    lora_rank: int = 8
    random_init: bool = False
    weight_decay: float = 0.0
    warmup_ratio: float = 0.0
    verbose: bool = True

    def __post_init__(self):
        if self.method not in METHODS:
            raise ValueError(f"Unknown method {self.method!r}; choose one of {', '.join(METHODS)}.")


@dataclass
class FinetuneResult:
    """What `finetune` returns: the trained model (a peft model for IA3/LoRA), its Trainer, test metrics (None
    without a test split), the best validation metrics, training seconds and parameter counts."""

    model: torch.nn.Module
    trainer: Trainer
    test_metrics: dict[str, float] | None
    validation_metrics: dict[str, float] | None
    train_seconds: float
    trainable_parameters: int
    total_parameters: int
    steps: int
    tokenizer: NucleotideTransformerTokenizerFast = field(repr=False, default=None)


def _selection_metric(kind: str) -> tuple[str, bool]:
    return ("mse", False) if kind == "regression" else ("mcc", True)


def make_compute_metrics(kind: str):
    """`compute_metrics` for `Trainer`: `task_metrics` on the labelled positions (token tasks: per token)."""

    def compute_metrics(prediction: EvalPrediction) -> dict[str, float]:
        scores = prediction.predictions[0] if isinstance(prediction.predictions, tuple) else prediction.predictions
        labels = prediction.label_ids
        if kind == "token":
            keep = labels != IGNORE_INDEX
            return task_metrics(scores[keep], labels[keep], "token")
        return task_metrics(scores, labels, kind)

    return compute_metrics


def _tokenizer_for(
    source: Any, tokenizer: NucleotideTransformerTokenizerFast | None
) -> NucleotideTransformerTokenizerFast:
    if tokenizer is not None:
        return tokenizer
    if isinstance(source, (str, os.PathLike)) and any(
        (Path(source) / f).exists() for f in ("tokenizer.json", "vocab.txt")
    ):
        return NucleotideTransformerTokenizerFast.from_pretrained(source)
    raise ValueError(f"Pass the tokenizer: the model source {source!r} has no tokenizer files.")


def _prepare(task: TaskData, settings: FinetuneSettings) -> tuple[TaskData, Windows | None]:
    if settings.window_bp is None:
        return task, None
    windows = make_windows(task, settings.window_bp, settings.stride_bp)
    return windows.task, windows


def finetune(
    source: ModelSource,
    train: TaskData,
    validation: TaskData | None = None,
    test: TaskData | None = None,
    settings: FinetuneSettings | None = None,
    tokenizer: NucleotideTransformerTokenizerFast | None = None,
) -> FinetuneResult:
    """Fine-tunes `source` on `train` with `Trainer` and evaluates on `test`.

    With a `validation` split the model is evaluated every `settings.eval_steps` steps, training stops early after
    `settings.patience` evaluations without improvement (MCC; MSE for regression) and the best checkpoint is restored
    before testing. Test metrics come from `predict` (windows averaged per sequence; token tasks scored per base).
    """
    settings = settings or FinetuneSettings()
    tokenizer = _tokenizer_for(source, tokenizer)
    model = load_model_for_task(
        source,
        train.kind,
        train.num_labels,
        random_init=settings.random_init,
        pooling=settings.pooling,
        seed=settings.seed,
    )
    max_tokens = model.config.context_length
    model = apply_method(model, settings.method, lora_rank=settings.lora_rank, verbose=settings.verbose)
    trainable, total = trainable_parameters(model)

    train_windows, _ = _prepare(train, settings)
    train_dataset = encode_task(train_windows, tokenizer, max_tokens)
    eval_dataset = encode_task(_prepare(validation, settings)[0], tokenizer, max_tokens) if validation else None
    metric, greater_is_better = _selection_metric(train.kind)
    has_eval = eval_dataset is not None
    args = _training_arguments(settings, has_eval, metric, greater_is_better)
    collator = (
        DataCollatorForTokenClassification(tokenizer) if train.kind == "token" else DataCollatorWithPadding(tokenizer)
    )
    trainer = Trainer(
        model=model,
        args=args,
        train_dataset=train_dataset,
        eval_dataset=eval_dataset,
        data_collator=collator,
        compute_metrics=make_compute_metrics(train.kind),
        callbacks=[EarlyStoppingCallback(early_stopping_patience=settings.patience)] if has_eval else [],
    )
    if not settings.verbose:
        trainer.remove_callback(PrinterCallback)  # the evaluation logs; progress bars are off already
    start = time.perf_counter()
    output = trainer.train()
    seconds = time.perf_counter() - start
    validation_metrics = None
    if has_eval:
        validation_metrics = {k.removeprefix("eval_"): v for k, v in trainer.evaluate().items()}
    test_metrics = None
    if test is not None:
        test_metrics = evaluate_task(model, tokenizer, test, window_bp=settings.window_bp, stride_bp=settings.stride_bp)
    return FinetuneResult(
        model=model,
        trainer=trainer,
        test_metrics=test_metrics,
        validation_metrics=validation_metrics,
        train_seconds=seconds,
        trainable_parameters=trainable,
        total_parameters=total,
        steps=output.global_step,
        tokenizer=tokenizer,
    )


def _training_arguments(
    settings: FinetuneSettings, has_eval: bool, metric: str, greater_is_better: bool
) -> TrainingArguments:
    return TrainingArguments(
        output_dir=settings.output_dir,
        max_steps=settings.max_steps,
        per_device_train_batch_size=settings.batch_size,
        per_device_eval_batch_size=max(settings.batch_size, 32),
        learning_rate=settings.learning_rate or DEFAULT_LEARNING_RATES[settings.method],
        weight_decay=settings.weight_decay,
        warmup_steps=math.ceil(settings.warmup_ratio * settings.max_steps),
        lr_scheduler_type="constant_with_warmup" if settings.warmup_ratio else "constant",
        eval_strategy="steps" if has_eval else "no",
        eval_steps=settings.eval_steps if has_eval else None,
        save_strategy="steps" if has_eval else "no",
        save_steps=settings.eval_steps,
        save_total_limit=1,
        load_best_model_at_end=has_eval,
        metric_for_best_model=metric if has_eval else None,
        greater_is_better=greater_is_better if has_eval else None,
        logging_strategy="steps" if settings.verbose else "no",
        logging_steps=max(1, min(settings.eval_steps, settings.max_steps // 10 or 1)),
        report_to=[],
        seed=settings.seed,
        data_seed=settings.seed,
        dataloader_num_workers=0,
        dataloader_pin_memory=torch.cuda.is_available(),
        disable_tqdm=not settings.verbose,
    )


# ---- prediction ------------------------------------------------------------------------------------------------------


@torch.inference_mode()
def _forward_scores(model: torch.nn.Module, tokenizer, sequences: list[str], token_level: bool, batch_size: int):
    """Logits per sequence `(n, k)`, or for token level a list of per-token logits with the offsets."""
    model.eval()
    device = next(model.parameters()).device
    order = np.argsort([len(s) for s in sequences], kind="stable")
    results: list[Any] = [None] * len(sequences)
    for begin in range(0, len(order), batch_size):
        batch_indices = order[begin : begin + batch_size]
        batch = [sequences[i] for i in batch_indices]
        encoded = tokenizer(batch, padding=True, return_tensors="pt", return_offsets_mapping=token_level)
        offsets = encoded.pop("offset_mapping", None)
        logits = (
            model(input_ids=encoded["input_ids"].to(device), attention_mask=encoded["attention_mask"].to(device))
            .logits.float()
            .cpu()
            .numpy()
        )
        for row, index in enumerate(batch_indices):
            if token_level:
                length = int(encoded["attention_mask"][row].sum())
                results[index] = (logits[row, :length], offsets[row, :length].tolist())
            else:
                results[index] = logits[row]
    return results


def predict(
    model: torch.nn.Module,
    tokenizer: NucleotideTransformerTokenizerFast,
    task: TaskData,
    *,
    window_bp: int | None = None,
    stride_bp: int | None = None,
    batch_size: int = 32,
) -> "np.ndarray | list[np.ndarray]":
    """Model scores for every sequence of `task`: `(n, outputs)` for sequence tasks, a list of `(bp, classes)`
    per-base scores for token tasks (a base takes its token's scores, see `base_scores_from_tokens`).

    With `window_bp`, each sequence is cut into windows (`make_windows`) and the window scores are averaged per
    sequence (per base for token tasks, over the windows covering it). Without it, a sequence longer than the context
    raises naming its index.
    """
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    max_tokens = base.config.context_length
    token_level = task.kind == "token"
    if window_bp is None:
        check_sequence_lengths(task, max_tokens)
        outputs = _forward_scores(model, tokenizer, task.sequences, token_level, batch_size)
        if not token_level:
            return np.stack(outputs)
        return [base_scores_from_tokens(s, o, len(q)) for (s, o), q in zip(outputs, task.sequences)]
    windows = make_windows(task, window_bp, stride_bp)
    check_sequence_lengths(windows.task, max_tokens)
    outputs = _forward_scores(model, tokenizer, windows.task.sequences, token_level, batch_size)
    if not token_level:
        scores = np.stack(outputs)
        summed = np.zeros((len(task), scores.shape[1]))
        np.add.at(summed, windows.owner, scores)
        return summed / np.bincount(windows.owner, minlength=len(task))[:, None]
    sums = [np.zeros((len(s), base.config.num_labels)) for s in task.sequences]
    counts = [np.zeros((len(s), 1)) for s in task.sequences]
    for (scores, offsets), owner, start, window in zip(outputs, windows.owner, windows.start, windows.task.sequences):
        per_base = base_scores_from_tokens(scores, offsets, len(window))
        covered = ~np.isnan(per_base[:, 0])
        sums[owner][start : start + len(window)][covered] += per_base[covered]
        counts[owner][start : start + len(window)][covered] += 1
    return [np.where(c > 0, s / np.maximum(c, 1), np.nan) for s, c in zip(sums, counts)]


def evaluate_task(
    model: torch.nn.Module,
    tokenizer: NucleotideTransformerTokenizerFast,
    task: TaskData,
    *,
    window_bp: int | None = None,
    stride_bp: int | None = None,
    batch_size: int = 32,
) -> dict[str, float]:
    """`task_metrics` of `predict` against the task's labels (token tasks: over every labelled base)."""
    scores = predict(model, tokenizer, task, window_bp=window_bp, stride_bp=stride_bp, batch_size=batch_size)
    if task.kind == "token":
        stacked = np.concatenate(scores)
        labels = np.concatenate(task.labels)
        keep = (labels != IGNORE_INDEX) & ~np.isnan(stacked[:, 0])
        return task_metrics(stacked[keep], labels[keep], "token")
    return task_metrics(scores, np.asarray(task.labels), task.kind)


# ---- cross-validation ------------------------------------------------------------------------------------------------


@dataclass
class CrossValidationResult:
    """Per-fold metrics and their mean and standard deviation (ddof=1) over folds."""

    fold_metrics: list[dict[str, float]]
    mean: dict[str, float]
    sd: dict[str, float]
    train_seconds: list[float]


def summarise_folds(fold_metrics: list[dict[str, float]]) -> tuple[dict[str, float], dict[str, float]]:
    """Mean and sample standard deviation of each metric over folds (sd 0 for a single fold)."""
    keys = fold_metrics[0].keys()
    mean = {k: float(np.mean([m[k] for m in fold_metrics])) for k in keys}
    sd = {k: float(np.std([m[k] for m in fold_metrics], ddof=1)) if len(fold_metrics) > 1 else 0.0 for k in keys}
    return mean, sd


def cross_validate(
    source: ModelSource,
    train: TaskData,
    test: TaskData | None = None,
    folds: int = 10,
    settings: FinetuneSettings | None = None,
    tokenizer: NucleotideTransformerTokenizerFast | None = None,
) -> CrossValidationResult:
    """k-fold cross-validation as in the paper: fold `i` of `train` is the validation split (early stopping, best
    checkpoint) for a model trained on the other folds, which is then scored on `test`. Without a test split, fold `i`
    is the test split instead and 10% of the other folds (stratified) is the validation split, so that no fold is
    scored by the model it selected the checkpoint on. Each fold writes its checkpoints under `<output_dir>/fold-<i>`."""
    settings = settings or FinetuneSettings()
    fold_metrics, seconds = [], []
    for fold, (train_rows, held_out_rows) in enumerate(kfold_indices(train, folds, settings.seed)):
        fold_train, held_out = train.subset(train_rows), train.subset(held_out_rows)
        if test is None:
            fold_train, validation = split_off(fold_train, 0.1, settings.seed)
            fold_test = held_out
        else:
            validation, fold_test = held_out, test
        if settings.verbose:
            print(f"fold {fold + 1}/{folds}: {len(fold_train)} training, {len(validation)} validation sequences")
        fold_settings = replace(settings, output_dir=str(Path(settings.output_dir) / f"fold-{fold}"))
        result = finetune(source, fold_train, validation, fold_test, fold_settings, tokenizer)
        fold_metrics.append(result.test_metrics)
        seconds.append(result.train_seconds)
    mean, sd = summarise_folds(fold_metrics)
    return CrossValidationResult(fold_metrics, mean, sd, seconds)


# ---- 6-mer baseline --------------------------------------------------------------------------------------------------

_BASE_CODES = np.full(256, -1, dtype=np.int64)
for _code, _letter in enumerate("ACGT"):
    _BASE_CODES[ord(_letter)] = _BASE_CODES[ord(_letter.lower())] = _code


def kmer_counts(sequences: Sequence[str], k: int = KMER_SIZE):
    """Sparse `(n, 4**k)` matrix of overlapping k-mer counts (k-mers containing anything but A/C/G/T skipped)."""
    from scipy.sparse import csr_matrix

    weights = 4 ** np.arange(k - 1, -1, -1)
    rows, columns = [], []
    for row, sequence in enumerate(sequences):
        codes = _BASE_CODES[np.frombuffer(sequence.encode("ascii", "replace"), dtype=np.uint8)]
        if codes.size < k:
            continue
        windows = np.lib.stride_tricks.sliding_window_view(codes, k)
        valid = (windows >= 0).all(axis=1)
        index = windows[valid] @ weights
        rows.append(np.full(index.size, row))
        columns.append(index)
    rows = np.concatenate(rows) if rows else np.zeros(0, dtype=int)
    columns = np.concatenate(columns) if columns else np.zeros(0, dtype=int)
    data = np.ones(rows.size, dtype=np.float32)
    return csr_matrix((data, (rows, columns)), shape=(len(sequences), 4**k))


KMER_BASELINE_C = (0.01, 0.1, 1.0)
"""Inverse regularisation strengths tried by `kmer_baseline` when a validation split is given."""


def kmer_baseline(
    train: TaskData,
    test: TaskData,
    validation: TaskData | None = None,
    k: int = KMER_SIZE,
    seed: int = 0,
    C: float | Sequence[float] = KMER_BASELINE_C,
) -> dict[str, float]:
    """The 6-mer-count baseline: logistic regression (ridge for regression) on k-mer frequencies (overlapping counts
    divided by the sequence's k-mer total, scaled to unit variance). With a `validation` split, the strength `C` is
    chosen among `C` by validation MCC (MSE for regression); without one, the middle value of `C` is used. Returns
    `task_metrics` on `test`, plus the chosen `C`."""
    from sklearn.preprocessing import normalize

    if train.kind == "token":
        raise ValueError("The k-mer baseline is sequence-level; it does not apply to token classification.")
    grid = [C] if isinstance(C, (int, float)) else list(C)
    if validation is None:
        grid = [grid[len(grid) // 2]]

    def features(task: TaskData):
        return normalize(kmer_counts(task.sequences, k), norm="l1")

    train_x, test_x = features(train), features(test)
    best = None
    if len(grid) > 1:
        validation_x = features(validation)
        metric, greater = _selection_metric(train.kind)
        for strength in grid:
            score = _kmer_scores(_fit_kmer_model(train, train_x, strength, seed), validation_x, train)
            value = task_metrics(score, np.asarray(validation.labels), train.kind)[metric]
            if best is None or (value > best[0] if greater else value < best[0]):
                best = (value, strength)
    strength = best[1] if best else grid[0]
    model = _fit_kmer_model(train, train_x, strength, seed)
    return {**task_metrics(_kmer_scores(model, test_x, train), np.asarray(test.labels), train.kind), "C": strength}


def _fit_kmer_model(train: TaskData, features, strength: float, seed: int):
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.multiclass import OneVsRestClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if train.kind == "regression":
        estimator = Ridge(alpha=1.0 / strength)
    else:
        estimator = LogisticRegression(C=strength, max_iter=2000, random_state=seed)
        if train.kind == "multilabel":
            estimator = OneVsRestClassifier(estimator)
    return make_pipeline(StandardScaler(with_mean=False), estimator).fit(features, np.asarray(train.labels))


def _kmer_scores(model, features, train: TaskData) -> np.ndarray:
    if train.kind == "regression":
        return model.predict(features)
    if train.kind == "multilabel":
        return model.decision_function(features)
    probabilities = np.zeros((features.shape[0], train.num_labels))
    probabilities[:, model.classes_] = model.predict_proba(features)
    return np.log(np.clip(probabilities, 1e-12, None))


__all__ = [
    "DEFAULT_LEARNING_RATES",
    "IGNORE_INDEX",
    "KMER_BASELINE_C",
    "LABEL_KINDS",
    "METHODS",
    "PEFT_CHECKPOINTING_WARNING",
    "CrossValidationResult",
    "FinetuneResult",
    "FinetuneSettings",
    "TaskData",
    "Windows",
    "apply_method",
    "base_scores_from_tokens",
    "check_sequence_lengths",
    "cross_validate",
    "describe_trainable",
    "encode_task",
    "evaluate_task",
    "find_split_files",
    "finetune",
    "harmonise_splits",
    "ia3_modules_for",
    "infer_label_kind",
    "kfold_indices",
    "kmer_baseline",
    "kmer_counts",
    "load_model_for_task",
    "load_task",
    "load_task_splits",
    "make_compute_metrics",
    "make_windows",
    "merge_adapter",
    "predict",
    "problem_type_for",
    "silence_peft_checkpointing_warning",
    "split_off",
    "subsample",
    "summarise_folds",
    "task_from_columns",
    "token_count",
    "token_labels_from_bases",
    "trainable_parameters",
    "window_starts",
]
