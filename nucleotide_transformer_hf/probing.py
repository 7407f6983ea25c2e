"""Probing, as in the paper: frozen embeddings from each layer, mean-pooled over the real tokens, into a logistic
regression and a small MLP (scikit-learn); the best layer is chosen on a validation split and reported with its test
score.

The paper probed ten selected layers with hyper-parameter sweeps (docs/unverified.md#probing-layers-and-pooling; its pooling is UNVERIFIED). Here
every layer is probed by default (`layers=` picks some), with fixed, documented hyper-parameters, and the embeddings are
the mean over the sequence's tokens with `<cls>` and padding excluded, computed by the inference engine
(`inference.embed_sequences(..., pooling="mean", layers=[...])`).
"""

import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from .inference import layer_count, mean_embeddings
from .metrics import task_metrics
from .tasks import TaskData, split_off

PROBES = ("logistic", "mlp")
"""Probe classifiers: logistic regression and a one-hidden-layer MLP."""


def layer_embeddings(
    model: torch.nn.Module,
    tokenizer,
    sequences: Sequence[str],
    layers: Sequence[int] | None = None,
    batch_size: int = 32,
    progress: bool = False,
) -> dict[int, np.ndarray]:
    """Mean-pooled embeddings `(n, hidden)` of each layer, keyed by layer index: the mean over the sequence's real
    tokens, `<cls>` and padding excluded (`inference.embed_sequences` with `pooling="mean"`; a sequence longer than
    the context is windowed and the mean taken over its stitched tokens, by the engine's rule).

    Layer 0 is the embedding output, layer i the output of block i, and the last index (`num_hidden_layers`) the final
    block after the final LayerNorm — the `hidden_states` of `output_hidden_states=True`. The model is any of our
    models (the encoder, `model.base_model`, is run) and is left unchanged.

    Another model compared with NT (`model_zoo`: its own tokenizer, special tokens excluded from the mean) is run one
    whole sequence per pass, at most its context (`inference.mean_embeddings`); if its config gives no layer
    count, only its last hidden state exists, keyed `-1`.

    Raises:
        ValueError: naming a layer that does not exist.
    """
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    count = layer_count(base.config)
    if count is None:
        if layers is not None and list(layers) != [-1]:
            raise ValueError("This model's config gives no layer count: only its last hidden state (-1) can be probed.")
        layers = [-1]
    else:
        count += 1
        layers = list(range(count)) if layers is None else [int(layer) for layer in layers]
        wrong = [layer for layer in layers if not 0 <= layer < count]
        if wrong:
            raise ValueError(f"Layers {wrong} do not exist: this model has hidden states 0..{count - 1}.")
    if not sequences or not layers:
        hidden = base.config.hidden_size
        return {layer: np.zeros((len(sequences), hidden), dtype=np.float32) for layer in layers}
    pooled = mean_embeddings(model, tokenizer, list(sequences), layers, batch_size=batch_size, progress=progress)
    stacked = np.stack(pooled).astype(np.float32)  # (n, n_layers, hidden), layers in the order of `layers`
    return {layer: stacked[:, position] for position, layer in enumerate(layers)}


def make_probe(name: str, seed: int = 0):
    """A scikit-learn pipeline: standardised features into `LogisticRegression(C=1, max_iter=2000)` ("logistic") or
    `MLPClassifier(hidden_layer_sizes=(64,), alpha=0.01, max_iter=1000)` ("mlp")."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if name == "logistic":
        return make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=2000, random_state=seed))
    if name == "mlp":
        return make_pipeline(
            StandardScaler(),
            MLPClassifier(hidden_layer_sizes=(64,), alpha=1e-2, max_iter=1000, random_state=seed),
        )
    raise ValueError(f"Unknown probe {name!r}; choose one of {', '.join(PROBES)}.")


def _scores(probe, features: np.ndarray, num_labels: int) -> np.ndarray:
    # Log-probabilities over all classes, also those absent from the probe's training data.
    probabilities = np.zeros((features.shape[0], num_labels))
    probabilities[:, probe.classes_] = probe.predict_proba(features)
    return np.log(np.clip(probabilities, 1e-12, None))


@dataclass
class ProbeResult:
    """Per (layer, probe) rows with validation and test metrics, and the best row (highest validation MCC)."""

    rows: list[dict]
    best: dict
    seconds: float

    def table(self) -> str:
        """The rows as a Markdown table, the best one marked."""
        lines = ["| layer | probe | validation MCC | test MCC |", "|---:|---|---:|---:|"]
        for row in self.rows:
            mark = " **best**" if row is self.best else ""
            lines.append(
                f"| {row['layer']} | {row['probe']}{mark} | {row['validation']['mcc']:.3f} | {row['test']['mcc']:.3f} |"
            )
        return "\n".join(lines)


def probe_features(
    train_features: dict[int, np.ndarray],
    train_labels: np.ndarray,
    validation_features: dict[int, np.ndarray],
    validation_labels: np.ndarray,
    test_features: dict[int, np.ndarray],
    test_labels: np.ndarray,
    num_labels: int,
    probes: Sequence[str] = PROBES,
    seed: int = 0,
) -> ProbeResult:
    """Fits every probe on every layer's training features and scores it (`task_metrics`) on validation and test.
    The best (layer, probe) is the one with the highest validation MCC (the earliest layer on ties)."""
    start = time.perf_counter()
    kind = "binary" if num_labels == 2 else "multiclass"
    rows = []
    for layer in sorted(train_features):
        for name in probes:
            probe = make_probe(name, seed).fit(train_features[layer], train_labels)
            rows.append(
                {
                    "layer": layer,
                    "probe": name,
                    "validation": task_metrics(
                        _scores(probe, validation_features[layer], num_labels), validation_labels, kind
                    ),
                    "test": task_metrics(_scores(probe, test_features[layer], num_labels), test_labels, kind),
                }
            )
    best = max(rows, key=lambda row: row["validation"]["mcc"])
    return ProbeResult(rows, best, time.perf_counter() - start)


def probe_task(
    model: torch.nn.Module,
    tokenizer,
    train: TaskData,
    test: TaskData,
    validation: TaskData | None = None,
    layers: Sequence[int] | None = None,
    probes: Sequence[str] = PROBES,
    seed: int = 0,
    batch_size: int = 32,
    progress: bool = False,
) -> ProbeResult:
    """Probes every layer (or `layers`) of a frozen model on a single-label classification task.

    Without a `validation` split, 10% of `train` (stratified, `seed`) is held out to choose the layer, so that the
    test split never takes part in the choice. `seconds` covers embedding and fitting.
    """
    if train.kind not in ("binary", "multiclass"):
        raise ValueError(f"{train.source}: probing supports single-label classification, not {train.kind!r}.")
    start = time.perf_counter()
    if validation is None:
        train, validation = split_off(train, 0.1, seed)
    embedded = {
        split: layer_embeddings(model, tokenizer, task.sequences, layers, batch_size, progress)
        for split, task in (("train", train), ("validation", validation), ("test", test))
    }
    result = probe_features(
        embedded["train"],
        np.asarray(train.labels),
        embedded["validation"],
        np.asarray(validation.labels),
        embedded["test"],
        np.asarray(test.labels),
        max(train.num_labels, test.num_labels),
        probes,
        seed,
    )
    result.seconds = time.perf_counter() - start
    return result


__all__ = ["PROBES", "ProbeResult", "layer_embeddings", "make_probe", "probe_features", "probe_task"]
