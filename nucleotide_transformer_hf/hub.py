"""Hub out: folders that load anywhere with plain transformers (`trust_remote_code=True`), model cards, push."""

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import yaml

from .dna import context_bp
from .errors import InputError
from .loading import check_model_folder
from .modeling_nucleotide_transformer import (
    NucleotideTransformerForMaskedLM,
    NucleotideTransformerForSequenceClassification,
    NucleotideTransformerForTokenClassification,
    NucleotideTransformerModel,
    NucleotideTransformerPreTrainedModel,
)
from .tokenization_nucleotide_transformer import NucleotideTransformerTokenizerFast

# Every Auto class we support -> our class; all of them go into the exported config's `auto_map`.
AUTO_MAP = {
    "AutoConfig": "configuration_nucleotide_transformer.NucleotideTransformerConfig",
    "AutoModel": "modeling_nucleotide_transformer.NucleotideTransformerModel",
    "AutoModelForMaskedLM": "modeling_nucleotide_transformer.NucleotideTransformerForMaskedLM",
    "AutoModelForSequenceClassification": "modeling_nucleotide_transformer.NucleotideTransformerForSequenceClassification",
    "AutoModelForTokenClassification": "modeling_nucleotide_transformer.NucleotideTransformerForTokenClassification",
}
_AUTO_CLASS_OF = {
    NucleotideTransformerModel: "AutoModel",
    NucleotideTransformerForMaskedLM: "AutoModelForMaskedLM",
    NucleotideTransformerForSequenceClassification: "AutoModelForSequenceClassification",
    NucleotideTransformerForTokenClassification: "AutoModelForTokenClassification",
}
PIPELINE_TAG = {
    NucleotideTransformerModel: "feature-extraction",
    NucleotideTransformerForMaskedLM: "fill-mask",
    NucleotideTransformerForSequenceClassification: "text-classification",
    NucleotideTransformerForTokenClassification: "token-classification",
}
CODE_FILES = (
    "configuration_nucleotide_transformer.py",
    "modeling_nucleotide_transformer.py",
    "tokenization_nucleotide_transformer.py",
)


@contextmanager
def _registered_for_auto_classes(model: NucleotideTransformerPreTrainedModel, tokenizer) -> Iterator[None]:
    """transformers' own mechanism (`register_for_auto_class`), undone afterwards so the classes stay as they were."""
    saved = [(type(model), type(model)._auto_class), (type(model.config), type(model.config)._auto_class)]
    if tokenizer is not None:
        saved.append((type(tokenizer), type(tokenizer)._auto_class))
    try:
        type(model).register_for_auto_class(_AUTO_CLASS_OF[type(model)])
        model.config.register_for_auto_class("AutoConfig")
        if tokenizer is not None:
            tokenizer.register_for_auto_class("AutoTokenizer")
        yield
    finally:
        for cls, value in saved:
            cls._auto_class = value


def save_for_hub(
    model: NucleotideTransformerPreTrainedModel,
    out_dir: str | os.PathLike,
    tokenizer: NucleotideTransformerTokenizerFast | None = None,
    max_shard_size: str = "2GB",
    model_card: str | None = None,
) -> Path:
    """Writes `out_dir` so that it loads with `AutoModel…from_pretrained(out_dir, trust_remote_code=True)` where only
    torch and transformers are installed: safetensors weights, our config with an `auto_map` for every supported
    Auto class, the three self-contained code files, the tokenizer and an optional README.md model card."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    previous = getattr(model.config, "auto_map", None)
    model.config.auto_map = dict(AUTO_MAP)
    try:
        with _registered_for_auto_classes(model, tokenizer):
            model.save_pretrained(out_dir, max_shard_size=max_shard_size, safe_serialization=True)
            if tokenizer is not None:
                tokenizer.save_pretrained(out_dir)
    finally:
        model.config.auto_map = previous
    here = Path(__file__).resolve().parent
    for name in CODE_FILES:  # the tokenizer's file too, even when no tokenizer object was given
        if not (out_dir / name).exists():
            shutil.copyfile(here / name, out_dir / name)
    if model_card is not None:
        (out_dir / "README.md").write_text(model_card)
    return out_dir


def model_card(
    model: NucleotideTransformerPreTrainedModel,
    repo_id: str,
    base_model: str | None = None,
    datasets: list[str] | None = None,
    trained_on: str | None = None,
    evaluation: list[dict[str, object]] | None = None,
    license: str = "cc-by-nc-sa-4.0",
) -> str:
    """A model card: YAML metadata (library_name, pipeline_tag, tags, license, base model, datasets) and a body
    saying what the model is, what it was trained on and its evaluation table when known."""
    config = model.config
    metadata = {
        "library_name": "transformers",
        "pipeline_tag": PIPELINE_TAG[type(model)],
        "tags": ["dna", "genomics", "nucleotide-transformer", "biology"],
        "license": license,
    }
    if base_model:
        metadata["base_model"] = base_model
    if datasets:
        metadata["datasets"] = list(datasets)
    parameters = sum(p.numel() for p in model.parameters())
    version = config.architecture_version or "custom"
    body = [
        f"# {repo_id.split('/')[-1]}",
        "",
        f"A Nucleotide Transformer ({version} architecture) DNA language model: {parameters / 1e6:.1f} M parameters, "
        f"{config.num_hidden_layers} layers, width {config.hidden_size}, context {config.context_length} tokens "
        f"(non-overlapping 6-mers, about {context_bp(config):,} bp).",
        "",
        "## Use",
        "",
        "```python",
        f"from transformers import {_AUTO_CLASS_OF[type(model)]}, AutoTokenizer",
        f'model = {_AUTO_CLASS_OF[type(model)]}.from_pretrained("{repo_id}", trust_remote_code=True)',
        f'tokenizer = AutoTokenizer.from_pretrained("{repo_id}", trust_remote_code=True)',
        "```",
        "",
        "With `pip install nucleotide-transformer-hf` and `import nucleotide_transformer_hf`, no remote code is needed.",
        "",
        "## Training",
        "",
        trained_on or "Not recorded.",
    ]
    if base_model:
        body += ["", f"Fine-tuned or continued from `{base_model}`."]
    if evaluation:
        columns = list(evaluation[0])
        body += ["", "## Evaluation", "", "| " + " | ".join(columns) + " |", "|" + " --- |" * len(columns)]
        body += ["| " + " | ".join(str(row.get(c, "")) for c in columns) + " |" for row in evaluation]
    return "---\n" + yaml.safe_dump(metadata, sort_keys=False) + "---\n\n" + "\n".join(body) + "\n"


__all__ = ["AUTO_MAP", "CODE_FILES", "model_card", "save_for_hub"]


# ---------------------------------------------------------------------------------------------------------------------
# nucleotide-transformer push

_CLASSES = {cls.__name__: cls for cls in _AUTO_CLASS_OF}


def load_native(
    model_dir: str | os.PathLike,
) -> tuple[NucleotideTransformerPreTrainedModel, NucleotideTransformerTokenizerFast | None]:
    """Our model (class from `config.architectures`) and, when present, tokenizer from a native folder."""
    from .configuration_nucleotide_transformer import NucleotideTransformerConfig

    config = NucleotideTransformerConfig.from_pretrained(model_dir)
    name = (config.architectures or ["NucleotideTransformerForMaskedLM"])[0]
    if name not in _CLASSES:
        raise InputError(f"{model_dir}: config.architectures names {name!r}, not one of {sorted(_CLASSES)}.")
    model = _CLASSES[name].from_pretrained(model_dir)
    has_tokenizer = (Path(model_dir) / "tokenizer.json").is_file() or (Path(model_dir) / "vocab.txt").is_file()
    tokenizer = NucleotideTransformerTokenizerFast.from_pretrained(model_dir) if has_tokenizer else None
    return model, tokenizer


def push(
    model_dir: str | os.PathLike,
    repo_id: str,
    token: str | None = None,
    dry_run_dir: str | os.PathLike | None = None,
    private: bool = False,
    **card_fields,
) -> Path | str:
    """Uploads model, tokenizer, code and a generated card to `repo_id`. With `dry_run_dir`, writes exactly the folder
    that would be uploaded there and uploads nothing. Without a token (argument, `HF_TOKEN` or a saved login) it fails
    before doing any work."""
    from huggingface_hub import HfApi, get_token

    if dry_run_dir is None:
        token = token or get_token()
        if not token:
            raise InputError(
                "No Hugging Face token: pass --token, set HF_TOKEN or run `hf auth login` (or use --dry-run DIR to "
                "write the upload folder without uploading)."
            )
    check_model_folder(model_dir, tokenizer=False)
    model, tokenizer = load_native(model_dir)
    card = model_card(model, repo_id, **card_fields)
    if dry_run_dir is not None:
        return save_for_hub(model, dry_run_dir, tokenizer=tokenizer, model_card=card)
    import tempfile

    with tempfile.TemporaryDirectory() as staging:
        save_for_hub(model, staging, tokenizer=tokenizer, model_card=card)
        api = HfApi(token=token)
        api.create_repo(repo_id, private=private, exist_ok=True)
        commit = api.upload_folder(repo_id=repo_id, folder_path=staging, commit_message="Upload Nucleotide Transformer")
    return str(commit)
