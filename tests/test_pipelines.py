"""The "dna-embedding" pipeline, checked against direct forward passes and numpy arithmetic; a bf16 model through both
pipelines; their `dtype=` option."""

import copy
import gzip
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import direct_hidden, random_dna
from transformers import pipeline

from nucleotide_transformer_hf import NucleotideTransformerForMaskedLM
from nucleotide_transformer_hf.errors import InputError
from nucleotide_transformer_hf.inference import embed_sequences
from nucleotide_transformer_hf.pipelines import (
    DnaEmbeddingPipeline,
    VariantEffectPipeline,
    pipeline_dtype,
    register_pipelines,
)
from nucleotide_transformer_hf.precision import inference_dtype, prepare_for_inference
from nucleotide_transformer_hf.variant_scoring import SCORE_NAMES, score_variants

GENOMES = Path(__file__).resolve().parent.parent / "data" / "genomes"


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


@pytest.mark.parametrize("dtype", ["bfloat16", "int8", torch.int8])
def test_pipelines_take_a_dtype_and_leave_the_given_model_alone(tiny, dtype):
    """`dtype=` prepares a copy of the model (docs/precision.md): the results are the engine's on a model prepared in
    that precision, exactly; the model passed in keeps its float32 weights."""
    model, tokenizer = tiny
    name = str(dtype).removeprefix("torch.")
    before = {k: v.clone() for k, v in model.state_dict().items()}
    embed = pipeline("dna-embedding", model=model, tokenizer=tokenizer, device="cpu", dtype=dtype)
    score = pipeline("variant-effect", model=model, tokenizer=tokenizer, device="cpu", dtype=dtype)
    assert inference_dtype(embed.model) == inference_dtype(score.model) == name and embed.model is not model
    assert inference_dtype(model) == "float32" and all(torch.equal(v, model.state_dict()[k]) for k, v in before.items())
    reference = prepare_for_inference(copy.deepcopy(model), name)
    sequences = [random_dna(300, 51), random_dna(90, 52)]
    for got, expected in zip(embed(sequences), embed_sequences(reference, tokenizer, sequences)):
        np.testing.assert_array_equal(got, expected)
    sequence = random_dna(200, 53)
    variants = [{"sequence": sequence, "position": p, "ref": sequence[p], "alt": "A" if sequence[p] != "A" else "G"}
                for p in (40, 100)]  # fmt: skip
    assert score(variants) == score_variants(reference, tokenizer, variants)
    fp32 = pipeline("dna-embedding", model=model, tokenizer=tokenizer, device="cpu", dtype="float32")
    assert fp32.model is model  # already float32: used as it is


def test_pipeline_dtype_names_and_errors():
    assert [pipeline_dtype(d) for d in (None, "auto", torch.float16, torch.bfloat16, "int8")] == [
        None,
        None,
        None,
        "bfloat16",
        "int8",
    ]
    with pytest.raises(InputError, match="one of float32, bfloat16, int8"):
        pipeline_dtype("fp8")
