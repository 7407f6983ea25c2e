"""Probing: per-layer mean-pooled embeddings into scikit-learn probes, on a task whose label is a real property of the
sequence (GC content above one half)."""

import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import matthews_corrcoef
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from nucleotide_transformer_hf import (
    NucleotideTransformerConfig,
    NucleotideTransformerForMaskedLM,
    NucleotideTransformerTokenizerFast,
)
from nucleotide_transformer_hf.probing import layer_embeddings, probe_task
from nucleotide_transformer_hf.tasks import TaskData

TINY = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37)


def _gc_task(n: int, seed: int) -> TaskData:
    """Random sequences of varying GC richness (30-150 bp); label 1 when more than half the bases are G or C."""
    rng = np.random.default_rng(seed)
    sequences, labels = [], []
    for _ in range(n):
        gc = rng.uniform(0.2, 0.8)
        probabilities = [(1 - gc) / 2, gc / 2, gc / 2, (1 - gc) / 2]  # A, C, G, T
        sequence = "".join(rng.choice(list("ACGT"), int(rng.integers(30, 151)), p=probabilities))
        sequences.append(sequence)
        labels.append(int((sequence.count("G") + sequence.count("C")) / len(sequence) > 0.5))
    return TaskData(sequences, np.array(labels), "binary", 2)


@pytest.fixture(scope="module")
def model_and_tokenizer():
    """A tiny random model whose token embeddings carry each token's GC fraction in one coordinate (so layer 0 holds
    the signal, mixed by random blocks afterwards), and whose final LayerNorm outputs its bias only (the last hidden
    state is uninformative)."""
    torch.manual_seed(0)
    tokenizer = NucleotideTransformerTokenizerFast(vocab_layout="v2")
    model = NucleotideTransformerForMaskedLM(NucleotideTransformerConfig.from_preset("v2", **TINY)).eval()
    with torch.no_grad():
        embeddings = model.esm.embeddings.word_embeddings.weight
        for token, index in tokenizer.get_vocab().items():
            if set(token) <= set("ACGT"):
                embeddings[index, 0] = 0.5 * sum(base in "GC" for base in token) / len(token)
        model.esm.encoder.emb_layer_norm_after.weight.zero_()
        model.esm.encoder.emb_layer_norm_after.bias.normal_()
    return model, tokenizer


def test_layer_embeddings_are_means_over_real_tokens(model_and_tokenizer):
    model, tokenizer = model_and_tokenizer
    sequences = ["ACGTGTACGTTTGCAAC", "GGCN", "ATATATATATATATATATATATATATATAT"]
    features = layer_embeddings(model, tokenizer, sequences, batch_size=2)
    assert sorted(features) == [0, 1, 2]
    for index, sequence in enumerate(sequences):  # one at a time: no padding; drop <cls> by hand
        encoded = tokenizer(sequence, return_tensors="pt")
        with torch.no_grad():
            hidden_states = model.esm(**encoded, output_hidden_states=True).hidden_states
        for layer in range(3):
            expected = hidden_states[layer][0, 1:].mean(0).numpy()
            np.testing.assert_allclose(features[layer][index], expected, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match=r"Layers \[3\] do not exist"):
        layer_embeddings(model, tokenizer, sequences, layers=[0, 3])


def test_probing_picks_an_informative_layer_and_equals_sklearn(model_and_tokenizer):
    model, tokenizer = model_and_tokenizer
    train, validation, test = _gc_task(160, 1), _gc_task(60, 2), _gc_task(100, 3)
    result = probe_task(model, tokenizer, train, test, validation, seed=0)
    assert [(row["layer"], row["probe"]) for row in result.rows] == [
        (layer, probe) for layer in range(3) for probe in ("logistic", "mlp")
    ]
    assert result.best["layer"] != 2  # the uninformative last layer is not chosen
    assert result.best["test"]["mcc"] > 0.7
    assert all(abs(row["test"]["mcc"]) < 0.3 for row in result.rows if row["layer"] == 2)
    assert "**best**" in result.table()

    # The same numbers from scikit-learn directly, on features computed here.
    features = {
        name: layer_embeddings(model, tokenizer, task.sequences) for name, task in (("train", train), ("test", test))
    }
    for row in result.rows:
        if row["probe"] != "logistic":
            continue
        layer = row["layer"]
        probe = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=2000, random_state=0))
        probe.fit(features["train"][layer], train.labels)
        expected = matthews_corrcoef(test.labels, probe.predict(features["test"][layer]))
        assert row["test"]["mcc"] == pytest.approx(expected, abs=1e-12)


def test_probing_holds_out_validation_from_train_when_none_is_given(model_and_tokenizer):
    model, tokenizer = model_and_tokenizer
    result = probe_task(model, tokenizer, _gc_task(100, 4), _gc_task(40, 5), layers=[0], probes=["logistic"])
    assert len(result.rows) == 1 and result.best is result.rows[0]
    with pytest.raises(ValueError, match="single-label classification, not 'regression'"):
        probe_task(model, tokenizer, TaskData(["ACGT"], np.array([0.5]), "regression", 1), _gc_task(4, 6))
