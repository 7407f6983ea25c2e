"""Local `evaluate` metric modules (MCC, F1, accuracy, AUROC), loaded by path with no network.

Each `<name>.py` here is an ordinary `evaluate` metric script: `evaluate.load(str(metric_path("mcc")))` works like
`evaluate.load("matthews_correlation")` but never contacts the Hub. `task_metrics` computes the set used by
fine-tuning, probing and the task benchmark from logits or scores.
"""

import functools
import warnings
from pathlib import Path

import evaluate
import numpy as np

METRIC_NAMES = ("mcc", "f1", "accuracy", "auroc")
"""The metric modules shipped in this folder."""

_FOLDER = Path(__file__).resolve().parent


def metric_path(name: str) -> Path:
    """Path of the metric script `name` (one of `METRIC_NAMES`)."""
    if name not in METRIC_NAMES:
        raise ValueError(f"Unknown metric {name!r}; the local metrics are {', '.join(METRIC_NAMES)}.")
    return _FOLDER / f"{name}.py"


@functools.cache
def load_metric(name: str, config_name: str | None = None) -> evaluate.EvaluationModule:
    """`evaluate.load` of a local metric script by path, in memory (no cache files, no network)."""
    return evaluate.load(str(metric_path(name)), config_name, keep_in_memory=True)


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=-1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=-1, keepdims=True)


def task_metrics(scores: np.ndarray, references: np.ndarray, kind: str) -> dict[str, float]:
    """MCC, F1, accuracy and AUROC (classification) or MSE and Pearson r (regression), from model outputs.

    Args:
        scores: logits `(n, classes)` for "binary"/"multiclass"/"token" (already flattened to labelled positions),
            logits `(n, labels)` for "multilabel", predictions `(n,)` or `(n, targets)` for "regression". Class
            probabilities are accepted too (argmax and AUROC do not change under softmax).
        references: class ids `(n,)`, multi-hot `(n, labels)` or targets.
        kind: "binary", "multiclass", "multilabel", "regression" or "token".

    Returns:
        `{"mcc", "f1", "accuracy", "auroc"}` for classification (F1: binary for two classes, macro otherwise; AUROC
        is NaN when a class is absent from the references), `{"mse", "pearson"}` for regression.
    """
    scores, references = np.asarray(scores, dtype=float), np.asarray(references)
    if kind == "regression":
        predictions = scores.reshape(references.shape)
        mse = float(np.mean((predictions - references) ** 2))
        with np.errstate(invalid="ignore", divide="ignore"):
            pearson = float(np.corrcoef(predictions.ravel(), references.ravel())[0, 1])
        return {"mse": mse, "pearson": pearson}
    if kind == "multilabel":
        predictions = (scores > 0).astype(int) if scores.min() < 0 or scores.max() > 1 else (scores >= 0.5).astype(int)
        references = references.astype(int)
        result = {
            "mcc": load_metric("mcc", "multilabel").compute(predictions=predictions, references=references)["mcc"],
            "f1": load_metric("f1", "multilabel").compute(
                predictions=predictions, references=references, average="macro"
            )["f1"],
            "accuracy": load_metric("accuracy", "multilabel").compute(predictions=predictions, references=references)[
                "accuracy"
            ],
        }
        try:
            result["auroc"] = load_metric("auroc", "multilabel").compute(
                prediction_scores=scores, references=references
            )["roc_auc"]
        except ValueError:
            result["auroc"] = float("nan")
        return result
    if kind not in ("binary", "multiclass", "token"):
        raise ValueError(f"Unknown label kind {kind!r}.")
    predictions = scores.argmax(-1)
    references = references.astype(int)
    num_classes = scores.shape[-1]
    result = {
        "mcc": load_metric("mcc").compute(predictions=predictions, references=references)["mcc"],
        "f1": load_metric("f1").compute(
            predictions=predictions, references=references, average="binary" if num_classes == 2 else "macro"
        )["f1"],
        "accuracy": load_metric("accuracy").compute(predictions=predictions, references=references)["accuracy"],
    }
    try:
        if num_classes == 2:
            result["auroc"] = load_metric("auroc").compute(
                prediction_scores=scores[:, 1] - scores[:, 0], references=references
            )["roc_auc"]
        else:
            result["auroc"] = load_metric("auroc", "multiclass").compute(
                prediction_scores=_softmax(scores), references=references
            )["roc_auc"]
    except ValueError as error:
        warnings.warn(f"AUROC not computed: {error}", stacklevel=2)
        result["auroc"] = float("nan")
    return result


__all__ = ["METRIC_NAMES", "load_metric", "metric_path", "task_metrics"]
