"""Published checkpoints in: InstaDeep's Hugging Face folders (v1 `EsmForMaskedLM`, v2 remote code) and JAX
checkpoints (`jax_model/hyperparams.json` + parameter pytree) to our native format.

Published folders also load directly, `NucleotideTransformerForMaskedLM.from_pretrained(folder)`: the config is
mapped by `NucleotideTransformerConfig` and the unused tensors are skipped by name. Conversion adds what a
direct load cannot: a report of what was mapped and ignored, a refusal of pickle files unless asked for, and a
native folder (our config, `tokenizer.json`, sharded safetensors, the code for `trust_remote_code`).
"""

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file

from .configuration_nucleotide_transformer import NucleotideTransformerConfig, published_config_to_native
from .errors import InputError
from .modeling_nucleotide_transformer import UNUSED_CHECKPOINT_KEYS, NucleotideTransformerForMaskedLM
from .tokenization_nucleotide_transformer import NucleotideTransformerTokenizerFast, build_vocab

PICKLE_REFUSED = (
    "{path} is a pickle file, and unpickling can run arbitrary code. Convert it only if you trust its source, by "
    "passing allow_pickle=True (command line: --allow-pickle). Safetensors files are read without this flag."
)


@dataclass
class ConversionReport:
    """What a conversion read, mapped and ignored."""

    source: str
    config_mapping: dict[str, tuple[object, object]] = field(default_factory=dict)  # field: (published, ours)
    loaded_tensors: int = 0
    ignored_keys: list[str] = field(default_factory=list)

    def summary(self) -> str:
        lines = [f"source: {self.source}", f"tensors loaded: {self.loaded_tensors}"]
        lines += [f"config: {key}: {old!r} -> {new!r}" for key, (old, new) in sorted(self.config_mapping.items())]
        lines.append(f"ignored (unused by the NT forward pass): {len(self.ignored_keys)}")
        lines += [f"  {key}" for key in self.ignored_keys]
        return "\n".join(lines)


def split_unused_keys(keys, config: NucleotideTransformerConfig) -> tuple[list[str], list[str]]:
    """Splits checkpoint keys into (kept, ignored); ignored are exactly the reference's unused tensors."""
    names = [
        n
        for n in UNUSED_CHECKPOINT_KEYS
        if not (n == "rotary_position_table" and config.position_embedding_type == "absolute")
    ]
    patterns = [re.compile(r"(^|\.)" + UNUSED_CHECKPOINT_KEYS[n]) for n in names]
    kept, ignored = [], []
    for key in keys:
        (ignored if any(p.search(key) for p in patterns) else kept).append(key)
    return kept, sorted(ignored)


# transformers' "legacy" renaming, applied by its own loader and reversed by its `save_pretrained` (5.x writes
# `LayerNorm.gamma/beta`): read both spellings.
_LEGACY_NORM = re.compile(r"(LayerNorm\.)(gamma|beta)$")
_LEGACY_NAMES = {"gamma": "weight", "beta": "bias"}


def read_state_dict(folder: str | os.PathLike, allow_pickle: bool = False) -> dict[str, torch.Tensor]:
    """All tensors of a Hugging Face checkpoint folder: safetensors (single or sharded) first, else pickle files
    (`pytorch_model.bin`, single or sharded) only with `allow_pickle=True` (loaded with `weights_only=True`)."""
    folder = Path(folder)
    for single, index in (
        ("model.safetensors", "model.safetensors.index.json"),
        ("pytorch_model.bin", "pytorch_model.bin.index.json"),
    ):
        if (folder / index).is_file():
            files = sorted(set(json.loads((folder / index).read_text())["weight_map"].values()))
        elif (folder / single).is_file():
            files = [single]
        else:
            continue
        state: dict[str, torch.Tensor] = {}
        for name in files:
            path = folder / name
            if name.endswith(".safetensors"):
                state.update(load_file(path))
            elif not allow_pickle:
                raise InputError(PICKLE_REFUSED.format(path=path))
            else:
                state.update(torch.load(path, map_location="cpu", weights_only=True))
        return {_LEGACY_NORM.sub(lambda m: m.group(1) + _LEGACY_NAMES[m.group(2)], k): v for k, v in state.items()}
    raise InputError(f"No model.safetensors or pytorch_model.bin (or their sharded index) in {folder}.")


def load_into(model: torch.nn.Module, state: dict[str, torch.Tensor], report: ConversionReport) -> None:
    """Loads `state` strictly after dropping exactly the unused tensors; any other mismatch raises, naming keys."""
    kept, ignored = split_unused_keys(state, model.config)
    model_keys = set(model.state_dict())
    missing = sorted(model_keys - set(kept))
    unexpected = sorted(set(kept) - model_keys)
    if missing or unexpected:
        raise ValueError(
            f"{report.source}: checkpoint does not match the Nucleotide Transformer layout. "
            f"Missing: {missing or 'none'}. Unexpected: {unexpected or 'none'}."
        )
    shapes = [(k, tuple(state[k].shape), tuple(model.state_dict()[k].shape)) for k in kept]
    wrong = [f"{k}: checkpoint {a} vs model {b}" for k, a, b in shapes if a != b]
    if wrong:
        raise ValueError(f"{report.source}: tensor shapes differ from the config: " + "; ".join(wrong))
    model.load_state_dict({k: state[k] for k in kept}, strict=True)
    report.loaded_tensors = len(kept)
    report.ignored_keys = ignored


def _config_changes(published: dict, native: NucleotideTransformerConfig) -> dict[str, tuple[object, object]]:
    ours = native.to_dict()
    changes = {
        key: (value, ours.get(key, "(dropped)"))
        for key, value in published.items()
        if ours.get(key, "(dropped)") != value
    }
    changes.update({key: ("(absent)", ours[key]) for key in ("ffn_activation", "ffn_bias") if key not in published})
    return {k: v for k, v in changes.items() if k not in ("transformers_version", "_name_or_path")}


def load_published_checkpoint(
    folder: str | os.PathLike, allow_pickle: bool = False
) -> tuple[NucleotideTransformerForMaskedLM, NucleotideTransformerTokenizerFast, ConversionReport]:
    """Model, tokenizer and report from a folder laid out like a Hub NT checkpoint (v1 or v2)."""
    folder = Path(folder)
    report = ConversionReport(source=str(folder))
    published = json.loads((folder / "config.json").read_text())
    config = NucleotideTransformerConfig(**published_config_to_native(dict(published)))
    config.architectures = ["NucleotideTransformerForMaskedLM"]
    report.config_mapping = _config_changes(published, config)
    model = NucleotideTransformerForMaskedLM(config)
    load_into(model, read_state_dict(folder, allow_pickle), report)
    tokenizer = _published_tokenizer(folder, config)
    return model.eval(), tokenizer, report


def _published_tokenizer(folder: Path, config: NucleotideTransformerConfig) -> NucleotideTransformerTokenizerFast:
    if (folder / "vocab.txt").is_file():
        return NucleotideTransformerTokenizerFast.from_vocab_file(folder, model_max_length=config.context_length)
    layout = "v1" if config.vocab_size == 4105 else "v2"
    return NucleotideTransformerTokenizerFast(vocab_layout=layout, model_max_length=config.context_length)


# ---------------------------------------------------------------------------------------------------------------------
# JAX (Haiku) checkpoints: jax_model/hyperparams.json + the parameter pytree (docs/checkpoints.md#jax-hyper-parameters and docs/checkpoints.md#state-dict-keys)


def jax_hyperparams_to_config(hyperparams: dict) -> NucleotideTransformerConfig:
    """Our config from a JAX `hyperparams.json` (name table in docs/checkpoints.md#jax-hyper-parameters)."""
    rotary = bool(hyperparams.get("use_rotary_embedding", False))
    glu = bool(hyperparams.get("use_glu_in_ffn", False))
    activation = hyperparams.get("ffn_activation_name", "gelu-no-approx")
    if glu and activation != "swish" or not glu and activation not in ("gelu-no-approx", "gelu"):
        raise ValueError(f"Unsupported FFN: use_glu_in_ffn={glu}, ffn_activation_name={activation!r}.")
    if hyperparams.get("embed_scale", 1.0) != 1.0 or hyperparams.get("add_bias_kv", False):
        raise ValueError("embed_scale != 1 and add_bias_kv are not part of the NT architecture.")
    return NucleotideTransformerConfig(
        vocab_size=hyperparams["alphabet_size"],
        hidden_size=hyperparams["embed_dim"],
        num_hidden_layers=hyperparams["num_layers"],
        num_attention_heads=hyperparams["attention_heads"],
        intermediate_size=hyperparams["ffn_embed_dim"],
        max_position_embeddings=hyperparams["max_positions"] + 2,
        position_embedding_type="rotary" if rotary else "absolute",
        ffn_activation="swiglu" if glu else "gelu",
        ffn_bias=bool(hyperparams.get("add_bias_ffn", True)),
        token_dropout=bool(hyperparams.get("token_dropout", False)),
        emb_layer_norm_before=bool(hyperparams.get("emb_layer_norm_before", False)),
        # Haiku's LayerNorm default; the HF ports use 1e-12 (docs/checkpoints.md#jax-hyper-parameters). Keep the JAX model's numerics.
        layer_norm_eps=hyperparams.get("layer_norm_eps", 1e-5),
        architectures=["NucleotideTransformerForMaskedLM"],
    )


def _jax_name_table(config: NucleotideTransformerConfig) -> dict[tuple[str, str], tuple[str, bool]]:
    """(Haiku module suffix, parameter) -> (our key, transpose?). Haiku `Linear.w` is [in, out]."""
    table = {
        ("embed", "embeddings"): ("esm.embeddings.word_embeddings.weight", False),
        ("esm_learned_positional_embeddings/embed", "embeddings"): ("esm.embeddings.position_embeddings.weight", False),
        ("roberta_lm_head/emb_layer_norm_after", "scale"): ("esm.encoder.emb_layer_norm_after.weight", False),
        ("roberta_lm_head/emb_layer_norm_after", "offset"): ("esm.encoder.emb_layer_norm_after.bias", False),
        ("roberta_lm_head/lm_head_fc_1", "w"): ("lm_head.dense.weight", True),
        ("roberta_lm_head/lm_head_fc_1", "b"): ("lm_head.dense.bias", False),
        ("roberta_lm_head/lm_head_layer_norm", "scale"): ("lm_head.layer_norm.weight", False),
        ("roberta_lm_head/lm_head_layer_norm", "offset"): ("lm_head.layer_norm.bias", False),
        ("roberta_lm_head/lm_final_fc", "w"): ("lm_head.decoder.weight", True),
        ("roberta_lm_head/lm_final_fc", "b"): ("lm_head.bias", False),
    }
    for i in range(config.num_hidden_layers):
        jax, ours = f"attention_layer_{i}", f"esm.encoder.layer.{i}"
        for name in ("query", "key", "value"):
            table[(f"{jax}/self_attention/{name}", "w")] = (f"{ours}.attention.self.{name}.weight", True)
            table[(f"{jax}/self_attention/{name}", "b")] = (f"{ours}.attention.self.{name}.bias", False)
        table[(f"{jax}/self_attention/mha_output", "w")] = (f"{ours}.attention.output.dense.weight", True)
        table[(f"{jax}/self_attention/mha_output", "b")] = (f"{ours}.attention.output.dense.bias", False)
        table[(f"{jax}/self_attention_layer_norm", "scale")] = (f"{ours}.attention.LayerNorm.weight", False)
        table[(f"{jax}/self_attention_layer_norm", "offset")] = (f"{ours}.attention.LayerNorm.bias", False)
        table[(f"{jax}/fc1", "w")] = (f"{ours}.intermediate.dense.weight", True)
        table[(f"{jax}/fc1", "b")] = (f"{ours}.intermediate.dense.bias", False)
        table[(f"{jax}/fc2", "w")] = (f"{ours}.output.dense.weight", True)
        table[(f"{jax}/fc2", "b")] = (f"{ours}.output.dense.bias", False)
        table[(f"{jax}/final_layer_norm", "scale")] = (f"{ours}.LayerNorm.weight", False)
        table[(f"{jax}/final_layer_norm", "offset")] = (f"{ours}.LayerNorm.bias", False)
    return table


def jax_params_to_state_dict(params: dict, config: NucleotideTransformerConfig) -> dict[str, torch.Tensor]:
    """Maps a Haiku parameter pytree `{module_path: {param: array}}` to our keys. Module paths are matched on their
    suffix (the model's own scope name in front varies); every parameter must map, or a `ValueError` names it."""
    table = _jax_name_table(config)
    suffixes = sorted({suffix for suffix, _ in table}, key=len, reverse=True)
    state, unmapped = {}, []
    for module, parameters in params.items():
        path = module.replace("/~/", "/")  # Haiku nests modules as "outer/~/inner"
        suffix = next((s for s in suffixes if path == s or path.endswith("/" + s)), None)
        for name, array in parameters.items():
            target = table.get((suffix, name)) if suffix else None
            if target is None:
                unmapped.append(f"{module}/{name}")
                continue
            key, transpose = target
            tensor = torch.from_numpy(np.ascontiguousarray(np.asarray(array, dtype=np.float32)))
            state[key] = tensor.T.contiguous() if transpose else tensor
    if unmapped:
        raise ValueError(f"JAX parameters with no Nucleotide Transformer counterpart: {sorted(unmapped)}")
    return state


def load_jax_checkpoint(
    folder: str | os.PathLike, allow_pickle: bool = False
) -> tuple[NucleotideTransformerForMaskedLM, NucleotideTransformerTokenizerFast, ConversionReport]:
    """Model, tokenizer and report from `folder/hyperparams.json` + `folder/pytree_ckpt.joblib` (or a parent folder
    holding `jax_model/`). The pytree file is a pickle: it is read only with `allow_pickle=True`."""
    folder = Path(folder)
    if (folder / "jax_model").is_dir():
        folder = folder / "jax_model"
    report = ConversionReport(source=str(folder))
    hyperparams = json.loads((folder / "hyperparams.json").read_text())
    config = jax_hyperparams_to_config(hyperparams)
    report.config_mapping = {"(jax hyperparams)": (len(hyperparams), len(config.to_diff_dict()))}
    pytree = folder / "pytree_ckpt.joblib"
    if not allow_pickle:
        raise InputError(PICKLE_REFUSED.format(path=pytree))
    import joblib  # only needed for this format

    params = joblib.load(pytree)
    model = NucleotideTransformerForMaskedLM(config)
    load_into(model, jax_params_to_state_dict(params, config), report)
    layout = "v1" if config.vocab_size == len(build_vocab("v1")) - 2 else "v2"
    tokenizer = NucleotideTransformerTokenizerFast(vocab_layout=layout, model_max_length=config.context_length)
    return model.eval(), tokenizer, report


__all__ = [
    "ConversionReport",
    "jax_hyperparams_to_config",
    "jax_params_to_state_dict",
    "load_jax_checkpoint",
    "load_published_checkpoint",
    "read_state_dict",
    "split_unused_keys",
]


# ---------------------------------------------------------------------------------------------------------------------
# nucleotide-transformer convert


def convert_checkpoint(
    source: str | os.PathLike, out_dir: str | os.PathLike, allow_pickle: bool = False, max_shard_size: str = "2GB"
) -> ConversionReport:
    """Published HF folder or JAX checkpoint -> our native folder (config, tokenizer.json, sharded safetensors and
    the remote code, see `hub.save_for_hub`). The format is detected from the files present."""
    from .hub import save_for_hub

    source = Path(source)
    if (source / "config.json").is_file():
        model, tokenizer, report = load_published_checkpoint(source, allow_pickle)
    elif (source / "hyperparams.json").is_file() or (source / "jax_model" / "hyperparams.json").is_file():
        model, tokenizer, report = load_jax_checkpoint(source, allow_pickle)
    else:
        raise InputError(f"{source} has neither config.json (Hugging Face) nor [jax_model/]hyperparams.json (JAX).")
    save_for_hub(model, out_dir, tokenizer=tokenizer, max_shard_size=max_shard_size)
    return report
