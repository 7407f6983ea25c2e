# Copyright 2026 The nucleotide_transformer_hf authors. Licensed under the Apache License, Version 2.0.
"""F1 score as a local `evaluate` metric (numpy only, no network)."""

import datasets
import evaluate
import numpy as np

_DESCRIPTION = """\
F1 = 2 TP / (2 TP + FP + FN), per class and averaged:

* "binary": F1 of the class `pos_label` (default 1);
* "macro": unweighted mean over the classes seen in references or predictions;
* "micro": F1 of the pooled counts (equals accuracy for single-label data);
* "weighted": mean over classes weighted by their reference counts.

A class with no true and no predicted samples has F1 0 (scikit-learn's `zero_division=0`). The "multilabel"
configuration takes multi-hot rows; each column is a class ("binary" is not allowed there).
"""

_KWARGS_DESCRIPTION = """\
Args:
    predictions: predicted class ids (default) or multi-hot rows ("multilabel").
    references: true class ids (default) or multi-hot rows ("multilabel").
    average: "binary" (default for single-label), "macro", "micro" or "weighted".
    pos_label: the positive class for average="binary".
Returns:
    f1: float in [0, 1].
"""

_CITATION = ""


def _counts(predictions: np.ndarray, references: np.ndarray, multilabel: bool):
    """True-positive, predicted and true counts per class, and the class list."""
    if multilabel:
        predictions, references = predictions.astype(bool), references.astype(bool)
        classes = np.arange(references.shape[1])
        return (predictions & references).sum(0), predictions.sum(0), references.sum(0), classes
    classes = np.unique(np.concatenate([references, predictions]))
    tp = np.array([np.sum((predictions == c) & (references == c)) for c in classes])
    predicted = np.array([np.sum(predictions == c) for c in classes])
    true = np.array([np.sum(references == c) for c in classes])
    return tp, predicted, true, classes


def _f1(tp, predicted, true) -> np.ndarray:
    denominator = predicted + true
    return np.divide(2.0 * tp, denominator, out=np.zeros(np.shape(tp), dtype=float), where=denominator > 0)


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class F1(evaluate.Metric):
    """F1 score: binary, macro, micro or weighted; single- or multi-label."""

    def _info(self):
        if self.config_name == "multilabel":
            features = datasets.Features(
                {
                    "predictions": datasets.Sequence(datasets.Value("int64")),
                    "references": datasets.Sequence(datasets.Value("int64")),
                }
            )
        else:
            features = datasets.Features(
                {"predictions": datasets.Value("int64"), "references": datasets.Value("int64")}
            )
        return evaluate.MetricInfo(
            description=_DESCRIPTION, citation=_CITATION, inputs_description=_KWARGS_DESCRIPTION, features=features
        )

    def _compute(self, predictions, references, average=None, pos_label=1):
        multilabel = self.config_name == "multilabel"
        predictions, references = np.asarray(predictions), np.asarray(references)
        if predictions.shape != references.shape:
            raise ValueError(f"predictions {predictions.shape} and references {references.shape} differ in shape.")
        average = average or ("micro" if multilabel else "binary")
        if average == "binary":
            if multilabel:
                raise ValueError('average="binary" is not defined for multi-label input; use micro, macro or weighted.')
            seen = set(np.unique(np.concatenate([references, predictions])).tolist())
            if len(seen - {0, 1, pos_label}) > 0:
                raise ValueError(f'average="binary" needs two classes; found {sorted(seen)}. Use average="macro".')
            tp = np.sum((predictions == pos_label) & (references == pos_label))
            return {"f1": float(_f1(tp, np.sum(predictions == pos_label), np.sum(references == pos_label)))}
        tp, predicted, true, _ = _counts(predictions, references, multilabel)
        if average == "micro":
            return {"f1": float(_f1(tp.sum(), predicted.sum(), true.sum()))}
        per_class = _f1(tp, predicted, true)
        if average == "macro":
            return {"f1": float(per_class.mean())}
        if average == "weighted":
            return {"f1": float(per_class @ true / true.sum()) if true.sum() else 0.0}
        raise ValueError(f"Unknown average {average!r}; choose binary, macro, micro or weighted.")
