"""Importing the package registers every class with transformers' Auto classes; fill-mask works through them."""

from pathlib import Path

import pytest
import torch
from transformers import (
    AutoConfig,
    AutoModel,
    AutoModelForMaskedLM,
    AutoModelForSequenceClassification,
    AutoModelForTokenClassification,
    AutoTokenizer,
    pipeline,
)

import nucleotide_transformer_hf as nt
from nucleotide_transformer_hf.tokenization_nucleotide_transformer import build_vocab

HUB_CONFIGS = Path(__file__).resolve().parent.parent / "hub_configs"
TINY = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37)


@pytest.fixture(scope="module")
def saved_v2(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tiny-v2")
    torch.manual_seed(0)
    model = nt.NucleotideTransformerForMaskedLM(nt.NucleotideTransformerConfig.from_preset("v2", **TINY)).eval()
    tokenizer = nt.NucleotideTransformerTokenizerFast(vocab_layout="v2")
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder, model, tokenizer


AUTO = [
    (AutoModel, nt.NucleotideTransformerModel),
    (AutoModelForMaskedLM, nt.NucleotideTransformerForMaskedLM),
    (AutoModelForSequenceClassification, nt.NucleotideTransformerForSequenceClassification),
    (AutoModelForTokenClassification, nt.NucleotideTransformerForTokenClassification),
]


@pytest.mark.parametrize("auto_class,expected", AUTO, ids=[a.__name__ for a, _ in AUTO])
def test_auto_model_classes_resolve_to_ours(saved_v2, auto_class, expected):
    folder, source, _ = saved_v2
    model = auto_class.from_pretrained(folder)
    assert type(model) is expected
    # The encoder weights come from the saved masked-LM checkpoint, whatever the head.
    torch.testing.assert_close(
        model.get_input_embeddings().weight, source.get_input_embeddings().weight, rtol=0, atol=0
    )
    assert type(auto_class.from_config(source.config)) is expected


def test_auto_config_and_tokenizer(saved_v2):
    folder, source, tokenizer = saved_v2
    config = AutoConfig.from_pretrained(folder)
    assert type(config) is nt.NucleotideTransformerConfig
    assert config.to_diff_dict() | {"_name_or_path": ""} == source.config.to_diff_dict() | {"_name_or_path": ""}
    loaded = AutoTokenizer.from_pretrained(folder)
    assert type(loaded) is nt.NucleotideTransformerTokenizerFast
    assert loaded.get_vocab() == tokenizer.get_vocab()
    assert loaded("ACGTGTACNTGCACGGA")["input_ids"] == tokenizer("ACGTGTACNTGCACGGA")["input_ids"]


def _check_fill_mask_candidates(candidates, model, tokenizer, masked_sequence, top_k):
    kmers = set(build_vocab("v2")[6:4102])
    assert len(candidates) == top_k
    assert all(c["token_str"] in kmers for c in candidates)  # 6-mer strings, as the model predicts 6-mers
    scores = [c["score"] for c in candidates]
    assert scores == sorted(scores, reverse=True)
    # Independent check: the pipeline's scores are the softmax of the model's logits at the mask position.
    encoded = tokenizer(masked_sequence, return_tensors="pt")
    position = int((encoded["input_ids"][0] == tokenizer.mask_token_id).nonzero())
    with torch.no_grad():
        probabilities = model(**encoded).logits[0, position].softmax(-1)
    top = probabilities.topk(top_k)
    assert [c["token"] for c in candidates] == top.indices.tolist()
    torch.testing.assert_close(torch.tensor(scores), top.values, rtol=1e-5, atol=1e-6)
    assert candidates[0]["sequence"] == masked_sequence.replace("<mask>", candidates[0]["token_str"])


def test_fill_mask_pipeline_from_objects(saved_v2):
    _, model, tokenizer = saved_v2
    fill = pipeline("fill-mask", model=model, tokenizer=tokenizer, top_k=5)
    masked = "ACGTGTACGTGC<mask>ACGACTAGTCAGCA"
    _check_fill_mask_candidates(fill(masked), model, tokenizer, masked, 5)


def test_fill_mask_pipeline_from_saved_folder(saved_v2):
    folder, model, tokenizer = saved_v2
    fill = pipeline("fill-mask", model=str(folder), top_k=3)
    assert type(fill.model) is nt.NucleotideTransformerForMaskedLM
    masked = "TTTTTTAAAAAA<mask>"
    _check_fill_mask_candidates(fill(masked), model, tokenizer, masked, 3)


# ---------------------------------------------------------------------------------------------------------------------
# hub_configs/: one folder per published model, derived from the presets


def test_hub_configs_has_exactly_the_published_models():
    folders = {p.name for p in HUB_CONFIGS.iterdir() if p.is_dir() and not p.name.startswith("__")}
    assert folders == set(nt.PUBLISHED_MODELS)


@pytest.mark.parametrize("name", sorted(nt.PUBLISHED_MODELS))
def test_hub_config_folder_loads_with_auto_classes(name):
    version, _ = nt.PUBLISHED_MODELS[name]
    folder = HUB_CONFIGS / name
    config = AutoConfig.from_pretrained(folder)
    expected = nt.NucleotideTransformerConfig.from_preset(name)
    assert type(config) is nt.NucleotideTransformerConfig
    for key, value in expected.to_diff_dict().items():
        if key not in ("transformers_version",):
            assert getattr(config, key) == value, key
    tokenizer = AutoTokenizer.from_pretrained(folder)
    assert type(tokenizer) is nt.NucleotideTransformerTokenizerFast
    assert tokenizer.get_vocab() == {token: i for i, token in enumerate(build_vocab(version))}
    assert tokenizer.model_max_length == config.context_length == {"v1": 1000, "v2": 2048}[version]
    assert (folder / "tokenizer.json").is_file()
    with torch.device("meta"):
        model = AutoModelForMaskedLM.from_config(config)
    assert model.get_input_embeddings().weight.shape == (config.vocab_size, config.hidden_size)
