"""The 6-mer baseline: logistic regression (ridge for regression) on overlapping k-mer frequencies.

No model and no torch: sequences become sparse counts of their overlapping k-mers (`kmer_counts`), divided by each
sequence's k-mer total and scaled to unit variance, into scikit-learn. The task benchmark reports it beside the
fine-tuned and probed models (`task_benchmark`, method `kmer`).
"""

from collections.abc import Sequence

import numpy as np

from .dna import KMER_SIZE
from .metrics import task_metrics
from .tasks import TaskData, selection_metric

KMER_BASELINE_C = (0.01, 0.1, 1.0)
"""Inverse regularisation strengths tried by `kmer_baseline` when a validation split is given."""

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
        metric, greater = selection_metric(train.kind)
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


__all__ = ["KMER_BASELINE_C", "kmer_baseline", "kmer_counts"]
