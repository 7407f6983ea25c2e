"""Labelled tasks: the data, once, for fine-tuning, probing, the 6-mer baseline and the task benchmark.

* **Data**: `TaskData` is one split of a task: sequences, labels of one of `LABEL_KINDS` (binary, multi-class,
  multi-label, regression, nucleotide-level token classification), optional record names and where it came from.
* **Files**: `load_task` reads a CSV/TSV (`.csv`, `.tsv`, `.txt`, optionally gzipped: detected from the content) with
  a header row, a FASTA whose headers end in `|label`, or a `datasets` `save_to_disk` folder or in-memory table;
  `load_task_splits` reads a folder of `train`/`dev`/`test` files (`find_split_files`) and `harmonise_splits` makes
  them agree on kind, label count and text-label ids. File names follow `dna`'s suffix rules.
* **Label kinds** are inferred from the labels when not given (`infer_label_kind`); text class labels become ids in
  sorted order.
* **Splits**: `kfold_indices`, `split_off` and `subsample` (stratified by class for single-label classification).
* **Lengths and windows**: `check_sequence_lengths` counts tokens by the tokenizer's own rule
  (`inference.token_counts`); `make_windows` cuts long sequences into windows on the 6-mer grid (`dna.window_starts`).
* **Token labels**: `token_labels_from_bases` (per-base labels to per-token labels) and `base_scores_from_tokens`
  (per-token scores back to bases).

A user's mistake in a task file (unreadable, a missing column, a malformed label, a character that is not a
nucleotide, a folder without split files) raises `errors.InputError` naming the file and the row (data rows counted
from 0, the header is not a row; FASTA records counted from 0) and, for tables, the column.
"""

import math
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from .dna import (
    KMER_SIZE,
    is_fasta_name,
    is_table_name,
    open_maybe_gzip,
    read_fasta,
    strip_sequence_suffix,
    table_separator,
    window_starts,
)
from .errors import InputError

LABEL_KINDS = ("binary", "multiclass", "multilabel", "regression", "token")
"""Supported label kinds: sequence-level classes, multi-hot labels, real-valued targets, one class per base."""

IGNORE_INDEX = -100
"""Label of positions without a target (`<cls>`, padding, unlabelled bases); ignored by the losses and metrics."""

SPLIT_NAMES = {"train": ("train",), "validation": ("dev", "validation", "valid", "val"), "test": ("test",)}
"""File stems recognised as each split by `find_split_files`."""

NUCLEOTIDES = frozenset("ACGTNRYSWKMBDHVacgtnryswkmbdhv")
"""Characters a task sequence may hold: A, C, G, T, N and the IUPAC ambiguity codes, either case (the tokenizer
refuses IUPAC codes unless it was made with `allow_iupac=True`)."""

_WHITESPACE = re.compile(r"\s+")


# ---- task data -------------------------------------------------------------------------------------------------


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


def selection_metric(kind: str) -> tuple[str, bool]:
    """`(metric, greater is better)` that chooses among checkpoints or hyper-parameters for a label kind: MSE for
    regression, MCC otherwise."""
    return ("mse", False) if kind == "regression" else ("mcc", True)


# ---- labels ----------------------------------------------------------------------------------------------------


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


def _numeric_column(values: Sequence[Any], source: str, column: str, what: str) -> np.ndarray:
    """`values` as a float64 array; the first value that is not a number raises naming its row and column."""
    try:
        return np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        pass
    for row, value in enumerate(values):
        try:
            float(value)
        except (TypeError, ValueError):
            raise InputError(
                f"{source}, row {row}: {what} must be numbers, got {value!r} (column {column!r})."
            ) from None
    raise InputError(f"{source}: {what} must be numbers (column {column!r}).")


def _as_class_ids(values: Sequence[Any], source: str, column: str) -> tuple[np.ndarray, list[str] | None]:
    """Integer labels as they are (0..K-1); text labels mapped to ids in sorted order."""
    array = np.asarray(values)
    if array.dtype.kind in "iu" or (array.dtype.kind == "f" and np.all(np.mod(array, 1) == 0)):
        ids = array.astype(np.int64)
        if ids.size and ids.min() < 0:
            row = int(np.argmax(ids < 0))
            raise InputError(
                f"{source}, row {row}: class labels must be 0 or more, got {ids[row]} (column {column!r})."
            )
        return ids, None
    names = sorted({str(v) for v in values})
    lookup = {name: i for i, name in enumerate(names)}
    return np.array([lookup[str(v)] for v in values], dtype=np.int64), names


def _parse_base_labels(value: Any, length: int, source: str, row: int, column: str) -> np.ndarray:
    """Per-base labels from a string of digits (`.` or `-` = unlabelled), whitespace-separated ints, or a list."""
    if isinstance(value, str):
        text = value.strip()
        items = text.split() if re.search(r"\s", text) else list(text)
        try:
            labels = np.array([IGNORE_INDEX if item in (".", "-") else int(item) for item in items], dtype=np.int64)
        except ValueError:
            raise InputError(
                f"{source}, row {row}: per-base labels must be digits (one per base, '.' or '-' for none) or "
                f"whitespace-separated integers; got {text[:40]!r} (column {column!r})."
            ) from None
    else:
        try:
            labels = np.asarray(value, dtype=np.int64).reshape(-1)
        except (TypeError, ValueError):
            raise InputError(
                f"{source}, row {row}: per-base labels must be integers, got {value!r} (column {column!r})."
            ) from None
    if labels.size != length:
        raise InputError(
            f"{source}, row {row}: {labels.size} per-base labels for a sequence of {length} bp (column {column!r})."
        )
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


def _sequence_problem(sequence: str) -> str | None:
    """What is wrong with a (whitespace-free) sequence: empty, or the first character not in `NUCLEOTIDES`."""
    if not sequence:
        return "empty sequence"
    if set(sequence) <= NUCLEOTIDES:
        return None
    position, character = next((i, c) for i, c in enumerate(sequence) if c not in NUCLEOTIDES)
    return f"{character!r} at position {position} is not a nucleotide (A, C, G, T, N or an IUPAC code, either case)"


def _clean_sequences(sequences: Sequence[Any], source: str, column: str) -> list[str]:
    """Sequences with whitespace removed; an empty one, or one with a character that is not in `NUCLEOTIDES`, raises
    naming the row, the column, the character and its position."""
    cleaned = []
    for row, value in enumerate(sequences):
        sequence = "" if _is_missing(value) else _WHITESPACE.sub("", str(value))
        problem = _sequence_problem(sequence)
        if problem:
            raise InputError(f"{source}, row {row}: {problem} (column {column!r}).")
        cleaned.append(sequence)
    return cleaned


def _is_missing(value: Any) -> bool:
    """An empty cell: `None`, NaN or blank text."""
    return (
        value is None
        or (isinstance(value, float) and math.isnan(value))
        or (isinstance(value, str) and not value.strip())
    )


def _check_labels_present(label_columns: dict[str, Sequence[Any]], source: str) -> None:
    for column, values in label_columns.items():
        row = next((row for row, value in enumerate(values) if _is_missing(value)), None)
        if row is not None:
            raise InputError(f"{source}, row {row}: missing label (column {column!r}).")


def task_from_columns(
    sequences: Sequence[str],
    label_columns: dict[str, Sequence[Any]],
    kind: str | None = None,
    names: Sequence[str] | None = None,
    source: str = "<memory>",
    sequence_column: str = "sequence",
) -> TaskData:
    """Builds a `TaskData` from a sequence column and one or more label columns.

    Several label columns make a multi-label task (0/1 columns) or a multi-target regression (`kind="regression"`).
    `kind=None` infers the kind with `infer_label_kind` (several columns: "multilabel"). `sequence_column` only
    names the column in error messages.
    """
    sequences = _clean_sequences(sequences, source, sequence_column)
    columns = list(label_columns)
    if not columns:
        raise ValueError(f"{source}: no label column given.")
    if kind is not None and kind not in LABEL_KINDS:
        raise ValueError(f"{source}: unknown label kind {kind!r}; choose one of {', '.join(LABEL_KINDS)}.")
    _check_labels_present(label_columns, source)
    if kind is None:
        kind = "multilabel" if len(columns) > 1 else infer_label_kind(list(label_columns[columns[0]]), sequences)
    if kind != "token":
        label_columns = {c: _numbers_if_numeric(list(v)) for c, v in label_columns.items()}
    label_names = None
    if len(columns) > 1:
        if kind not in ("multilabel", "regression"):
            raise InputError(
                f"{source}: several label columns ({', '.join(columns)}) need kind multilabel or regression."
            )
        what = "regression targets" if kind == "regression" else "multi-label labels"
        matrix = np.column_stack([_numeric_column(label_columns[c], source, c, what) for c in columns])
        labels = matrix.astype(np.float32) if kind == "regression" else matrix.astype(np.int64)
        label_names, num_labels = columns, len(columns)
    else:
        column = columns[0]
        values = list(label_columns[column])
        if kind == "token":
            labels = [
                _parse_base_labels(v, len(s), source, row, column) for row, (v, s) in enumerate(zip(values, sequences))
            ]
            labelled = [a[a != IGNORE_INDEX] for a in labels]
            num_labels = int(max((a.max() for a in labelled if a.size), default=0)) + 1
        elif kind == "multilabel":
            rows = [np.asarray(v, dtype=np.int64).reshape(-1) for v in values]
            width = len(rows[0]) if rows else 0
            for row, array in enumerate(rows):
                if len(array) != width:
                    raise InputError(
                        f"{source}, row {row}: {len(array)} labels where row 0 has {width}; multi-label rows must all "
                        f"have the same number of labels (column {column!r})."
                    )
            labels = np.stack(rows) if rows else np.zeros((0, 0), dtype=np.int64)
            num_labels = width
        elif kind == "regression":
            labels = _numeric_column(values, source, column, "regression labels").astype(np.float32)
            num_labels = 1 if labels.ndim == 1 else labels.shape[1]
        else:
            labels, label_names = _as_class_ids(values, source, column)
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


# ---- files -----------------------------------------------------------------------------------------------------


def is_task_file_name(path: str | os.PathLike) -> bool:
    """Whether the name is that of a task file: a table (`.csv`, `.tsv`, `.txt`) or FASTA, optionally `.gz`."""
    return is_table_name(path) or is_fasta_name(path)


def _read_table(path: Path, **read_csv: Any):
    """A table file as a pandas DataFrame of text (gzip detected from the content); a file pandas cannot parse
    raises `InputError` with pandas' reason (which names the line)."""
    import pandas as pd

    try:
        with open_maybe_gzip(path, "rt") as handle:
            # Everything as text: per-base label strings such as "0011" must keep their leading zeros; numbers are
            # recognised afterwards (`_numbers_if_numeric`).
            return pd.read_csv(handle, sep=table_separator(path), dtype=str, keep_default_na=False, **read_csv)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, EOFError, OSError) as error:
        raise InputError(f"{path}: cannot read the table: {error}".rstrip()) from error
    except ValueError as error:  # e.g. `usecols` naming a column the file does not have
        raise InputError(f"{path}: {error}") from error


def _read_labelled_fasta(path: Path) -> tuple[list[str], list[str], list[str]]:
    sequences, labels, names = [], [], []
    try:
        records = list(read_fasta(path))
    except (UnicodeDecodeError, EOFError, OSError) as error:
        raise InputError(f"{path}: cannot read the FASTA file: {error}") from error
    for index, record in enumerate(records):
        where = f"{path}, record {index} ({record.name!r})"
        if "|" not in record.name:
            raise InputError(f"{where}: the label must be the last '|'-separated field of the header, e.g. '>seq42|1'.")
        name, label = record.name.rsplit("|", 1)
        problem = _sequence_problem(record.sequence)
        if problem:
            raise InputError(f"{where}: {problem}.")
        sequences.append(record.sequence)
        labels.append(label)
        names.append(name)
    return sequences, labels, names


def task_file_columns(path: str | os.PathLike) -> list[str]:
    """The columns of a task file without reading it whole: a table's header, or for FASTA `["sequence", "label"]`
    when the first header carries a `|label` (`["sequence"]` otherwise)."""
    path = Path(path)
    if is_fasta_name(path):
        with open_maybe_gzip(path, "rt") as handle:
            header = handle.readline()
        words = header[1:].split()
        return ["sequence", "label"] if header.startswith(">") and words and "|" in words[0] else ["sequence"]
    return [str(column) for column in _read_table(path, nrows=0).columns]


def task_values(path: str | os.PathLike, column: str = "task") -> list[str]:
    """The distinct values of `column` of a table file, sorted (the tasks of an NT downstream layout file)."""
    return sorted(set(_read_table(Path(path), usecols=[column])[column]))


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
        InputError: naming the file (and row and column) for a missing file or column, an unreadable file, an empty
            sequence, a character that is not a nucleotide or a malformed label.
    """
    label_columns = [label_columns] if isinstance(label_columns, str) else list(label_columns)
    names = None
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        where = str(path)
        if not path.exists():
            raise InputError(f"{path}: no such task file.")
        if path.is_dir():
            frame = _read_datasets_folder(path)
        elif is_fasta_name(path):
            sequences, labels, names = _read_labelled_fasta(path)
            return task_from_columns(sequences, {"label": labels}, kind=kind, names=names, source=where)
        elif is_table_name(path):
            frame = _read_table(path)
        else:
            raise InputError(
                f"{path}: not a task file name; expected .csv, .tsv, .txt or a FASTA suffix, each optionally .gz."
            )
    else:
        where = f"<{type(source).__name__}>"
        frame = source.to_pandas() if hasattr(source, "to_pandas") else source
    missing = [c for c in [sequence_column, *label_columns] if c not in frame.columns]
    if missing:
        raise InputError(
            f"{where}: missing column(s) {', '.join(missing)}; the columns are {', '.join(map(str, frame.columns))}."
        )
    if task is not None:
        if task_column not in frame.columns:
            raise InputError(f"{where}: no {task_column!r} column to select task {task!r} from.")
        frame = frame[frame[task_column] == task].reset_index(drop=True)
        if frame.empty:
            raise InputError(f"{where}: no rows for task {task!r} (column {task_column!r}).")
        where = f"{where} [task {task}]"
    if "name" in frame.columns:
        names = frame["name"].astype(str).tolist()
    return task_from_columns(
        frame[sequence_column].tolist(),
        {c: frame[c].tolist() for c in label_columns},
        kind=kind,
        names=names,
        source=where,
        sequence_column=sequence_column,
    )


def _read_datasets_folder(path: Path):
    import datasets

    try:
        loaded = datasets.load_from_disk(str(path))
    except FileNotFoundError as error:
        raise InputError(
            f"{path}: a folder that `datasets` cannot read ({error}); a folder of train/dev/test files is read with "
            "load_task_splits."
        ) from error
    if isinstance(loaded, datasets.DatasetDict):
        raise InputError(f"{path} holds several splits ({', '.join(loaded)}); use load_task_splits.")
    return loaded.to_pandas()


def find_split_files(folder: str | os.PathLike) -> dict[str, Path]:
    """`{"train" | "validation" | "test": file}` for the split files in a folder (e.g. GUE's `dev.csv.gz`)."""
    found: dict[str, Path] = {}
    for path in sorted(Path(folder).iterdir()):
        if not path.is_file() or not is_task_file_name(path):
            continue
        stem = strip_sequence_suffix(path).lower()
        for split, stems in SPLIT_NAMES.items():
            if stem in stems and split not in found:
                found[split] = path
    return found


def load_task_splits(folder: str | os.PathLike, **load_kwargs: Any) -> dict[str, TaskData]:
    """Every split file of a task folder (`train`, `dev`/`validation`, `test`; any supported format), read with
    `load_task(**load_kwargs)`; without an explicit `kind`, the kind inferred from the training split applies to all.

    Raises `InputError` for a folder that does not exist or holds no split files."""
    if not Path(folder).is_dir():
        raise InputError(f"{folder}: no such task folder.")
    files = find_split_files(folder)
    if not files:
        raise InputError(
            f"{folder}: no train/dev/test files (.csv, .tsv, .txt or FASTA, each optionally .gz) in this folder."
        )
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
            numeric = next(task for task in splits.values() if not task.label_names)
            raise InputError(f"{named[0].source} has text labels but {numeric.source} has numbers.")
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
        described = ", ".join(f"{task.source}: {task.kind}" for task in splits.values())
        raise InputError(f"The splits disagree on the label kind ({described}).")
    num_labels = max(task.num_labels for task in splits.values())
    return {split: replace(task, num_labels=num_labels) for split, task in splits.items()}


# ---- splitting -------------------------------------------------------------------------------------------------


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


# ---- lengths and windows ---------------------------------------------------------------------------------------


def check_sequence_lengths(task: TaskData, tokenizer, max_tokens: int) -> None:
    """Raises `InputError` naming the first sequence (index, name, bp, tokens) with more than `max_tokens` tokens,
    `<cls>` included, counted by the tokenizer's own rule (`inference.token_counts`)."""
    from .inference import token_counts

    for index, tokens in enumerate(token_counts(tokenizer, task.sequences)):
        if tokens > max_tokens:
            name = f" ({task.names[index]})" if task.names else ""
            raise InputError(
                f"{task.source}: sequence {index}{name} is {len(task.sequences[index])} bp = {tokens} tokens (<cls> "
                f"included), longer than the model's context of {max_tokens} tokens. Use a sliding window "
                "(window_bp=..., `--window-bp` in examples/finetune.py) or shorten the sequences."
            )


@dataclass
class Windows:
    """A task cut into windows: `task` holds the windows, `owner[i]` and `start[i]` the sequence and base offset of
    window `i`."""

    task: TaskData
    owner: np.ndarray
    start: np.ndarray


def make_windows(task: TaskData, window_bp: int, stride_bp: int | None = None) -> Windows:
    """Cuts every sequence into windows of `window_bp` bases every `stride_bp` (default half a window; both multiples
    of 6 so that the windows keep the sequence's 6-mer grid), plus one flush with the sequence's end
    (`dna.window_starts`); a sequence no longer than a window is one window. A window takes its sequence's label, or
    for token tasks its slice of the per-base labels."""
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


# ---- tokens and bases ------------------------------------------------------------------------------------------


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


__all__ = [
    "IGNORE_INDEX",
    "LABEL_KINDS",
    "NUCLEOTIDES",
    "SPLIT_NAMES",
    "TaskData",
    "Windows",
    "base_scores_from_tokens",
    "check_sequence_lengths",
    "find_split_files",
    "harmonise_splits",
    "infer_label_kind",
    "is_task_file_name",
    "kfold_indices",
    "load_task",
    "load_task_splits",
    "make_windows",
    "selection_metric",
    "split_off",
    "subsample",
    "task_file_columns",
    "task_from_columns",
    "task_values",
    "token_labels_from_bases",
]
