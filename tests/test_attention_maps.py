"""Attention-map enrichment: hook aggregation equals brute force from output_attentions, batch independence, a
planted head, the FASTA+GFF driver and its errors (docs/analysis.md)."""

import copy
import gzip
import json

import numpy as np
import pytest
import torch
from helpers import random_dna

from nucleotide_transformer_hf import NucleotideTransformerConfig, NucleotideTransformerForMaskedLM
from nucleotide_transformer_hf.attention_maps import (
    LabelledWindow,
    annotated_windows,
    attention_counts,
    attention_enrichment,
    attention_map,
    background_counts,
)
from nucleotide_transformer_hf.errors import InputError
from nucleotide_transformer_hf.tasks import IGNORE_INDEX

THRESHOLD = 0.12


@pytest.fixture(scope="module")
def sharp(tiny):
    """The tiny model with larger query weights (sharper attention, so some weights pass the threshold), eager."""
    model = copy.deepcopy(tiny[0])
    with torch.no_grad():
        for layer in model.esm.encoder.layer:
            layer.attention.self.query.weight.mul_(4)
    model.set_attn_implementation("eager")
    return model, tiny[1]


def _windows(tokenizer, lengths, seed=0):
    rng = np.random.default_rng(seed)
    windows = []
    for i, length in enumerate(lengths):
        ids = np.asarray(tokenizer(random_dna(length, seed + i), add_special_tokens=False)["input_ids"])
        labels = rng.integers(0, 3, len(ids))
        labels[rng.random(len(ids)) < 0.15] = IGNORE_INDEX
        windows.append(LabelledWindow(ids, labels))
    return windows


def _brute_force(model, windows, n_elements, threshold):
    """Counts from output_attentions=True, one unpadded window at a time."""
    layers, heads = model.config.num_hidden_layers, model.config.num_attention_heads
    counts = np.zeros((layers, heads, n_elements), dtype=np.int64)
    with torch.no_grad():
        for w in windows:
            ids = torch.tensor([[3, *w.ids.tolist()]])
            attentions = model.esm(input_ids=ids, output_attentions=True).attentions
            for layer, maps in enumerate(attentions):
                high = (maps[0] > threshold).numpy()  # (heads, T, T)
                for j, label in enumerate(w.labels, start=1):
                    if label != IGNORE_INDEX:
                        counts[layer, :, label] += high[:, :, j].sum(axis=1)
    return counts


def test_hook_probabilities_equal_eager_attentions(sharp):
    from nucleotide_transformer_hf.attention_maps import _self_attention_modules, head_probabilities

    model, tokenizer = sharp
    ids = torch.tensor([[3, *tokenizer(random_dna(90, 5), add_special_tokens=False)["input_ids"]]])
    seen = {}

    def hook(module, args, kwargs, output):
        lengths = torch.tensor([ids.shape[1]])
        seen[len(seen)] = torch.stack(
            [head_probabilities(module, args[0], kwargs.get("position_embeddings"), lengths, h) for h in range(4)], 1
        )

    handles = [m.register_forward_hook(hook, with_kwargs=True) for m in _self_attention_modules(model)]
    try:
        with torch.no_grad():
            reference = model.esm(input_ids=ids, output_attentions=True).attentions
    finally:
        for handle in handles:
            handle.remove()
    for layer, maps in enumerate(reference):
        torch.testing.assert_close(seen[layer], maps, atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("lengths", [[60, 60, 60], [30, 97, 61, 12, 200]], ids=["unpadded", "padded"])
def test_counts_equal_brute_force_and_do_not_depend_on_batch_size(sharp, lengths):
    model, tokenizer = sharp
    windows = _windows(tokenizer, lengths)
    expected = _brute_force(model, windows, 3, THRESHOLD)
    assert expected.sum() > 0
    for batch_size in (1, 2, 8):
        got = attention_counts(model, windows, 3, threshold=THRESHOLD, batch_size=batch_size)
        np.testing.assert_array_equal(got, expected)
    frame = attention_enrichment(model, windows, ["a", "b", "c"], threshold=THRESHOLD, batch_size=3)
    background = background_counts(windows, 3)
    row = frame[(frame["layer"] == 2) & (frame["head"] == 1) & (frame["element"] == "b")].iloc[0]
    assert row.attention_count == expected[1, 1, 1]
    assert row.attention_total == expected[1, 1].sum()
    assert row.attention_share == pytest.approx(expected[1, 1, 1] / expected[1, 1].sum())
    assert row.background_share == pytest.approx(background[1] / background.sum())
    assert len(frame) == 2 * 4 * 3 and frame.q_value.between(0, 1).all()


def test_sdpa_model_gives_the_same_counts(tiny, sharp):
    model = copy.deepcopy(sharp[0])
    model.set_attn_implementation("sdpa")
    windows = _windows(sharp[1], [40, 77])
    np.testing.assert_array_equal(
        attention_counts(model, windows, 3, threshold=THRESHOLD),
        attention_counts(sharp[0], windows, 3, threshold=THRESHOLD),
    )


def test_planted_head_is_enriched_for_its_element_only():
    """Layer 1 head 2 attends to the token 'AAAAAA' (element 1, 'polyA'); every other head is uniform."""
    from nucleotide_transformer_hf import NucleotideTransformerTokenizerFast

    tokenizer = NucleotideTransformerTokenizerFast(vocab_layout="v2", model_max_length=64)
    config = NucleotideTransformerConfig.from_preset(
        "v2",
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=37,
        max_position_embeddings=66,
    )
    model = NucleotideTransformerForMaskedLM(config).eval()
    target = tokenizer.convert_tokens_to_ids("AAAAAA")
    d = 8
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.zero_()
        for module in model.modules():
            if isinstance(module, torch.nn.LayerNorm):
                module.weight.fill_(1.0)
        # Embedding: dimension 0 marks the target token, dimension 1 is 1 for every token.
        embedding = model.esm.embeddings.word_embeddings.weight
        embedding[:, 1] = 1.0
        embedding[target, 0] = 6.0
        attention = model.esm.encoder.layer[0].attention.self
        head = slice(2 * d, 3 * d)
        # Query constant, key large on the marked dimension, both on the slowest-rotating RoPE pair (d/2 - 1,
        # d - 1): the score is ~1600 * 6 * cos(tiny angle) for target keys, ~0 for the others.
        attention.query.bias[head] = 0.0
        attention.query.bias[2 * d + d // 2 - 1] = 40.0  # slowest-rotating dimension of the first half
        attention.key.weight[2 * d + d // 2 - 1, 0] = 40.0
    rng = np.random.default_rng(3)
    windows = []
    for _ in range(6):
        tokens = [rng.choice(["CCGTAC", "GGTCAT", "TTCAGC", "ACGTCA"]) for _ in range(40)]
        positions = rng.choice(40, 3, replace=False)
        for p in positions:
            tokens[p] = "AAAAAA"
        ids = np.asarray(tokenizer("".join(tokens), add_special_tokens=False)["input_ids"])
        labels = (ids == target).astype(np.int64)
        windows.append(LabelledWindow(ids, labels))
    frame = attention_enrichment(model, windows, ["other", "polyA"], threshold=0.3, batch_size=4)
    enriched = frame[frame.enriched]
    assert set(zip(enriched["layer"], enriched["head"], enriched["element"])) == {(1, 2, "polyA")}


def _write(path, text):
    with gzip.open(path, "wt") as handle:
        handle.write(text)
    return path


def test_attention_map_writes_table_heatmaps_and_summary(sharp, tmp_path):
    model, tokenizer = sharp
    sequence = random_dna(700, 9)
    fasta = _write(tmp_path / "g.fa.gz", f">chrT\n{sequence}\n")
    gff = _write(
        tmp_path / "g.gff.gz",
        "##gff-version 3\nchrT\tt\tgene\t101\t400\t.\t+\t.\tID=g1\nchrT\tt\tCDS\t101\t400\t.\t+\t0\tParent=g1\n"
        "chrT\tt\trepeat_region\t500\t560\t.\t+\t.\tID=r1\n",
    )
    out = tmp_path / "out"
    summary = attention_map(
        model, tokenizer, fasta, gff, out, window_bp=300, stride_bp=200, threshold=THRESHOLD, progress=False
    )
    assert summary["windows"] == 3 and summary["elements"] == ["CDS", "gene", "repeat_region", "promoter", "intergenic"]
    import pandas as pd

    table = pd.read_csv(out / "attention_enrichment.tsv", sep="\t")
    assert len(table) == 2 * 4 * 5
    assert {p.name for p in out.glob("*.png")} == {f"heatmap_{e}.png" for e in summary["elements"]}
    assert json.loads((out / "summary.json").read_text())["windows"] == 3
    assert not [p for p in out.iterdir() if p.name.startswith(".")]


def test_bad_inputs_raise_input_error_and_write_nothing(sharp, tmp_path):
    model, tokenizer = sharp
    fasta = _write(tmp_path / "g.fa.gz", f">chrT\n{random_dna(500, 1)}\n")
    empty_fasta = _write(tmp_path / "e.fa.gz", "")
    good = _write(tmp_path / "good.gff.gz", "##gff-version 3\nchrT\tt\tgene\t10\t40\t.\t+\t.\tID=g\n")
    cases = {
        "other.gff.gz": (
            "##gff-version 3\nchrT\tt\tgene\t10\t40\t.\t+\t.\tID=g\nchrX\tt\tgene\t1\t9\t.\t+\t.\tID=h\n",
            "line 3",
        ),
        "past.gff.gz": ("##gff-version 3\nchrT\tt\tgene\t10\t501\t.\t+\t.\tID=g\n", "line 2"),
        "empty.gff.gz": ("##gff-version 3\n#nothing\n", "line 2"),
        "bad.gff.gz": ("##gff-version 3\nchrT\tt\tgene\tten\t40\t.\t+\t.\tID=g\n", "line 2"),
    }
    out = tmp_path / "out"
    for name, (text, where) in cases.items():
        path = _write(tmp_path / name, text)
        with pytest.raises(InputError, match=rf"{name}, {where}"):
            attention_map(model, tokenizer, fasta, path, out, progress=False)
    with pytest.raises(InputError, match=r"e\.fa\.gz, line 1: no FASTA record"):
        attention_map(model, tokenizer, empty_fasta, good, out, progress=False)
    with pytest.raises(InputError, match="larger than the model's context"):
        attention_map(model, tokenizer, fasta, good, out, window_bp=400, progress=False)
    assert not out.exists()


def test_default_window_is_the_context(sharp, tmp_path):
    model, tokenizer = sharp
    fasta = _write(tmp_path / "g.fa.gz", f">chrT\n{random_dna(1000, 2)}\n")
    gff = _write(tmp_path / "g.gff.gz", "##gff-version 3\nchrT\tt\tgene\t10\t40\t.\t-\t.\tID=g\n")
    windows, elements = annotated_windows(tokenizer, fasta, gff, context_tokens=63)
    assert [len(w.ids) for w in windows] == [63, 63, 63]  # 378 bp windows, the last flush with the end
    assert elements == ["gene", "promoter", "intergenic"]
