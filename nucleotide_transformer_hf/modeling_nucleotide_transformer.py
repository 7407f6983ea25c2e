# Copyright 2026 The nucleotide_transformer_hf authors. Licensed under the Apache License, Version 2.0.
# Architecture after transformers' `models/esm/modeling_esm.py` (Meta / HuggingFace, Apache-2.0) and InstaDeep's
# Nucleotide Transformer (JAX reference; facts in docs/architecture.md#forward-pass and docs/checkpoints.md#state-dict-keys).
"""PyTorch Nucleotide Transformer (NT v1 and v2).

State-dict keys follow the published checkpoints' ESM layout (`esm.embeddings.word_embeddings.weight`,
`esm.encoder.layer.{i}.attention.self.query.weight`, `lm_head.decoder.weight`, ...) so published weights load
without renaming. This file must keep working when copied alone next to a checkpoint (Hub remote code): it imports
only torch, transformers and, relatively, our configuration module.
"""

import math
from collections.abc import Callable

import torch
from torch import nn
from torch.nn import BCEWithLogitsLoss, CrossEntropyLoss, MSELoss
from transformers import PreTrainedModel
from transformers import initialization as init
from transformers.masking_utils import create_bidirectional_mask
from transformers.modeling_layers import GradientCheckpointingLayer
from transformers.modeling_outputs import (
    BaseModelOutput,
    MaskedLMOutput,
    SequenceClassifierOutput,
    TokenClassifierOutput,
)
from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS, load_state_dict
from transformers.utils import logging

from .configuration_nucleotide_transformer import NucleotideTransformerConfig

logger = logging.get_logger(__name__)

# Tensors that published checkpoints carry but the NT forward pass never reads (docs/checkpoints.md#unused-tensors-dropped-on-load). They are
# dropped on load, by exact pattern, so that nothing else can disappear silently.
UNUSED_CHECKPOINT_KEYS = {
    "contact_head": r"contact_head\.regression\.(weight|bias)$",  # ESM protein contact head, untrained for DNA
    "position_ids": r"embeddings\.position_ids$",  # old persistent buffer, recomputed
    "rotary_inv_freq": r"encoder\.layer\.\d+\.attention\.self\.rotary_embeddings\.inv_freq$",  # v2, recomputed
    "rotary_position_table": r"embeddings\.position_embeddings\.weight$",  # v2 only: built but never used
}

# ESM's training-time masking rate (15% selected x 80% replaced by <mask>), used by the token-dropout rescale.
MASK_RATIO_TRAIN = 0.15 * 0.8


class CheckpointShapeError(ValueError, RuntimeError):
    """A checkpoint tensor whose shape differs from the model's. A `ValueError` (the model and the weights disagree);
    also a `RuntimeError`, the type transformers raises for the same case, so that existing handlers still catch it."""


def gelu(x: torch.Tensor) -> torch.Tensor:
    """Exact (erf) GELU, as in ESM and NT v1."""
    return x * 0.5 * (1.0 + torch.erf(x / math.sqrt(2.0)))


def apply_rotary(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, scale: float = 1.0) -> torch.Tensor:
    """RoPE on (batch, heads, length, head_dim), non-interleaved halves (GPT-NeoX style, as NT v2), in float32:
    `[x1·cos − x2·sin, x2·cos + x1·sin]` with `cos`/`sin` of half width, times `scale`.

    Equal to the usual `x·cat(cos, cos) + rotate_half(x)·cat(sin, sin)`, written on the halves so that no rotated
    copy of `x` is built; `scale` (the query's 1/√d) is folded into the small tables instead of a pass over `x`.
    """
    if scale != 1.0:
        cos, sin = cos * scale, sin * scale
    x1, x2 = x.float().chunk(2, dim=-1)
    return torch.cat((x1 * cos - x2 * sin, x2 * cos + x1 * sin), dim=-1).to(x.dtype)


def create_position_ids_from_input_ids(input_ids: torch.Tensor, padding_idx: int) -> torch.Tensor:
    """ESM/fairseq positions: real tokens count from `padding_idx + 1`, padding tokens get `padding_idx`."""
    mask = input_ids.ne(padding_idx).int()
    return (torch.cumsum(mask, dim=1).type_as(mask) * mask).long() + padding_idx


class NucleotideTransformerRotaryEmbedding(nn.Module):
    """cos/sin tables for RoPE: `inv_freq = 1 / theta^(arange(0, d, 2) / d)`, positions 0..L-1 (`<cls>` is 0)."""

    def __init__(self, config: NucleotideTransformerConfig):
        super().__init__()
        self.config = config
        # Not persistent: recomputed from the config, so per-layer copies in published v2 files are redundant.
        self.register_buffer("inv_freq", self.compute_inv_freq(config), persistent=False)

    @staticmethod
    def compute_inv_freq(config: NucleotideTransformerConfig) -> torch.Tensor:
        head_dim = config.hidden_size // config.num_attention_heads
        return 1.0 / (config.rope_theta ** (torch.arange(0, head_dim, 2, dtype=torch.float) / head_dim))

    def forward(self, x: torch.Tensor, position_ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        freqs = position_ids[..., None].float() * self.inv_freq.to(device=x.device, dtype=torch.float)
        freqs = freqs[:, None]  # (batch or 1, 1, length, head_dim / 2): each frequency serves a pair (i, i + d/2)
        return freqs.cos(), freqs.sin()


class NucleotideTransformerEmbeddings(nn.Module):
    """Token embeddings, v1 token-dropout rescale and v1 learned positions (ESM offset)."""

    def __init__(self, config: NucleotideTransformerConfig):
        super().__init__()
        self.word_embeddings = nn.Embedding(config.vocab_size, config.hidden_size, padding_idx=config.pad_token_id)
        self.layer_norm = (
            nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps) if config.emb_layer_norm_before else None
        )
        self.padding_idx = config.pad_token_id
        self.position_embedding_type = config.position_embedding_type
        if self.position_embedding_type == "absolute":
            self.position_embeddings = nn.Embedding(
                config.max_position_embeddings, config.hidden_size, padding_idx=self.padding_idx
            )
        self.token_dropout = config.token_dropout
        self.mask_token_id = config.mask_token_id

    def forward(self, input_ids=None, attention_mask=None, position_ids=None, inputs_embeds=None):
        if inputs_embeds is None:
            inputs_embeds = self.word_embeddings(input_ids)
        embeddings = inputs_embeds

        # ESM "mask dropout": <mask> rows are zeroed and the rest scaled as if the training-time masking rate had
        # been dropped out; at inference with no <mask> the factor is 0.88 — NT v1 weights expect it.
        if self.token_dropout and input_ids is not None:
            is_mask = input_ids == self.mask_token_id
            embeddings = embeddings.masked_fill(is_mask.unsqueeze(-1), 0.0)
            lengths = attention_mask.sum(-1) if attention_mask is not None else input_ids.shape[1]
            mask_ratio_observed = is_mask.sum(-1).float() / lengths
            scale = (1 - MASK_RATIO_TRAIN) / (1 - mask_ratio_observed)
            embeddings = (embeddings * scale[:, None, None]).to(inputs_embeds.dtype)

        if self.position_embedding_type == "absolute":
            if position_ids is None:
                if input_ids is not None:
                    position_ids = create_position_ids_from_input_ids(input_ids, self.padding_idx)
                else:
                    length = inputs_embeds.shape[1]
                    position_ids = torch.arange(
                        self.padding_idx + 1, length + self.padding_idx + 1, device=inputs_embeds.device
                    ).expand(inputs_embeds.shape[:2])
            embeddings = embeddings + self.position_embeddings(position_ids)

        if self.layer_norm is not None:
            embeddings = self.layer_norm(embeddings)
        if attention_mask is not None:
            embeddings = (embeddings * attention_mask.unsqueeze(-1)).to(embeddings.dtype)
        return embeddings


def eager_attention_forward(
    module: nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    scaling: float,
    dropout: float = 0.0,
    **kwargs,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Reference attention: softmax(q kᵀ · scaling + mask) v. Returns (batch, length, heads, head_dim) and weights."""
    attn_weights = torch.matmul(query, key.transpose(2, 3)) * scaling
    if attention_mask is not None:
        attn_weights = attn_weights + attention_mask
    attn_weights = nn.functional.softmax(attn_weights, dim=-1)
    attn_weights = nn.functional.dropout(attn_weights, p=dropout, training=module.training)
    attn_output = torch.matmul(attn_weights, value).transpose(1, 2).contiguous()
    return attn_output, attn_weights


class NucleotideTransformerSelfAttention(nn.Module):
    """Multi-head self-attention with biased q/k/v projections and optional RoPE."""

    def __init__(self, config: NucleotideTransformerConfig):
        super().__init__()
        self.config = config
        self.num_attention_heads = config.num_attention_heads
        self.attention_head_size = config.hidden_size // config.num_attention_heads
        self.query = nn.Linear(config.hidden_size, config.hidden_size)
        self.key = nn.Linear(config.hidden_size, config.hidden_size)
        self.value = nn.Linear(config.hidden_size, config.hidden_size)
        self.dropout = config.attention_probs_dropout_prob
        self.is_causal = False
        # ESM and NT scale the query *before* RoPE; the kernels are then called with scaling 1.
        self.scaling = 1.0

    def forward(self, hidden_states, attention_mask=None, position_embeddings=None, **kwargs):
        input_shape = hidden_states.shape[:-1]
        hidden_shape = (*input_shape, -1, self.attention_head_size)
        query = self.query(hidden_states).view(hidden_shape).transpose(1, 2)
        key = self.key(hidden_states).view(hidden_shape).transpose(1, 2)
        value = self.value(hidden_states).view(hidden_shape).transpose(1, 2)
        scale = self.attention_head_size**-0.5
        if position_embeddings is not None:
            query = apply_rotary(query, *position_embeddings, scale=scale)
            key = apply_rotary(key, *position_embeddings)
        else:
            query = query * scale

        attention_interface: Callable = ALL_ATTENTION_FUNCTIONS.get_interface(
            self.config._attn_implementation, eager_attention_forward
        )
        attn_output, attn_weights = attention_interface(
            self,
            query,
            key,
            value,
            attention_mask,
            dropout=self.dropout if self.training else 0.0,
            scaling=self.scaling,
            **kwargs,
        )
        return attn_output.reshape(*input_shape, -1).contiguous(), attn_weights


class NucleotideTransformerSelfOutput(nn.Module):
    """Attention output projection."""

    def __init__(self, config: NucleotideTransformerConfig):
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.dense(hidden_states))


class NucleotideTransformerAttention(nn.Module):
    """Pre-LN attention sub-block: `x + out(attn(LayerNorm(x)))`."""

    def __init__(self, config: NucleotideTransformerConfig):
        super().__init__()
        self.self = NucleotideTransformerSelfAttention(config)
        self.output = NucleotideTransformerSelfOutput(config)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)

    def forward(self, hidden_states, attention_mask=None, position_embeddings=None, **kwargs):
        attn_output, attn_weights = self.self(
            self.LayerNorm(hidden_states), attention_mask, position_embeddings=position_embeddings, **kwargs
        )
        return hidden_states + self.output(attn_output), attn_weights


class NucleotideTransformerIntermediate(nn.Module):
    """First FFN projection and activation: GELU (v1) or SwiGLU (v2: one weight, gate rows then value rows)."""

    def __init__(self, config: NucleotideTransformerConfig):
        super().__init__()
        self.glu = config.ffn_activation == "swiglu"
        out_features = 2 * config.intermediate_size if self.glu else config.intermediate_size
        self.dense = nn.Linear(config.hidden_size, out_features, bias=config.ffn_bias)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        if not self.glu:
            return gelu(self.dense(hidden_states))
        # Rows [0, F) of the weight are the gate (SiLU side), rows [F, 2F) the value side (docs/architecture.md#feed-forward-network).
        if type(self.dense) is nn.Linear:
            # Two products on the contiguous row blocks of the one weight: faster on CPU than one product of twice the
            # width (benchmarks/), and gate and value come out contiguous for the elementwise ops.
            weight, bias = self.dense.weight, self.dense.bias
            half = weight.shape[0] // 2
            gate = nn.functional.linear(hidden_states, weight[:half], None if bias is None else bias[:half])
            value = nn.functional.linear(hidden_states, weight[half:], None if bias is None else bias[half:])
        else:  # a wrapped layer (an adapter, a quantised linear) runs as itself
            gate, value = self.dense(hidden_states).chunk(2, dim=-1)
        if torch.is_grad_enabled():
            return nn.functional.silu(gate) * value
        return nn.functional.silu(gate, inplace=True).mul_(value)  # no autograd: no extra buffers


class NucleotideTransformerOutput(nn.Module):
    """Second FFN projection (F -> H)."""

    def __init__(self, config: NucleotideTransformerConfig):
        super().__init__()
        self.dense = nn.Linear(config.intermediate_size, config.hidden_size, bias=config.ffn_bias)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.dense(hidden_states))


class NucleotideTransformerLayer(GradientCheckpointingLayer):
    """One pre-LN block: attention sub-block, then `h + FFN(LayerNorm(h))`."""

    def __init__(self, config: NucleotideTransformerConfig):
        super().__init__()
        self.attention = NucleotideTransformerAttention(config)
        self.intermediate = NucleotideTransformerIntermediate(config)
        self.output = NucleotideTransformerOutput(config)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)

    def forward(self, hidden_states, attention_mask=None, position_embeddings=None, **kwargs):
        hidden_states, attn_weights = self.attention(
            hidden_states, attention_mask, position_embeddings=position_embeddings, **kwargs
        )
        hidden_states = hidden_states + self.output(self.intermediate(self.LayerNorm(hidden_states)))
        return hidden_states, attn_weights


class NucleotideTransformerEncoder(nn.Module):
    """The stack of blocks and the final LayerNorm (`emb_layer_norm_after`)."""

    def __init__(self, config: NucleotideTransformerConfig):
        super().__init__()
        self.layer = nn.ModuleList([NucleotideTransformerLayer(config) for _ in range(config.num_hidden_layers)])
        self.emb_layer_norm_after = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.gradient_checkpointing = False

    def forward(
        self,
        hidden_states,
        attention_mask=None,
        position_embeddings=None,
        output_attentions: bool = False,
        output_hidden_states: bool = False,
        **kwargs,
    ) -> BaseModelOutput:
        all_hidden_states = (hidden_states,) if output_hidden_states else None
        all_attentions = () if output_attentions else None
        for i, layer_module in enumerate(self.layer):
            hidden_states, attn_weights = layer_module(
                hidden_states, attention_mask, position_embeddings=position_embeddings, **kwargs
            )
            if output_attentions:
                all_attentions += (attn_weights,)
            if output_hidden_states and i < len(self.layer) - 1:
                all_hidden_states += (hidden_states,)
        hidden_states = self.emb_layer_norm_after(hidden_states)
        # As ESM and the JAX reference: the last hidden state is taken after the final LayerNorm.
        if output_hidden_states:
            all_hidden_states += (hidden_states,)
        return BaseModelOutput(
            last_hidden_state=hidden_states, hidden_states=all_hidden_states, attentions=all_attentions
        )


class NucleotideTransformerPreTrainedModel(PreTrainedModel):
    """Weights initialisation, capabilities and checkpoint-compatibility rules shared by every NT model."""

    config_class = NucleotideTransformerConfig
    config: NucleotideTransformerConfig
    base_model_prefix = "esm"  # the published checkpoints' prefix
    supports_gradient_checkpointing = True
    accepts_loss_kwargs = False
    _no_split_modules = ["NucleotideTransformerLayer", "NucleotideTransformerEmbeddings"]
    _supports_sdpa = True
    _supports_flash_attn = True
    _supports_flex_attn = True
    _supports_attention_backend = True
    _keys_to_ignore_on_load_unexpected = list(UNUSED_CHECKPOINT_KEYS.values())
    # A task head that a masked-LM or bare-encoder checkpoint is expected to lack: (module name, what to call it). When
    # only its weights are missing, `from_pretrained` says so in one line instead of transformers' load-report table.
    _task_head: tuple[str, str] | None = None

    def __init__(self, config: NucleotideTransformerConfig, *inputs, **kwargs):
        # The config was validated when it was built, but its fields may have been changed since
        # (`config.hidden_size = 30`): an impossible architecture fails here, by name, not inside the first forward.
        config.validate_architecture()
        super().__init__(config, *inputs, **kwargs)

    def _init_weights(self, module):
        super()._init_weights(module)
        if isinstance(module, NucleotideTransformerLMHead):
            init.zeros_(module.bias)
        elif isinstance(module, NucleotideTransformerRotaryEmbedding):
            # from_pretrained builds on the meta device; non-persistent buffers must be recomputed here.
            init.copy_(module.inv_freq, module.compute_inv_freq(module.config))

    @classmethod
    def from_pretrained(cls, *args, **kwargs):
        """As in transformers, but a checkpoint whose *encoder* weights do not fit fails loudly, naming the keys, and
        a tensor of the wrong shape fails naming its key and both shapes (`CheckpointShapeError`).

        A new task head (missing head weights) or a head the class does not use (unexpected head weights) stays
        allowed, as when a masked-LM checkpoint is fine-tuned for classification: the new head is announced in one
        warning line instead of transformers' load-report table, and its keys stay in `missing_keys` of
        `output_loading_info`. The published-but-unused tensors of `UNUSED_CHECKPOINT_KEYS` are skipped by name.
        """
        want_info = kwargs.pop("output_loading_info", False)
        model, info = super().from_pretrained(*args, output_loading_info=True, **kwargs)
        # A new task head's weights were kept out of transformers' load report (`_adjust_missing_and_unexpected_keys`):
        # they are missing all the same, and said so below in one line.
        new_head_keys = vars(model).pop("_new_task_head_keys", set())
        info["missing_keys"] |= new_head_keys
        prefix = model.base_model_prefix + "."
        encoder_parts = tuple(name + "." for name, _ in model.base_model.named_children())

        def in_encoder(key: str) -> bool:
            return key.removeprefix(prefix).startswith(encoder_parts)

        missing = sorted(k for k in info["missing_keys"] if in_encoder(k))
        unexpected = sorted(k for k in info["unexpected_keys"] if in_encoder(k))
        if missing or unexpected:
            source = args[0] if args else kwargs.get("pretrained_model_name_or_path")
            raise ValueError(
                f"{source}: the checkpoint's encoder weights do not fit {cls.__name__}. "
                f"Missing: {missing or 'none'}. Unexpected: {unexpected or 'none'}."
            )
        if new_head_keys:
            modules = sorted({key.rpartition(".")[0] for key in new_head_keys})
            logger.warning(
                f"{cls.__name__}: new {cls._task_head[1]} ({', '.join(modules)}) initialised; train it before use."
            )
        return (model, info) if want_info else model

    @classmethod
    def _load_pretrained_model(cls, model, state_dict, checkpoint_files, load_config, *args, **kwargs):
        """As in transformers; then a checkpoint tensor of the wrong shape fails here, naming the checkpoint key and
        both shapes (transformers' own error only points at its load report). `ignore_mismatched_sizes=True` keeps
        transformers' behaviour: such tensors are re-initialised and listed in the report."""
        loading_info, disk_offload_index = super()._load_pretrained_model(
            model, state_dict, checkpoint_files, load_config, *args, **kwargs
        )
        if loading_info.mismatched_keys and not load_config.ignore_mismatched_sizes:
            checkpoint_keys = _checkpoint_keys(state_dict, checkpoint_files)
            prefix = model.base_model_prefix + "."
            lines = []
            for key, checkpoint_shape, model_shape in sorted(loading_info.mismatched_keys, key=lambda item: item[0]):
                # transformers reports the model's name; the checkpoint's may differ by the base-model prefix.
                names = (key, prefix + key, key.removeprefix(prefix))
                checkpoint_key = next((name for name in names if name in checkpoint_keys), key)
                where = "" if checkpoint_key == key else f" (model parameter {key!r})"
                lines.append(
                    f"{checkpoint_key!r}{where}: checkpoint {tuple(checkpoint_shape)}, model {tuple(model_shape)}"
                )
            raise CheckpointShapeError(
                f"{load_config.pretrained_model_name_or_path}: checkpoint tensors of the wrong shape for "
                f"{type(model).__name__}:\n  " + "\n  ".join(lines) + "\nThe config does not describe these "
                "weights. To re-initialise such tensors instead (a task head with another num_labels, for example), "
                "pass ignore_mismatched_sizes=True."
            )
        return loading_info, disk_offload_index

    def _adjust_missing_and_unexpected_keys(self, loading_info) -> None:
        """As in transformers; then the missing weights of a new task head (`_task_head`) are set aside, so that a
        head-swap load prints no load report. `from_pretrained` puts them back in the loading info and says it in one
        line. Missing or unexpected encoder keys are untouched (and `from_pretrained` refuses them)."""
        super()._adjust_missing_and_unexpected_keys(loading_info)
        if self._task_head is None:
            return
        head = self._task_head[0] + "."
        new_head_keys = {key for key in loading_info.missing_keys if key.startswith(head)}
        loading_info.missing_keys -= new_head_keys
        vars(self)["_new_task_head_keys"] = new_head_keys  # read back (and removed) by `from_pretrained`

    def _drop_unused_checkpoint_keys(self, state_dict, prefix, *args):
        """`load_state_dict` pre-hook: removes exactly the published-but-unused tensors (`UNUSED_CHECKPOINT_KEYS`)."""
        import re

        names = [
            name
            for name, pattern in UNUSED_CHECKPOINT_KEYS.items()
            if not (name == "rotary_position_table" and self.config.position_embedding_type == "absolute")
        ]
        patterns = [re.compile(re.escape(prefix) + UNUSED_CHECKPOINT_KEYS[name]) for name in names]
        dropped = [key for key in list(state_dict) if any(p.match(key) for p in patterns)]
        for key in dropped:
            del state_dict[key]
        if dropped:
            logger.info(f"Ignored {len(dropped)} unused checkpoint tensors: {', '.join(sorted(dropped))}")


def _checkpoint_keys(state_dict: dict | None, checkpoint_files: list[str] | None) -> set[str]:
    """The tensor names of a checkpoint (shapes only: read on the meta device). Used for error messages only, so an
    unreadable file gives an empty set rather than a second error."""
    if state_dict is not None:
        return set(state_dict)
    keys = set()
    for file in checkpoint_files or ():
        try:
            keys.update(load_state_dict(file, map_location="meta"))
        except Exception:  # best effort: the message then names the model's key
            pass
    return keys


class NucleotideTransformerModel(NucleotideTransformerPreTrainedModel):
    """The bare NT encoder: token ids in, `last_hidden_state` (after the final LayerNorm) out."""

    # A masked-LM checkpoint's head is expected to go unused here (not reported; encoder keys are still checked).
    _keys_to_ignore_on_load_unexpected = [*UNUSED_CHECKPOINT_KEYS.values(), r"lm_head\."]

    def __init__(self, config: NucleotideTransformerConfig):
        super().__init__(config)
        self.embeddings = NucleotideTransformerEmbeddings(config)
        self.rotary_embeddings = (
            NucleotideTransformerRotaryEmbedding(config) if config.position_embedding_type == "rotary" else None
        )
        self.encoder = NucleotideTransformerEncoder(config)
        self._register_load_state_dict_pre_hook(self._drop_unused_checkpoint_keys)
        self.post_init()

    def get_input_embeddings(self):
        return self.embeddings.word_embeddings

    def set_input_embeddings(self, value):
        self.embeddings.word_embeddings = value

    def _check_length(self, length: int) -> None:
        if self.config.position_embedding_type == "absolute" and length > self.config.context_length:
            raise ValueError(
                f"Input of {length} tokens is longer than this model's context of {self.config.context_length} tokens "
                "(learned positions end there). Truncate it (tokenizer(..., truncation=True)) or split it into windows."
            )

    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.LongTensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
        **kwargs,
    ) -> tuple | BaseModelOutput:
        r"""
        Args:
            input_ids (`torch.LongTensor` of shape `(batch, length)`): token ids from the NT tokenizer.
            attention_mask (`torch.Tensor` of shape `(batch, length)`, *optional*): 1 for tokens, 0 for padding.
            position_ids (`torch.LongTensor`, *optional*): explicit positions (ESM-offset for v1, 0-based for v2).
            inputs_embeds (`torch.Tensor` of shape `(batch, length, hidden)`, *optional*): instead of `input_ids`.
            output_attentions, output_hidden_states, return_dict: as in every transformers model; hidden states are
                `[embeddings, layer_1, ..., layer_{L-1}, final_norm(layer_L)]`.
        """
        output_attentions = output_attentions if output_attentions is not None else self.config.output_attentions
        output_hidden_states = (
            output_hidden_states if output_hidden_states is not None else self.config.output_hidden_states
        )
        return_dict = return_dict if return_dict is not None else self.config.return_dict
        if (input_ids is None) == (inputs_embeds is None):
            raise ValueError("Pass exactly one of input_ids or inputs_embeds.")
        length = (input_ids if input_ids is not None else inputs_embeds).shape[1]
        self._check_length(length)

        hidden_states = self.embeddings(input_ids, attention_mask, position_ids, inputs_embeds)
        mask = create_bidirectional_mask(config=self.config, inputs_embeds=hidden_states, attention_mask=attention_mask)

        position_embeddings = None
        if self.rotary_embeddings is not None:
            if position_ids is None:
                position_ids = torch.arange(length, device=hidden_states.device)[None]
            position_embeddings = self.rotary_embeddings(hidden_states, position_ids)

        outputs = self.encoder(
            hidden_states,
            mask,
            position_embeddings=position_embeddings,
            output_attentions=output_attentions,
            output_hidden_states=output_hidden_states,
            **kwargs,
        )
        return outputs if return_dict else outputs.to_tuple()


class NucleotideTransformerLMHead(nn.Module):
    """Masked-LM head: dense -> GELU -> LayerNorm -> decoder (+ separate bias), untied from the input embeddings."""

    def __init__(self, config: NucleotideTransformerConfig):
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.layer_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.decoder = nn.Linear(config.hidden_size, config.vocab_size, bias=False)
        self.bias = nn.Parameter(torch.zeros(config.vocab_size))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.layer_norm(gelu(self.dense(features)))) + self.bias

    @torch.no_grad()
    def resize_bias(self, num_tokens: int, mean_resizing: bool = True) -> None:
        """Gives the separate bias `num_tokens` entries: the first ones keep their values; added ones get the old
        bias mean (`mean_resizing`, as transformers does for a decoder's own bias) or 0 (this head's initial value)."""
        old_num_tokens = self.bias.shape[0]
        if num_tokens == old_num_tokens:
            return
        bias = self.bias.new_zeros(num_tokens)
        kept = min(num_tokens, old_num_tokens)
        bias[:kept] = self.bias[:kept]
        if num_tokens > old_num_tokens and mean_resizing:
            bias[old_num_tokens:] = self.bias.float().mean().to(bias.dtype)
        self.bias = nn.Parameter(bias, requires_grad=self.bias.requires_grad)


class NucleotideTransformerForMaskedLM(NucleotideTransformerPreTrainedModel):
    """NT with its masked-LM head (the published checkpoints' `EsmForMaskedLM` layout)."""

    _tied_weights_keys = {"lm_head.decoder.weight": "esm.embeddings.word_embeddings.weight"}

    def __init__(self, config: NucleotideTransformerConfig):
        super().__init__(config)
        self.esm = NucleotideTransformerModel(config)
        self.lm_head = NucleotideTransformerLMHead(config)
        self.post_init()

    def get_output_embeddings(self):
        return self.lm_head.decoder

    def set_output_embeddings(self, new_embeddings):
        self.lm_head.decoder = new_embeddings

    def resize_token_embeddings(
        self, new_num_tokens: int | None = None, pad_to_multiple_of: int | None = None, mean_resizing: bool = True
    ) -> nn.Embedding:
        """As in transformers (embeddings and `lm_head.decoder`), and the LM head's separate bias is resized with them:
        it keeps its first entries; added ones get the old mean with `mean_resizing`, else 0."""
        embeddings = super().resize_token_embeddings(new_num_tokens, pad_to_multiple_of, mean_resizing)
        self.lm_head.resize_bias(self.lm_head.decoder.weight.shape[0], mean_resizing)
        return embeddings

    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.LongTensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
        labels: torch.LongTensor | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
        **kwargs,
    ) -> tuple | MaskedLMOutput:
        r"""
        labels (`torch.LongTensor` of shape `(batch, length)`, *optional*): target ids at masked positions, -100
            elsewhere; the loss is the mean cross-entropy over the non -100 positions.
        """
        outputs = self.esm(
            input_ids,
            attention_mask=attention_mask,
            position_ids=position_ids,
            inputs_embeds=inputs_embeds,
            output_attentions=output_attentions,
            output_hidden_states=output_hidden_states,
            return_dict=True,
            **kwargs,
        )
        logits = self.lm_head(outputs.last_hidden_state)
        loss = None
        if labels is not None:
            loss = CrossEntropyLoss()(logits.view(-1, self.config.vocab_size), labels.to(logits.device).view(-1))
        output = MaskedLMOutput(
            loss=loss, logits=logits, hidden_states=outputs.hidden_states, attentions=outputs.attentions
        )
        return output if return_dict is not False else output.to_tuple()


def pool_hidden_states(hidden_states: torch.Tensor, attention_mask: torch.Tensor | None, pooling: str) -> torch.Tensor:
    """`"cls"`: the `<cls>` vector; `"mean"`: mean over real tokens, `<cls>` and padding excluded."""
    if pooling == "cls":
        return hidden_states[:, 0]
    weights = torch.ones(hidden_states.shape[:2], device=hidden_states.device, dtype=hidden_states.dtype)
    if attention_mask is not None:
        weights = attention_mask.to(hidden_states.dtype)
    weights = weights.clone()
    weights[:, 0] = 0  # the <cls> token carries no sequence content
    denominator = weights.sum(-1, keepdim=True).clamp(min=1)
    return (hidden_states * weights.unsqueeze(-1)).sum(1) / denominator


class NucleotideTransformerClassificationHead(nn.Module):
    """Sequence-level head (ESM layout: dense -> tanh -> out_proj) on the pooled representation."""

    def __init__(self, config: NucleotideTransformerConfig):
        super().__init__()
        dropout = config.classifier_dropout if config.classifier_dropout is not None else config.hidden_dropout_prob
        self.pooling = config.classifier_pooling
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.dropout = nn.Dropout(dropout)
        self.out_proj = nn.Linear(config.hidden_size, config.num_labels)

    def forward(self, hidden_states: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        x = self.dropout(pool_hidden_states(hidden_states, attention_mask, self.pooling))
        x = self.dropout(torch.tanh(self.dense(x)))
        return self.out_proj(x)


class NucleotideTransformerForSequenceClassification(NucleotideTransformerPreTrainedModel):
    """NT with a sequence head: single-label, multi-label or regression, chosen by `config.problem_type`."""

    # A masked-LM checkpoint's head is expected to go unused here (not reported; encoder keys are still checked).
    _keys_to_ignore_on_load_unexpected = [*UNUSED_CHECKPOINT_KEYS.values(), r"lm_head\."]
    _task_head = ("classifier", "classification head")

    def __init__(self, config: NucleotideTransformerConfig):
        super().__init__(config)
        self.num_labels = config.num_labels
        self.esm = NucleotideTransformerModel(config)
        self.classifier = NucleotideTransformerClassificationHead(config)
        self.post_init()

    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.LongTensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
        **kwargs,
    ) -> tuple | SequenceClassifierOutput:
        r"""
        labels (`torch.Tensor`, *optional*): class ids `(batch,)` for single-label, multi-hot floats
            `(batch, num_labels)` for multi-label, floats for regression (`num_labels == 1`).
        """
        outputs = self.esm(
            input_ids,
            attention_mask=attention_mask,
            position_ids=position_ids,
            inputs_embeds=inputs_embeds,
            output_attentions=output_attentions,
            output_hidden_states=output_hidden_states,
            return_dict=True,
            **kwargs,
        )
        logits = self.classifier(outputs.last_hidden_state, attention_mask)
        loss = None
        if labels is not None:
            labels = labels.to(logits.device)
            if self.config.problem_type is None:
                if self.num_labels == 1:
                    self.config.problem_type = "regression"
                elif labels.dtype in (torch.long, torch.int):
                    self.config.problem_type = "single_label_classification"
                else:
                    self.config.problem_type = "multi_label_classification"
            if self.config.problem_type == "regression":
                loss = (
                    MSELoss()(logits.squeeze(-1), labels.float()) if self.num_labels == 1 else MSELoss()(logits, labels)
                )
            elif self.config.problem_type == "single_label_classification":
                loss = CrossEntropyLoss()(logits.view(-1, self.num_labels), labels.view(-1))
            else:
                loss = BCEWithLogitsLoss()(logits, labels.to(logits.dtype))
        output = SequenceClassifierOutput(
            loss=loss, logits=logits, hidden_states=outputs.hidden_states, attentions=outputs.attentions
        )
        return output if return_dict is not False else output.to_tuple()


class NucleotideTransformerForTokenClassification(NucleotideTransformerPreTrainedModel):
    """NT with a per-token linear head (labels -100 are ignored, e.g. `<cls>` and padding)."""

    # A masked-LM checkpoint's head is expected to go unused here (not reported; encoder keys are still checked).
    _keys_to_ignore_on_load_unexpected = [*UNUSED_CHECKPOINT_KEYS.values(), r"lm_head\."]
    _task_head = ("classifier", "token-classification head")

    def __init__(self, config: NucleotideTransformerConfig):
        super().__init__(config)
        self.num_labels = config.num_labels
        self.esm = NucleotideTransformerModel(config)
        dropout = config.classifier_dropout if config.classifier_dropout is not None else config.hidden_dropout_prob
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(config.hidden_size, config.num_labels)
        self.post_init()

    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.LongTensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
        labels: torch.LongTensor | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
        **kwargs,
    ) -> tuple | TokenClassifierOutput:
        r"""labels (`torch.LongTensor` of shape `(batch, length)`, *optional*): class per token, -100 to ignore."""
        outputs = self.esm(
            input_ids,
            attention_mask=attention_mask,
            position_ids=position_ids,
            inputs_embeds=inputs_embeds,
            output_attentions=output_attentions,
            output_hidden_states=output_hidden_states,
            return_dict=True,
            **kwargs,
        )
        logits = self.classifier(self.dropout(outputs.last_hidden_state))
        loss = None
        if labels is not None:
            loss = CrossEntropyLoss()(logits.view(-1, self.num_labels), labels.to(logits.device).view(-1))
        output = TokenClassifierOutput(
            loss=loss, logits=logits, hidden_states=outputs.hidden_states, attentions=outputs.attentions
        )
        return output if return_dict is not False else output.to_tuple()


__all__ = [
    "CheckpointShapeError",
    "NucleotideTransformerForMaskedLM",
    "NucleotideTransformerForSequenceClassification",
    "NucleotideTransformerForTokenClassification",
    "NucleotideTransformerModel",
    "NucleotideTransformerPreTrainedModel",
]
