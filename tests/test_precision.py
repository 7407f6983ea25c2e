"""The inference precisions (`precision.prepare_for_inference`) on the tiny model, against its float32 outputs."""

import copy
import csv
import gzip
import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch
from conftest import build_tiny
from helpers import random_dna

from nucleotide_transformer_hf.cli import main
from nucleotide_transformer_hf.errors import InputError
from nucleotide_transformer_hf.inference import embed_sequences, run_forward_passes
from nucleotide_transformer_hf.precision import DTYPES, check_dtype, inference_dtype, prepare_for_inference
from nucleotide_transformer_hf.precision_guards import GUARD_THRESHOLDS, accuracy_guards, guard_verdicts
from nucleotide_transformer_hf.variant_scoring import finish_variant_scores, variant_plan

DATA = Path(__file__).resolve().parent.parent / "data"

SEQUENCES = ["ACGTAGGCTAGCTAGGATCGATCGATTTACGA" * 3, "GATTACA" * 40, "ACGTTGCA" * 5]

# Measured on this tiny random model: bf16 weights give cosine >= 0.9999, int8 >= 0.99998 to float32.
COSINE_FLOOR = {"bfloat16": 0.999, "int8": 0.999}


@pytest.mark.parametrize("dtype", ["bfloat16", "int8"])
def test_each_precision_stays_close_to_float32_and_names_itself(tiny, dtype):
    model, tokenizer = tiny
    reference = embed_sequences(model, tokenizer, SEQUENCES)
    prepared = prepare_for_inference(copy.deepcopy(model), dtype)
    assert inference_dtype(prepared) == dtype and inference_dtype(model) == "float32"
    for a, b in zip(reference, embed_sequences(prepared, tokenizer, SEQUENCES)):
        assert float(a @ b / np.linalg.norm(a) / np.linalg.norm(b)) >= COSINE_FLOOR[dtype]


def test_int8_keeps_norms_and_heads_float_and_quantises_only_encoder_linears(tiny):
    model = prepare_for_inference(copy.deepcopy(tiny[0]), "int8")
    quantised = [name for name, m in model.named_modules() if type(m).__module__.startswith("torch.ao.nn.quantized")]
    assert quantised and all(name.startswith("esm.encoder.") for name in quantised)
    assert isinstance(model.lm_head.decoder, torch.nn.Linear) and model.lm_head.decoder.weight.dtype == torch.float32
    assert all(m.weight.dtype == torch.float32 for m in model.modules() if isinstance(m, torch.nn.LayerNorm))


def test_int8_output_of_a_sequence_does_not_depend_on_its_batch(tiny):
    model = prepare_for_inference(copy.deepcopy(tiny[0]), "int8")
    batched = embed_sequences(model, tiny[1], SEQUENCES, pooling="token")
    for sequence, together in zip(SEQUENCES, batched):
        np.testing.assert_array_equal(embed_sequences(model, tiny[1], [sequence], pooling="token")[0], together)


def test_bad_dtypes_are_input_errors_and_int8_cannot_be_prepared_again(tiny):
    with pytest.raises(InputError, match="one of float32, bfloat16, int8"):
        check_dtype("float16")
    with pytest.raises(InputError, match="CPU only"):
        check_dtype("int8", "cuda")
    model = prepare_for_inference(copy.deepcopy(tiny[0]), "int8")
    with pytest.raises(ValueError, match="already quantised"):
        prepare_for_inference(model, "float32")


# ---- each dtype through the engine, on the tiny model --------------------------------------------------------------

ENGINE_SEQUENCES = [random_dna(300, 41), random_dna(90, 42), random_dna(40, 43)]

# Largest element difference of the mean-pooled embeddings to float32, measured on these sequences (elements spread
# ~0.29): bf16 weights 0.0020, int8 linears 0.0070. The tolerances are about twice that.
EMBEDDING_ATOL = {"float32": 0.0, "bfloat16": 0.005, "int8": 0.015}


@pytest.fixture(scope="module")
def prepared(tiny):
    return {dtype: prepare_for_inference(copy.deepcopy(tiny[0]), dtype) for dtype in DTYPES}


@pytest.mark.parametrize("dtype", DTYPES)
def test_embed_sequences_in_each_dtype_is_close_to_float32(tiny, prepared, dtype):
    reference = embed_sequences(tiny[0], tiny[1], ENGINE_SEQUENCES)
    for a, b in zip(reference, embed_sequences(prepared[dtype], tiny[1], ENGINE_SEQUENCES)):
        assert b.dtype == np.float32
        np.testing.assert_allclose(b, a, rtol=0, atol=EMBEDDING_ATOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
def test_a_variant_whose_alt_window_is_its_ref_window_scores_exactly_zero(tiny, prepared, dtype):
    """The real scoring path (plan, engine, finish) with the alt pass's ids set to the ref pass's and the alt token to
    the ref token: every distance and the log ratio must be exactly 0 and the cosine 1 in every dtype (the two passes
    run separately, `share_windows=False`, so a dtype whose output depended on anything but the ids would show)."""
    model, tokenizer = prepared[dtype], tiny[1]
    sequence = random_dna(400, 44)
    variants = [{"sequence": sequence, "position": p, "ref": sequence[p], "alt": "A" if sequence[p] != "A" else "C"}
                for p in (30, 200, 390)]  # fmt: skip
    plan = variant_plan(model, tokenizer, variants, share_windows=False)
    for k, (index, ref_pass, alt_pass, mask_pass, ref_id, _) in enumerate(plan.links):
        plan.passes[alt_pass].ids = plan.passes[ref_pass].ids.copy()
        plan.links[k] = (index, ref_pass, alt_pass, mask_pass, ref_id, ref_id)
    results = run_forward_passes(model, plan.passes, pad_token_id=tokenizer.pad_token_id)
    for scores in finish_variant_scores(plan, results):
        assert scores["status"] == "scored"
        assert scores["l1_distance"] == scores["l2_distance"] == scores["mlm_log_ratio"] == 0.0
        assert scores["cosine_similarity"] == pytest.approx(1.0, abs=1e-12)


# A bf16 model's hidden states differ by one bf16 rounding step between a sequence alone and the same sequence padded
# in a batch (measured: up to 0.0039 per token vector element, 0.0004 after mean pooling): one step (2^-7 relative,
# plus 2^-7 absolute for elements near zero) is allowed; float32 by BLAS rounding of the padded shape (measured 6e-8:
# 1e-6 allowed). int8 runs one window per pass and is bit-identical.
PADDING_TOLERANCE = {"float32": 1e-6, "bfloat16": 2**-7, "int8": None}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("pooling", ["mean", "token"])
def test_padding_is_still_ignored_in_each_dtype(tiny, prepared, dtype, pooling):
    model, tokenizer = prepared[dtype], tiny[1]
    short, long = ENGINE_SEQUENCES[2], ENGINE_SEQUENCES[0]
    alone = embed_sequences(model, tokenizer, [short], pooling=pooling)[0]
    batched = embed_sequences(model, tokenizer, [long, short], pooling=pooling, batch_size=8)[1]
    tolerance = PADDING_TOLERANCE[dtype]
    if tolerance is None:
        np.testing.assert_array_equal(batched, alone)
    else:
        np.testing.assert_allclose(batched, alone, rtol=tolerance, atol=tolerance)


# ---- accuracy guards -------------------------------------------------------------------------------------------------


def _guard_inputs():
    with gzip.open(DATA / "genomes" / "ecoli_K12_MG1655_NC_000913.3_1-120000.fa.gz", "rt") as handle:
        genome = "".join(line.strip() for line in handle if not line.startswith(">")).upper()
    rng = np.random.default_rng(0)
    sequences = [genome[s : s + 500] for s in rng.integers(0, len(genome) - 500, 8)]
    with gzip.open(DATA / "variants" / "clinvar_snv_200.csv.gz", "rt", newline="") as handle:
        rows = list(csv.DictReader(handle))[:24]
    return sequences, [{"ref_sequence": row["ref_seq"], "alt_sequence": row["alt_seq"]} for row in rows]


def test_accuracy_guards_of_float32_against_itself_are_exactly_one(tiny):
    sequences, variants = _guard_inputs()
    guards = accuracy_guards(tiny[0], tiny[1], "float32", sequences, variants)
    assert guards["sequences"] == 8 and guards["variants_scored"] == 24
    assert guards["embedding_cosine_mean"] == pytest.approx(1.0, abs=1e-12)
    assert guards["embedding_cosine_min"] == pytest.approx(1.0, abs=1e-12)
    assert guards["variant_spearman"] == pytest.approx(1.0, abs=1e-12)  # identical ranks (Pearson of ranks in floats)
    assert guards["variant_mlm_spearman"] == pytest.approx(1.0, abs=1e-12)
    assert guards["mlm_top1_agreement"] == 1.0
    assert guards["masked_positions"] == 8 * round(0.15 * 63)  # 500 bp = 85 tokens; the first window holds 63
    assert guard_verdicts(guards) == dict.fromkeys(GUARD_THRESHOLDS, "met")


@pytest.mark.parametrize("dtype", ["bfloat16", "int8"])
def test_accuracy_guards_of_reduced_precisions_are_in_range_and_leave_the_model_alone(tiny, dtype):
    model, tokenizer = tiny
    before = {k: v.clone() for k, v in model.state_dict().items()}
    sequences, variants = _guard_inputs()
    guards = accuracy_guards(model, tokenizer, dtype, sequences, variants, seed=3)
    assert inference_dtype(model) == "float32"
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in before.items())
    assert 0.99 <= guards["embedding_cosine_min"] <= guards["embedding_cosine_mean"] <= 1.0 + 1e-12
    for name in ("variant_spearman", "variant_mlm_spearman"):
        assert -1.0 <= guards[name] <= 1.0
    assert 0.0 <= guards["mlm_top1_agreement"] <= 1.0 and 0.0 <= guards["mlm_top1_accuracy_float32"] <= 1.0
    assert set(guard_verdicts(guards).values()) <= {"met", "missed"}


def test_guard_verdicts_say_met_missed_and_not_measured():
    verdicts = guard_verdicts({"embedding_cosine_mean": 0.989, "variant_spearman": float("nan")})
    assert verdicts == {"embedding_cosine_mean": "missed", "variant_spearman": "not measured"}
    assert guard_verdicts({"embedding_cosine_mean": 0.99, "variant_spearman": 0.98}) == {
        "embedding_cosine_mean": "met",
        "variant_spearman": "met",
    }
    with pytest.raises(ValueError, match="compares against float32"):
        accuracy_guards(prepare_for_inference(copy.deepcopy(build_tiny()[0]), "bfloat16"), None, "int8", ["ACGT"])


# ---- the --dtype flag of `embed` -------------------------------------------------------------------------------------


def test_embed_command_dtype_int8_is_close_to_float32(tiny_saved, tmp_path):
    fasta = tmp_path / "in.fa"
    fasta.write_text("".join(f">s{i}\n{sequence}\n" for i, sequence in enumerate(ENGINE_SEQUENCES)))
    outputs = {}
    for dtype in ("float32", "int8"):
        out = tmp_path / f"out-{dtype}"
        assert main(["embed", "--model", str(tiny_saved), "--fasta", str(fasta), "--out", str(out),
                     "--dtype", dtype, "--no-progress"]) == 0  # fmt: skip
        assert json.loads((out / "manifest.json").read_text())["model"]["dtype"] == dtype
        column = pq.read_table(out / "data").column("embedding").to_pylist()
        outputs[dtype] = np.asarray(column, dtype=np.float32)
    assert outputs["int8"].shape == (3, 32)
    np.testing.assert_allclose(outputs["int8"], outputs["float32"], rtol=0, atol=EMBEDDING_ATOL["int8"])
    assert not np.array_equal(outputs["int8"], outputs["float32"])  # the flag took effect


def test_accuracy_guards_for_several_dtypes_equal_the_one_at_a_time_calls(tiny):
    sequences, variants = _guard_inputs()
    together = accuracy_guards(tiny[0], tiny[1], ["int8", "float32"], sequences[:3], variants[:6])
    assert together == {
        d: accuracy_guards(tiny[0], tiny[1], d, sequences[:3], variants[:6]) for d in ("int8", "float32")
    }
