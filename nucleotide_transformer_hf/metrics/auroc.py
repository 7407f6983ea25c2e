# Copyright 2026 The nucleotide_transformer_hf authors. Licensed under the Apache License, Version 2.0.
"""Area under the ROC curve as a local `evaluate` metric (numpy only, no network)."""

import datasets
import evaluate
import numpy as np

_DESCRIPTION = """\
Area under the receiver operating characteristic curve, computed as the Mann-Whitney statistic with mid-ranks for
tied scores (identical to the trapezoidal area under the ROC curve):

    AUROC = (sum of the ranks of the positives - n_pos (n_pos + 1) / 2) / (n_pos * n_neg)

Configurations: default (binary: one score per sample, the score of class 1); "multiclass" (one row of class scores
per sample, one-vs-rest AUROC per class, macro-averaged); "multilabel" (multi-hot references and one score per label,
macro-averaged over labels). Every class or label needs both positive and negative samples.
"""

_KWARGS_DESCRIPTION = """\
Args:
    prediction_scores: scores (probabilities or logits for binary; rows of class probabilities for multi-class,
        as scikit-learn's ovr needs; per-label scores for multi-label).
    references: true class ids (binary, multi-class) or multi-hot rows (multi-label).
Returns:
    roc_auc: float in [0, 1].
"""

_CITATION = ""


def _midranks(values: np.ndarray) -> np.ndarray:
    order = np.argsort(values, kind="mergesort")
    sorted_values = values[order]
    # start of each run of equal values, then the mean rank (1-based) of the run
    starts = np.flatnonzero(np.r_[True, sorted_values[1:] != sorted_values[:-1]])
    ends = np.r_[starts[1:], values.size]
    run_ranks = (starts + 1 + ends) / 2.0
    ranks = np.empty(values.size)
    ranks[order] = np.repeat(run_ranks, ends - starts)
    return ranks


def binary_auroc(scores: np.ndarray, positives: np.ndarray) -> float:
    """AUROC of `scores` for the boolean `positives`."""
    scores, positives = np.asarray(scores, dtype=float).ravel(), np.asarray(positives).ravel().astype(bool)
    n_pos, n_neg = int(positives.sum()), int((~positives).sum())
    if n_pos == 0 or n_neg == 0:
        raise ValueError("AUROC is undefined when only one class is present in the references.")
    ranks = _midranks(scores)
    return float((ranks[positives].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class Auroc(evaluate.Metric):
    """Area under the ROC curve: binary, multi-class (one-vs-rest, macro) or multi-label (macro)."""

    def _info(self):
        if self.config_name == "multiclass":
            features = {
                "prediction_scores": datasets.Sequence(datasets.Value("float64")),
                "references": datasets.Value("int64"),
            }
        elif self.config_name == "multilabel":
            features = {
                "prediction_scores": datasets.Sequence(datasets.Value("float64")),
                "references": datasets.Sequence(datasets.Value("int64")),
            }
        else:
            features = {"prediction_scores": datasets.Value("float64"), "references": datasets.Value("int64")}
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(features),
        )

    def _compute(self, prediction_scores, references):
        scores, references = np.asarray(prediction_scores, dtype=float), np.asarray(references)
        if self.config_name == "multiclass":
            if scores.ndim != 2 or scores.shape[0] != references.size:
                raise ValueError("multiclass AUROC needs one row of class scores per reference.")
            per_class = [binary_auroc(scores[:, k], references == k) for k in range(scores.shape[1])]
            return {"roc_auc": float(np.mean(per_class))}
        if self.config_name == "multilabel":
            if scores.shape != references.shape:
                raise ValueError("multilabel AUROC needs scores and references of the same (samples, labels) shape.")
            return {
                "roc_auc": float(
                    np.mean([binary_auroc(scores[:, j], references[:, j]) for j in range(scores.shape[1])])
                )
            }
        labels = np.unique(references)
        if not set(labels.tolist()) <= {0, 1}:
            raise ValueError(f"binary AUROC needs references in {{0, 1}}; found {labels.tolist()}. Use 'multiclass'.")
        return {"roc_auc": binary_auroc(scores, references == 1)}
