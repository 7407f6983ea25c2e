"""Hugging Face-native PyTorch Nucleotide Transformer (NT v1 / v2).

Importing the package registers the config, the tokenizer and every model class with transformers' Auto classes,
so `AutoConfig`, `AutoTokenizer`, `AutoModel`, `AutoModelForMaskedLM`, `AutoModelForSequenceClassification` and
`AutoModelForTokenClassification` resolve `model_type="nucleotide_transformer"` to our classes.
"""

from transformers import (
    AutoConfig,
    AutoModel,
    AutoModelForMaskedLM,
    AutoModelForSequenceClassification,
    AutoModelForTokenClassification,
    AutoTokenizer,
)

from .configuration_nucleotide_transformer import ARCHITECTURE_VERSIONS, PUBLISHED_MODELS, NucleotideTransformerConfig
from .modeling_nucleotide_transformer import (
    NucleotideTransformerForMaskedLM,
    NucleotideTransformerForSequenceClassification,
    NucleotideTransformerForTokenClassification,
    NucleotideTransformerModel,
    NucleotideTransformerPreTrainedModel,
)
from .tokenization_nucleotide_transformer import NucleotideTransformerTokenizerFast

__version__ = "0.1.0"

AUTO_CLASSES = {
    "AutoModel": (AutoModel, NucleotideTransformerModel),
    "AutoModelForMaskedLM": (AutoModelForMaskedLM, NucleotideTransformerForMaskedLM),
    "AutoModelForSequenceClassification": (
        AutoModelForSequenceClassification,
        NucleotideTransformerForSequenceClassification,
    ),
    "AutoModelForTokenClassification": (AutoModelForTokenClassification, NucleotideTransformerForTokenClassification),
}

AutoConfig.register(NucleotideTransformerConfig.model_type, NucleotideTransformerConfig, exist_ok=True)
AutoTokenizer.register(
    NucleotideTransformerConfig, fast_tokenizer_class=NucleotideTransformerTokenizerFast, exist_ok=True
)
for _auto_class, _model_class in AUTO_CLASSES.values():
    _auto_class.register(NucleotideTransformerConfig, _model_class, exist_ok=True)

from .pipelines import register_pipelines  # noqa: E402  (the "dna-embedding" and "variant-effect" pipeline tasks)

register_pipelines()

from .finetuning import register_peft_defaults  # noqa: E402  (IA3/LoRA defaults for our model_type in peft)

register_peft_defaults()

__all__ = [
    "ARCHITECTURE_VERSIONS",
    "AUTO_CLASSES",
    "PUBLISHED_MODELS",
    "NucleotideTransformerConfig",
    "NucleotideTransformerForMaskedLM",
    "NucleotideTransformerForSequenceClassification",
    "NucleotideTransformerForTokenClassification",
    "NucleotideTransformerModel",
    "NucleotideTransformerPreTrainedModel",
    "NucleotideTransformerTokenizerFast",
]
