"""The inference engine: window layout and ownership, token-budget batching, batching-independent results, and the
task-head read-out against direct model calls."""

import numpy as np
import pytest
import torch
from helpers import random_dna

from nucleotide_transformer_hf.inference import (
    ForwardPass,
    _token_budget_batches,
    embed_sequences,
    head_logits,
    run_forward_passes,
    token_counts,
    token_owners,
    token_window_starts,
)


def test_window_layout_and_ownership_hand_worked():
    assert token_window_starts(16, 10, 4) == [0, 6]
    assert token_window_starts(16, 8, 2) == [0, 6, 8]
    assert token_window_starts(10, 10, 4) == [0]
    # [0,10) and [6,16): token 7 is 2 from window 0's inner edge and 1 from window 1's -> window 0; token 8 the reverse.
    assert token_owners(16, [0, 6], 10).tolist() == [0] * 8 + [1] * 8
    # [0,8), [6,14), [8,16): sequence ends are not edges.
    assert token_owners(16, [0, 6, 8], 8).tolist() == [0] * 7 + [1] * 4 + [2] * 5
    # [0,10) and [7,17): token 8 is 1 from both inner edges -> tie -> the earlier window.
    assert token_owners(17, [0, 7], 10).tolist() == [0] * 9 + [1] * 8


def test_token_budget_batches_hand_worked():
    # batch_size 2 at the longest length 10: 20 padded tokens a batch. [2, 2, 3, 5] pads to 4 x 5 = 20 (fits);
    # adding the 10 would pad to 5 x 10 = 50.
    order = [4, 0, 3, 1, 2]
    assert _token_budget_batches([2, 2, 3, 5, 10], order, 2) == [[4, 0, 3, 1], [2]]
    # Equal lengths: exactly batch_size a batch, as plain batching would do.
    assert _token_budget_batches([7] * 5, list(range(5)), 2) == [[0, 1], [2, 3], [4]]
    assert _token_budget_batches([], [], 4) == []


@pytest.mark.parametrize("seed", range(5))
def test_token_budget_batches_cover_in_order_within_budget(seed):
    rng = np.random.default_rng(seed)
    lengths = sorted(rng.integers(1, 300, size=int(rng.integers(1, 60))).tolist())
    batch_size = int(rng.integers(1, 9))
    batches = _token_budget_batches(lengths, list(range(len(lengths))), batch_size)
    assert [i for batch in batches for i in batch] == list(range(len(lengths)))
    for batch in batches:
        assert len(batch) * lengths[batch[-1]] <= batch_size * lengths[-1]
        assert len(batch) >= 1
    # Greedy: a batch could not have taken the next member without breaking the budget.
    for batch, following in zip(batches, batches[1:]):
        assert (len(batch) + 1) * lengths[following[0]] > batch_size * lengths[-1]


def test_embeddings_do_not_depend_on_batching(tiny):
    model, tokenizer = tiny
    # Short and long sequences: the short ones share a larger batch; every embedding equals the one-at-a-time one.
    sequences = ["ACGTAC" * n + "GA" for n in (1, 2, 3, 20, 2, 1, 40)]
    together = embed_sequences(model, tokenizer, sequences, batch_size=2)
    alone = [embed_sequences(model, tokenizer, [s], batch_size=1)[0] for s in sequences]
    for a, b in zip(together, alone):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


# ---- task heads ----------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def heads(tiny):
    from nucleotide_transformer_hf import (
        NucleotideTransformerForSequenceClassification,
        NucleotideTransformerForTokenClassification,
    )

    model, tokenizer = tiny
    torch.manual_seed(3)
    sequence_head = NucleotideTransformerForSequenceClassification(
        model.config.__class__(**{**model.config.to_dict(), "num_labels": 3})
    )
    token_head = NucleotideTransformerForTokenClassification(
        model.config.__class__(**{**model.config.to_dict(), "num_labels": 2})
    )
    return sequence_head.eval(), token_head.eval(), tokenizer


def test_head_logits_equal_one_unpadded_model_call_per_sequence(heads):
    sequence_head, token_head, tokenizer = heads
    sequences = [random_dna(40, 1), "ACGTNNACGTAC", random_dna(200, 2), "acgtac"]
    for model in (sequence_head, token_head):
        logits, offsets = head_logits(model, tokenizer, sequences, batch_size=2)
        for sequence, got, spans in zip(sequences, logits, offsets):
            encoded = tokenizer(sequence, return_tensors="pt", return_offsets_mapping=True)
            with torch.no_grad():
                expected = model(input_ids=encoded["input_ids"]).logits[0].numpy()
            if model is token_head:
                expected = expected[1:]  # <cls> left out
                np.testing.assert_array_equal(spans, encoded["offset_mapping"][0, 1:].numpy())
            assert got.dtype == np.float32 and got.shape == expected.shape
            np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


def test_head_logits_through_peft_and_the_model_keeps_its_mode(heads):
    from peft import IA3Config, get_peft_model

    from nucleotide_transformer_hf.finetuning import silence_peft_checkpointing_warning

    sequence_head, _, tokenizer = heads
    with silence_peft_checkpointing_warning():  # peft's own deprecated call, not ours
        wrapped = get_peft_model(sequence_head, IA3Config(task_type="SEQ_CLS"))
    wrapped.train()
    logits, _ = head_logits(wrapped, tokenizer, ["ACGTACGTAAAT"])
    assert wrapped.training and logits[0].shape == (3,)  # IA3 starts as the identity: the bare head's numbers
    np.testing.assert_allclose(logits[0], head_logits(wrapped.get_base_model(), tokenizer, ["ACGTACGTAAAT"])[0][0])


def test_head_logits_refuse_a_sequence_longer_than_the_context(heads):
    sequence_head, _, tokenizer = heads
    with pytest.raises(ValueError, match=r"Sequence 1 has 65 tokens, more than the model's context of 64"):
        head_logits(sequence_head, tokenizer, ["ACGTAC", "ACGTAC" * 64])


def test_logits_passes_run_alone_and_unknown_reads_are_refused(tiny):
    model, _ = tiny
    ids = np.array([3, 10, 11])
    with pytest.raises(ValueError, match="run them in a call of their own"):
        run_forward_passes(model, [ForwardPass(ids, "logits", 1, 3), ForwardPass(ids, "sum", 1, 3)])
    with pytest.raises(ValueError, match="Unknown read 'nope'"):
        run_forward_passes(model, [ForwardPass(ids, "nope")])


def test_token_counts_are_the_tokenizers_own(tiny):
    _, tokenizer = tiny
    sequences = ["ACGTAC", "ACGTACG", "NACGTACN", "ac gt\nac", "ACGTAC" * 100]  # the last is past model_max_length
    assert token_counts(tokenizer, sequences) == [2, 3, 4, 2, 101]
    for sequence in sequences[:4]:
        assert token_counts(tokenizer, [sequence])[0] == len(tokenizer(sequence)["input_ids"])


def test_log_probs_at_several_positions_equal_one_position_reads_and_targets_pick_from_them(tiny):
    model, tokenizer = tiny
    ids = np.array([tokenizer.cls_token_id, *tokenizer(random_dna(120, 5), add_special_tokens=False)["input_ids"]])
    positions, targets = (1, 4, 9, 20), tuple(int(ids[p]) for p in (1, 4, 9, 20))
    passes = [ForwardPass(ids, "log_probs", position=p) for p in positions]
    passes += [
        ForwardPass(ids, "log_probs", positions=positions),
        ForwardPass(ids, "log_probs", positions=positions, targets=targets),
    ]
    seen = []
    results = run_forward_passes(model, passes, batch_size=2, before_batch=seen.append)
    block, picked = results[-2], results[-1]
    assert block.shape == (4, model.config.vocab_size) and picked.shape == (4,)
    for k in range(4):
        np.testing.assert_allclose(block[k], results[k], rtol=1e-6, atol=1e-6)
        assert picked[k] == block[k, targets[k]]
    assert sorted(i for batch in seen for i in batch) == list(range(len(passes)))  # each pass in exactly one batch
    with pytest.raises(ValueError, match="Pass 0: 1 targets for 2 positions"):
        run_forward_passes(model, [ForwardPass(ids, "log_probs", positions=(1, 2), targets=(5,))])
