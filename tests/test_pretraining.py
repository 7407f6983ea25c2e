"""Pretraining training pieces: the loss, metrics and frequency baseline, the schedule and arguments, configs, and
checkpoint discovery. The data side is in test_pretraining_data.py; end-to-end runs (2 processes, kill -9 and resume)
are in test_pretraining_distributed.py."""

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from nucleotide_transformer_hf import NucleotideTransformerConfig, NucleotideTransformerTokenizerFast
from nucleotide_transformer_hf.errors import InputError
from nucleotide_transformer_hf.pretraining import (
    PretrainingTrainer,
    WarmupInverseSqrt,
    compute_mlm_metrics,
    frequency_baseline,
    gradient_accumulation_for,
    latest_checkpoint,
    load_model_config,
    masked_lm_loss,
    mlm_logits_to_predictions,
    parse_overrides,
)
from nucleotide_transformer_hf.pretraining_data import MLMCollator

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def tokenizer():
    return NucleotideTransformerTokenizerFast(vocab_layout="v2")


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
    with pytest.raises(InputError, match="key=value"):
        parse_overrides(["hidden_size"])
    (tmp_path / "no_config").mkdir()
    with pytest.raises(InputError, match=r"no_config: folder has no config\.json"):
        load_model_config(tmp_path / "no_config")
    with pytest.raises(InputError, match=r"missing\.json: no such config file"):
        load_model_config(tmp_path / "missing.json")


def test_latest_checkpoint_skips_one_cut_short(tmp_path):
    for step in (4, 8, 12):
        (tmp_path / f"checkpoint-{step}").mkdir()
    (tmp_path / "checkpoint-4" / "trainer_state.json").write_text(json.dumps({"global_step": 4}))
    (tmp_path / "checkpoint-8" / "trainer_state.json").write_text(json.dumps({"global_step": 8}))
    (tmp_path / "checkpoint-12" / "trainer_state.json").write_text('{"global_st')  # killed while writing
    assert latest_checkpoint(tmp_path) == str(tmp_path / "checkpoint-8")
    assert latest_checkpoint(tmp_path / "missing") is None
