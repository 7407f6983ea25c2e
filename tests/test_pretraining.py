"""Pretraining pieces on real (bundled) and hand-made FASTA: windows, strands, N filter, held-out splits, datasets,
masking proportions, the loss, the schedule and checkpoint discovery. End-to-end runs (2 processes, kill -9 and
resume) are in test_pretraining_distributed.py."""

import gzip
import json
import math
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch

from nucleotide_transformer_hf import NucleotideTransformerConfig, NucleotideTransformerTokenizerFast
from nucleotide_transformer_hf.dna import read_fasta, reverse_complement
from nucleotide_transformer_hf.pretraining import (
    HeldOutSplit,
    MLMCollator,
    PretrainingTrainer,
    WarmupInverseSqrt,
    WindowOptions,
    build_pretraining_datasets,
    compute_mlm_metrics,
    frequency_baseline,
    gradient_accumulation_for,
    iter_genome_windows,
    latest_checkpoint,
    load_model_config,
    masked_lm_loss,
    mlm_logits_to_predictions,
    parse_overrides,
    window_bp_for,
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
    assert window_bp_for(v2, tokenizer) == 2047 * 6 == 12282  # 2,048 tokens minus <cls>
    assert window_bp_for(v1, NucleotideTransformerTokenizerFast(vocab_layout="v1")) == 999 * 6 == 5994
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
    with pytest.raises(ValueError, match=r"bad\.fa, record chrX: invalid character 'R' at 0-based position 4"):
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
    with pytest.raises(ValueError, match=r"missing: \['beta'\]"):
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


# ---- loss, metrics, baseline ---------------------------------------------------------------------------------------


def test_loss_counts_only_selected_positions_and_normalises_over_the_step():
    torch.manual_seed(0)
    logits = torch.randn(2, 5, 7)
    labels = torch.tensor([[-100, 3, -100, -100, 6], [-100, -100, 0, -100, -100]])
    by_hand = (
        -(
            torch.log_softmax(logits[0, 1], -1)[3]
            + torch.log_softmax(logits[0, 4], -1)[6]
            + torch.log_softmax(logits[1, 2], -1)[0]
        )
        / 3
    )
    loss = masked_lm_loss({"logits": logits}, labels)
    assert torch.allclose(loss, by_hand)
    changed = logits.clone()
    changed[labels == -100] = torch.randn(int((labels == -100).sum()), 7) * 10  # unselected positions
    assert torch.allclose(masked_lm_loss({"logits": changed}, labels), by_hand)
    changed[0, 1] += torch.randn(7)
    assert not torch.allclose(masked_lm_loss({"logits": changed}, labels), by_hand)
    # Split over two "processes": each divides its sum by the step's count, so the parts add up to the global mean,
    # whereas per-part means would weight the single-token part twice as much.
    parts = [masked_lm_loss({"logits": logits[i : i + 1]}, labels[i : i + 1], num_items_in_batch=3) for i in (0, 1)]
    assert torch.allclose(sum(parts), by_hand)
    per_part_means = sum(masked_lm_loss({"logits": logits[i : i + 1]}, labels[i : i + 1]) for i in (0, 1)) / 2
    assert not torch.allclose(per_part_means, by_hand)


def test_model_loss_ignores_unselected_positions():
    from nucleotide_transformer_hf import NucleotideTransformerForMaskedLM

    config = NucleotideTransformerConfig.from_preset(
        "v2", hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64
    )
    model = NucleotideTransformerForMaskedLM(config).eval()
    ids = torch.tensor([[3, 10, 2, 30, 40, 2, 1]])
    labels = torch.tensor([[-100, -100, 20, -100, -100, 50, -100]])
    with torch.no_grad():
        out = model(input_ids=ids, attention_mask=(ids != 1).long())
        by_hand = -(torch.log_softmax(out.logits[0, 2], -1)[20] + torch.log_softmax(out.logits[0, 5], -1)[50]) / 2
        assert torch.allclose(masked_lm_loss(out, labels), by_hand, atol=1e-6)
        assert torch.allclose(
            model(input_ids=ids, attention_mask=(ids != 1).long(), labels=labels).loss, by_hand, atol=1e-6
        )


def test_metrics_and_baseline_by_hand(tokenizer):
    from transformers import EvalPrediction

    aaaaaa, aaaccc, cccccc, acgtac = tokenizer.convert_tokens_to_ids(["AAAAAA", "AAACCC", "CCCCCC", "ACGTAC"])
    labels = torch.tensor([[-100, aaaaaa, cccccc, -100], [acgtac, -100, -100, aaaaaa]])
    logits = torch.full((2, 4, len(tokenizer)), -10.0)
    # right, AAACCC for CCCCCC (3 of 6 bases), right, CCCCCC for AAAAAA (0 of 6)
    logits[0, 1, aaaaaa] = logits[0, 2, aaaccc] = logits[1, 0, acgtac] = logits[1, 3, cccccc] = 10.0
    packed = mlm_logits_to_predictions(logits, labels)
    metrics = compute_mlm_metrics(EvalPrediction(predictions=packed.numpy(), label_ids=labels.numpy()), tokenizer)
    nll_right = -torch.log_softmax(logits[0, 1], -1)[aaaaaa].item()
    nll_wrong = -torch.log_softmax(logits[0, 2], -1)[cccccc].item()
    assert metrics["masked_accuracy"] == 0.5 and metrics["masked_tokens"] == 4
    assert math.isclose(metrics["masked_base_accuracy"], (6 + 3 + 6 + 0) / 24)
    assert math.isclose(metrics["masked_loss"], (2 * nll_right + 2 * nll_wrong) / 4, rel_tol=1e-5)
    assert math.isclose(metrics["perplexity"], math.exp(metrics["masked_loss"]))

    aaaaaa, cccccc = tokenizer.convert_tokens_to_ids(["AAAAAA", "CCCCCC"])
    train = [{"input_ids": [3, aaaaaa, aaaaaa, cccccc]}, {"input_ids": [3, aaaaaa, 1, 1]}]
    held = [{"labels": [-100, aaaaaa, cccccc, -100]}, {"labels": [-100, cccccc, -100, cccccc]}]
    baseline = frequency_baseline(train, held, tokenizer)
    assert baseline["token"] == "AAAAAA" and baseline["held_out_accuracy"] == 1 / 4
    assert baseline["held_out_base_accuracy"] == 6 / 24  # AAAAAA shares no base with CCCCCC
    assert baseline["train_frequency"] == 3 / 4  # <cls> and <pad> are not candidates
    # add-one smoothing over the 4,101 nucleotide tokens (4,096 6-mers, A/T/C/G, N): 4 + 2 + 4,099 x 1 = 4,105
    expected = -(math.log(4 / 4105) + 3 * math.log(2 / 4105)) / 4
    assert math.isclose(baseline["held_out_loss"], expected, rel_tol=1e-12)


# ---- optimiser and schedule --------------------------------------------------------------------------------------


def test_paper_schedule_values():
    schedule = WarmupInverseSqrt()  # 16k steps from 5e-5 to 1e-4, then 1e-4 * sqrt(16k / step)
    peak = 1e-4
    assert math.isclose(peak * schedule(0), 5e-5)
    assert math.isclose(peak * schedule(8000), 7.5e-5)
    assert math.isclose(peak * schedule(16000), 1e-4)
    assert math.isclose(peak * schedule(64000), 5e-5)
    assert math.isclose(peak * schedule(1_024_000), 1.25e-5)


def test_trainer_uses_the_schedule_and_paper_adam(tmp_path, tokenizer):
    from nucleotide_transformer_hf import NucleotideTransformerForMaskedLM
    from nucleotide_transformer_hf.pretraining import pretraining_arguments

    config = NucleotideTransformerConfig.from_preset(
        "v2", hidden_size=32, num_hidden_layers=1, num_attention_heads=4, intermediate_size=64
    )
    args = pretraining_arguments(
        tmp_path, sequence_tokens=2048, per_device_train_batch_size=8, world_size=1, max_steps=10, bf16="no"
    )
    assert args.gradient_accumulation_steps == math.ceil(1_000_000 / (8 * 2048)) == 62
    assert (args.adam_beta1, args.adam_beta2, args.adam_epsilon, args.weight_decay) == (0.9, 0.999, 1e-8, 0.0)
    trainer = PretrainingTrainer(
        model=NucleotideTransformerForMaskedLM(config),
        args=args,
        data_collator=MLMCollator(tokenizer),
        schedule=WarmupInverseSqrt(4, 0.5),
    )
    trainer.create_optimizer_and_scheduler(num_training_steps=10)
    lrs = []
    for _ in range(6):
        lrs.append(trainer.lr_scheduler.get_last_lr()[0])
        trainer.optimizer.step()
        trainer.lr_scheduler.step()
    assert np.allclose(lrs, [5e-5, 6.25e-5, 7.5e-5, 8.75e-5, 1e-4, 1e-4 * math.sqrt(4 / 5)])


def test_gradient_accumulation_from_tokens():
    assert gradient_accumulation_for(1_000_000, 8, 2048, 1) == 62  # 61.04 -> 62 (at least the asked tokens)
    assert gradient_accumulation_for(1_000_000, 8, 2048, 8) == 8  # 7.63 -> 8
    assert gradient_accumulation_for(1000, 8, 2048, 1) == 1
    with pytest.raises(ValueError):
        gradient_accumulation_for(1000, 0, 2048, 1)


# ---- configs and checkpoints ---------------------------------------------------------------------------------------


def test_config_from_folder_json_preset_and_overrides(tmp_path):
    folder = REPO / "hub_configs" / "nucleotide-transformer-v2-50m-multi-species"
    from_folder = load_model_config(folder, {"num_hidden_layers": 2})
    assert (from_folder.hidden_size, from_folder.num_hidden_layers) == (512, 2)
    from_preset = load_model_config("nucleotide-transformer-500m-1000g", parse_overrides(["token_dropout=false"]))
    assert from_preset.hidden_size == 1280 and from_preset.token_dropout is False
    json_path = tmp_path / "c.json"
    json_path.write_text(json.dumps({**from_folder.to_dict(), "hidden_size": 64, "num_attention_heads": 4}))
    assert load_model_config(json_path).hidden_size == 64
    with pytest.raises(ValueError, match="key=value"):
        parse_overrides(["hidden_size"])


def test_latest_checkpoint_skips_one_cut_short(tmp_path):
    for step in (4, 8, 12):
        (tmp_path / f"checkpoint-{step}").mkdir()
    (tmp_path / "checkpoint-4" / "trainer_state.json").write_text(json.dumps({"global_step": 4}))
    (tmp_path / "checkpoint-8" / "trainer_state.json").write_text(json.dumps({"global_step": 8}))
    (tmp_path / "checkpoint-12" / "trainer_state.json").write_text('{"global_st')  # killed while writing
    assert latest_checkpoint(tmp_path) == str(tmp_path / "checkpoint-8")
    assert latest_checkpoint(tmp_path / "missing") is None


def test_gzip_fasta_is_read_like_plain(tmp_path, tokenizer):
    plain = write_fasta(tmp_path / "x.fa", {"r": "ACGTAC" * 40})
    packed = tmp_path / "x.fa.gz"
    with gzip.open(packed, "wt") as handle:
        handle.write(plain.read_text())
    options = WindowOptions(window_bp=60, random_offset=False)
    assert [w["sequence"] for w in iter_genome_windows(plain, options)] == [
        w["sequence"] for w in iter_genome_windows(packed, options)
    ]
