# Copyright 2026 The nucleotide_transformer_hf authors. Licensed under the Apache License, Version 2.0.
"""Matthews correlation coefficient as a local `evaluate` metric (numpy only, no network).

Load it by path: `evaluate.load(".../nucleotide_transformer_hf/metrics/mcc.py")`, or through
`nucleotide_transformer_hf.metrics.load_metric("mcc")`.
"""

import datasets
import evaluate
import numpy as np

_DESCRIPTION = """\
Matthews correlation coefficient (MCC), the metric of the Nucleotide Transformer benchmark. For K classes it is
Gorodkin's R_K statistic on the confusion matrix C (n samples, c correct, t_k true and p_k predicted counts of class k):

    MCC = (c * n - sum_k t_k p_k) / sqrt((n^2 - sum_k p_k^2) * (n^2 - sum_k t_k^2))

which is the usual binary MCC for two classes. It is 0 when the denominator is 0 (one class only, or a constant
prediction). The "multilabel" configuration takes multi-hot rows and returns the mean of the per-label binary MCCs.
"""

_KWARGS_DESCRIPTION = """\
Args:
    predictions: predicted class ids (default) or multi-hot rows ("multilabel").
    references: true class ids (default) or multi-hot rows ("multilabel").
    sample_weight: optional weight per sample (default configuration only).
Returns:
    mcc: float in [-1, 1].
Example:
    >>> mcc = evaluate.load("nucleotide_transformer_hf/metrics/mcc.py")
    >>> mcc.compute(predictions=[0, 1, 1, 0], references=[0, 1, 0, 0])["mcc"]
    0.5773502691896258
"""

_CITATION = """\
@article{gorodkin2004comparing,
  title={Comparing two K-category assignments by a K-category correlation coefficient},
  author={Gorodkin, Jan},
  journal={Computational Biology and Chemistry},
  volume={28}, number={5-6}, pages={367--374}, year={2004}
}
"""


def multiclass_mcc(predictions: np.ndarray, references: np.ndarray, sample_weight: np.ndarray | None = None) -> float:
    """MCC (R_K) of integer predictions against integer references."""
    predictions = np.asarray(predictions).ravel()
    references = np.asarray(references).ravel()
    if predictions.shape != references.shape:
        raise ValueError(f"predictions ({predictions.size}) and references ({references.size}) differ in length.")
    weights = np.ones(predictions.size) if sample_weight is None else np.asarray(sample_weight, dtype=float).ravel()
    classes, encoded = np.unique(np.concatenate([references, predictions]), return_inverse=True)
    true_ids, predicted_ids = encoded[: references.size], encoded[references.size :]
    confusion = np.zeros((classes.size, classes.size))
    np.add.at(confusion, (true_ids, predicted_ids), weights)
    true_counts, predicted_counts = confusion.sum(1), confusion.sum(0)
    correct, total = np.trace(confusion), confusion.sum()
    covariance = correct * total - true_counts @ predicted_counts
    denominator = np.sqrt((total**2 - predicted_counts @ predicted_counts) * (total**2 - true_counts @ true_counts))
    return float(covariance / denominator) if denominator > 0 else 0.0


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class Mcc(evaluate.Metric):
    """Matthews correlation coefficient (binary, multi-class; mean over labels for multi-label)."""

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

    def _compute(self, predictions, references, sample_weight=None):
        if self.config_name == "multilabel":
            predictions, references = np.asarray(predictions), np.asarray(references)
            if predictions.ndim != 2 or predictions.shape != references.shape:
                raise ValueError("multilabel MCC needs predictions and references of the same (samples, labels) shape.")
            per_label = [multiclass_mcc(predictions[:, j], references[:, j]) for j in range(references.shape[1])]
            return {"mcc": float(np.mean(per_label))}
        return {"mcc": multiclass_mcc(predictions, references, sample_weight)}
