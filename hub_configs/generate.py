"""Writes hub_configs/<name>/ (our config.json + tokenizer files) for every published NT model.

    python hub_configs/generate.py

The folders are derived from `PUBLISHED_MODELS` and `ARCHITECTURE_VERSIONS` in the configuration module; the tests
fail when a folder drifts from them, so edit the module and re-run this script rather than editing the JSON.
"""

from pathlib import Path

from nucleotide_transformer_hf import PUBLISHED_MODELS, NucleotideTransformerConfig, NucleotideTransformerTokenizerFast

HERE = Path(__file__).resolve().parent


def main() -> None:
    for name, (version, _) in PUBLISHED_MODELS.items():
        folder = HERE / name
        config = NucleotideTransformerConfig.from_preset(name, architectures=["NucleotideTransformerForMaskedLM"])
        config.save_pretrained(folder)
        tokenizer = NucleotideTransformerTokenizerFast(vocab_layout=version, model_max_length=config.context_length)
        tokenizer.save_pretrained(folder)
        print(f"wrote {folder.relative_to(HERE.parent)}")


if __name__ == "__main__":
    main()
