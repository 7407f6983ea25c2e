"""Pretraining data on real (bundled) and hand-made FASTA: FASTA discovery and species names, windows, strands, the N
filter, held-out splits, cached and streaming datasets, and the masking collator's proportions and determinism."""

import gzip
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch

from nucleotide_transformer_hf import NucleotideTransformerConfig, NucleotideTransformerTokenizerFast
from nucleotide_transformer_hf.dna import context_bp, read_fasta, reverse_complement
from nucleotide_transformer_hf.errors import InputError
from nucleotide_transformer_hf.pretraining_data import (
    HeldOutSplit,
    MLMCollator,
    WindowOptions,
    build_pretraining_datasets,
    find_fasta_files,
    iter_genome_windows,
    species_name,
    with_fixed_masks,
)

REPO = Path(__file__).resolve().parent.parent
GENOMES = REPO / "data" / "genomes"
MITO = GENOMES / "human_mito_NC_012920.1.fa.gz"
ECOLI = GENOMES / "ecoli_K12_MG1655_NC_000913.3_1-120000.fa.gz"
MITO_N = 3106  # 0-based position of the rCRS's single N


@pytest.fixture(scope="module")
def tokenizer():
    return NucleotideTransformerTokenizerFast(vocab_layout="v2")


@pytest.fixture(scope="module")
def mito():
    (record,) = read_fasta(MITO)
    return record.sequence


def write_fasta(path: Path, records: dict[str, str]) -> Path:
    path.write_text("".join(f">{name}\n{seq}\n" for name, seq in records.items()))
    return path


# ---- windows ---------------------------------------------------------------------------------------------------


def test_window_fills_the_context_with_6mers(tokenizer):
    v2 = NucleotideTransformerConfig.from_preset("v2")
    v1 = NucleotideTransformerConfig.from_preset("v1")
    assert tokenizer.num_special_tokens_to_add() == 1  # <cls>
    assert context_bp(v2, tokenizer) == 2047 * 6 == 12282  # 2,048 tokens minus <cls>
    assert context_bp(v1, NucleotideTransformerTokenizerFast(vocab_layout="v1")) == 999 * 6 == 5994
    sequence = "ACGTAC" * 2047
    assert len(tokenizer(sequence)["input_ids"]) == v2.context_length


def test_reverse_complement_keeps_case_and_n():
    assert reverse_complement("ACGTN") == "NACGT"
    assert reverse_complement("aacgtN") == "Nacgtt"  # soft-masked bases stay lowercase
    assert reverse_complement("GATTACA") == "TGTAATC"
    with pytest.raises(ValueError, match=r"'X' at position 2"):
        reverse_complement("ACXG")


def test_mito_windows_both_strands_and_the_single_n(mito):
    options = WindowOptions(window_bp=600, random_offset=False, strands="both")
    windows = list(iter_genome_windows(MITO, options))
    assert len(windows) == 2 * (16569 // 600)  # 27 full windows, each on both strands
    forward = [w for w in windows if w["strand"] == "+"]
    reverse = [w for w in windows if w["strand"] == "-"]
    assert [w["start"] for w in forward] == list(range(0, 27 * 600, 600))
    assert [w["start"] for w in reverse] == [w["start"] for w in forward]
    for f, r in zip(forward, reverse):
        assert f["sequence"] == mito[f["start"] : f["start"] + 600]
        assert r["sequence"] == reverse_complement(f["sequence"])
        assert r["record"] == "NC_012920.1" and r["species"] == "human_mito_NC_012920.1"
    with_n = [w for w in windows if "N" in w["sequence"]]
    assert [(w["start"], w["strand"]) for w in with_n] == [(3000, "+"), (3000, "-")]
    assert with_n[0]["sequence"][MITO_N - 3000] == "N"
    assert with_n[1]["sequence"][599 - (MITO_N - 3000)] == "N"  # mirrored on the reverse strand


def test_n_threshold_on_real_and_hand_made_windows(tmp_path):
    # 10 bp windows on the mito: the one holding position 3106 is 10% N.
    def starts(max_n):
        options = WindowOptions(window_bp=10, random_offset=False, strands="forward", max_n_fraction=max_n)
        return {w["start"] for w in iter_genome_windows(MITO, options)}

    assert starts(0.5) - starts(0.05) == {3100}
    assert len(starts(0.5)) == 16569 // 10
    path = write_fasta(tmp_path / "n.fa", {"r": "ACGTACGTAC" + "NNNNNACGTA" + "NNNNNNACGT" + "nnnnnnnnnn"})
    options = WindowOptions(window_bp=10, random_offset=False, strands="forward", max_n_fraction=0.5)
    assert [w["start"] for w in iter_genome_windows(path, options)] == [0, 10]  # 0% and 50% kept, 60%/100% dropped


def test_random_offsets_are_seeded_and_on_the_grid():
    def first_start(seed, passes=1):
        options = WindowOptions(window_bp=500, stride_bp=250, random_offset=True, strands="forward", seed=seed)
        starts = [w["start"] for w in iter_genome_windows(MITO, options, passes=passes)]
        return starts

    a, b = first_start(0), first_start(0)
    assert a == b  # reproducible
    offsets = {first_start(seed)[0] for seed in range(12)}
    assert len(offsets) > 6 and all(0 <= o < 250 for o in offsets)
    assert all((s - a[0]) % 250 == 0 for s in a)
    two = first_start(0, passes=2)
    assert two[: len(a)] == a and len(two) > len(a) and two[len(a)] != a[0]  # the second pass is shifted


def test_random_strand_and_lowercase(tmp_path):
    path = write_fasta(tmp_path / "soft.fa", {"r": "acgtac" * 50})
    windows = list(iter_genome_windows(path, WindowOptions(window_bp=12, random_offset=False, strands="random")))
    assert {w["strand"] for w in windows} == {"+", "-"}
    for w in windows:
        assert w["sequence"] == ("acgtacacgtac" if w["strand"] == "+" else reverse_complement("acgtacacgtac"))
        assert w["sequence"].islower()


def test_held_out_by_record_file_and_tail(tmp_path):
    rng = np.random.default_rng(0)
    seq = lambda n: "".join(rng.choice(list("ACGT"), n))  # noqa: E731
    a = write_fasta(tmp_path / "a.fa", {"chr1": seq(1000), "chr2": seq(1000)})
    b = write_fasta(tmp_path / "b.fa", {"chr1": seq(1000)})
    options = WindowOptions(window_bp=100, random_offset=False, strands="forward")

    def windows(path, split, held):
        return [
            (w["source"], w["record"], w["start"])
            for w in iter_genome_windows(path, options, split=split, held_out=held)
        ]

    by_record = HeldOutSplit(records={"chr2"})
    assert {r for _, r, _ in windows(a, "held_out", by_record)} == {"chr2"}
    assert {r for _, r, _ in windows(a, "train", by_record)} == {"chr1"}
    by_file = HeldOutSplit(files={"b.fa"})
    assert windows(b, "train", by_file) == [] and len(windows(b, "held_out", by_file)) == 10
    tail = HeldOutSplit(tail_fraction=0.25)
    train, held = windows(a, "train", tail), windows(a, "held_out", tail)
    assert max(s for _, _, s in train) + 100 <= 750 and min(s for _, _, s in held) == 750
    assert len(held) == 2 * 2 and len(train) == 2 * 7


def test_bad_character_names_file_record_and_position(tmp_path):
    path = write_fasta(tmp_path / "bad.fa", {"ok": "ACGT" * 10, "chrX": "ACGTRACGT"})
    with pytest.raises(InputError, match=r"bad\.fa, record chrX: invalid character 'R' at 0-based position 4"):
        list(iter_genome_windows(path, WindowOptions(window_bp=4)))
    windows = list(
        iter_genome_windows(path, WindowOptions(window_bp=9, random_offset=False, strands="forward", allow_iupac=True))
    )
    assert windows[-1]["sequence"] == "ACGTNACGT"


def test_cached_and_streaming_datasets_hold_the_same_windows(tmp_path, tokenizer, mito):
    options = WindowOptions(window_bp=600, stride_bp=300, random_offset=True, seed=3)
    held = HeldOutSplit(tail_fraction=0.1)
    cached = build_pretraining_datasets(
        [MITO], tokenizer, options, held_out=held, cache_dir=tmp_path, keep_sequence=True
    )
    streamed = build_pretraining_datasets([MITO], tokenizer, options, held_out=held, streaming=True, keep_sequence=True)
    key = lambda e: (e["start"], e["strand"], tuple(e["input_ids"]))  # noqa: E731
    assert sorted(map(key, cached["train"])) == sorted(map(key, streamed["train"]))
    assert sorted(map(key, cached["held_out"])) == sorted(map(key, streamed["held_out"]))
    cut = int(16569 * 0.9)
    for example in cached["train"]:
        assert example["start"] + 600 <= cut
        forward = mito[example["start"] : example["start"] + 600]
        assert example["sequence"] == (forward if example["strand"] == "+" else reverse_complement(forward))
        assert example["input_ids"] == tokenizer(example["sequence"])["input_ids"]
    assert all(e["start"] >= cut and e["strand"] == "+" for e in cached["held_out"])


def test_species_weights_set_sampling_proportions(tmp_path, tokenizer):
    rng = np.random.default_rng(1)
    a = write_fasta(tmp_path / "alpha.fa", {"a": "".join(rng.choice(list("ACGT"), 60_000))})
    b = write_fasta(tmp_path / "beta.fa", {"b": "".join(rng.choice(list("ACGT"), 60_000))})
    options = WindowOptions(window_bp=60, random_offset=False, strands="forward")
    train = build_pretraining_datasets(
        [a, b], tokenizer, options, species_weights={"alpha": 3, "beta": 1}, cache_dir=tmp_path / "cache"
    )["train"]
    counts = Counter(train.select(range(2000))["species"])
    assert abs(counts["alpha"] / 2000 - 0.75) < 0.04  # binomial sd ~0.01
    with pytest.raises(InputError, match=r"missing: \['beta'\]"):
        build_pretraining_datasets([a, b], tokenizer, options, species_weights={"alpha": 1})


# ---- masking -----------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ecoli_rows(tokenizer):
    options = WindowOptions(window_bp=600, random_offset=False, strands="both")
    sequences = [w["sequence"] for w in iter_genome_windows(ECOLI, options)]
    # Ragged rows (some cut short) so that padding is exercised.
    sequences = [s[: 600 - 6 * (i % 5)] for i, s in enumerate(sequences)]
    return [{"input_ids": ids} for ids in tokenizer(sequences)["input_ids"]]


def test_masking_proportions_over_many_batches(tokenizer, ecoli_rows):
    collator = MLMCollator(tokenizer, seed=0)
    special = {tokenizer.cls_token_id, tokenizer.pad_token_id}
    nucleotide_ids = set(collator.candidate_ids.tolist())
    counts = Counter()
    for epoch in range(8):  # ~400 rows x 100 tokens x 8 epochs: ~320k tokens, ~48k selected
        collator.set_epoch(epoch)
        for start in range(0, len(ecoli_rows), 32):
            batch = collator(ecoli_rows[start : start + 32])
            original = torch.full_like(batch["input_ids"], tokenizer.pad_token_id)
            for i, row in enumerate(ecoli_rows[start : start + 32]):
                original[i, : len(row["input_ids"])] = torch.tensor(row["input_ids"])
            selected = batch["labels"] != -100
            is_special = torch.isin(original, torch.tensor(sorted(special)))
            assert not (selected & is_special).any()  # <cls> and <pad> never selected ...
            assert torch.equal(batch["input_ids"][is_special], original[is_special])  # ... nor changed
            assert torch.equal(batch["labels"][selected], original[selected])
            assert torch.equal(batch["input_ids"][~selected], original[~selected])  # only selected tokens change
            assert torch.equal(batch["attention_mask"].bool(), original != tokenizer.pad_token_id)
            got = batch["input_ids"][selected]
            truth = original[selected]
            is_mask = got == tokenizer.mask_token_id
            is_random = ~is_mask & (got != truth)
            assert set(got[is_random].tolist()) <= nucleotide_ids  # random replacements are nucleotide tokens
            counts["sequence_tokens"] += int((~is_special).sum())
            counts["selected"] += int(selected.sum())
            counts["mask"] += int(is_mask.sum())
            counts["random"] += int(is_random.sum())
            counts["unchanged"] += int((got == truth).sum())
    assert counts["sequence_tokens"] > 300_000
    assert abs(counts["selected"] / counts["sequence_tokens"] - 0.15) < 0.01
    assert abs(counts["mask"] / counts["selected"] - 0.80) < 0.01
    assert abs(counts["random"] / counts["selected"] - 0.10) < 0.01
    assert abs(counts["unchanged"] / counts["selected"] - 0.10) < 0.01


def test_masks_depend_on_row_seed_and_epoch_not_on_batch(tokenizer, ecoli_rows):
    collator = MLMCollator(tokenizer, seed=0)
    alone = collator(ecoli_rows[5:6])
    in_batch = collator(ecoli_rows[0:10])  # longer rows around it: padding differs
    length = len(ecoli_rows[5]["input_ids"])
    assert torch.equal(alone["labels"][0, :length], in_batch["labels"][5, :length])
    assert torch.equal(alone["input_ids"][0, :length], in_batch["input_ids"][5, :length])
    collator.set_epoch(1)
    assert not torch.equal(collator(ecoli_rows[5:6])["labels"], alone["labels"])
    assert not torch.equal(MLMCollator(tokenizer, seed=1)(ecoli_rows[5:6])["labels"], alone["labels"])


def test_v1_random_tokens_stay_inside_the_v1_embedding():
    v1 = NucleotideTransformerTokenizerFast(vocab_layout="v1")
    collator = MLMCollator(v1, vocab_size=4105)
    ids = collator.candidate_ids.tolist()
    assert len(ids) == 4096 + 4 + 1 and max(ids) == 4104 == v1.convert_tokens_to_ids("N")  # 6-mers, A/T/C/G, N
    assert len(v1) == 4107  # transformers' collator would draw random ids up to 4106 (<bos>), past the embedding


def test_fixed_evaluation_masks_replace_every_selected_token(tokenizer, ecoli_rows):
    from datasets import Dataset

    dataset = Dataset.from_list(ecoli_rows[:100])
    fixed = with_fixed_masks(dataset, MLMCollator.for_evaluation(tokenizer, seed=0))
    again = with_fixed_masks(dataset, MLMCollator.for_evaluation(tokenizer, seed=0))
    assert fixed["labels"] == again["labels"]
    selected = masked = 0
    for original, example in zip(ecoli_rows, fixed):
        labels = np.array(example["labels"])
        ids = np.array(example["input_ids"])
        selected += (labels != -100).sum()
        masked += (ids[labels != -100] == tokenizer.mask_token_id).sum()
        assert np.array_equal(labels[labels != -100], np.array(original["input_ids"])[labels != -100])
    assert selected == masked > 1000
    batch = MLMCollator(tokenizer)([fixed[0], fixed[1]])  # rows with labels are only padded
    assert batch["labels"][0, : len(fixed[0]["labels"])].tolist() == fixed[0]["labels"]


# ---- files -------------------------------------------------------------------------------------------------------


def test_gzip_fasta_is_read_like_plain(tmp_path, tokenizer):
    plain = write_fasta(tmp_path / "x.fa", {"r": "ACGTAC" * 40})
    packed = tmp_path / "x.fa.gz"
    with gzip.open(packed, "wt") as handle:
        handle.write(plain.read_text())
    options = WindowOptions(window_bp=60, random_offset=False)
    assert [w["sequence"] for w in iter_genome_windows(plain, options)] == [
        w["sequence"] for w in iter_genome_windows(packed, options)
    ]


def test_species_names_follow_the_fasta_suffix_rules():
    assert species_name("a/ecoli_K12.fa.gz") == "ecoli_K12"
    assert species_name("Mouse.FASTA") == "Mouse" and species_name("x.fna") == "x" and species_name("y.fas.gz") == "y"
    assert species_name("notes.txt") == "notes.txt"  # not a FASTA name: kept whole


def test_fasta_discovery_and_its_input_errors(tmp_path, tokenizer):
    folder = tmp_path / "genomes"
    folder.mkdir()
    write_fasta(folder / "b.fas", {"r": "ACGT"})
    write_fasta(folder / "a.fa", {"r": "ACGT"})
    (folder / "readme.md").write_text("not a genome\n")
    single = write_fasta(tmp_path / "c.fna", {"r": "ACGT"})
    assert find_fasta_files([folder, single]) == {"a": [folder / "a.fa"], "b": [folder / "b.fas"], "c": [single]}
    with pytest.raises(InputError, match=r"missing: no such FASTA file or folder"):
        find_fasta_files([tmp_path / "missing"])
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(
        InputError, match=r"empty: no FASTA files \(\.fa, \.fasta, \.fna, \.fas, each optionally \.gz\)"
    ):
        find_fasta_files([empty])
    with pytest.raises(InputError, match=r"empty: no FASTA files"):
        build_pretraining_datasets([empty], tokenizer, WindowOptions(window_bp=4))
