"""The light package face: `import nucleotide_transformer_hf` imports no heavy module, and every registration
(Auto classes, pipelines, peft defaults) still happens, whichever comes first — our package or the registry.

Each case runs in a fresh interpreter, since registrations and `sys.modules` are process-wide."""

import subprocess
import sys
import textwrap

import pytest

HEAVY = ("torch", "transformers", "peft", "transformers.trainer", "datasets", "evaluate", "transformers.pipelines")

USE_EVERY_REGISTRY = """
from transformers import AutoConfig, AutoModel, AutoModelForMaskedLM, AutoModelForSequenceClassification
from transformers import AutoModelForTokenClassification, AutoTokenizer, pipeline
from peft import IA3Config, get_peft_model

config = AutoConfig.for_model(
    "nucleotide_transformer", hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37,
    vocab_size=4107, max_position_embeddings=64,
)
names = [type(auto.from_config(config)).__name__ for auto in (
    AutoModel, AutoModelForMaskedLM, AutoModelForSequenceClassification, AutoModelForTokenClassification)]
assert names == ["NucleotideTransformerModel", "NucleotideTransformerForMaskedLM",
                 "NucleotideTransformerForSequenceClassification", "NucleotideTransformerForTokenClassification"], names
import tempfile
from nucleotide_transformer_hf import NucleotideTransformerTokenizerFast
with tempfile.TemporaryDirectory() as folder:
    NucleotideTransformerTokenizerFast(vocab_layout="v2").save_pretrained(folder)
    config.save_pretrained(folder)
    assert type(AutoTokenizer.from_pretrained(folder)).__name__ == "NucleotideTransformerTokenizerFast"
    tokenizer = AutoTokenizer.from_pretrained(folder)
model = AutoModelForSequenceClassification.from_config(config)
peft_model = get_peft_model(model, IA3Config(task_type="SEQ_CLS"))   # no module lists: our registered defaults
scaled = sorted({n.split(".ia3_l")[0].rsplit(".", 1)[-1] for n, _ in peft_model.named_parameters() if "ia3_l" in n})
assert scaled == ["dense", "key", "value"], scaled
embed = pipeline("dna-embedding", model=AutoModel.from_config(config), tokenizer=tokenizer)
assert embed("ACGTACGTAAAT").shape == (32,)
print("ok")
"""


def run(code: str) -> str:
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_package_import_loads_no_heavy_module():
    out = run(f"""
        import sys
        import nucleotide_transformer_hf
        print(sorted(m for m in {HEAVY!r} if m in sys.modules))
        """)
    assert out.strip() == "[]"


@pytest.mark.parametrize("first", ["our package", "our modules", "the registries"])
def test_every_registration_happens_whichever_is_imported_first(first):
    if first == "our package":
        code = "import nucleotide_transformer_hf\n" + USE_EVERY_REGISTRY
    elif first == "our modules":  # our modeling file imports modeling_auto half-way through its own import
        code = (
            "import nucleotide_transformer_hf.modeling_nucleotide_transformer\n"
            "import nucleotide_transformer_hf.tokenization_nucleotide_transformer\n"
            "import nucleotide_transformer_hf.pipelines\n" + USE_EVERY_REGISTRY
        )
    else:  # transformers' registries and peft already imported: our import registers at once
        code = (
            "import transformers.models.auto.modeling_auto, transformers.models.auto.tokenization_auto\n"
            "import transformers.pipelines, peft\nimport nucleotide_transformer_hf\n" + USE_EVERY_REGISTRY
        )
    assert run(code).strip().endswith("ok")


def test_lazy_names_resolve_and_unknown_names_fail():
    out = run("""
        import nucleotide_transformer_hf as nt
        assert nt.NucleotideTransformerConfig.model_type == "nucleotide_transformer"
        assert "NucleotideTransformerForMaskedLM" in dir(nt)
        try:
            nt.NoSuchThing
        except AttributeError as error:
            print(error)
        """)
    assert "has no attribute 'NoSuchThing'" in out
