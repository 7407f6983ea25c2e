# Copyright 2026 The nucleotide_transformer_hf authors. Licensed under the Apache License, Version 2.0.
"""Accuracy as a local `evaluate` metric (numpy only, no network)."""

import datasets
import evaluate
import numpy as np

_DESCRIPTION = """\
Accuracy: the (weighted) fraction of samples whose prediction equals the reference. The "multilabel" configuration
takes multi-hot rows and counts a sample as correct only when every label matches (subset accuracy).
"""

_KWARGS_DESCRIPTION = """\
Args:
    predictions: predicted class ids (default) or multi-hot rows ("multilabel").
    references: true class ids (default) or multi-hot rows ("multilabel").
    normalize: if False, return the (weighted) number of correct samples instead of the fraction.
    sample_weight: optional weight per sample.
Returns:
    accuracy: float.
"""

_CITATION = ""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class Accuracy(evaluate.Metric):
    """Fraction of correct predictions (subset accuracy for multi-label)."""

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

    def _compute(self, predictions, references, normalize=True, sample_weight=None):
        predictions, references = np.asarray(predictions), np.asarray(references)
        if predictions.shape != references.shape:
            raise ValueError(f"predictions {predictions.shape} and references {references.shape} differ in shape.")
        correct = predictions == references
        if correct.ndim == 2:
            correct = correct.all(axis=1)
        weights = np.ones(correct.size) if sample_weight is None else np.asarray(sample_weight, dtype=float)
        total = float(weights @ correct)
        return {"accuracy": total / weights.sum() if normalize else total}
