"""How much whole-6-mer signal the main job's held-out DNA holds: a model-free check.

    python benchmarks/kmer_context_ceiling.py [--genomes data/genomes] [--held-out-fraction 0.1] [--flank 6]

Splits every FASTA record as the main job does (the last `--held-out-fraction` held out), then scores the held-out
non-overlapping 6-mers two ways: always the most common training 6-mer (the main job's baseline), and an exact
lookup of the 6-mer's `--flank` bases on each side in the training DNA (both strands), predicting the 6-mer most
often seen between those flanks there (else the most common 6-mer). The lookup is what a model that memorised all
training contexts could do from its flanks alone, a rough ceiling for masked 6-mer accuracy at this data size.
"""

import argparse
import collections
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from nucleotide_transformer_hf.dna import read_fasta, reverse_complement  # noqa: E402


def ceiling(genomes: Path, held_out_fraction: float, flank: int) -> dict[str, object]:
    train, held = [], []
    for path in sorted(genomes.glob("*.fa*")):
        for record in read_fasta(path):
            sequence = record.sequence.upper()
            cut = int(len(sequence) * (1 - held_out_fraction))
            train.append(sequence[:cut])
            held.append(sequence[cut:])
    counts: collections.Counter = collections.Counter()
    between: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    for sequence in train:
        for strand in (sequence, reverse_complement(sequence)):
            for i in range(len(strand) - 5):
                counts[strand[i : i + 6]] += 1
            for i in range(flank, len(strand) - 6 - flank + 1):
                between[strand[i - flank : i] + strand[i + 6 : i + 6 + flank]][strand[i : i + 6]] += 1
    top = max((k for k in counts if set(k) <= set("ACGT")), key=counts.get)
    total = baseline_hits = lookup_hits = 0
    for sequence in held:
        for i in range(flank, len(sequence) - 6 - flank + 1, 6):
            kmer = sequence[i : i + 6]
            if not set(kmer) <= set("ACGT"):
                continue
            total += 1
            baseline_hits += kmer == top
            seen = between.get(sequence[i - flank : i] + sequence[i + 6 : i + 6 + flank])
            lookup_hits += (seen.most_common(1)[0][0] if seen else top) == kmer
    return {
        "held_out_6mers": total,
        "most_common_6mer": top,
        "most_common_hits": baseline_hits,
        "flank_lookup_hits": lookup_hits,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--genomes", type=Path, default=REPO / "data" / "genomes")
    parser.add_argument("--held-out-fraction", type=float, default=0.1)
    parser.add_argument("--flank", type=int, default=6)
    args = parser.parse_args(argv)
    r = ceiling(args.genomes, args.held_out_fraction, args.flank)
    n = r["held_out_6mers"]
    print(f"held-out 6-mers: {n:,}")
    print(
        f"always {r['most_common_6mer']} (most common in training): {r['most_common_hits']} hits "
        f"({r['most_common_hits'] / n:.2%})"
    )
    print(
        f"exact {args.flank}+{args.flank}-base flank lookup in training: {r['flank_lookup_hits']} hits "
        f"({r['flank_lookup_hits'] / n:.2%})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
