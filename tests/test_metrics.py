"""The local `evaluate` metric modules (loaded by path, no network) against scikit-learn on random labels."""

import evaluate
import numpy as np
import pytest
from sklearn.metrics import accuracy_score, f1_score, matthews_corrcoef, roc_auc_score

from nucleotide_transformer_hf.metrics import METRIC_NAMES, load_metric, metric_path, task_metrics

SEEDS = [0, 1, 2]


def _labels(seed: int, classes: int, n: int = 300):
    rng = np.random.default_rng(seed)
    references = rng.integers(0, classes, n)
    # predictions agree with the references more often than chance, so the metrics are away from 0
    predictions = np.where(rng.random(n) < 0.4, references, rng.integers(0, classes, n))
    return references, predictions


def test_every_metric_is_an_evaluate_script_loaded_by_path(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_EVALUATE_OFFLINE", "1")
    for name in METRIC_NAMES:
        path = metric_path(name)
        assert path.is_file() and path.suffix == ".py"
        module = evaluate.load(str(path), keep_in_memory=True)
        assert isinstance(module, evaluate.EvaluationModule)
        assert module.name == name
    with pytest.raises(ValueError, match="Unknown metric 'pearson'"):
        metric_path("pearson")


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("classes", [2, 3, 5])
def test_mcc_equals_sklearn(seed, classes):
    references, predictions = _labels(seed, classes)
    ours = load_metric("mcc").compute(predictions=predictions, references=references)["mcc"]
    assert ours == pytest.approx(matthews_corrcoef(references, predictions), abs=1e-12)


def test_mcc_degenerate_cases_equal_sklearn():
    references = np.array([0, 1, 1, 0, 1])
    for predictions in (np.ones(5, dtype=int), np.zeros(5, dtype=int), references, 1 - references):
        ours = load_metric("mcc").compute(predictions=predictions, references=references)["mcc"]
        assert ours == pytest.approx(matthews_corrcoef(references, predictions), abs=1e-12)


@pytest.mark.parametrize("seed", SEEDS)
def test_mcc_with_sample_weights_and_multilabel(seed):
    rng = np.random.default_rng(seed)
    references, predictions = _labels(seed, 3)
    weights = rng.random(references.size)
    ours = load_metric("mcc").compute(predictions=predictions, references=references, sample_weight=weights)["mcc"]
    assert ours == pytest.approx(matthews_corrcoef(references, predictions, sample_weight=weights), abs=1e-12)
    multi_true = rng.integers(0, 2, (200, 4))
    multi_pred = np.where(rng.random((200, 4)) < 0.5, multi_true, rng.integers(0, 2, (200, 4)))
    ours = load_metric("mcc", "multilabel").compute(predictions=multi_pred, references=multi_true)["mcc"]
    expected = np.mean([matthews_corrcoef(multi_true[:, j], multi_pred[:, j]) for j in range(4)])
    assert ours == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("classes,average", [(2, "binary"), (2, "macro"), (4, "macro"), (4, "micro"), (4, "weighted")])
def test_f1_equals_sklearn(seed, classes, average):
    references, predictions = _labels(seed, classes)
    ours = load_metric("f1").compute(predictions=predictions, references=references, average=average)["f1"]
    assert ours == pytest.approx(f1_score(references, predictions, average=average, zero_division=0), abs=1e-12)


def test_f1_class_never_predicted_and_multilabel_equal_sklearn():
    references = np.array([0, 1, 2, 2, 1, 0, 2])
    predictions = np.array([0, 0, 2, 2, 0, 0, 2])  # class 1 never predicted: its F1 is 0
    ours = load_metric("f1").compute(predictions=predictions, references=references, average="macro")["f1"]
    assert ours == pytest.approx(f1_score(references, predictions, average="macro", zero_division=0))
    rng = np.random.default_rng(7)
    multi_true, multi_pred = rng.integers(0, 2, (100, 5)), rng.integers(0, 2, (100, 5))
    for average in ("micro", "macro", "weighted"):
        ours = load_metric("f1", "multilabel").compute(predictions=multi_pred, references=multi_true, average=average)
        assert ours["f1"] == pytest.approx(f1_score(multi_true, multi_pred, average=average, zero_division=0))
    with pytest.raises(ValueError, match="two classes"):
        load_metric("f1").compute(predictions=[0, 1, 2], references=[0, 2, 1], average="binary")


@pytest.mark.parametrize("seed", SEEDS)
def test_accuracy_equals_sklearn(seed):
    references, predictions = _labels(seed, 4)
    assert load_metric("accuracy").compute(predictions=predictions, references=references)["accuracy"] == pytest.approx(
        accuracy_score(references, predictions)
    )
    rng = np.random.default_rng(seed)
    multi_true = rng.integers(0, 2, (100, 2))
    multi_pred = np.where(rng.random((100, 2)) < 0.6, multi_true, 1 - multi_true)
    ours = load_metric("accuracy", "multilabel").compute(predictions=multi_pred, references=multi_true)["accuracy"]
    assert ours == pytest.approx(accuracy_score(multi_true, multi_pred))  # subset accuracy


@pytest.mark.parametrize("seed", SEEDS)
def test_auroc_equals_sklearn_binary_with_ties(seed):
    rng = np.random.default_rng(seed)
    references = rng.integers(0, 2, 400)
    scores = np.round(references * 0.3 + rng.random(400), 1)  # rounding makes many ties
    ours = load_metric("auroc").compute(prediction_scores=scores, references=references)["roc_auc"]
    assert ours == pytest.approx(roc_auc_score(references, scores), abs=1e-12)


@pytest.mark.parametrize("seed", SEEDS)
def test_auroc_equals_sklearn_multiclass_and_multilabel(seed):
    rng = np.random.default_rng(seed)
    references = rng.integers(0, 3, 300)
    logits = rng.normal(size=(300, 3)) + np.eye(3)[references]
    probabilities = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    ours = load_metric("auroc", "multiclass").compute(prediction_scores=probabilities, references=references)
    assert ours["roc_auc"] == pytest.approx(roc_auc_score(references, probabilities, multi_class="ovr"), abs=1e-12)
    multi_true = rng.integers(0, 2, (200, 3))
    multi_scores = rng.random((200, 3)) + 0.5 * multi_true
    ours = load_metric("auroc", "multilabel").compute(prediction_scores=multi_scores, references=multi_true)
    assert ours["roc_auc"] == pytest.approx(roc_auc_score(multi_true, multi_scores, average="macro"), abs=1e-12)
    with pytest.raises(ValueError, match="only one class"):
        load_metric("auroc").compute(prediction_scores=[0.1, 0.2], references=[1, 1])


def test_task_metrics_from_logits_match_sklearn():
    rng = np.random.default_rng(3)
    references = rng.integers(0, 2, 120)
    logits = rng.normal(size=(120, 2)) + 0.8 * np.eye(2)[references]
    result = task_metrics(logits, references, "binary")
    predictions = logits.argmax(1)
    assert result["mcc"] == pytest.approx(matthews_corrcoef(references, predictions))
    assert result["f1"] == pytest.approx(f1_score(references, predictions))
    assert result["accuracy"] == pytest.approx(accuracy_score(references, predictions))
    assert result["auroc"] == pytest.approx(roc_auc_score(references, logits[:, 1] - logits[:, 0]))
    three = rng.integers(0, 3, 90)
    result = task_metrics(rng.normal(size=(90, 3)) + np.eye(3)[three], three, "multiclass")
    assert set(result) == {"mcc", "f1", "accuracy", "auroc"}
    targets = rng.normal(size=50)
    regression = task_metrics(targets * 2 + 1, targets, "regression")
    assert regression["pearson"] == pytest.approx(1.0)
    assert regression["mse"] == pytest.approx(np.mean((targets + 1) ** 2))
