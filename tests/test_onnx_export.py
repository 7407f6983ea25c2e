"""ONNX export (`onnx_export`): onnxruntime against torch for the tiny v1 and v2 models, dynamic shapes, padding,
the encoder-only graph, int8 quantisation and the refusals."""

import json

import numpy as np
import onnx  # the test extra installs onnx, onnxscript and onnxruntime: a missing one fails here, never skips
import onnxruntime  # noqa: F401
import onnxscript  # noqa: F401
import pytest
import torch
from conftest import TINY, _randomise, build_tiny
from transformers import AutoTokenizer

from nucleotide_transformer_hf import NucleotideTransformerConfig, NucleotideTransformerForMaskedLM
from nucleotide_transformer_hf import onnx_export as ox
from nucleotide_transformer_hf.cli import main
from nucleotide_transformer_hf.errors import InputError
from nucleotide_transformer_hf.precision import prepare_for_inference

TOLERANCE = 1e-4


def _tiny_v1():
    config = NucleotideTransformerConfig.from_preset("v1", max_position_embeddings=42, **TINY)  # context 40
    model = NucleotideTransformerForMaskedLM(config)
    _randomise(model, 1)
    return model.eval()


def _batch(config, lengths, seed):
    """Right-padded ids with `<cls>` first and random k-mers (ids >= 6: no special token), and the mask."""
    generator = torch.Generator().manual_seed(seed)
    ids = torch.randint(6, config.vocab_size, (len(lengths), max(lengths)), generator=generator)
    ids[:, 0] = config.cls_token_id
    mask = torch.zeros_like(ids)
    for row, n in enumerate(lengths):
        ids[row, n:] = config.pad_token_id
        mask[row, :n] = 1
    return ids, mask


def _torch_logits(model, ids, mask):
    with torch.no_grad():
        return model(input_ids=ids, attention_mask=mask).logits.numpy()


@pytest.fixture(scope="module")
def v2_export(tiny_saved, tmp_path_factory):
    """The tiny v2 masked-LM exported from its saved folder (the path a command takes)."""
    out = tmp_path_factory.mktemp("onnx-v2")
    report = ox.export_onnx(tiny_saved, out)
    return out, report, build_tiny()[0]


@pytest.fixture(scope="module")
def v1_export(tmp_path_factory):
    """The tiny v1 masked-LM (learned positions, token dropout) exported from memory."""
    out = tmp_path_factory.mktemp("onnx-v1")
    model = _tiny_v1()
    return out, ox.export_onnx(model, out), model


@pytest.fixture(scope="module")
def int8_export(v2_export, tmp_path_factory):
    out = tmp_path_factory.mktemp("onnx-v2-int8")
    return out, ox.quantize_onnx_int8(v2_export[0], out)


@pytest.fixture(params=["v1", "v2"])
def exported(request, v1_export, v2_export):
    return v1_export if request.param == "v1" else v2_export


def test_report_and_folder(v2_export):
    out, report, _ = v2_export
    assert report["path"] == str(out / "model.onnx")
    assert report["inputs"] == ["input_ids", "attention_mask"] and report["outputs"] == ["logits"]
    assert report["max_abs_diff"] is not None and report["max_abs_diff"] <= TOLERANCE
    assert isinstance(report["opset"], int) and report["opset"] >= 17
    assert {"model.onnx", "config.json", "tokenizer.json"} <= set(report["files"])
    assert not (out / "model.onnx.data").exists()  # a small model stays one file
    assert json.loads((out / "config.json").read_text())["position_embedding_type"] == "rotary"
    sequence = "ACGTACGGATTACANNACG"
    assert AutoTokenizer.from_pretrained(out)(sequence)["input_ids"] == build_tiny()[1](sequence)["input_ids"]
    session = ox.onnx_session(out, threads=1)
    for value in (*session.get_inputs(), *session.get_outputs()):
        assert value.shape[:2] == ["batch", "sequence"], value
        assert value.type == ("tensor(int64)" if value.name != "logits" else "tensor(float)")


def test_mlm_round_trip_padded_batch(exported):
    out, _, model = exported
    ids, mask = _batch(model.config, [30, 13], seed=5)
    if model.config.position_embedding_type == "absolute":
        ids[0, 4] = model.config.mask_token_id  # v1's token dropout rescales by the <mask> count
    got = ox.run_onnx(ox.onnx_session(out, threads=1), ids, mask)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, _torch_logits(model, ids, mask), rtol=0, atol=TOLERANCE)


def test_dynamic_shapes(exported):
    """Batch sizes and lengths the graph was not traced on (1 and 5; up to a v1 model's whole context)."""
    out, _, model = exported
    session = ox.onnx_session(out, threads=1)
    longest = 40 if model.config.position_embedding_type == "absolute" else 57
    for lengths in ([longest], [7, longest, 21, 3, 40]):
        ids, mask = _batch(model.config, lengths, seed=len(lengths))
        got = ox.run_onnx(session, ids, mask)
        assert got.shape == (len(lengths), longest, model.config.vocab_size)
        np.testing.assert_allclose(got, _torch_logits(model, ids, mask), rtol=0, atol=TOLERANCE)


def test_padding_is_ignored(exported):
    out, _, model = exported
    session = ox.onnx_session(out, threads=1)
    ids, mask = _batch(model.config, [11, 29, 38], seed=9)
    batched = ox.run_onnx(session, ids, mask)
    for row, n in enumerate([11, 29, 38]):
        alone = ox.run_onnx(session, ids[row : row + 1, :n], mask[row : row + 1, :n])
        np.testing.assert_allclose(batched[row, :n], alone[0], rtol=0, atol=1e-5)


def test_encoder_export(tmp_path):
    model, tokenizer = build_tiny()
    report = ox.export_onnx(model, tmp_path, masked_lm=False, tokenizer=tokenizer)
    assert report["outputs"] == ["last_hidden_state"]
    ids, mask = _batch(model.config, [19, 44], seed=11)
    got = ox.run_onnx(ox.onnx_session(tmp_path, threads=1), ids, mask)
    with torch.no_grad():
        expected = model.esm(input_ids=ids, attention_mask=mask).last_hidden_state.numpy()
    assert got.shape == (2, 44, model.config.hidden_size)
    np.testing.assert_allclose(got, expected, rtol=0, atol=TOLERANCE)


def test_int8_is_quantised(v2_export, int8_export):
    out, report = int8_export
    ops = {node.op_type for node in onnx.load(out / "model.onnx").graph.node}
    assert {"MatMulInteger", "DynamicQuantizeLinear"} <= ops
    # the tiny model's float32 embedding table is a third of its graph; the weight matrices shrink 4x
    assert report["size_bytes"] < 0.8 * report["float32_size_bytes"]
    assert (out / "config.json").is_file() and (out / "tokenizer.json").is_file()


def test_int8_quantises_every_weight_product(tmp_path):
    """With an FFN weight too large for the exporter's own constant folding (v2's SwiGLU slices one weight in two),
    every weight product is still int8: the only float32 matrix left in the graph is the embedding table."""
    config = NucleotideTransformerConfig.from_preset("v2", **{**TINY, "intermediate_size": 160})  # 320 x 32 > 8192
    model = NucleotideTransformerForMaskedLM(config)
    _randomise(model, 3)
    model.eval()
    ox.export_onnx(model, tmp_path / "fp32", masked_lm=False)
    ox.quantize_onnx_int8(tmp_path / "fp32", tmp_path / "int8")
    graph = onnx.load(tmp_path / "int8" / "model.onnx").graph
    float_matrices = [
        tensor.name
        for tensor in graph.initializer
        if tensor.data_type == onnx.TensorProto.FLOAT and len(tensor.dims) == 2
    ]
    assert len(float_matrices) == 1 and "word_embeddings" in float_matrices[0], float_matrices
    assert (
        sum(node.op_type == "MatMulInteger" for node in graph.node) == 7 * config.num_hidden_layers
    )  # q k v o, gate, value, out


def test_int8_close_to_float32(v2_export, int8_export):
    """Measured on this tiny model: every real token's argmax agrees and the largest logit error is 1.0% of the
    largest logit (per-channel); the bounds below leave room for other CPUs' int8 kernels, not for a broken graph."""
    _, _, model = v2_export
    int8 = ox.onnx_session(int8_export[0], threads=1)
    ids, mask = _batch(model.config, [60, 33, 12], seed=13)
    expected = _torch_logits(model, ids, mask)
    got = ox.run_onnx(int8, ids, mask)
    real = mask.numpy().astype(bool)
    relative = np.abs(got - expected)[real].max() / np.abs(expected[real]).max()
    assert 1e-4 < relative < 0.05  # above 1e-4: the int8 graph does not run float32 products
    assert (got.argmax(-1) == expected.argmax(-1))[real].mean() >= 0.99


def test_verification_catches_a_wrong_graph(v2_export):
    out, _, model = v2_export
    graph = ox._export_module(model, masked_lm=True)
    assert ox._verify(model, graph, out / "model.onnx", model.config, 16) <= TOLERANCE

    class Shifted(torch.nn.Module):
        def forward(self, ids, mask):
            return graph(ids, mask) + 1e-3

    with pytest.raises(ox.OnnxVerificationError, match="differs from torch"):
        ox._verify(model, Shifted(), out / "model.onnx", model.config, 16)


@pytest.mark.parametrize("dtype", ["bfloat16", "int8"])
def test_only_float32_models_are_exported(tmp_path, dtype):
    model = prepare_for_inference(build_tiny()[0], dtype)
    with pytest.raises(InputError, match=f"{dtype} model.*float32.*quantize_onnx_int8"):
        ox.export_onnx(model, tmp_path)
    assert not (tmp_path / "model.onnx").exists()


def test_other_bad_inputs(tmp_path):
    model = build_tiny()[0]
    with pytest.raises(InputError, match="no such model folder"):
        ox.export_onnx(tmp_path / "missing", tmp_path / "out")
    with pytest.raises(InputError, match="no masked-LM head"):
        ox.export_onnx(model.esm, tmp_path)
    with pytest.raises(InputError, match="example_length"):
        ox.export_onnx(_tiny_v1(), tmp_path, example_length=41)  # past the v1 context of 40
    with pytest.raises(InputError, match="no ONNX graph"):
        ox.onnx_session(tmp_path)


def test_missing_packages_are_an_input_error(monkeypatch, tmp_path):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "onnxruntime" else real(name, *a))
    with pytest.raises(InputError, match=r"onnxruntime.*pip install 'nucleotide-transformer-hf\[onnx\]'"):
        ox.onnx_session(tmp_path)


def test_export_onnx_command(tiny_saved, tmp_path, capsys):
    """`nucleotide-transformer export-onnx MODEL OUT --int8`: both folders load in onnxruntime, the float32 graph
    gives our logits, the int8 one is quantised; a folder that is not a model is a one-line error, nothing written."""
    out = tmp_path / "tiny-onnx"
    assert main(["export-onnx", str(tiny_saved), str(out), "--int8"]) == 0
    printed = capsys.readouterr().out
    assert f"wrote {out / 'model.onnx'}" in printed and "int8 weights" in printed
    model = build_tiny()[0]
    ids, mask = _batch(model.config, [9, 5], seed=3)
    got = ox.run_onnx(ox.onnx_session(out / "model.onnx", threads=1), ids.numpy(), mask.numpy())
    np.testing.assert_allclose(got, _torch_logits(model, ids, mask), atol=TOLERANCE, rtol=0)
    int8 = onnx.load(str(tmp_path / "tiny-onnx-int8" / "model.onnx"))
    assert "MatMulInteger" in {node.op_type for node in int8.graph.node}
    assert main(["export-onnx", str(tmp_path / "nothing"), str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no such model folder" in err[0] and not (tmp_path / "x").exists()
