"""Hugging Face-native PyTorch Nucleotide Transformer (NT v1 / v2).

Importing the package is light (it imports neither torch nor transformers by itself) and registers our config,
tokenizer, model classes, pipelines and peft defaults with transformers' Auto classes, its pipeline registry and
peft's target maps, each as soon as that registry is imported (see `registration`). So after `import
nucleotide_transformer_hf`, `AutoConfig`, `AutoTokenizer`, `AutoModel`, `AutoModelForMaskedLM`,
`AutoModelForSequenceClassification` and `AutoModelForTokenClassification` resolve
`model_type="nucleotide_transformer"` to our classes, `pipeline("dna-embedding")` and `pipeline("variant-effect")`
work, and `IA3Config(task_type="SEQ_CLS")` needs no module lists.

The public names below are loaded on first use (as transformers' own model packages do).
"""

import importlib

from . import registration

__version__ = "0.1.0"

_LAZY = {
    "ARCHITECTURE_VERSIONS": "configuration_nucleotide_transformer",
    "PUBLISHED_MODELS": "configuration_nucleotide_transformer",
    "NucleotideTransformerConfig": "configuration_nucleotide_transformer",
    "NucleotideTransformerForMaskedLM": "modeling_nucleotide_transformer",
    "NucleotideTransformerForSequenceClassification": "modeling_nucleotide_transformer",
    "NucleotideTransformerForTokenClassification": "modeling_nucleotide_transformer",
    "NucleotideTransformerModel": "modeling_nucleotide_transformer",
    "NucleotideTransformerPreTrainedModel": "modeling_nucleotide_transformer",
    "NucleotideTransformerTokenizerFast": "tokenization_nucleotide_transformer",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


registration.install()
