"""The models `evaluate-tasks` compares: NT folders (ours, published or converted) and any Hugging Face checkpoint.

A researcher choosing a DNA model runs NT beside DNABERT-2 (BERT-style, BPE tokenizer), HyenaDNA or Caduceus
(character-level, their own code through `trust_remote_code`) on the same tasks. `describe_model` reads a folder's
config and says which kind it is, what context it has and which of the benchmark's methods it supports:

* **NT models** (our `model_type`, or a published v1 `esm` / v2 remote-code config that our config maps) run through
  our classes, with every method of the benchmark (our IA3/LoRA defaults, see `peft_defaults`).
* **Other models** load with transformers' Auto classes (`AutoModel`, `AutoModelForSequenceClassification`) and their
  own tokenizer. Code from the model folder runs only with `trust_remote_code=True` (`--trust-remote-code`), an
  explicit opt-in: without it, a config that needs its own code is an `InputError` saying so. IA3 and LoRA use peft's
  own per-model-type defaults; a model type peft has none for gets a row saying so (no guessed module names). Full
  fine-tuning and the random-init baseline need a sequence-classification class; probing needs the base model only.

Embeddings are pooled over each model's real tokens: the mean of the hidden vectors of the tokens its tokenizer does
not mark as special (`return_special_tokens_mask`), so `[CLS]`/`[SEP]`/`<cls>` and padding never count. Every forward
pass runs in the inference engine (`inference.run_forward_passes`); a model whose `forward` takes no
`attention_mask` (HyenaDNA's does not) runs one sequence per pass, so padding cannot reach it.

Context rule (stated in every results header): an NT model cuts a sequence longer than its context into windows (the
engine's rule for embeddings; window predictions averaged for fine-tuning). Other models are not windowed, because
their position scheme is theirs: a task whose longest sequence has more tokens than the model's context gets a row
"context too short" for that model instead of truncated inputs.
"""

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import InputError

NT_VOCAB_SIZES = (4105, 4107)
"""Vocabulary sizes of the published NT checkpoints (v1 and v2): with `model_type: "esm"` they mark an NT folder."""

CONTEXT_KEYS = ("context_length", "max_position_embeddings", "max_seq_len", "n_positions", "max_length")
"""Config fields, in order, that give a model's context in tokens (the first one present counts)."""

_NO_LIMIT = 10**9  # a tokenizer's `model_max_length` at or above this means "not set"


@dataclass(frozen=True)
class ComparedModel:
    """One model of a comparison.

    Attributes:
        path: the folder (or Hub id) as given.
        label: its name in tables and charts (the folder's last two path parts unless given).
        model_type: `config.model_type` (`nucleotide_transformer` for NT, also for published NT folders).
        is_nt: an NT model, run through our classes.
        trust_remote_code: whether code from the folder may run.
        context_tokens: tokens one input may hold, special tokens included (None: no limit known).
        paper_name: the published model whose numbers the "paper" column shows for this model (a Hub id as in
            `paper_results.csv`), or None.
        own_code: the folder's config names code of its own (`auto_map`), run because `trust_remote_code` allows it.
        no_classifier: why the model has no sequence-classification class (`classifier_reason`), None when it has.
    """

    path: str
    label: str
    model_type: str
    is_nt: bool
    trust_remote_code: bool = False
    context_tokens: int | None = None
    paper_name: str | None = None
    own_code: bool = False
    no_classifier: str | None = None


def _read_config_json(path: str) -> dict[str, Any] | None:
    file = Path(path).expanduser() / "config.json"
    if not file.is_file():
        return None
    try:
        return json.loads(file.read_text())
    except json.JSONDecodeError as error:
        raise InputError(f"{file}: not valid JSON ({error.msg}, line {error.lineno}).") from error


def is_nt_config(config: dict[str, Any]) -> bool:
    """Whether a raw `config.json` is an NT model: ours, a published v1 (`esm` with the NT vocabulary) or a published
    v2 (InstaDeep's remote-code config: no `model_type`, with `add_bias_fnn`)."""
    model_type = config.get("model_type")
    if model_type == "nucleotide_transformer":
        return True
    if model_type is None and "add_bias_fnn" in config:
        return True
    return model_type == "esm" and config.get("vocab_size") in NT_VOCAB_SIZES and not config.get("is_folding_model")


def context_of(config, tokenizer=None) -> int | None:
    """Tokens one input may hold, special tokens included: the first of `CONTEXT_KEYS` in the config, capped by the
    tokenizer's `model_max_length` when that is set; None when neither says."""
    tokens = next((getattr(config, key) for key in CONTEXT_KEYS if getattr(config, key, None)), None)
    if tokenizer is not None and 0 < getattr(tokenizer, "model_max_length", _NO_LIMIT) < _NO_LIMIT:
        tokens = min(tokens, tokenizer.model_max_length) if tokens else tokenizer.model_max_length
    return int(tokens) if tokens else None


def _label(path: str) -> str:
    parts = Path(path.rstrip("/")).parts
    return "/".join(parts[-2:]) if len(parts) > 1 else path


def describe_model(
    path: str | os.PathLike,
    *,
    trust_remote_code: bool = False,
    label: str | None = None,
    paper_name: str | None = None,
) -> ComparedModel:
    """Reads the model folder's config (and tokenizer, for the context) and returns its `ComparedModel`.

    Raises:
        InputError: the folder is not a model folder, or its config needs its own code and `trust_remote_code` is
            False (the message says to pass `--trust-remote-code` if the code is trusted).
    """
    from .loading import check_model_folder

    name = os.fspath(path)
    check_model_folder(name)
    raw = _read_config_json(name)
    if raw is not None and is_nt_config(raw):
        from .configuration_nucleotide_transformer import NucleotideTransformerConfig
        from .dna import context_tokens
        from .tokenization_nucleotide_transformer import NucleotideTransformerTokenizerFast

        config = NucleotideTransformerConfig.from_pretrained(name)
        tokenizer = NucleotideTransformerTokenizerFast.from_pretrained(name)
        context = context_tokens(config, tokenizer) + tokenizer.num_special_tokens_to_add()
        return ComparedModel(
            name, label or _label(name), config.model_type, True, trust_remote_code, context, paper_name
        )
    if raw is not None and raw.get("auto_map") and not trust_remote_code:
        raise InputError(
            f"{name}: this model runs its own code (config.json has an auto_map: "
            f"{', '.join(sorted(raw['auto_map']))}); pass --trust-remote-code (trust_remote_code=True) if you trust "
            "the code in that folder."
        )
    config, tokenizer = _auto_config_and_tokenizer(name, trust_remote_code)
    return ComparedModel(
        name,
        label or _label(name),
        config.model_type,
        False,
        trust_remote_code,
        context_of(config, tokenizer),
        paper_name,
        bool(getattr(config, "auto_map", None)),
        _no_classifier(config),
    )


def _auto_config_and_tokenizer(name: str, trust_remote_code: bool):
    from transformers import AutoConfig, AutoTokenizer

    try:
        config = AutoConfig.from_pretrained(name, trust_remote_code=trust_remote_code)
        tokenizer = AutoTokenizer.from_pretrained(name, trust_remote_code=trust_remote_code)
    except (OSError, ValueError, KeyError) as error:
        raise InputError(f"{name}: cannot load its config and tokenizer: {error}") from error
    return config, tokenizer


def load_tokenizer(model: ComparedModel):
    """The model's own tokenizer (ours for NT, else `AutoTokenizer`)."""
    if model.is_nt:
        from .tokenization_nucleotide_transformer import NucleotideTransformerTokenizerFast

        return NucleotideTransformerTokenizerFast.from_pretrained(model.path)
    return _auto_config_and_tokenizer(model.path, model.trust_remote_code)[1]


def load_encoder(model: ComparedModel):
    """`(encoder, tokenizer)` in eval mode: `NucleotideTransformerModel` for NT, else `AutoModel`."""
    if model.is_nt:
        from .modeling_nucleotide_transformer import NucleotideTransformerModel

        encoder = NucleotideTransformerModel.from_pretrained(model.path)
    else:
        from transformers import AutoModel

        encoder = AutoModel.from_pretrained(model.path, trust_remote_code=model.trust_remote_code)
    return encoder.eval(), load_tokenizer(model)


def load_classifier(model: ComparedModel, num_labels: int, problem_type: str, *, random_init: bool, seed: int):
    """A non-NT model with a fresh sequence-classification head (`AutoModelForSequenceClassification`; its own head
    and pooling), from its weights or, with `random_init`, from its config at random. NT models go through
    `finetuning.load_model_for_task`."""
    import torch
    from transformers import AutoConfig, AutoModelForSequenceClassification

    torch.manual_seed(seed)
    kwargs = {"num_labels": num_labels, "problem_type": problem_type}
    if random_init:
        config = AutoConfig.from_pretrained(model.path, trust_remote_code=model.trust_remote_code, **kwargs)
        return AutoModelForSequenceClassification.from_config(config, trust_remote_code=model.trust_remote_code)
    return AutoModelForSequenceClassification.from_pretrained(
        model.path, trust_remote_code=model.trust_remote_code, **kwargs
    )


def _no_classifier(config) -> str | None:
    from transformers import AutoModelForSequenceClassification

    if "AutoModelForSequenceClassification" in (getattr(config, "auto_map", None) or {}):
        return None
    if type(config) in AutoModelForSequenceClassification._model_mapping:
        return None
    return f"no sequence-classification class for model type {config.model_type!r}"


def classifier_reason(model: ComparedModel) -> str | None:
    """Why the model cannot be fine-tuned with a sequence head (no such class for it), or None when it can (read
    from its config by `describe_model`)."""
    return model.no_classifier


def peft_reason(model: ComparedModel, method: str) -> str | None:
    """Why peft has no default targets for `method` ("ia3", "lora") on this model type, or None when it has (NT:
    ours, registered by `peft_defaults`)."""
    if model.is_nt:
        return None
    from peft.utils import constants

    mapping = {
        "ia3": constants.TRANSFORMERS_MODELS_TO_IA3_TARGET_MODULES_MAPPING,
        "lora": constants.TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING,
    }[method]
    if model.model_type in mapping:
        return None
    return f"peft has no {'IA3' if method == 'ia3' else 'LoRA'} default for model type {model.model_type!r}"


__all__ = [
    "CONTEXT_KEYS",
    "NT_VOCAB_SIZES",
    "ComparedModel",
    "classifier_reason",
    "context_of",
    "describe_model",
    "is_nt_config",
    "load_classifier",
    "load_encoder",
    "load_tokenizer",
    "peft_reason",
]
