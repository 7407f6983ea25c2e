"""Hub out: exported folders load with plain transformers + trust_remote_code; push --dry-run; no-token failure."""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch
import yaml

from nucleotide_transformer_hf import NucleotideTransformerForMaskedLM, NucleotideTransformerTokenizerFast
from nucleotide_transformer_hf.cli import main as cli_main
from nucleotide_transformer_hf.errors import InputError
from nucleotide_transformer_hf.hub import AUTO_MAP, CODE_FILES, push, save_for_hub

# Runs in a fresh interpreter where `nucleotide_transformer_hf` cannot be imported at all (it is installed in this
# venv, so a meta-path finder refuses it): only torch and transformers, as for a Hub user.
REMOTE_SCRIPT = textwrap.dedent(
    """
    import sys
    class Refuse:
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] == "nucleotide_transformer_hf":
                raise ImportError("nucleotide_transformer_hf is deliberately unavailable")
    sys.meta_path.insert(0, Refuse())
    import numpy as np, torch
    from transformers import AutoModel, AutoModelForMaskedLM, AutoTokenizer
    folder, out = sys.argv[1], sys.argv[2]
    tokenizer = AutoTokenizer.from_pretrained(folder, trust_remote_code=True)
    model = AutoModelForMaskedLM.from_pretrained(folder, trust_remote_code=True).eval()
    encoder = AutoModel.from_pretrained(folder, trust_remote_code=True).eval()
    batch = tokenizer(["ACGTGTACNTGCACGGA", "acgtgtacgt"], return_tensors="pt", padding=True)
    with torch.no_grad():
        logits = model(**batch).logits
        hidden = encoder(**batch).last_hidden_state
    np.savez(out, logits=logits.numpy(), hidden=hidden.numpy(), ids=batch["input_ids"].numpy(),
             classes=np.array([type(model).__module__, type(encoder).__name__, type(tokenizer).__name__]))
    """
)


@pytest.fixture(scope="module")
def trained_like(tmp_path_factory):
    from nucleotide_transformer_hf import NucleotideTransformerConfig

    torch.manual_seed(0)
    config = NucleotideTransformerConfig.from_preset(
        "v2", hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37
    )
    model = NucleotideTransformerForMaskedLM(config).eval()
    tokenizer = NucleotideTransformerTokenizerFast(vocab_layout="v2")
    folder = tmp_path_factory.mktemp("native")
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder, model, tokenizer


def test_exported_folder_loads_without_our_package(trained_like, tmp_path):
    _, model, tokenizer = trained_like
    export = save_for_hub(model, tmp_path / "export", tokenizer=tokenizer)
    config = json.loads((export / "config.json").read_text())
    assert config["auto_map"] == AUTO_MAP  # every supported Auto class, AutoModel included
    assert json.loads((export / "tokenizer_config.json").read_text())["auto_map"]["AutoTokenizer"][1] == (
        "tokenization_nucleotide_transformer.NucleotideTransformerTokenizerFast"
    )
    assert all((export / name).is_file() for name in CODE_FILES)
    assert type(model)._auto_class is None  # registration undone after saving

    out = tmp_path / "remote.npz"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_MODULES_CACHE": str(tmp_path / "modules")}
    subprocess.run([sys.executable, "-c", REMOTE_SCRIPT, str(export), str(out)], check=True, env=env, cwd=tmp_path)
    remote = np.load(out)
    module, encoder_class, tokenizer_class = remote["classes"].tolist()
    assert module.startswith("transformers_modules") and encoder_class == "NucleotideTransformerModel"
    assert tokenizer_class == "NucleotideTransformerTokenizerFast"
    batch = tokenizer(["ACGTGTACNTGCACGGA", "acgtgtacgt"], return_tensors="pt", padding=True)
    assert remote["ids"].tolist() == batch["input_ids"].tolist()
    with torch.no_grad():
        torch.testing.assert_close(torch.from_numpy(remote["logits"]), model(**batch).logits, rtol=0, atol=1e-6)
        torch.testing.assert_close(
            torch.from_numpy(remote["hidden"]), model.esm(**batch).last_hidden_state, rtol=0, atol=1e-6
        )


def test_push_dry_run_writes_the_upload_folder(trained_like, tmp_path):
    folder, _, _ = trained_like
    dry = tmp_path / "upload"
    code = cli_main(
        [
            "push",
            str(folder),
            "someone/tiny-nt",
            "--dry-run",
            str(dry),
            "--base-model",
            "InstaDeepAI/x",
            "--dataset",
            "d/e",
            "--trained-on",
            "196 kb of bundled genomes",
        ]
    )
    assert code == 0
    names = {p.name for p in dry.iterdir()}
    assert {"README.md", "config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"} <= names
    assert set(CODE_FILES) <= names
    card = (dry / "README.md").read_text()
    assert card.startswith("---\n")
    metadata = yaml.safe_load(card.split("---\n")[1])
    assert metadata["library_name"] == "transformers" and metadata["pipeline_tag"] == "fill-mask"
    assert {"dna", "genomics"} <= set(metadata["tags"]) and metadata["license"] == "cc-by-nc-sa-4.0"
    assert metadata["base_model"] == "InstaDeepAI/x" and metadata["datasets"] == ["d/e"]
    assert "196 kb of bundled genomes" in card and 'from_pretrained("someone/tiny-nt", trust_remote_code=True)' in card


def test_push_without_token_fails_before_any_work(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))  # no saved login there
    missing = tmp_path / "does-not-exist"  # a model is never even read
    with pytest.raises(InputError, match="No Hugging Face token"):
        push(missing, "someone/tiny-nt")
    assert cli_main(["push", str(missing), "someone/tiny-nt"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("nucleotide-transformer push: error: No Hugging Face token") and err.count("\n") == 1
    assert "Traceback" not in err


def test_push_to_hub_is_the_standard_mixin():
    from transformers.utils import PushToHubMixin

    assert issubclass(NucleotideTransformerForMaskedLM, PushToHubMixin)
    assert issubclass(NucleotideTransformerTokenizerFast, PushToHubMixin)
