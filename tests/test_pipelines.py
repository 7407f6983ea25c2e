"""The "dna-embedding" and "variant-effect" pipelines, checked against direct forward passes and numpy arithmetic."""

import gzip
from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import pipeline

from nucleotide_transformer_hf import (
    NucleotideTransformerConfig,
    NucleotideTransformerForMaskedLM,
    NucleotideTransformerTokenizerFast,
)
from nucleotide_transformer_hf.inference import (
    _token_budget_batches,
    embed_sequences,
    token_owners,
    token_window_starts,
)
from nucleotide_transformer_hf.pipelines import DnaEmbeddingPipeline, VariantEffectPipeline, register_pipelines
from nucleotide_transformer_hf.variant_scoring import (
    SCORE_NAMES,
    classify_alleles,
    plan_variant_scores,
    score_variants,
    variant_window,
)

CONTEXT = 64  # tokens incl. <cls>: windows of 63 tokens = 378 bp
GENOMES = Path(__file__).resolve().parent.parent / "data" / "genomes"


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    config = NucleotideTransformerConfig.from_preset(
        "v2",
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=37,
        max_position_embeddings=CONTEXT + 2,
    )
    model = NucleotideTransformerForMaskedLM(config).eval()
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():  # larger random weights than the init, so that every input base moves the outputs
        for parameter in model.parameters():
            parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.2)
    tokenizer = NucleotideTransformerTokenizerFast(vocab_layout="v2", model_max_length=CONTEXT)
    return model, tokenizer


@pytest.fixture(scope="module")
def embed(tiny):
    return pipeline("dna-embedding", model=tiny[0], tokenizer=tiny[1], device="cpu")


@pytest.fixture(scope="module")
def score(tiny):
    return pipeline("variant-effect", model=tiny[0], tokenizer=tiny[1], device="cpu")


def random_dna(length: int, seed: int) -> str:
    return "".join(np.random.default_rng(seed).choice(list("ACGT"), length))


def direct_hidden(model, tokenizer, sequence: str, layer: int = -1) -> np.ndarray:
    """Hidden states of one unpadded sequence straight from the model (row 0 is <cls>)."""
    ids = torch.tensor([tokenizer(sequence)["input_ids"]])
    with torch.no_grad():
        out = model.esm(input_ids=ids, output_hidden_states=True)
    return out.hidden_states[layer][0].double().numpy()


def test_tasks_are_registered_by_importing_the_package(tiny, embed, score):
    from transformers.pipelines import PIPELINE_REGISTRY

    assert isinstance(embed, DnaEmbeddingPipeline) and isinstance(score, VariantEffectPipeline)
    register_pipelines()  # a second registration changes nothing
    assert PIPELINE_REGISTRY.supported_tasks["dna-embedding"]["impl"] is DnaEmbeddingPipeline
    assert PIPELINE_REGISTRY.supported_tasks["variant-effect"]["impl"] is VariantEffectPipeline


def test_pipeline_loads_a_saved_checkpoint_by_path(tiny, tmp_path):
    model, tokenizer = tiny
    model.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    loaded = pipeline("dna-embedding", model=str(tmp_path), device="cpu")
    sequence = random_dna(40, 3)
    expected = direct_hidden(model, tokenizer, sequence)[1:].mean(0)
    np.testing.assert_allclose(loaded(sequence), expected, rtol=1e-5, atol=1e-5)


def test_mean_pooling_ignores_padding_and_matches_direct_mean(tiny, embed):
    model, tokenizer = tiny
    sequences = [random_dna(5, 1), random_dna(61, 2), "ACGTGTACNTGCACGGA", random_dna(300, 4), "nnACGTACGTtt"]
    batch = embed(sequences, pooling="mean", batch_size=5)
    for sequence, pooled in zip(sequences, batch):
        single = embed(sequence, pooling="mean")
        expected = direct_hidden(model, tokenizer, sequence)[1:].mean(0)  # tokens only: no <cls>, no padding
        assert pooled.shape == (32,) and pooled.dtype == np.float32
        np.testing.assert_allclose(pooled, single, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(pooled, expected, rtol=1e-5, atol=1e-5)


def test_cls_and_per_token_outputs_match_direct_hidden_states(tiny, embed):
    model, tokenizer = tiny
    sequences = [random_dna(100, 5), random_dna(13, 6)]
    cls = embed(sequences, pooling="cls")
    tokens = embed(sequences, pooling="token")
    for sequence, c, t in zip(sequences, cls, tokens):
        hidden = direct_hidden(model, tokenizer, sequence)
        np.testing.assert_allclose(c, hidden[0], rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(t, hidden[1:], rtol=1e-5, atol=1e-5)


def test_per_nucleotide_rows_repeat_each_token_over_its_bases(tiny, embed):
    model, tokenizer = tiny
    # Hand-worked: ACGTGT | A C N | TGCACG | G A -> token spans 6,1,1,1,6,1,1 (17 bases, N and tails one each).
    sequence = "ACGTGT\nACNTG CACGGA"  # whitespace is not a base
    rows = embed(sequence, pooling="nucleotide")
    assert rows.shape == (17, 32)
    hidden = direct_hidden(model, tokenizer, sequence.replace("\n", "").replace(" ", ""))[1:]
    expected = np.repeat(hidden, [6, 1, 1, 1, 6, 1, 1], axis=0)
    np.testing.assert_allclose(rows, expected, rtol=1e-5, atol=1e-5)
    for sequence in ("A", "NNNN", random_dna(61, 7) + "N" + random_dna(5, 8)):
        assert embed(sequence, pooling="nucleotide").shape == (len(sequence), 32)


def test_several_layers_stack_in_the_order_given(tiny, embed):
    model, tokenizer = tiny
    sequence = random_dna(50, 9)
    out = embed(sequence, pooling="token", layers=[2, 0, 1])
    assert out.shape == (3, 8 + 2, 32)  # 8 six-mers and 2 tail bases
    for row, layer in zip(out, (2, 0, 1)):
        np.testing.assert_allclose(row, direct_hidden(model, tokenizer, sequence, layer)[1:], rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="Layer 3 does not exist"):
        embed(sequence, layers=3)


def test_window_layout_and_ownership_hand_worked():
    assert token_window_starts(16, 10, 4) == [0, 6]
    assert token_window_starts(16, 8, 2) == [0, 6, 8]
    assert token_window_starts(10, 10, 4) == [0]
    # [0,10) and [6,16): token 7 is 2 from window 0's inner edge and 1 from window 1's -> window 0; token 8 the reverse.
    assert token_owners(16, [0, 6], 10).tolist() == [0] * 8 + [1] * 8
    # [0,8), [6,14), [8,16): sequence ends are not edges.
    assert token_owners(16, [0, 6, 8], 8).tolist() == [0] * 7 + [1] * 4 + [2] * 5
    # [0,10) and [7,17): token 8 is 1 from both inner edges -> tie -> the earlier window.
    assert token_owners(17, [0, 7], 10).tolist() == [0] * 9 + [1] * 8


def test_long_sequence_is_stitched_from_direct_window_passes(tiny, embed):
    model, tokenizer = tiny
    sequence = random_dna(96, 10)  # 16 six-mers
    rows = embed(sequence, pooling="token", max_window_tokens=10, window_overlap=4)
    ids = tokenizer(sequence, add_special_tokens=False)["input_ids"]
    cls = tokenizer.cls_token_id
    with torch.no_grad():
        first = model.esm(input_ids=torch.tensor([[cls] + ids[0:10]])).last_hidden_state[0].double().numpy()
        second = model.esm(input_ids=torch.tensor([[cls] + ids[6:16]])).last_hidden_state[0].double().numpy()
    expected = np.concatenate([first[1:9], second[3:11]])  # tokens 0-7 from window 0, 8-15 from window 1
    np.testing.assert_allclose(rows, expected, rtol=1e-5, atol=1e-5)
    pooled = embed(sequence, max_window_tokens=10, window_overlap=4)
    np.testing.assert_allclose(pooled, expected.mean(0), rtol=1e-5, atol=1e-5)
    nucleotides = embed(sequence, pooling="nucleotide", max_window_tokens=10, window_overlap=4)
    np.testing.assert_allclose(nucleotides, np.repeat(expected, 6, axis=0), rtol=1e-5, atol=1e-5)


def test_stitching_a_sequence_that_fits_one_window_is_the_single_window_result(tiny, embed):
    model, tokenizer = tiny
    sequence = random_dna(63 * 6, 11)  # exactly one full window
    hidden = direct_hidden(model, tokenizer, sequence)[1:]
    rows = embed(sequence, pooling="nucleotide")
    np.testing.assert_allclose(rows, np.repeat(hidden, 6, axis=0), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(embed(sequence), hidden.mean(0), rtol=1e-5, atol=1e-5)


def test_100_kb_of_real_dna_gives_one_row_per_base(embed):
    with gzip.open(GENOMES / "ecoli_K12_MG1655_NC_000913.3_1-120000.fa.gz", "rt") as handle:
        genome = "".join(line.strip() for line in handle if not line.startswith(">"))
    region = genome[:100_000]
    rows = embed(region, pooling="nucleotide", batch_size=64)
    assert rows.shape == (100_000, 32) and np.isfinite(rows).all()
    # Plain ACGT: 16,666 six-mers from base 0, then 4 single bases; the mean is over those 16,670 tokens.
    starts = np.r_[np.arange(0, 99_996, 6), 99_996, 99_997, 99_998, 99_999]
    assert (rows[starts[:-4] + 5] == rows[starts[:-4]]).all()  # each 6-mer's vector spans its 6 bases
    np.testing.assert_allclose(embed(region, batch_size=64), rows[starts].mean(0), rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match="Sequence 0 has 16670 tokens.*'cls' pooling"):
        embed(region, pooling="cls")


def test_bad_sequences_are_named_by_index(embed):
    with pytest.raises(ValueError, match="Invalid character 'X' at position 2 of sequence 1"):
        embed(["ACGT", "ACXGT"])
    with pytest.raises(ValueError, match="Sequence 1 is empty"):
        embed(["ACGT", " \n"])
    with pytest.raises(ValueError, match="Invalid character '<'"):
        embed(["ACGT<mask>ACGT"])  # special tokens are not DNA
    with pytest.raises(ValueError, match="pooling must be one of"):
        embed("ACGT", pooling="max")


# ---- variant effect -------------------------------------------------------------------------------------------


def direct_scores(model, tokenizer, ref_seq: str, alt_seq: str, position: int, layer: int = -1, pooling: str = "mean"):
    """Every score by hand: two unpadded passes, numpy arithmetic, one masked pass through the full MLM model."""

    def pooled(sequence):
        hidden = direct_hidden(model, tokenizer, sequence, layer)
        return hidden[0] if pooling == "cls" else hidden[1:].mean(0)

    r, a = pooled(ref_seq), pooled(alt_seq)
    token = position // 6  # plain ACGT: 6-mers from the left
    ids = tokenizer(ref_seq)["input_ids"]
    ids[token + 1] = tokenizer.mask_token_id
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([ids])).logits[0, token + 1]
    log_probs = torch.log_softmax(logits.double(), -1).numpy()
    kmer = slice(token * 6, token * 6 + 6)
    ref_id, alt_id = tokenizer.convert_tokens_to_ids([ref_seq[kmer], alt_seq[kmer]])
    return {
        "cosine_similarity": r @ a / np.linalg.norm(r) / np.linalg.norm(a),
        "l1_distance": np.abs(r - a).sum(),
        "l2_distance": np.sqrt(((r - a) ** 2).sum()),
        "dot_product": r @ a,
        "mlm_log_ratio": log_probs[alt_id] - log_probs[ref_id],
    }


def reverse_complement(sequence: str) -> str:
    return sequence[::-1].translate(str.maketrans("ACGT", "TGCA"))


def assert_scores(result, expected, rtol=1e-4):
    assert result["status"] == "scored", result
    for name, value in expected.items():
        assert result[name] == pytest.approx(value, rel=rtol, abs=1e-5), name


@pytest.mark.parametrize("layer,pooling", [(-1, "mean"), (1, "mean"), (-1, "cls")])
def test_each_score_equals_a_direct_numpy_computation(tiny, score, layer, pooling):
    model, tokenizer = tiny
    ref_seq = random_dna(120, 12)
    alt_base = "A" if ref_seq[50] != "A" else "G"
    alt_seq = ref_seq[:50] + alt_base + ref_seq[51:]
    variant = {"sequence": ref_seq, "position": 50, "ref": ref_seq[50], "alt": alt_base}
    result = score(variant, layer=layer, pooling=pooling)
    assert (result["window_start"], result["window_end"]) == (0, 120)
    assert_scores(result, direct_scores(model, tokenizer, ref_seq, alt_seq, 50, layer, pooling))
    pair = score({"ref_sequence": ref_seq, "alt_sequence": alt_seq}, layer=layer, pooling=pooling)
    assert {name: pair[name] for name in SCORE_NAMES} == {name: result[name] for name in SCORE_NAMES}


def test_both_strands_average_the_forward_and_reverse_complement_scores(tiny, score):
    model, tokenizer = tiny
    ref_seq = random_dna(120, 13)
    alt_base = "C" if ref_seq[50] != "C" else "T"
    alt_seq = ref_seq[:50] + alt_base + ref_seq[51:]
    forward = direct_scores(model, tokenizer, ref_seq, alt_seq, 50)
    reverse = direct_scores(model, tokenizer, reverse_complement(ref_seq), reverse_complement(alt_seq), 69)
    result = score({"sequence": ref_seq, "position": 50, "ref": ref_seq[50], "alt": alt_base}, both_strands=True)
    assert_scores(result, {name: (forward[name] + reverse[name]) / 2 for name in forward})


def test_variant_window_rule_hand_worked():
    assert variant_window(300, 100, 378, 42) == (0, 300)  # shorter than a window: whole sequence
    # 1000 - 189 = 811 -> nearest multiple of 42 is 798 (811 + 21 = 832 -> 19 * 42)
    assert variant_window(2000, 1000, 378, 42) == (798, 1176)
    assert variant_window(2000, 10, 378, 42) == (0, 378)  # clamped at the start
    assert variant_window(2000, 1990, 378, 42) == (1622, 2000)  # and at the end
    with pytest.raises(ValueError, match="window_snap"):
        variant_window(2000, 1000, 378, 200)


def test_long_reference_is_scored_on_its_variant_window(tiny, score):
    model, tokenizer = tiny
    sequence = random_dna(2000, 14)
    alt_base = "T" if sequence[1000] != "T" else "A"
    result = score({"sequence": sequence, "position": 1000, "ref": sequence[1000], "alt": alt_base})
    assert (result["window_start"], result["window_end"]) == (798, 1176)
    window = sequence[798:1176]
    expected = direct_scores(model, tokenizer, window, window[:202] + alt_base + window[203:], 202)
    assert_scores(result, expected)


def test_n_rich_window_keeps_the_central_token_block(score):
    island = random_dna(78, 15)  # 13 six-mers between two runs of 150 N (one token each): 313 tokens > 63
    sequence = "N" * 150 + island + "N" * 150
    alt = "A" if sequence[160] != "A" else "C"
    inside = score({"sequence": sequence, "position": 160, "ref": sequence[160], "alt": alt})
    # 63 tokens centred on base 189: 25 N tokens, the 13 six-mers, 25 N tokens -> bases [125, 253)
    assert inside["status"] == "scored" and (inside["window_start"], inside["window_end"]) == (125, 253)
    outside = score({"sequence": "A" * 10 + sequence[10:], "position": 5, "ref": "A", "alt": "C"})
    assert outside["status"] == "skipped" and outside["reason"].startswith("window:")


def test_refusals_are_per_variant_with_a_reason(score):
    sequence = random_dna(60, 16)
    base = sequence[20]
    other = "A" if base != "A" else "C"
    both_changed = reverse_complement(sequence[20:22])[::-1]  # complement: differs at both bases
    results = score(
        [
            {"sequence": sequence, "position": 20, "ref": base, "alt": base + "T"},
            {"sequence": sequence, "position": 20, "ref": other, "alt": base},
            {"sequence": sequence, "position": 20, "ref": sequence[20:22], "alt": both_changed},
            {"sequence": sequence, "position": 20, "ref": base, "alt": "<DEL>"},
            {"sequence": sequence, "position": 20, "ref": base, "alt": "N"},
            {"ref_sequence": sequence, "alt_sequence": sequence},
            {"ref_sequence": sequence, "alt_sequence": sequence[:-1]},
            {"sequence": sequence, "position": 20, "ref": base, "alt": other},
        ]
    )
    outcomes = [(r["status"], r["reason"].split(":")[0]) for r in results]
    assert outcomes == [
        ("skipped", "indel"),
        ("flagged", "mismatch"),
        ("skipped", "mnv"),
        ("skipped", "symbolic"),
        ("skipped", "allele"),
        ("skipped", "allele"),
        ("skipped", "indel"),
        ("scored", ""),
    ]
    assert all(np.isnan(r["cosine_similarity"]) for r in results[:2])
    with pytest.raises(ValueError, match="Variant 1: REF 'A' at position 70 does not fit"):
        score(
            [
                {"sequence": sequence, "position": 20, "ref": base, "alt": other},
                {"sequence": sequence, "position": 70, "ref": "A", "alt": "C"},
            ]
        )
    with pytest.raises(ValueError, match="Variant 0 lacks position"):
        score({"sequence": sequence, "ref": "A", "alt": "C"})


def test_equal_length_alleles_are_trimmed_to_the_snv():
    assert classify_alleles("AC", "AT") == (1, "C", "T")
    assert classify_alleles("GAT", "GCT") == (1, "A", "C")
    assert classify_alleles("a", "g") == (0, "A", "G")
    assert classify_alleles("AC", "GT").startswith("mnv")
    assert classify_alleles("A", "AT").startswith("indel")


def test_shared_windows_reuse_reference_passes_with_identical_scores(tiny):
    model, tokenizer = tiny
    sequence = random_dna(200, 17)
    variants = [
        {"sequence": sequence, "position": p, "ref": sequence[p], "alt": "A" if sequence[p] != "A" else "G"}
        for p in (60, 61, 100)
    ]  # 60 and 61 share a 6-mer (token 10), 100 is in token 16
    kwargs = dict(capacity=63, window_bp=378, window_snap=42)
    shared = plan_variant_scores(tokenizer, variants, **kwargs, share_windows=True)
    separate = plan_variant_scores(tokenizer, variants, **kwargs, share_windows=False)
    assert len(separate.passes) == 9  # ref, alt and masked pass per variant
    assert len(shared.passes) == 1 + 3 + 2  # one reference pass, three alt passes, masked token 10 and 16
    a = score_variants(model, tokenizer, variants, share_windows=True)
    b = score_variants(model, tokenizer, variants, share_windows=False)
    assert a == b


# ---- token-budget batching ---------------------------------------------------------------------------------------


def test_token_budget_batches_hand_worked():
    # batch_size 2 at the longest length 10: 20 padded tokens a batch. [2, 2, 3, 5] pads to 4 x 5 = 20 (fits);
    # adding the 10 would pad to 5 x 10 = 50.
    order = [4, 0, 3, 1, 2]
    assert _token_budget_batches([2, 2, 3, 5, 10], order, 2) == [[4, 0, 3, 1], [2]]
    # Equal lengths: exactly batch_size a batch, as plain batching would do.
    assert _token_budget_batches([7] * 5, list(range(5)), 2) == [[0, 1], [2, 3], [4]]
    assert _token_budget_batches([], [], 4) == []


@pytest.mark.parametrize("seed", range(5))
def test_token_budget_batches_cover_in_order_within_budget(seed):
    rng = np.random.default_rng(seed)
    lengths = sorted(rng.integers(1, 300, size=int(rng.integers(1, 60))).tolist())
    batch_size = int(rng.integers(1, 9))
    batches = _token_budget_batches(lengths, list(range(len(lengths))), batch_size)
    assert [i for batch in batches for i in batch] == list(range(len(lengths)))
    for batch in batches:
        assert len(batch) * lengths[batch[-1]] <= batch_size * lengths[-1]
        assert len(batch) >= 1
    # Greedy: a batch could not have taken the next member without breaking the budget.
    for batch, following in zip(batches, batches[1:]):
        assert (len(batch) + 1) * lengths[following[0]] > batch_size * lengths[-1]


def test_embeddings_do_not_depend_on_batching(tiny):
    model, tokenizer = tiny
    # Short and long sequences: the short ones share a larger batch; every embedding equals the one-at-a-time one.
    sequences = ["ACGTAC" * n + "GA" for n in (1, 2, 3, 20, 2, 1, 40)]
    together = embed_sequences(model, tokenizer, sequences, batch_size=2)
    alone = [embed_sequences(model, tokenizer, [s], batch_size=1)[0] for s in sequences]
    for a, b in zip(together, alone):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


# ---- reduced precision -------------------------------------------------------------------------------------------


def test_a_bf16_model_runs_both_pipelines_close_to_fp32(tiny):
    """Users load checkpoints with `dtype=torch.bfloat16` on GPUs: the pipelines take such a model as it is, return
    float32 numpy, and stay within bf16 rounding of the fp32 results."""
    model, tokenizer = tiny
    bf16 = NucleotideTransformerForMaskedLM(model.config).to(torch.bfloat16).eval()
    bf16.load_state_dict(model.state_dict())  # same weights, rounded to bf16
    sequences = [random_dna(300, 31), random_dna(90, 32)]
    for pooling in ("mean", "cls"):
        fp32 = embed_sequences(model, tokenizer, sequences, pooling=pooling)
        low = embed_sequences(bf16, tokenizer, sequences, pooling=pooling)
        for a, b in zip(low, fp32):
            assert a.dtype == np.float32
            # Elements of size ~1 after the final LayerNorm; bf16 keeps 8 significant bits (a rounding is ≤ 0.004),
            # and the 2 layers here end ~0.003 away: 0.01 allows 3x that, far below the embeddings' spread.
            np.testing.assert_allclose(a, b, rtol=0, atol=0.01)
    sequence = random_dna(200, 33)
    variants = [
        {"sequence": sequence, "position": p, "ref": sequence[p], "alt": "A" if sequence[p] != "A" else "G"}
        for p in (40, 100)
    ]
    for low, full in zip(score_variants(bf16, tokenizer, variants), score_variants(model, tokenizer, variants)):
        assert low["status"] == full["status"] == "scored"
        for name in SCORE_NAMES:
            assert np.isfinite(low[name])
            # The distances are small (L2 ≈ 0.03) and built from embeddings each ~0.003 off: within 10% of the fp32
            # score (a zero distance, alt read as ref, would fail), plus 1e-3 for the cosine near 1.
            np.testing.assert_allclose(low[name], full[name], rtol=0.1, atol=1e-3, err_msg=name)
