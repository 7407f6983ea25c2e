"""Published checkpoints in: direct loading, `convert` (HF and JAX layouts), pickle refusal, loud failures."""

import json

import joblib
import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file
from transformers import AutoModelForMaskedLM, AutoTokenizer, EsmForMaskedLM

from nucleotide_transformer_hf import NucleotideTransformerForMaskedLM, NucleotideTransformerForSequenceClassification
from nucleotide_transformer_hf.cli import main as cli_main
from nucleotide_transformer_hf.conversion import convert_checkpoint, load_published_checkpoint

TOL = 1e-5


def _logits(model, inputs):
    ids, mask = inputs
    with torch.no_grad():
        return model(ids, attention_mask=mask).logits


def test_v1_published_folder_loads_with_from_pretrained(published_v1, v1_inputs):
    folder, esm = published_v1
    ours = NucleotideTransformerForMaskedLM.from_pretrained(folder).eval()
    assert ours.config.model_type == "nucleotide_transformer"
    assert ours.config.ffn_activation == "gelu" and ours.config.ffn_bias and ours.config.token_dropout
    assert ours.config.eos_token_id is None  # EsmConfig's default eos id 2 (= <mask>) must not survive
    torch.testing.assert_close(_logits(ours, v1_inputs), _logits(esm, v1_inputs), rtol=0, atol=TOL)


def test_v2_published_folder_loads_with_from_pretrained(published_v2, v2_inputs):
    folder, reference = published_v2
    ours = NucleotideTransformerForMaskedLM.from_pretrained(folder).eval()
    assert ours.config.ffn_activation == "swiglu" and not ours.config.ffn_bias
    assert ours.config.position_embedding_type == "rotary" and not ours.config.token_dropout
    torch.testing.assert_close(_logits(ours, v2_inputs), _logits(reference, v2_inputs), rtol=0, atol=TOL)


def test_load_reports_exactly_the_ignored_keys(published_v1, published_v2):
    _, _, report_v1 = load_published_checkpoint(published_v1[0])
    assert report_v1.ignored_keys == ["esm.contact_head.regression.bias", "esm.contact_head.regression.weight"]
    _, _, report_v2 = load_published_checkpoint(published_v2[0])
    assert report_v2.ignored_keys == sorted(
        [
            "esm.contact_head.regression.bias",
            "esm.contact_head.regression.weight",
            "esm.embeddings.position_embeddings.weight",
        ]
        + [f"esm.encoder.layer.{i}.attention.self.rotary_embeddings.inv_freq" for i in range(2)]
    )
    assert report_v2.config_mapping["ffn_activation"] == ("(absent)", "swiglu")
    assert "ignored (unused by the NT forward pass): 5" in report_v2.summary()


@pytest.fixture
def tampered_v2(published_v2, tmp_path):
    folder, _ = published_v2
    for name in ("config.json", "vocab.txt", "tokenizer_config.json", "special_tokens_map.json"):
        if (folder / name).exists():
            (tmp_path / name).write_bytes((folder / name).read_bytes())
    return tmp_path, load_file(folder / "model.safetensors")


@pytest.mark.parametrize("change", ["unexpected", "missing"])
def test_checkpoint_that_does_not_fit_fails_loudly_naming_keys(tampered_v2, change):
    folder, state = tampered_v2
    if change == "unexpected":
        state["esm.encoder.layer.0.attention.self.extra_bias"] = torch.zeros(3)
        name = "esm.encoder.layer.0.attention.self.extra_bias"
    else:
        name = "esm.encoder.layer.1.output.dense.weight"
        del state[name]
    save_file(state, folder / "model.safetensors", metadata={"format": "pt"})
    with pytest.raises(ValueError, match=name.replace(".", r"\.")):
        load_published_checkpoint(folder)
    with pytest.raises(ValueError, match=name.replace(".", r"\.")):
        NucleotideTransformerForMaskedLM.from_pretrained(folder)


def test_new_task_head_is_not_an_error(published_v2):
    model = NucleotideTransformerForSequenceClassification.from_pretrained(published_v2[0], num_labels=2)
    assert model.classifier.out_proj.out_features == 2


@pytest.mark.parametrize("fixture", ["published_v1", "published_v2"])
def test_convert_round_trip_keeps_logits(request, fixture, tmp_path, v1_inputs, v2_inputs, capsys):
    folder, reference = request.getfixturevalue(fixture)
    inputs = v1_inputs if fixture == "published_v1" else v2_inputs
    out = tmp_path / "native"
    assert cli_main(["convert", str(folder), str(out)]) == 0
    printed = capsys.readouterr().out
    assert "ignored (unused by the NT forward pass)" in printed and "esm.contact_head.regression.weight" in printed
    config = json.loads((out / "config.json").read_text())
    assert config["model_type"] == "nucleotide_transformer"
    assert (out / "tokenizer.json").is_file() and (out / "model.safetensors").is_file()
    assert not list(out.glob("*.bin"))
    converted = AutoModelForMaskedLM.from_pretrained(out).eval()
    assert type(converted) is NucleotideTransformerForMaskedLM
    torch.testing.assert_close(_logits(converted, inputs), _logits(reference, inputs), rtol=0, atol=TOL)
    tokenizer = AutoTokenizer.from_pretrained(out)
    layout_first_kmer = 4 if fixture == "published_v1" else 6
    assert tokenizer("AAAAAAC")["input_ids"] == [3, layout_first_kmer, layout_first_kmer + 4098]


def test_convert_writes_shards(published_v2, tmp_path):
    convert_checkpoint(published_v2[0], tmp_path / "sharded", max_shard_size="200KB")
    index = json.loads((tmp_path / "sharded" / "model.safetensors.index.json").read_text())
    assert len(set(index["weight_map"].values())) > 1
    assert type(AutoModelForMaskedLM.from_pretrained(tmp_path / "sharded")) is NucleotideTransformerForMaskedLM


def test_pickle_checkpoints_need_explicit_flag(published_v1, tmp_path, v1_inputs):
    _, esm = published_v1
    pickled = tmp_path / "pickled"
    pickled.mkdir()
    torch.save(esm.state_dict(), pickled / "pytorch_model.bin")  # how the published v1 weights are stored
    for name in ("config.json", "vocab.txt", "tokenizer_config.json"):
        (pickled / name).write_bytes((published_v1[0] / name).read_bytes())
    assert (pickled / "pytorch_model.bin").is_file()
    with pytest.raises(ValueError, match="allow-pickle"):
        convert_checkpoint(pickled, tmp_path / "refused")
    assert not (tmp_path / "refused").exists()  # refused before writing anything
    convert_checkpoint(pickled, tmp_path / "accepted", allow_pickle=True)
    converted = AutoModelForMaskedLM.from_pretrained(tmp_path / "accepted").eval()
    torch.testing.assert_close(_logits(converted, v1_inputs), _logits(esm, v1_inputs), rtol=0, atol=TOL)


# ---------------------------------------------------------------------------------------------------------------------
# JAX checkpoints: a pytree built here with numpy arrays under the reference's Haiku names (docs/checkpoints.md#state-dict-keys)


def _jax_pytree(state: dict[str, torch.Tensor], num_layers: int, scope: str) -> dict[str, dict[str, np.ndarray]]:
    """Written from the reference's table, independently of the converter: Haiku Linear `w` is [in, out]."""

    def linear(key):
        return {"w": state[f"{key}.weight"].numpy().T.copy(), "b": state[f"{key}.bias"].numpy()}

    def layer_norm(key):
        return {"scale": state[f"{key}.weight"].numpy(), "offset": state[f"{key}.bias"].numpy()}

    tree = {f"{scope}/~/embed": {"embeddings": state["esm.embeddings.word_embeddings.weight"].numpy()}}
    if "esm.embeddings.position_embeddings.weight" in state:
        tree[f"{scope}/~/esm_learned_positional_embeddings/~/embed"] = {
            "embeddings": state["esm.embeddings.position_embeddings.weight"].numpy()
        }
    for i in range(num_layers):
        ours = f"esm.encoder.layer.{i}"
        jax = f"{scope}/~/attention_layer_{i}"
        for name in ("query", "key", "value"):
            tree[f"{jax}/~/self_attention/~/{name}"] = linear(f"{ours}.attention.self.{name}")
        tree[f"{jax}/~/self_attention/~/mha_output"] = linear(f"{ours}.attention.output.dense")
        tree[f"{jax}/~/self_attention_layer_norm"] = layer_norm(f"{ours}.attention.LayerNorm")
        for jax_name, key in (("fc1", "intermediate.dense"), ("fc2", "output.dense")):
            entry = {"w": state[f"{ours}.{key}.weight"].numpy().T.copy()}
            if f"{ours}.{key}.bias" in state:
                entry["b"] = state[f"{ours}.{key}.bias"].numpy()
            tree[f"{jax}/~/{jax_name}"] = entry
        tree[f"{jax}/~/final_layer_norm"] = layer_norm(f"{ours}.LayerNorm")
    tree[f"{scope}/~/roberta_lm_head/~/emb_layer_norm_after"] = layer_norm("esm.encoder.emb_layer_norm_after")
    tree[f"{scope}/~/roberta_lm_head/~/lm_head_fc_1"] = linear("lm_head.dense")
    tree[f"{scope}/~/roberta_lm_head/~/lm_head_layer_norm"] = layer_norm("lm_head.layer_norm")
    tree[f"{scope}/~/roberta_lm_head/~/lm_final_fc"] = {
        "w": state["lm_head.decoder.weight"].numpy().T.copy(),
        "b": state["lm_head.bias"].numpy(),
    }
    return tree


@pytest.mark.parametrize("fixture", ["published_v1", "published_v2"])
def test_jax_checkpoint_converts_to_same_logits(request, fixture, tmp_path, v1_inputs, v2_inputs):
    folder, reference = request.getfixturevalue(fixture)
    inputs = v1_inputs if fixture == "published_v1" else v2_inputs
    v2 = fixture == "published_v2"
    state = {k: v for k, v in reference.state_dict().items() if "contact_head" not in k and "position_ids" not in k}
    config = reference.config
    hyperparams = {
        "alphabet_size": config.vocab_size,
        "embed_dim": config.hidden_size,
        "ffn_embed_dim": config.intermediate_size,
        "num_layers": config.num_hidden_layers,
        "attention_heads": config.num_attention_heads,
        "key_size": config.hidden_size // config.num_attention_heads,
        "max_positions": config.max_position_embeddings - 2,
        "positional_embedding": None if v2 else "learned",
        "use_rotary_embedding": v2,
        "add_bias_ffn": not v2,
        "ffn_activation_name": "swish" if v2 else "gelu-no-approx",
        "use_glu_in_ffn": v2,
        "token_dropout": not v2,
        "emb_layer_norm_before": False,
        "embed_scale": 1.0,
        "add_bias_kv": False,
        "layer_norm_eps": 1e-12,  # as the HF fixture; without it the converter keeps Haiku's default 1e-5
    }
    jax_dir = tmp_path / "jax_model"
    jax_dir.mkdir()
    (jax_dir / "hyperparams.json").write_text(json.dumps(hyperparams))
    joblib.dump(_jax_pytree(state, config.num_hidden_layers, "nucleotide_transformer"), jax_dir / "pytree_ckpt.joblib")
    with pytest.raises(ValueError, match="allow-pickle"):
        convert_checkpoint(tmp_path, tmp_path / "refused")
    convert_checkpoint(tmp_path, tmp_path / "native", allow_pickle=True)
    converted = AutoModelForMaskedLM.from_pretrained(tmp_path / "native").eval()
    torch.testing.assert_close(_logits(converted, inputs), _logits(reference, inputs), rtol=0, atol=TOL)


def test_jax_parameter_without_counterpart_is_named(published_v2, tmp_path):
    from nucleotide_transformer_hf.conversion import jax_params_to_state_dict

    config = published_v2[1].config
    with pytest.raises(ValueError, match="attention_layer_0/~/mystery/w"):
        jax_params_to_state_dict({"nt/~/attention_layer_0/~/mystery": {"w": np.zeros((2, 2))}}, config)


def test_esm_protein_and_foreign_configs_are_refused(tmp_path):
    from nucleotide_transformer_hf import NucleotideTransformerConfig

    (tmp_path / "config.json").write_text(json.dumps({"model_type": "bert", "hidden_size": 8}))
    with pytest.raises(ValueError, match="Not a Nucleotide Transformer config"):
        NucleotideTransformerConfig.from_pretrained(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "esm", "is_folding_model": True}))
    with pytest.raises(ValueError, match="ESMFold"):
        NucleotideTransformerConfig.from_pretrained(tmp_path)


def test_esm_for_masked_lm_reference_is_independent(published_v1):
    assert type(published_v1[1]) is EsmForMaskedLM  # the v1 reference forward is transformers' own class


@pytest.mark.parametrize("fixture", ["published_v1", "published_v2"])
def test_auto_classes_load_published_folders_given_our_config(request, fixture, v1_inputs, v2_inputs):
    """transformers' AutoConfig would read a published folder as ESM (v1) or demand InstaDeep's remote code (v2);
    with our config object the Auto classes pick our model classes."""
    from transformers import AutoModel

    from nucleotide_transformer_hf import NucleotideTransformerConfig, NucleotideTransformerModel

    folder, reference = request.getfixturevalue(fixture)
    inputs = v1_inputs if fixture == "published_v1" else v2_inputs
    config = NucleotideTransformerConfig.from_pretrained(folder)
    model = AutoModelForMaskedLM.from_pretrained(folder, config=config).eval()
    assert type(model) is NucleotideTransformerForMaskedLM
    torch.testing.assert_close(_logits(model, inputs), _logits(reference, inputs), rtol=0, atol=TOL)
    assert type(AutoModel.from_pretrained(folder, config=config)) is NucleotideTransformerModel
