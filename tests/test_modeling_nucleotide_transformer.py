"""Model tests: tiny configs, checked against transformers' own ESM (v1) and hand-written reference maths (v2)."""

import contextlib
import copy
import logging
import math
import re
import warnings

import pytest
import torch
from safetensors.torch import load_file, save_file
from transformers import EsmConfig, EsmForMaskedLM

from nucleotide_transformer_hf import (
    NucleotideTransformerConfig,
    NucleotideTransformerForMaskedLM,
    NucleotideTransformerForSequenceClassification,
    NucleotideTransformerForTokenClassification,
    NucleotideTransformerModel,
    modeling_nucleotide_transformer,
)
from nucleotide_transformer_hf.modeling_nucleotide_transformer import (
    CheckpointShapeError,
    NucleotideTransformerIntermediate,
    NucleotideTransformerSelfAttention,
)

TOL = 1e-5  # fp32; the bound for "same numerics"
PAD, MASK, CLS = 1, 2, 3


class NucleotideTransformerModelTester:
    """Builds tiny configs and inputs (hidden 32, 2 layers, 4 heads), in the spirit of transformers' EsmModelTester."""

    def __init__(self, version: str, batch_size: int = 3, seq_length: int = 17, **overrides):
        self.version = version
        self.batch_size = batch_size
        self.seq_length = seq_length
        self.overrides = dict(
            hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37, max_position_embeddings=42
        )
        self.overrides.update(overrides)

    def get_config(self, **kwargs) -> NucleotideTransformerConfig:
        return NucleotideTransformerConfig.from_preset(self.version, **{**self.overrides, **kwargs})

    def prepare_inputs(self, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
        """Token ids with <cls> first, a <mask> in one row and right padding of different lengths."""
        generator = torch.Generator().manual_seed(seed)
        first_kmer = 4 if self.version == "v1" else 6
        ids = torch.randint(first_kmer, first_kmer + 4096, (self.batch_size, self.seq_length), generator=generator)
        ids[:, 0] = CLS
        lengths = [self.seq_length - 4 * i for i in range(self.batch_size)]
        for row, length in enumerate(lengths):
            ids[row, length:] = PAD
        ids[-1, 2] = MASK
        return ids, (ids != PAD).long()

    def create_and_check_model(self):
        config = self.get_config()
        model = NucleotideTransformerModel(config).eval()
        ids, mask = self.prepare_inputs()
        out = model(ids, attention_mask=mask, output_hidden_states=True)
        assert out.last_hidden_state.shape == (self.batch_size, self.seq_length, config.hidden_size)
        assert len(out.hidden_states) == config.num_hidden_layers + 1
        torch.testing.assert_close(out.hidden_states[-1], out.last_hidden_state, rtol=0, atol=0)

    def create_and_check_for_masked_lm(self):
        config = self.get_config()
        model = NucleotideTransformerForMaskedLM(config).eval()
        ids, mask = self.prepare_inputs()
        labels = torch.full_like(ids, -100)
        labels[-1, 2] = 10
        out = model(ids, attention_mask=mask, labels=labels)
        assert out.logits.shape == (self.batch_size, self.seq_length, config.vocab_size)
        expected = torch.nn.functional.cross_entropy(out.logits[-1, 2][None], torch.tensor([10]))
        torch.testing.assert_close(out.loss, expected)

    def create_and_check_for_sequence_classification(self, problem_type: str, num_labels: int):
        config = self.get_config(num_labels=num_labels, problem_type=problem_type)
        model = NucleotideTransformerForSequenceClassification(config).eval()
        ids, mask = self.prepare_inputs()
        if problem_type == "single_label_classification":
            labels = torch.tensor([0, 1, 1])[: self.batch_size]
        elif problem_type == "multi_label_classification":
            labels = torch.tensor([[1.0, 0.0, 1.0], [0.0, 0.0, 1.0], [1.0, 1.0, 0.0]])[: self.batch_size]
        else:
            labels = torch.tensor([0.5, -1.0, 2.0])[: self.batch_size]
        out = model(ids, attention_mask=mask, labels=labels)
        assert out.logits.shape == (self.batch_size, num_labels)
        if problem_type == "single_label_classification":
            expected = torch.nn.functional.cross_entropy(out.logits, labels)
        elif problem_type == "multi_label_classification":
            expected = torch.nn.functional.binary_cross_entropy_with_logits(out.logits, labels)
        else:
            expected = torch.nn.functional.mse_loss(out.logits.squeeze(-1), labels)
        torch.testing.assert_close(out.loss, expected)

    def create_and_check_for_token_classification(self):
        config = self.get_config(num_labels=4)
        model = NucleotideTransformerForTokenClassification(config).eval()
        ids, mask = self.prepare_inputs()
        labels = torch.randint(0, 4, ids.shape)
        labels[ids == PAD] = -100
        out = model(ids, attention_mask=mask, labels=labels)
        assert out.logits.shape == (self.batch_size, self.seq_length, 4)
        keep = labels != -100
        torch.testing.assert_close(out.loss, torch.nn.functional.cross_entropy(out.logits[keep], labels[keep]))

    def create_and_check_forward_and_backwards(self):
        model = NucleotideTransformerForMaskedLM(self.get_config()).train()
        ids, mask = self.prepare_inputs()
        labels = ids.masked_fill(mask == 0, -100)
        model(ids, attention_mask=mask, labels=labels).loss.backward()
        grads = [p.grad for p in model.parameters() if p.requires_grad]
        assert all(g is not None and torch.isfinite(g).all() for g in grads)


VERSIONS = ["v1", "v2"]


@pytest.mark.parametrize("version", VERSIONS)
def test_model(version):
    NucleotideTransformerModelTester(version).create_and_check_model()


@pytest.mark.parametrize("version", VERSIONS)
def test_for_masked_lm(version):
    NucleotideTransformerModelTester(version).create_and_check_for_masked_lm()


@pytest.mark.parametrize(
    "problem_type,num_labels",
    [("single_label_classification", 2), ("multi_label_classification", 3), ("regression", 1)],
)
@pytest.mark.parametrize("version", VERSIONS)
def test_for_sequence_classification(version, problem_type, num_labels):
    NucleotideTransformerModelTester(version).create_and_check_for_sequence_classification(problem_type, num_labels)


@pytest.mark.parametrize("version", VERSIONS)
def test_for_token_classification(version):
    NucleotideTransformerModelTester(version).create_and_check_for_token_classification()


@pytest.mark.parametrize("version", VERSIONS)
def test_forward_and_backwards(version):
    NucleotideTransformerModelTester(version).create_and_check_forward_and_backwards()


# ---------------------------------------------------------------------------------------------------------------------
# v1: numerics against transformers' EsmForMaskedLM (an independent implementation of the same architecture)


def _esm_v1_twin(tester: NucleotideTransformerModelTester, attn_implementation: str) -> EsmForMaskedLM:
    o = tester.overrides
    esm_config = EsmConfig(
        vocab_size=4105,
        hidden_size=o["hidden_size"],
        num_hidden_layers=o["num_hidden_layers"],
        num_attention_heads=o["num_attention_heads"],
        intermediate_size=o["intermediate_size"],
        max_position_embeddings=o["max_position_embeddings"],
        position_embedding_type="absolute",
        token_dropout=True,
        emb_layer_norm_before=False,
        layer_norm_eps=1e-12,
        pad_token_id=PAD,
        mask_token_id=MASK,
        tie_word_embeddings=False,
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
    )
    esm = EsmForMaskedLM._from_config(esm_config, attn_implementation=attn_implementation).eval()
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():  # non-trivial weights: biases and LayerNorm affine away from their 0/1 init
        for parameter in esm.parameters():
            parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.2)
    return esm


@pytest.mark.parametrize("attn_implementation", ["eager", "sdpa"])
def test_v1_matches_transformers_esm_for_masked_lm(attn_implementation):
    tester = NucleotideTransformerModelTester("v1")
    esm = _esm_v1_twin(tester, attn_implementation)
    ours = NucleotideTransformerForMaskedLM._from_config(tester.get_config(), attn_implementation=attn_implementation)
    ours.eval()
    result = ours.load_state_dict(esm.state_dict(), strict=True)  # ESM's contact head is the one tensor dropped
    assert not result.missing_keys and not result.unexpected_keys

    ids, mask = tester.prepare_inputs()
    with torch.no_grad():
        expected = esm(ids, attention_mask=mask, output_hidden_states=True)
        actual = ours(ids, attention_mask=mask, output_hidden_states=True)
    torch.testing.assert_close(actual.logits, expected.logits, rtol=0, atol=TOL)
    assert len(actual.hidden_states) == len(expected.hidden_states)
    for ours_h, esm_h in zip(actual.hidden_states, expected.hidden_states):
        torch.testing.assert_close(ours_h, esm_h, rtol=0, atol=TOL)


def test_v1_state_dict_keys_equal_esm_minus_contact_head():
    tester = NucleotideTransformerModelTester("v1")
    esm_keys = set(_esm_v1_twin(tester, "eager").state_dict())
    ours_keys = set(NucleotideTransformerForMaskedLM(tester.get_config()).state_dict())
    assert esm_keys - ours_keys == {"esm.contact_head.regression.weight", "esm.contact_head.regression.bias"}
    assert ours_keys - esm_keys == set()


def test_load_state_dict_refuses_unknown_keys():
    """Only the reference's unused tensors are dropped; anything else still fails a strict load, by name."""
    tester = NucleotideTransformerModelTester("v2")
    model = NucleotideTransformerForMaskedLM(tester.get_config())
    state = model.state_dict()
    state["esm.encoder.layer.0.attention.self.bogus.weight"] = torch.zeros(3)
    with pytest.raises(RuntimeError, match=r"bogus"):
        model.load_state_dict(state, strict=True)
    del state["esm.encoder.layer.0.attention.self.bogus.weight"]
    del state["lm_head.bias"]
    with pytest.raises(RuntimeError, match=r"lm_head\.bias"):
        model.load_state_dict(state, strict=True)


def test_head_swap_from_masked_lm_checkpoint_reports_only_the_new_head(tmp_path):
    """Loading a masked-LM checkpoint without its head (bare encoder, classification) leaves `lm_head.*` unreported
    and reports exactly the new head's weights as missing; a broken encoder key still fails, by name."""
    tester = NucleotideTransformerModelTester("v2")
    source = NucleotideTransformerForMaskedLM(tester.get_config())
    source.save_pretrained(tmp_path / "mlm")
    for cls, head in (
        (NucleotideTransformerModel, set()),
        (
            NucleotideTransformerForSequenceClassification,
            {
                "classifier.dense.weight",
                "classifier.dense.bias",
                "classifier.out_proj.weight",
                "classifier.out_proj.bias",
            },
        ),
        (NucleotideTransformerForTokenClassification, {"classifier.weight", "classifier.bias"}),
    ):
        model, info = cls.from_pretrained(tmp_path / "mlm", output_loading_info=True)
        assert not info["unexpected_keys"], (cls.__name__, info)
        assert set(info["missing_keys"]) == head, (cls.__name__, info)
    state = {k: v for k, v in source.state_dict().items() if "layer.0.attention.self.key.weight" not in k}
    NucleotideTransformerForMaskedLM(tester.get_config()).save_pretrained(tmp_path / "broken", state_dict=state)
    with pytest.raises(ValueError, match=r"layer\.0\.attention\.self\.key\.weight"):
        NucleotideTransformerForSequenceClassification.from_pretrained(tmp_path / "broken")


def test_v2_load_drops_exactly_the_published_unused_tensors():
    tester = NucleotideTransformerModelTester("v2")
    config = tester.get_config()
    source = NucleotideTransformerForMaskedLM(config).eval()
    state = dict(source.state_dict())
    head_dim = config.hidden_size // config.num_attention_heads
    state["esm.embeddings.position_embeddings.weight"] = torch.randn(config.max_position_embeddings, config.hidden_size)
    state["esm.contact_head.regression.weight"] = torch.randn(1, config.num_hidden_layers * config.num_attention_heads)
    state["esm.contact_head.regression.bias"] = torch.randn(1)
    for i in range(config.num_hidden_layers):
        inv_freq = 1.0 / (10000 ** (torch.arange(0, head_dim, 2).float() / head_dim))
        state[f"esm.encoder.layer.{i}.attention.self.rotary_embeddings.inv_freq"] = inv_freq
    target = NucleotideTransformerForMaskedLM(config).eval()
    result = target.load_state_dict(state, strict=True)
    assert not result.missing_keys and not result.unexpected_keys
    ids, mask = tester.prepare_inputs()
    with torch.no_grad():
        torch.testing.assert_close(target(ids, attention_mask=mask).logits, source(ids, attention_mask=mask).logits)


# ---------------------------------------------------------------------------------------------------------------------
# v2: layout and hand-written reference maths


def _reference_v2_layout(config: NucleotideTransformerConfig) -> dict[str, tuple[int, ...]]:
    """docs/checkpoints.md#state-dict-keys, written out by hand: the used tensors of a published v2 EsmForMaskedLM."""
    H, F, V = config.hidden_size, config.intermediate_size, config.vocab_size
    layout = {"esm.embeddings.word_embeddings.weight": (V, H)}
    for i in range(config.num_hidden_layers):
        p = f"esm.encoder.layer.{i}."
        for name in ("query", "key", "value"):
            layout[p + f"attention.self.{name}.weight"] = (H, H)
            layout[p + f"attention.self.{name}.bias"] = (H,)
        layout[p + "attention.output.dense.weight"] = (H, H)
        layout[p + "attention.output.dense.bias"] = (H,)
        layout[p + "attention.LayerNorm.weight"] = (H,)
        layout[p + "attention.LayerNorm.bias"] = (H,)
        layout[p + "intermediate.dense.weight"] = (2 * F, H)  # SwiGLU: gate rows, then value rows; no bias
        layout[p + "output.dense.weight"] = (H, F)
        layout[p + "LayerNorm.weight"] = (H,)
        layout[p + "LayerNorm.bias"] = (H,)
    layout["esm.encoder.emb_layer_norm_after.weight"] = (H,)
    layout["esm.encoder.emb_layer_norm_after.bias"] = (H,)
    layout["lm_head.dense.weight"] = (H, H)
    layout["lm_head.dense.bias"] = (H,)
    layout["lm_head.layer_norm.weight"] = (H,)
    layout["lm_head.layer_norm.bias"] = (H,)
    layout["lm_head.decoder.weight"] = (V, H)
    layout["lm_head.bias"] = (V,)
    return layout


V2_MODELS = [
    "nucleotide-transformer-v2-50m-multi-species",
    "nucleotide-transformer-v2-100m-multi-species",
    "nucleotide-transformer-v2-250m-multi-species",
    "nucleotide-transformer-v2-500m-multi-species",
]


@pytest.mark.parametrize("name", V2_MODELS)
def test_v2_state_dict_layout_matches_reference(name):
    config = NucleotideTransformerConfig.from_preset(name)
    with torch.device("meta"):
        model = NucleotideTransformerForMaskedLM(config)
    actual = {key: tuple(t.shape) for key, t in model.state_dict().items()}
    assert actual == _reference_v2_layout(config)


def test_swiglu_gate_and_value_halves():
    config = NucleotideTransformerModelTester("v2").get_config()
    module = NucleotideTransformerIntermediate(config)
    x = torch.randn(2, 5, config.hidden_size)
    W = module.dense.weight  # (2F, H)
    F = config.intermediate_size
    gate = x @ W[:F].T
    value = x @ W[F:].T
    expected = gate / (1 + torch.exp(-gate)) * value  # SiLU written out: z·sigmoid(z)
    torch.testing.assert_close(module(x), expected)
    assert module.dense.bias is None


class _WrappedLinear(torch.nn.Linear):
    """Stands for an adapter or quantised layer: not exactly `nn.Linear`, so the module must call it as itself."""

    def forward(self, x):
        return super().forward(x) + 1.0  # a visible effect, as an adapter would have


def test_swiglu_split_products_inference_mode_and_wrapped_dense():
    config = NucleotideTransformerModelTester("v2").get_config()
    module = NucleotideTransformerIntermediate(config)
    x = torch.randn(3, 7, config.hidden_size)
    W, F = module.dense.weight, config.intermediate_size
    reference = torch.nn.functional.silu(x @ W[:F].T) * (x @ W[F:].T)
    torch.testing.assert_close(module(x), reference)
    with torch.inference_mode():  # the in-place path
        torch.testing.assert_close(module(x), reference)
    x.requires_grad_(True)
    module(x).sum().backward()  # the autograd path reaches both halves of the one weight
    assert module.dense.weight.grad[:F].abs().sum() > 0 and module.dense.weight.grad[F:].abs().sum() > 0
    # A wrapped dense (LoRA, quantisation) is called as a module, never bypassed through its weight.
    wrapped = _WrappedLinear(config.hidden_size, 2 * F, bias=False)
    wrapped.weight = module.dense.weight
    module.dense = wrapped
    shifted = torch.nn.functional.silu(x @ W[:F].T + 1.0) * (x @ W[F:].T + 1.0)
    torch.testing.assert_close(module(x), shifted)


def test_rotary_self_attention_matches_hand_written_reference():
    """Attention with RoPE computed element by element: pairs (i, i + d/2), angle p / 10000^(2i/d), q scaled first."""
    tester = NucleotideTransformerModelTester("v2")
    config = tester.get_config()
    config._attn_implementation = "eager"
    model = NucleotideTransformerModel(config).eval()
    attention: NucleotideTransformerSelfAttention = model.encoder.layer[0].attention.self
    L, H = 6, config.hidden_size
    heads, d = config.num_attention_heads, H // config.num_attention_heads
    x = torch.randn(1, L, H)
    position_embeddings = model.rotary_embeddings(x, torch.arange(L)[None])
    with torch.no_grad():
        actual, _ = attention(x, None, position_embeddings=position_embeddings)

        def rotate(v, p):  # v: (d,) for one head at position p
            out = v.clone()
            for i in range(d // 2):
                theta = p / (10000 ** (2 * i / d))
                c, s = math.cos(theta), math.sin(theta)
                out[i] = v[i] * c - v[i + d // 2] * s
                out[i + d // 2] = v[i + d // 2] * c + v[i] * s
            return out

        q = attention.query(x)[0] * d**-0.5
        k = attention.key(x)[0]
        v = attention.value(x)[0]
        expected = torch.zeros(L, H)
        for h in range(heads):
            sl = slice(h * d, (h + 1) * d)
            qh = torch.stack([rotate(q[p, sl], p) for p in range(L)])
            kh = torch.stack([rotate(k[p, sl], p) for p in range(L)])
            weights = torch.softmax(qh @ kh.T, dim=-1)
            expected[:, sl] = weights @ v[:, sl]
    torch.testing.assert_close(actual[0], expected, rtol=0, atol=TOL)


# ---------------------------------------------------------------------------------------------------------------------
# Properties shared by both versions


@pytest.mark.parametrize("version", VERSIONS)
def test_eager_and_sdpa_agree(version):
    tester = NucleotideTransformerModelTester(version)
    config = tester.get_config()
    eager = NucleotideTransformerForMaskedLM._from_config(config, attn_implementation="eager").eval()
    sdpa = NucleotideTransformerForMaskedLM._from_config(config, attn_implementation="sdpa").eval()
    sdpa.load_state_dict(eager.state_dict())
    ids, mask = tester.prepare_inputs()
    with torch.no_grad():
        a = eager(ids, attention_mask=mask, output_hidden_states=True)
        b = sdpa(ids, attention_mask=mask, output_hidden_states=True)
    real = mask.bool()
    torch.testing.assert_close(a.logits[real], b.logits[real], rtol=0, atol=TOL)
    for h_eager, h_sdpa in zip(a.hidden_states, b.hidden_states):
        torch.testing.assert_close(h_eager[real], h_sdpa[real], rtol=0, atol=TOL)


@pytest.mark.parametrize("attn_implementation", ["eager", "sdpa"])
@pytest.mark.parametrize("version", VERSIONS)
def test_padded_batch_equals_each_sequence_alone(version, attn_implementation):
    tester = NucleotideTransformerModelTester(version)
    model = NucleotideTransformerForMaskedLM._from_config(tester.get_config(), attn_implementation=attn_implementation)
    model.eval()
    ids, mask = tester.prepare_inputs()
    with torch.no_grad():
        batched = model(ids, attention_mask=mask).logits
        for row in range(ids.shape[0]):
            length = int(mask[row].sum())
            alone = model(ids[row : row + 1, :length]).logits
            torch.testing.assert_close(batched[row, :length], alone[0], rtol=0, atol=TOL)


@pytest.mark.parametrize("version", VERSIONS)
def test_gradient_checkpointing_gives_same_gradients(version):
    tester = NucleotideTransformerModelTester(version)
    config = tester.get_config()
    ids, mask = tester.prepare_inputs()
    labels = ids.masked_fill(mask == 0, -100)
    grads = []
    for checkpointing in (False, True):
        torch.manual_seed(0)
        model = NucleotideTransformerForMaskedLM(config).train()
        if checkpointing:
            model.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
            assert model.esm.encoder.layer[0].gradient_checkpointing
        model(ids, attention_mask=mask, labels=labels).loss.backward()
        grads.append({name: p.grad.clone() for name, p in model.named_parameters()})
    for name in grads[0]:
        torch.testing.assert_close(grads[1][name], grads[0][name], rtol=0, atol=TOL, msg=name)


@pytest.mark.parametrize("version", VERSIONS)
def test_output_attentions_eager(version):
    tester = NucleotideTransformerModelTester(version)
    config = tester.get_config()
    model = NucleotideTransformerModel._from_config(config, attn_implementation="eager").eval()
    ids, mask = tester.prepare_inputs()
    out = model(ids, attention_mask=mask, output_attentions=True)
    assert len(out.attentions) == config.num_hidden_layers
    for weights in out.attentions:
        assert weights.shape == (tester.batch_size, config.num_attention_heads, tester.seq_length, tester.seq_length)
        torch.testing.assert_close(weights.sum(-1), torch.ones(weights.shape[:-1]))
        assert (weights[..., mask[:, None, None, :].expand_as(weights) == 0] == 0).all()  # no weight on padding


@pytest.mark.parametrize("version", VERSIONS)
def test_bf16_forward_close_to_fp32(version):
    tester = NucleotideTransformerModelTester(version)
    model = NucleotideTransformerForMaskedLM(tester.get_config()).eval()
    ids, mask = tester.prepare_inputs()
    with torch.no_grad():
        fp32 = model(ids, attention_mask=mask).logits
        bf16 = model.to(torch.bfloat16)(ids, attention_mask=mask).logits
    assert bf16.dtype == torch.bfloat16
    # bf16 keeps 8 significant bits (relative step 2^-8 ≈ 0.004); a few roundings per layer stay within ~0.05.
    torch.testing.assert_close(bf16.float(), fp32, rtol=0.05, atol=0.05)


@pytest.mark.parametrize("version", VERSIONS)
def test_torch_compile_fullgraph_without_graph_breaks(version):
    tester = NucleotideTransformerModelTester(version)
    model = NucleotideTransformerModel(tester.get_config()).eval()
    ids, mask = tester.prepare_inputs()
    torch._dynamo.reset()
    compiled = torch.compile(model, backend="aot_eager", fullgraph=True)  # fullgraph: a graph break is an error
    with torch.no_grad():
        torch.testing.assert_close(
            compiled(ids, attention_mask=mask).last_hidden_state, model(ids, attention_mask=mask).last_hidden_state
        )


def test_v1_input_longer_than_context_raises_clear_error():
    tester = NucleotideTransformerModelTester("v1")
    config = tester.get_config()
    model = NucleotideTransformerModel(config)
    ids = torch.full((1, config.context_length + 1), 10)
    with pytest.raises(ValueError, match=rf"{config.context_length + 1} tokens.*context of {config.context_length}"):
        model(ids)


def test_mean_pooling_classifier_ignores_padding():
    tester = NucleotideTransformerModelTester("v2")
    model = NucleotideTransformerForSequenceClassification(tester.get_config(classifier_pooling="mean", num_labels=2))
    model.eval()
    ids, mask = tester.prepare_inputs()
    with torch.no_grad():
        batched = model(ids, attention_mask=mask).logits
        alone = model(ids[1:2, : int(mask[1].sum())]).logits
    torch.testing.assert_close(batched[1:2], alone, rtol=0, atol=TOL)


# ---------------------------------------------------------------------------------------------------------------------
# Parameter counts of the published shapes (docs/architecture.md#parameter-counts), built on the meta device

# name -> parameters of the published EsmForMaskedLM as loaded (reference), and whether that count is UNVERIFIED.
PUBLISHED_PARAMETER_COUNTS = {
    "nucleotide-transformer-500m-human-ref": (485_699_306, False),
    "nucleotide-transformer-500m-1000g": (485_699_306, False),
    "nucleotide-transformer-2.5b-1000g": (2_547_801_226, False),
    "nucleotide-transformer-2.5b-multi-species": (2_547_801_226, False),
    "nucleotide-transformer-v2-50m-multi-species": (55_904_972, False),
    "nucleotide-transformer-v2-100m-multi-species": (97_889_132, False),
    "nucleotide-transformer-v2-250m-multi-species": (235_120_780, True),  # head count UNVERIFIED
    "nucleotide-transformer-v2-500m-multi-species": (498_345_436, False),
}


@pytest.mark.parametrize("name", sorted(PUBLISHED_PARAMETER_COUNTS))
def test_parameter_count_equals_reference_minus_named_unused_tensors(name):
    published, unverified = PUBLISHED_PARAMETER_COUNTS[name]
    config = NucleotideTransformerConfig.from_preset(name)
    with torch.device("meta"):
        model = NucleotideTransformerForMaskedLM(config)
    ours = sum(p.numel() for p in model.parameters())
    # What we do not build, by name: ESM's protein contact head (L·heads -> 1, with bias) always, and for v2 the
    # absolute position table that the published remote code builds but never reads.
    unused = {"esm.contact_head.regression": config.num_hidden_layers * config.num_attention_heads + 1}
    if config.position_embedding_type == "rotary":
        unused["esm.embeddings.position_embeddings"] = config.max_position_embeddings * config.hidden_size
    expected = published - sum(unused.values())
    if unverified:
        assert abs(ours - expected) <= 0.001 * expected, (name, ours, expected, sorted(unused))
    else:
        assert ours == expected, (name, ours, expected, sorted(unused))


# ---------------------------------------------------------------------------------------------------------------------
# The transformers integration: loading errors and messages, config changes, embedding resizing, warnings

ALL_CLASSES = [
    NucleotideTransformerModel,
    NucleotideTransformerForMaskedLM,
    NucleotideTransformerForSequenceClassification,
    NucleotideTransformerForTokenClassification,
]


CONFIG_BREAKS = {  # field changed after the config was built -> the message naming it
    "hidden_size=30": ({"hidden_size": 30}, "hidden_size (30) must be divisible by num_attention_heads (4)"),
    "num_attention_heads=5": (
        {"num_attention_heads": 5},
        "hidden_size (32) must be divisible by num_attention_heads (5)",
    ),
    "odd-rotary-head-dim": ({"hidden_size": 36}, "even head dimension; hidden_size (36) / num_attention_heads (4) = 9"),
    "num_attention_heads=0": ({"num_attention_heads": 0}, "num_attention_heads must be a positive integer, got 0"),
    "position_embedding_type": (
        {"position_embedding_type": "alibi"},
        "position_embedding_type must be 'absolute' or 'rotary', got 'alibi'",
    ),
    "ffn_activation": ({"ffn_activation": "relu"}, "ffn_activation must be 'gelu' or 'swiglu', got 'relu'"),
    "classifier_pooling": ({"classifier_pooling": "max"}, "classifier_pooling must be 'cls' or 'mean', got 'max'"),
    "max_position_embeddings": ({"max_position_embeddings": 2}, "max_position_embeddings (2) is too small"),
}


@pytest.mark.parametrize("changes,message", list(CONFIG_BREAKS.values()), ids=list(CONFIG_BREAKS))
@pytest.mark.parametrize("cls", ALL_CLASSES, ids=lambda cls: cls.__name__)
def test_config_changed_after_construction_fails_at_model_construction(cls, changes, message):
    config = NucleotideTransformerModelTester("v2").get_config()
    for name, value in changes.items():
        setattr(config, name, value)  # accepted by the config: fields are checked when it is built, not on assignment
    with pytest.raises(ValueError, match=re.escape(message)):
        cls(config)


def test_valid_config_change_after_construction_still_builds():
    config = NucleotideTransformerModelTester("v2").get_config()
    config.num_hidden_layers, config.hidden_size, config.num_attention_heads = 1, 48, 6
    model = NucleotideTransformerModel(config)
    assert len(model.encoder.layer) == 1 and model.embeddings.word_embeddings.weight.shape == (4107, 48)


def _randomise_lm_head_bias(model: NucleotideTransformerForMaskedLM) -> None:
    with torch.no_grad():  # the bias starts at 0: random values make "old entries kept" and "new = mean" checkable
        model.lm_head.bias.copy_(torch.randn(model.lm_head.bias.shape, generator=torch.Generator().manual_seed(5)))


@pytest.mark.parametrize("tie_word_embeddings", [False, True], ids=["untied", "tied"])
@pytest.mark.parametrize("version", VERSIONS)
def test_resize_token_embeddings_resizes_decoder_and_separate_bias(version, tie_word_embeddings):
    """transformers' test_resize_tokens_embeddings / test_resize_embeddings_untied for the masked-LM head, whose bias
    is a separate parameter (`lm_head.bias`) that transformers' resizing does not know about."""
    tester = NucleotideTransformerModelTester(version)
    config = tester.get_config(tie_word_embeddings=tie_word_embeddings)
    model = NucleotideTransformerForMaskedLM(config).eval()
    _randomise_lm_head_bias(model)
    vocab = config.vocab_size
    embeddings = model.resize_token_embeddings(vocab).weight.clone()
    decoder = model.lm_head.decoder.weight.detach().clone()
    bias = model.lm_head.bias.detach().clone()
    ids, mask = tester.prepare_inputs()

    def check(size, kept):  # kept: rows that every resize so far has kept
        assert model.config.vocab_size == size and model.vocab_size == size
        assert model.get_input_embeddings().weight.shape == (size, config.hidden_size)
        assert model.get_output_embeddings().weight.shape == (size, config.hidden_size)
        assert model.lm_head.bias.shape == (size,)
        if tie_word_embeddings:
            assert model.lm_head.decoder.weight.data_ptr() == model.get_input_embeddings().weight.data_ptr()
        torch.testing.assert_close(model.get_input_embeddings().weight[:kept], embeddings[:kept], rtol=0, atol=0)
        torch.testing.assert_close(model.lm_head.decoder.weight[:kept], decoder[:kept], rtol=0, atol=0)
        torch.testing.assert_close(model.lm_head.bias[:kept], bias[:kept], rtol=0, atol=0)
        labels = torch.full_like(ids, -100)
        labels[0, 1] = size - 1
        with torch.no_grad():
            out = model(ids.clamp(max=size - 1), attention_mask=mask, labels=labels)
        assert out.logits.shape == (*ids.shape, size) and torch.isfinite(out.loss)

    model.resize_token_embeddings(vocab + 10)
    check(vocab + 10, kept=vocab)
    # Added bias entries are the old entries' float32 mean, exactly (`resize_bias`).
    torch.testing.assert_close(model.lm_head.bias[-10:], bias.float().mean().expand(10), rtol=0, atol=0)
    # Added decoder rows are drawn by transformers' mean_resizing from N(mean, 1e-9 x covariance): each element lies
    # within a few sqrt(1e-9) x (the old rows' std) of the mean; 10 of those standard deviations bound it safely.
    spread = 10 * 1e-9**0.5 * decoder.float().std(0)
    assert ((model.lm_head.decoder.weight[-10:].float() - decoder.float().mean(0)).abs() <= spread + 1e-7).all()
    model.resize_token_embeddings(vocab - 15)
    check(vocab - 15, kept=vocab - 15)
    model.resize_token_embeddings(vocab + 13, pad_to_multiple_of=64)
    assert model.lm_head.bias.shape[0] % 64 == 0
    check(model.lm_head.bias.shape[0], kept=vocab - 15)


def test_resize_token_embeddings_without_mean_resizing_adds_zero_bias():
    tester = NucleotideTransformerModelTester("v2")
    model = NucleotideTransformerForMaskedLM(tester.get_config())
    _randomise_lm_head_bias(model)
    vocab = model.config.vocab_size
    model.resize_token_embeddings(vocab + 4, mean_resizing=False)
    assert model.lm_head.bias.shape == (vocab + 4,) and (model.lm_head.bias[vocab:] == 0).all()
    assert model.lm_head.bias.requires_grad and "lm_head.bias" in dict(model.named_parameters())


@pytest.mark.parametrize("cls", ALL_CLASSES, ids=lambda cls: cls.__name__)
def test_resize_token_embeddings_then_forward_and_save_load_every_class(tmp_path, cls):
    tester = NucleotideTransformerModelTester("v1")
    model = cls(tester.get_config()).eval()
    vocab = model.config.vocab_size
    model.resize_token_embeddings(vocab - 15)
    ids, mask = tester.prepare_inputs()
    ids = ids.clamp(max=vocab - 16)
    with torch.no_grad():
        before = model(ids, attention_mask=mask)[0]
    model.save_pretrained(tmp_path)
    loaded = cls.from_pretrained(tmp_path)
    assert loaded.config.vocab_size == vocab - 15
    with torch.no_grad():
        torch.testing.assert_close(loaded(ids, attention_mask=mask)[0], before, rtol=0, atol=0)


class _RecordingHandler(logging.Handler):
    def __init__(self):
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record):
        self.records.append(record)


@contextlib.contextmanager
def _logged():
    """Records what transformers' loggers (which do not propagate to the root) and our module's logger emit."""
    handler = _RecordingHandler()
    loggers = [logging.getLogger("transformers"), logging.getLogger(modeling_nucleotide_transformer.__name__)]
    for logger in loggers:
        logger.addHandler(handler)
    try:
        yield handler.records
    finally:
        for logger in loggers:
            logger.removeHandler(handler)


def _warnings_and_above(records: list[logging.LogRecord]) -> list[str]:
    return [record.getMessage() for record in records if record.levelno >= logging.WARNING]


TAMPERED_KEY = "esm.encoder.layer.0.attention.self.key.weight"


def _checkpoint_with_one_wrong_shape(tmp_path):
    """A tiny masked-LM checkpoint whose `TAMPERED_KEY` is (32, 31) in the file; the config says (32, 32)."""
    tester = NucleotideTransformerModelTester("v2")
    source = NucleotideTransformerForMaskedLM(tester.get_config())
    source.save_pretrained(tmp_path)
    state = load_file(tmp_path / "model.safetensors")
    assert tuple(state[TAMPERED_KEY].shape) == (32, 32)
    state[TAMPERED_KEY] = state[TAMPERED_KEY][:, :31].contiguous()
    save_file(state, tmp_path / "model.safetensors", metadata={"format": "pt"})
    return source


@pytest.mark.parametrize("cls", ALL_CLASSES, ids=lambda cls: cls.__name__)
def test_checkpoint_tensor_of_wrong_shape_fails_naming_key_and_both_shapes(tmp_path, cls):
    _checkpoint_with_one_wrong_shape(tmp_path)
    with pytest.raises(ValueError) as raised:
        cls.from_pretrained(tmp_path)
    message = str(raised.value)
    # The checkpoint's own key (with the `esm.` prefix even for the bare encoder, whose parameter has none).
    assert f"'{TAMPERED_KEY}'" in message, message
    assert "checkpoint (32, 31), model (32, 32)" in message, message
    assert str(tmp_path) in message and cls.__name__ in message and "ignore_mismatched_sizes=True" in message
    if cls is NucleotideTransformerModel:
        assert "(model parameter 'encoder.layer.0.attention.self.key.weight')" in message, message
    # Also a RuntimeError: the type transformers raises here, so that existing handlers keep working.
    assert isinstance(raised.value, CheckpointShapeError) and isinstance(raised.value, RuntimeError)


def test_ignore_mismatched_sizes_still_reinitialises_the_mismatched_tensor(tmp_path):
    source = _checkpoint_with_one_wrong_shape(tmp_path)
    model, info = NucleotideTransformerForMaskedLM.from_pretrained(
        tmp_path, ignore_mismatched_sizes=True, output_loading_info=True
    )
    assert {key for key, *_ in info["mismatched_keys"]} == {TAMPERED_KEY}
    loaded, expected = model.state_dict(), source.state_dict()
    assert tuple(loaded[TAMPERED_KEY].shape) == (32, 32)
    for key in expected:
        if key != TAMPERED_KEY:
            torch.testing.assert_close(loaded[key], expected[key], rtol=0, atol=0, msg=key)


def test_classification_head_with_other_num_labels_needs_ignore_mismatched_sizes(tmp_path):
    """The usual reason for `ignore_mismatched_sizes`: a fine-tuned checkpoint reused with another label count."""
    config = NucleotideTransformerModelTester("v2").get_config(num_labels=2)
    NucleotideTransformerForSequenceClassification(config).save_pretrained(tmp_path)
    with pytest.raises(ValueError, match=re.escape("'classifier.out_proj.weight': checkpoint (2, 32), model (3, 32)")):
        NucleotideTransformerForSequenceClassification.from_pretrained(tmp_path, num_labels=3)
    model = NucleotideTransformerForSequenceClassification.from_pretrained(
        tmp_path, num_labels=3, ignore_mismatched_sizes=True
    )
    assert tuple(model.classifier.out_proj.weight.shape) == (3, 32)


def _mlm_and_bare_checkpoints(tmp_path, published_v1, published_v2):
    tester = NucleotideTransformerModelTester("v2")
    NucleotideTransformerForMaskedLM(tester.get_config()).save_pretrained(tmp_path / "mlm")
    NucleotideTransformerModel(tester.get_config()).save_pretrained(tmp_path / "bare")
    return {
        "mlm": tmp_path / "mlm",
        "bare": tmp_path / "bare",
        "published-v1": published_v1[0],  # saved by transformers' EsmForMaskedLM (contact head, position_ids)
        "published-v2": published_v2[0],  # remote-code layout (unused position table, contact head, inv_freq)
    }


@pytest.mark.parametrize(
    "cls,expected",
    [
        (
            NucleotideTransformerForSequenceClassification,
            "NucleotideTransformerForSequenceClassification: new classification head (classifier.dense, "
            "classifier.out_proj) initialised; train it before use.",
        ),
        (
            NucleotideTransformerForTokenClassification,
            "NucleotideTransformerForTokenClassification: new token-classification head (classifier) initialised; "
            "train it before use.",
        ),
    ],
    ids=["sequence", "token"],
)
def test_head_swap_load_says_one_line_instead_of_a_load_report(
    tmp_path, capfd, published_v1, published_v2, cls, expected
):
    for name, folder in _mlm_and_bare_checkpoints(tmp_path, published_v1, published_v2).items():
        capfd.readouterr()
        with _logged() as records:
            model, info = cls.from_pretrained(folder, output_loading_info=True)
        out, err = capfd.readouterr()
        messages = _warnings_and_above(records)
        assert messages == [expected], (name, messages)
        assert "LOAD REPORT" not in out + err, (name, out, err)
        # The head is still reported as missing to whoever asks, and it was initialised (not left on meta).
        assert info["missing_keys"] and all(key.startswith("classifier.") for key in info["missing_keys"]), name
        assert all(p.device.type == "cpu" and torch.isfinite(p).all() for p in model.classifier.parameters()), name


def test_loads_with_nothing_new_say_nothing(tmp_path, capfd):
    """A checkpoint that fits the class exactly: no load report, no head line."""
    tester = NucleotideTransformerModelTester("v2")
    for cls in ALL_CLASSES:
        cls(tester.get_config()).save_pretrained(tmp_path / cls.__name__)
        capfd.readouterr()
        with _logged() as records:
            cls.from_pretrained(tmp_path / cls.__name__)
        out, err = capfd.readouterr()
        assert _warnings_and_above(records) == [], cls.__name__
        assert "LOAD REPORT" not in out + err, cls.__name__


def test_head_swap_with_a_missing_encoder_key_still_reports_and_fails(tmp_path):
    """Only the new head is quiet: an encoder key the checkpoint lacks is still in transformers' report, and the load
    fails naming it, without announcing the head first."""
    tester = NucleotideTransformerModelTester("v2")
    source = NucleotideTransformerForMaskedLM(tester.get_config())
    state = {k: v for k, v in source.state_dict().items() if k != TAMPERED_KEY}
    source.save_pretrained(tmp_path, state_dict=state)
    with _logged() as records, pytest.raises(ValueError, match=re.escape(TAMPERED_KEY)):
        NucleotideTransformerForSequenceClassification.from_pretrained(tmp_path)
    messages = _warnings_and_above(records)
    assert len(messages) == 1 and "LOAD REPORT" in messages[0], messages
    assert "encoder.layer.0.attention.self.key.weight" in messages[0] and "classifier" not in messages[0]


@pytest.mark.parametrize("version", VERSIONS)
def test_no_deprecation_warnings_in_forward_training_checkpointing_and_save_load(tmp_path, version):
    """Our code calls no deprecated transformers or torch API on these paths (transformers 5)."""
    tester = NucleotideTransformerModelTester(version)
    ids, mask = tester.prepare_inputs()
    with warnings.catch_warnings(record=True) as caught, _logged() as records:
        warnings.simplefilter("always")
        for cls in (NucleotideTransformerForMaskedLM, NucleotideTransformerForSequenceClassification):
            model = cls(tester.get_config(num_labels=2)).train()
            labels = ids.masked_fill(mask == 0, -100) if cls is NucleotideTransformerForMaskedLM else ids[:, 1] % 2
            model(ids, attention_mask=mask, labels=labels).loss.backward()
            model.activation_checkpointing_enable()
            model(ids, attention_mask=mask, labels=labels).loss.backward()
            model.activation_checkpointing_disable()
            model.eval()
            with torch.no_grad():
                expected = model(ids, attention_mask=mask).logits
            model.save_pretrained(tmp_path / cls.__name__)
            loaded = cls.from_pretrained(tmp_path / cls.__name__)
            with torch.no_grad():
                torch.testing.assert_close(loaded(ids, attention_mask=mask).logits, expected, rtol=0, atol=0)
            copy.deepcopy(loaded)
    deprecations = [
        f"{w.category.__name__}: {w.message} ({w.filename}:{w.lineno})"
        for w in caught
        if issubclass(w.category, (DeprecationWarning, PendingDeprecationWarning, FutureWarning))
    ]
    assert deprecations == []
    assert [m for m in _warnings_and_above(records) if "deprecat" in m.lower()] == []
