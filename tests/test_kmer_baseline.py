"""The 6-mer baseline: k-mer counts by hand, and a real learning signal (a bundled task) that shuffled labels lack."""

from pathlib import Path

import numpy as np

from nucleotide_transformer_hf.kmer_baseline import kmer_baseline, kmer_counts
from nucleotide_transformer_hf.tasks import TaskData, load_task_splits

REPO = Path(__file__).resolve().parent.parent


def test_kmer_counts_by_hand():
    counts = kmer_counts(["ACGTACGT", "ACGTANCGTACG", "ACG"], k=6).toarray()
    index = {
        kmer: sum("ACGT".index(c) * 4 ** (5 - i) for i, c in enumerate(kmer)) for kmer in ("ACGTAC", "CGTACG", "GTACGT")
    }
    assert counts[0].sum() == 3 and all(counts[0, i] == 1 for i in index.values())
    assert counts[1].sum() == 1 and counts[1, index["CGTACG"]] == 1  # windows containing N are skipped
    assert counts[2].sum() == 0


def test_kmer_baseline_learns_a_real_task_and_not_shuffled_labels():
    splits = load_task_splits(REPO / "data" / "tasks" / "prom_core_all")
    real = kmer_baseline(splits["train"], splits["test"], splits["validation"])
    rng = np.random.default_rng(0)
    shuffled_train = TaskData(splits["train"].sequences, rng.permutation(splits["train"].labels), "binary", 2)
    shuffled = kmer_baseline(shuffled_train, splits["test"], splits["validation"])
    assert real["mcc"] > 0.3 and abs(shuffled["mcc"]) < 0.15
