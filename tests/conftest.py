"""Shared fixtures: tiny checkpoints laid out exactly like the published InstaDeep ones (docs/checkpoints.md#published-checkpoint-layouts), and a tiny
randomised masked-LM model with a short context for the engine, pipeline and variant tests."""

import json
import sys
from pathlib import Path

import pytest
import torch
import transformers.dynamic_module_utils as dynamic_module_utils
from safetensors.torch import save_file
from transformers import EsmConfig, EsmForMaskedLM, EsmTokenizer, pipeline

from nucleotide_transformer_hf import (
    NucleotideTransformerConfig,
    NucleotideTransformerForMaskedLM,
    NucleotideTransformerTokenizerFast,
)
from nucleotide_transformer_hf.tokenization_nucleotide_transformer import build_vocab

TINY = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37)


def _randomise(model: torch.nn.Module, seed: int) -> None:
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():  # biases and LayerNorm affine away from their 0/1 init, so every tensor matters
        for parameter in model.parameters():
            parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.2)


def _esm_tokenizer_files(folder: Path, layout: str, model_max_length: int) -> None:
    (folder / "vocab.txt").write_text("\n".join(build_vocab(layout)) + "\n")
    tokenizer = EsmTokenizer(str(folder / "vocab.txt"), eos_token=None, model_max_length=model_max_length)
    tokenizer.save_pretrained(folder)


@pytest.fixture(scope="session")
def published_v1(tmp_path_factory):
    """A tiny v1 checkpoint saved by transformers' EsmForMaskedLM + EsmTokenizer (v1 vocab layout)."""
    folder = tmp_path_factory.mktemp("published-v1")
    config = EsmConfig(
        vocab_size=4105,
        max_position_embeddings=42,
        position_embedding_type="absolute",
        token_dropout=True,
        emb_layer_norm_before=False,
        layer_norm_eps=1e-12,
        pad_token_id=1,
        mask_token_id=2,
        tie_word_embeddings=False,
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
        **TINY,
    )
    model = EsmForMaskedLM(config).eval()
    _randomise(model, 1)
    model.save_pretrained(folder)
    _esm_tokenizer_files(folder, "v1", 40)
    return folder, model


@pytest.fixture(scope="session")
def published_v2(tmp_path_factory):
    """A tiny v2 checkpoint in the published remote-code layout: config without model_type, with auto_map and
    add_bias_fnn; weights with the unused absolute position table, the contact head and per-layer rotary buffers."""
    folder = tmp_path_factory.mktemp("published-v2")
    reference = NucleotideTransformerForMaskedLM(
        NucleotideTransformerConfig.from_preset("v2", max_position_embeddings=66, **TINY)
    )
    _randomise(reference, 2)
    reference.eval()
    config = reference.config
    head_dim = config.hidden_size // config.num_attention_heads
    state = {k: v.clone().contiguous() for k, v in reference.state_dict().items()}
    state["esm.embeddings.position_embeddings.weight"] = torch.randn(66, config.hidden_size)
    state["esm.contact_head.regression.weight"] = torch.randn(1, config.num_hidden_layers * config.num_attention_heads)
    state["esm.contact_head.regression.bias"] = torch.randn(1)
    for i in range(config.num_hidden_layers):
        inv_freq = 1.0 / (10000 ** (torch.arange(0, head_dim, 2).float() / head_dim))
        state[f"esm.encoder.layer.{i}.attention.self.rotary_embeddings.inv_freq"] = inv_freq
    save_file(state, folder / "model.safetensors", metadata={"format": "pt"})
    published_config = {
        "architectures": ["EsmForMaskedLM", "EsmForTokenClassification", "EsmForSequenceClassification"],
        "auto_map": {
            "AutoConfig": "esm_config.EsmConfig",
            "AutoModelForMaskedLM": "modeling_esm.EsmForMaskedLM",
            "AutoModelForSequenceClassification": "modeling_esm.EsmForSequenceClassification",
            "AutoModelForTokenClassification": "modeling_esm.EsmForTokenClassification",
        },
        "add_bias_fnn": False,
        "attention_probs_dropout_prob": 0.0,
        "emb_layer_norm_before": False,
        "esmfold_config": None,
        "hidden_act": "gelu",
        "hidden_dropout_prob": 0.0,
        "hidden_size": config.hidden_size,
        "initializer_range": 0.02,
        "intermediate_size": config.intermediate_size,
        "is_folding_model": False,
        "layer_norm_eps": 1e-12,
        "mask_token_id": 2,
        "max_position_embeddings": 66,
        "num_attention_heads": config.num_attention_heads,
        "num_hidden_layers": config.num_hidden_layers,
        "pad_token_id": 1,
        "position_embedding_type": "rotary",
        "tie_word_embeddings": False,
        "token_dropout": False,
        "torch_dtype": "float32",
        "transformers_version": "4.32.0.dev0",
        "use_cache": False,
        "vocab_list": None,
        "vocab_size": 4107,
    }
    (folder / "config.json").write_text(json.dumps(published_config, indent=2))
    _esm_tokenizer_files(folder, "v2", 64)
    return folder, reference


@pytest.fixture
def v1_inputs():
    ids = torch.randint(4, 4100, (2, 12), generator=torch.Generator().manual_seed(3))
    ids[:, 0] = 3
    ids[1, 8:] = 1
    return ids, (ids != 1).long()


@pytest.fixture
def v2_inputs():
    ids = torch.randint(6, 4102, (2, 12), generator=torch.Generator().manual_seed(4))
    ids[:, 0] = 3
    ids[1, 8:] = 1
    return ids, (ids != 1).long()


# ---- a tiny masked-LM with a short context, for the engine, the pipelines and variant scoring ---------------------

CONTEXT = 64  # tokens incl. <cls>: windows of 63 tokens = 378 bp


def build_tiny():
    """The tiny masked-LM (2 layers of width 32, a 64-token context) with larger random weights than the init, so that
    every input base moves the outputs; the same weights whatever the global torch seed."""
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
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.2)
    return model, NucleotideTransformerTokenizerFast(vocab_layout="v2", model_max_length=CONTEXT)


@pytest.fixture(scope="module")
def tiny():
    return build_tiny()


@pytest.fixture(scope="session")
def tiny_saved(tmp_path_factory):
    """`build_tiny()`'s model and tokenizer saved in a folder, as the commands load them."""
    folder = tmp_path_factory.mktemp("tiny-nt")
    model, tokenizer = build_tiny()
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def embed(tiny):
    return pipeline("dna-embedding", model=tiny[0], tokenizer=tiny[1], device="cpu")


@pytest.fixture(scope="module")
def score(tiny):
    return pipeline("variant-effect", model=tiny[0], tokenizer=tiny[1], device="cpu")


@pytest.fixture(scope="module")
def remote_code_cache(tmp_path_factory):
    """transformers copies remote code into its modules cache: a temporary one here, not the user's home. The
    cache folder is read once at import (`dynamic_module_utils.HF_MODULES_CACHE`), so it is patched there; the
    environment variables are for any subprocess. `transformers_modules` packages imported before are set aside and
    put back afterwards, those imported meanwhile dropped."""
    cache = tmp_path_factory.mktemp("hf-modules")
    before = {name: module for name, module in sys.modules.items() if name.split(".")[0] == "transformers_modules"}
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HF_MODULES_CACHE", str(cache))
        patch.setenv("HF_HUB_OFFLINE", "1")
        patch.setattr(dynamic_module_utils, "HF_MODULES_CACHE", str(cache))
        # `transformers_modules` is imported from the first cache on sys.path: ours, whatever was loaded before
        patch.setattr(sys, "path", [str(cache), *sys.path])
        for name in before:
            patch.delitem(sys.modules, name)
        yield cache
        for name in [name for name in sys.modules if name.split(".")[0] == "transformers_modules"]:
            del sys.modules[name]
