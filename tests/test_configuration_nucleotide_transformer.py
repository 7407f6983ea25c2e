"""Config tests: validation, presets, serialisation."""

import re

import pytest

from nucleotide_transformer_hf import ARCHITECTURE_VERSIONS, PUBLISHED_MODELS, NucleotideTransformerConfig


def test_config_rejects_inconsistent_architecture():
    with pytest.raises(Exception, match="divisible"):
        NucleotideTransformerConfig(hidden_size=33, num_attention_heads=4)
    with pytest.raises(Exception, match="ffn_activation"):
        NucleotideTransformerConfig(ffn_activation="relu")
    with pytest.raises(ValueError, match=re.escape("Unknown preset")):
        NucleotideTransformerConfig.from_preset("v3")


def test_presets_context_lengths():
    assert NucleotideTransformerConfig.from_preset("v1").context_length == 1000
    assert NucleotideTransformerConfig.from_preset("v2").context_length == 2048
    assert NucleotideTransformerConfig.from_preset("v1").architecture_version == "v1"
    assert NucleotideTransformerConfig().architecture_version == "v2"


@pytest.mark.parametrize("name", sorted(PUBLISHED_MODELS))
def test_published_presets_have_their_version_fields(name):
    version, shape = PUBLISHED_MODELS[name]
    config = NucleotideTransformerConfig.from_preset(name)
    assert config.architecture_version == version
    for key, value in {**ARCHITECTURE_VERSIONS[version], **shape}.items():
        assert getattr(config, key) == value, key


def test_overrides_and_json_round_trip(tmp_path):
    config = NucleotideTransformerConfig.from_preset("v1", hidden_size=64, num_attention_heads=4, num_labels=3)
    config.save_pretrained(tmp_path)
    loaded = NucleotideTransformerConfig.from_pretrained(tmp_path)
    assert loaded.to_dict() == config.to_dict()
    assert loaded.model_type == "nucleotide_transformer"
    assert loaded.hidden_size == 64 and loaded.position_embedding_type == "absolute" and loaded.num_labels == 3
