"""The inference precisions (`precision.prepare_for_inference`) on the tiny model, against its float32 outputs."""

import copy

import numpy as np
import pytest
import torch

from nucleotide_transformer_hf.errors import InputError
from nucleotide_transformer_hf.inference import embed_sequences
from nucleotide_transformer_hf.precision import check_dtype, inference_dtype, prepare_for_inference

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
