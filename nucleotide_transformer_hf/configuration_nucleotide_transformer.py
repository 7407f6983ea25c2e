# Copyright 2026 The nucleotide_transformer_hf authors. Licensed under the Apache License, Version 2.0.
"""Nucleotide Transformer (NT v1 / v2) model configuration.

This file must keep working when copied alone next to a checkpoint (Hub remote code): it imports only
`transformers` and `huggingface_hub`.
"""

from typing import Any

from huggingface_hub.dataclasses import strict
from transformers import PreTrainedConfig

# The two published architecture families. Everything that distinguishes v1 from v2 is here, once.
# Source: docs/architecture.md#v1-and-v2-at-a-glance and docs/architecture.md#published-model-shapes (HF config.json values of the published checkpoints).
ARCHITECTURE_VERSIONS: dict[str, dict[str, Any]] = {
    "v1": {
        "vocab_size": 4105,  # 4107-line vocab.txt; <eos>/<bos> (ids 4105/4106) have no embedding row
        "max_position_embeddings": 1002,  # 1,000 tokens incl. <cls> + the ESM padding offset of 2
        "position_embedding_type": "absolute",
        "ffn_activation": "gelu",
        "ffn_bias": True,
        "token_dropout": True,
    },
    "v2": {
        "vocab_size": 4107,
        "max_position_embeddings": 2050,  # 2,048 tokens incl. <cls>; rotary, so no table is built
        "position_embedding_type": "rotary",
        "ffn_activation": "swiglu",
        "ffn_bias": False,
        "token_dropout": False,
    },
}

# Published InstaDeep checkpoints, named as on the Hub: (architecture version, shape).
# v2-250m's head count (16) is UNVERIFIED in the reference (§2.1): change it here if its config.json says otherwise.
PUBLISHED_MODELS: dict[str, tuple[str, dict[str, int]]] = {
    "nucleotide-transformer-500m-human-ref": (
        "v1",
        {"hidden_size": 1280, "num_hidden_layers": 24, "num_attention_heads": 20, "intermediate_size": 5120},
    ),
    "nucleotide-transformer-500m-1000g": (
        "v1",
        {"hidden_size": 1280, "num_hidden_layers": 24, "num_attention_heads": 20, "intermediate_size": 5120},
    ),
    "nucleotide-transformer-2.5b-1000g": (
        "v1",
        {"hidden_size": 2560, "num_hidden_layers": 32, "num_attention_heads": 20, "intermediate_size": 10240},
    ),
    "nucleotide-transformer-2.5b-multi-species": (
        "v1",
        {"hidden_size": 2560, "num_hidden_layers": 32, "num_attention_heads": 20, "intermediate_size": 10240},
    ),
    "nucleotide-transformer-v2-50m-multi-species": (
        "v2",
        {"hidden_size": 512, "num_hidden_layers": 12, "num_attention_heads": 16, "intermediate_size": 2048},
    ),
    "nucleotide-transformer-v2-100m-multi-species": (
        "v2",
        {"hidden_size": 512, "num_hidden_layers": 22, "num_attention_heads": 16, "intermediate_size": 2048},
    ),
    "nucleotide-transformer-v2-250m-multi-species": (
        "v2",
        {"hidden_size": 768, "num_hidden_layers": 24, "num_attention_heads": 16, "intermediate_size": 3072},
    ),
    "nucleotide-transformer-v2-500m-multi-species": (
        "v2",
        {"hidden_size": 1024, "num_hidden_layers": 29, "num_attention_heads": 16, "intermediate_size": 4096},
    ),
}


# Keys of transformers' EsmConfig (and of InstaDeep's v2 remote `esm_config.EsmConfig`) with no NT meaning: dropped
# when a published config is read. Everything else passes through (see `published_config_to_native`).
_ESM_ONLY_KEYS = (
    "model_type",
    "auto_map",
    "architectures",
    "is_folding_model",
    "esmfold_config",
    "vocab_list",
    "use_cache",
    "add_cross_attention",
    "eos_token_id",
    "bos_token_id",
    "add_bias_fnn",
)


def published_config_to_native(config_dict: dict[str, Any]) -> dict[str, Any]:
    """Maps a published NT `config.json` (v1: transformers' `model_type: "esm"`; v2: InstaDeep's remote-code config,
    no `model_type`, with `add_bias_fnn`) to our fields. Our own configs are returned unchanged.

    v2's remote code always uses a SwiGLU FFN (`intermediate.dense` has 2·F outputs, docs/architecture.md#feed-forward-network), so the presence
    of `add_bias_fnn` marks a v2 config; native ESM (v1) is GELU with biases.
    """
    model_type = config_dict.get("model_type")
    if model_type == NucleotideTransformerConfig.model_type:
        return config_dict
    is_v2_remote = "add_bias_fnn" in config_dict
    if model_type not in ("esm", None) or (model_type is None and not is_v2_remote):
        raise ValueError(
            f"Not a Nucleotide Transformer config: model_type={model_type!r}. Expected "
            f"{NucleotideTransformerConfig.model_type!r}, a published v1 config ('esm') or a published v2 config "
            "(no model_type, with 'add_bias_fnn')."
        )
    if config_dict.get("is_folding_model"):
        raise ValueError("This is an ESMFold (protein structure) config, not a Nucleotide Transformer.")
    if config_dict.get("is_decoder") or config_dict.get("add_cross_attention"):
        raise ValueError("Nucleotide Transformer is a bidirectional encoder; this config is a decoder.")
    native = {key: value for key, value in config_dict.items() if key not in _ESM_ONLY_KEYS}
    native["ffn_activation"] = "swiglu" if is_v2_remote else "gelu"
    native["ffn_bias"] = bool(config_dict.get("add_bias_fnn", True))
    native.setdefault("position_embedding_type", "absolute")
    native.setdefault("token_dropout", False)
    native.setdefault("emb_layer_norm_before", False)
    native["tie_word_embeddings"] = bool(config_dict.get("tie_word_embeddings", True))  # EsmConfig's default
    return native


@strict
class NucleotideTransformerConfig(PreTrainedConfig):
    r"""
    Configuration of a Nucleotide Transformer encoder (NT v1 or v2). The defaults are the v2-50m architecture.

    Use [`NucleotideTransformerConfig.from_preset`] for the published shapes: `"v1"`, `"v2"` (architecture
    families with the default width), or a Hub name such as `"nucleotide-transformer-v2-50m-multi-species"`.

    Args:
        vocab_size (`int`, defaults to 4107):
            Rows of the token embedding and the LM head. 4105 for v1 (its `<eos>`/`<bos>` have no row), 4107 for v2.
        hidden_size (`int`, defaults to 512):
            Width of the residual stream.
        num_hidden_layers (`int`, defaults to 12):
            Number of pre-LayerNorm transformer blocks.
        num_attention_heads (`int`, defaults to 16):
            Attention heads per block; `hidden_size` must be divisible by it.
        intermediate_size (`int`, defaults to 2048):
            FFN width F. With `ffn_activation="swiglu"` the first FFN projection has 2·F outputs (gate, then value).
        ffn_activation (`str`, defaults to `"swiglu"`):
            `"gelu"` (v1: exact erf GELU) or `"swiglu"` (v2: `SiLU(x W_gate) * (x W_value)`).
        ffn_bias (`bool`, defaults to `False`):
            Whether the two FFN projections have biases (v1 yes, v2 no). Published v2 configs call it `add_bias_fnn`.
        position_embedding_type (`str`, defaults to `"rotary"`):
            `"absolute"` (v1: learned table, ESM offset — the first real token reads row `pad_token_id + 1`) or
            `"rotary"` (v2: RoPE on queries and keys, non-interleaved halves).
        max_position_embeddings (`int`, defaults to 2050):
            Context in tokens plus 2 (ESM convention): 1002 for v1 (1,000 tokens), 2050 for v2 (2,048 tokens). Sizes
            the learned table when `position_embedding_type="absolute"`; see [`~NucleotideTransformerConfig.context_length`].
        rope_theta (`float`, defaults to 10000.0):
            RoPE base period.
        token_dropout (`bool`, defaults to `False`):
            ESM mask-dropout (v1): `<mask>` embeddings are zeroed and all embeddings rescaled by
            `(1 - 0.15·0.8) / (1 - observed mask ratio)`; active at inference too.
        emb_layer_norm_before (`bool`, defaults to `False`):
            LayerNorm right after the embeddings (False in every published NT checkpoint).
        layer_norm_eps (`float`, defaults to 1e-12):
            LayerNorm epsilon (the published HF configs' value).
        hidden_dropout_prob (`float`, defaults to 0.0), attention_probs_dropout_prob (`float`, defaults to 0.0):
            Dropout on the residual branches and on attention probabilities (0 in NT).
        initializer_range (`float`, defaults to 0.02):
            Std of the normal initialiser for weights trained from scratch.
        classifier_pooling (`str`, defaults to `"cls"`):
            What the sequence-classification head reads: `"cls"` (the `<cls>` token, as transformers' ESM head) or
            `"mean"` (mean over non-padding tokens, `<cls>` excluded).
        classifier_dropout (`float`, *optional*):
            Dropout in the classification heads; `hidden_dropout_prob` when unset.

    Example:

    ```python
    >>> from nucleotide_transformer_hf import NucleotideTransformerConfig, NucleotideTransformerForMaskedLM
    >>> config = NucleotideTransformerConfig.from_preset("v2", num_hidden_layers=2, hidden_size=64, intermediate_size=128)
    >>> model = NucleotideTransformerForMaskedLM(config)
    ```
    """

    model_type = "nucleotide_transformer"

    vocab_size: int = 4107
    hidden_size: int = 512
    num_hidden_layers: int = 12
    num_attention_heads: int = 16
    intermediate_size: int = 2048
    ffn_activation: str = "swiglu"
    ffn_bias: bool = False
    position_embedding_type: str = "rotary"
    max_position_embeddings: int = 2050
    rope_theta: float = 10000.0
    token_dropout: bool = False
    emb_layer_norm_before: bool = False
    layer_norm_eps: float = 1e-12
    hidden_dropout_prob: float = 0.0
    attention_probs_dropout_prob: float = 0.0
    initializer_range: float = 0.02
    classifier_pooling: str = "cls"
    classifier_dropout: float | None = None
    pad_token_id: int | None = 1
    mask_token_id: int | None = 2
    cls_token_id: int | None = 3
    bos_token_id: int | None = None
    eos_token_id: int | None = None
    tie_word_embeddings: bool = False
    is_decoder: bool = False

    def validate_architecture(self):
        """Checks the NT-specific fields. `@strict` calls it when the config is built; every NT model calls it again
        when it is built, so that a field changed afterwards (`config.hidden_size = 30`) fails there, by name."""
        super().validate_architecture()
        for name in ("vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be a positive integer, got {getattr(self, name)}.")
        if self.hidden_size % self.num_attention_heads != 0:
            raise ValueError(
                f"hidden_size ({self.hidden_size}) must be divisible by num_attention_heads ({self.num_attention_heads})."
            )
        if self.position_embedding_type not in ("absolute", "rotary"):
            raise ValueError(
                f"position_embedding_type must be 'absolute' or 'rotary', got {self.position_embedding_type!r}."
            )
        head_dim = self.hidden_size // self.num_attention_heads
        if self.position_embedding_type == "rotary" and head_dim % 2:
            raise ValueError(
                f"Rotary position embeddings need an even head dimension; hidden_size ({self.hidden_size}) / "
                f"num_attention_heads ({self.num_attention_heads}) = {head_dim}."
            )
        if self.ffn_activation not in ("gelu", "swiglu"):
            raise ValueError(f"ffn_activation must be 'gelu' or 'swiglu', got {self.ffn_activation!r}.")
        if self.classifier_pooling not in ("cls", "mean"):
            raise ValueError(f"classifier_pooling must be 'cls' or 'mean', got {self.classifier_pooling!r}.")
        if self.max_position_embeddings <= (self.pad_token_id or 0) + 1:
            raise ValueError(
                f"max_position_embeddings ({self.max_position_embeddings}) is too small to hold any token: it must be "
                f"more than pad_token_id + 1 ({(self.pad_token_id or 0) + 1})."
            )

    @classmethod
    def get_config_dict(cls, pretrained_model_name_or_path, **kwargs):
        """As in transformers, then published NT configs (v1 `esm`, v2 remote code) are mapped to our fields."""
        config_dict, kwargs = super().get_config_dict(pretrained_model_name_or_path, **kwargs)
        return published_config_to_native(config_dict), kwargs

    @property
    def context_length(self) -> int:
        """Longest input the model accepts, in tokens including `<cls>` (1,000 for v1, 2,048 for v2)."""
        return self.max_position_embeddings - (self.pad_token_id or 0) - 1

    @property
    def architecture_version(self) -> str | None:
        """`"v1"` or `"v2"` when the architecture fields match a published family, else `None`."""
        for version, fields in ARCHITECTURE_VERSIONS.items():
            keys = ("position_embedding_type", "ffn_activation", "ffn_bias", "token_dropout")
            if all(getattr(self, key) == fields[key] for key in keys):
                return version
        return None

    @classmethod
    def from_preset(cls, name: str, **overrides: Any) -> "NucleotideTransformerConfig":
        """Config for `"v1"`, `"v2"` or a published model name (see `PUBLISHED_MODELS`), with keyword overrides."""
        if name in ARCHITECTURE_VERSIONS:
            version, shape = name, {}
        elif name in PUBLISHED_MODELS:
            version, shape = PUBLISHED_MODELS[name]
        else:
            known = sorted(ARCHITECTURE_VERSIONS) + sorted(PUBLISHED_MODELS)
            raise ValueError(f"Unknown preset {name!r}; choose one of: {', '.join(known)}.")
        return cls(**{**ARCHITECTURE_VERSIONS[version], **shape, **overrides})


__all__ = ["ARCHITECTURE_VERSIONS", "PUBLISHED_MODELS", "NucleotideTransformerConfig", "published_config_to_native"]
