"""Zero-shot variant scores (through the "variant-effect" pipeline and the library functions), checked against direct
forward passes and numpy arithmetic, and the variant-window rules by hand."""

import numpy as np
import pytest
import torch
from helpers import direct_hidden, random_dna

from nucleotide_transformer_hf.variant_scoring import (
    SCORE_NAMES,
    classify_alleles,
    plan_variant_scores,
    score_variants,
    variant_window,
)


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
