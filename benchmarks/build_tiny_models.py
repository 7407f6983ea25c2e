"""Builds the tiny random stand-ins for other Hugging Face DNA models (`nucleotide_transformer_hf.tiny_models`).

    python benchmarks/build_tiny_models.py --bpe OUT_DIR [--char OUT_DIR] [--sequences-from DIR_OR_FILE]
        [--max-bases N] [--seed S] [--char-attention-mask]

* `--bpe`: a DNABERT-2-like model (BPE tokenizer trained on DNA, random `BertForMaskedLM`), plain `Auto*` classes.
* `--char`: a HyenaDNA-like character-level model whose code ships in the folder (`trust_remote_code=True`); its
  `forward` takes no `attention_mask` unless `--char-attention-mask`.

The BPE tokenizer is trained on `--sequences-from` (a FASTA file or a folder of FASTA files; alias
`--train-fasta`), else on the repository's bundled genomes; at most `--max-bases` bases. The same arguments give
byte-identical folders. Prints one line per folder written.
"""

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # run from a checkout without installing the package
    sys.path.insert(0, str(REPO))

from nucleotide_transformer_hf.tiny_models import (  # noqa: E402
    build_tiny_bpe_model,
    build_tiny_char_model,
    bundled_dna,
    sequences_from,
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bpe", type=Path, required=True, help="folder for the BPE (DNABERT-2-like) model")
    parser.add_argument("--char", type=Path, default=None, help="folder for the character-level (HyenaDNA-like) model")
    parser.add_argument(
        "--sequences-from",
        "--train-fasta",
        dest="sequences_from",
        type=Path,
        default=None,
        help="FASTA file or folder to train the BPE tokenizer on (default: the bundled genomes)",
    )
    parser.add_argument("--max-bases", type=int, default=60_000, help="bases to train the BPE tokenizer on")
    parser.add_argument("--vocab-size", type=int, default=256)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--char-attention-mask", action="store_true", help="the char model's forward takes a mask")
    args = parser.parse_args(argv)

    if args.sequences_from is not None:
        sequences = sequences_from(args.sequences_from, max_bases=args.max_bases)
    else:
        sequences = bundled_dna(max_bases=args.max_bases)
    bpe = build_tiny_bpe_model(args.bpe, sequences, vocab_size=args.vocab_size, seed=args.seed)
    print(f"bpe: {bpe} ({sum(map(len, sequences))} bases of training DNA)")
    if args.char is not None:
        char = build_tiny_char_model(args.char, seed=args.seed, attention_mask=args.char_attention_mask)
        print(f"char: {char}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
