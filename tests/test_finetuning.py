"""Fine-tuning: peft IA3/LoRA defaults for our model type, real Trainer runs on tiny models, task files, token labels,
long sequences and windows, cross-validation folds, the 6-mer baseline, and the example script on a real task."""

import gzip
import importlib.util
import json
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from peft import IA3Config, LoraConfig, PeftModel, get_peft_model
from peft.tuners.ia3 import IA3Layer

from nucleotide_transformer_hf import (
    NucleotideTransformerConfig,
    NucleotideTransformerForMaskedLM,
    NucleotideTransformerForSequenceClassification,
    NucleotideTransformerForTokenClassification,
    NucleotideTransformerTokenizerFast,
)
from nucleotide_transformer_hf.finetuning import (
    IGNORE_INDEX,
    FinetuneSettings,
    TaskData,
    base_scores_from_tokens,
    check_sequence_lengths,
    cross_validate,
    encode_task,
    finetune,
    kfold_indices,
    kmer_baseline,
    kmer_counts,
    load_task,
    load_task_splits,
    merge_adapter,
    predict,
    token_count,
    token_labels_from_bases,
)
from nucleotide_transformer_hf.peft_defaults import register_peft_defaults  # noqa: E402

# The tests call peft directly too (get_peft_model, PeftModel.from_pretrained), where peft 0.21 reads transformers'
# deprecated `is_gradient_checkpointing`; that one library warning is ignored here as `finetuning` ignores it.
pytestmark = pytest.mark.filterwarnings("ignore:`is_gradient_checkpointing` is deprecated:FutureWarning")

REPO = Path(__file__).resolve().parent.parent
TINY = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37)
H, F, LAYERS = TINY["hidden_size"], TINY["intermediate_size"], TINY["num_hidden_layers"]


@pytest.fixture(scope="module")
def tokenizer():
    return NucleotideTransformerTokenizerFast(vocab_layout="v2")


@pytest.fixture(scope="module")
def tiny_model_dir(tmp_path_factory, tokenizer):
    """A tiny random NT-v2 masked-LM checkpoint with its tokenizer, as a pretrained model folder."""
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("tiny-nt")
    NucleotideTransformerForMaskedLM(NucleotideTransformerConfig.from_preset("v2", **TINY)).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def _random_task(n: int, length: int, seed: int, kind: str = "binary") -> TaskData:
    rng = np.random.default_rng(seed)
    sequences = ["".join(rng.choice(list("ACGT"), length)) for _ in range(n)]
    if kind == "token":
        labels = [rng.integers(0, 3, length) for _ in range(n)]
        return TaskData(sequences, labels, "token", 3)
    if kind == "multilabel":
        return TaskData(sequences, rng.integers(0, 2, (n, 3)), "multilabel", 3)
    if kind == "regression":
        return TaskData(sequences, rng.normal(size=n).astype(np.float32), "regression", 1)
    classes = {"binary": 2, "multiclass": 3}[kind]
    return TaskData(sequences, rng.integers(0, classes, n), kind, classes)


def _settings(tmp_path, **overrides) -> FinetuneSettings:
    values = dict(
        max_steps=4, batch_size=8, eval_steps=2, patience=2, output_dir=str(tmp_path / "trainer"), verbose=False
    )
    return FinetuneSettings(**{**values, **overrides})


def _quietly(function, *args, **kwargs):
    """`function(*args, **kwargs)`, asserting that it emits no FutureWarning or DeprecationWarning."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = function(*args, **kwargs)
    deprecations = [w for w in caught if issubclass(w.category, (FutureWarning, DeprecationWarning))]
    assert not deprecations, [f"{w.category.__name__}: {w.message} ({w.filename}:{w.lineno})" for w in deprecations]
    return result


def _classifier(num_labels: int = 2, seed: int = 0) -> NucleotideTransformerForSequenceClassification:
    torch.manual_seed(seed)
    config = NucleotideTransformerConfig.from_preset("v2", num_labels=num_labels, **TINY)
    return NucleotideTransformerForSequenceClassification(config).eval()


# ---- peft defaults ---------------------------------------------------------------------------------------------------


def _expected_ia3_trainable() -> set[str]:
    names = set()
    for i in range(LAYERS):
        prefix = f"base_model.model.esm.encoder.layer.{i}"
        names |= {
            f"{prefix}.attention.self.key.ia3_l.default",
            f"{prefix}.attention.self.value.ia3_l.default",
            f"{prefix}.output.dense.ia3_l.default",
        }
    head = "base_model.model.classifier.modules_to_save.default"
    return names | {f"{head}.{layer}.{p}" for layer in ("dense", "out_proj") for p in ("weight", "bias")}


def test_plain_ia3_config_needs_our_registration(monkeypatch, capsys):
    import peft.tuners.ia3.model as ia3_model
    import peft.utils.constants as constants

    for mapping in (
        constants.TRANSFORMERS_MODELS_TO_IA3_TARGET_MODULES_MAPPING,
        constants.TRANSFORMERS_MODELS_TO_IA3_FEEDFORWARD_MODULES_MAPPING,
        ia3_model.TRANSFORMERS_MODELS_TO_IA3_TARGET_MODULES_MAPPING,
        ia3_model.TRANSFORMERS_MODELS_TO_IA3_FEEDFORWARD_MODULES_MAPPING,
    ):
        monkeypatch.delitem(mapping, "nucleotide_transformer", raising=False)
    with pytest.raises(ValueError, match="target_modules"):
        get_peft_model(_classifier(), IA3Config(task_type="SEQ_CLS"))

    register_peft_defaults()
    register_peft_defaults()  # idempotent
    model = get_peft_model(_classifier(), IA3Config(task_type="SEQ_CLS"))
    trainable = {name for name, p in model.named_parameters() if p.requires_grad}
    assert trainable == _expected_ia3_trainable()
    model.print_trainable_parameters()
    printed = capsys.readouterr().out
    count = LAYERS * (H + H + F) + (H * H + H) + (2 * H + 2)
    assert f"trainable params: {count:,d}" in printed


def test_ia3_scales_keys_values_and_the_ffn_intermediate_only():
    register_peft_defaults()
    model = get_peft_model(_classifier(), IA3Config(task_type="SEQ_CLS"))
    wrapped = {
        name.removeprefix("base_model.model."): m for name, m in model.named_modules() if isinstance(m, IA3Layer)
    }
    assert sorted(wrapped) == sorted(
        f"esm.encoder.layer.{i}.{part}"
        for i in range(LAYERS)
        for part in ("attention.self.key", "attention.self.value", "output.dense")
    )  # not attention.output.dense, although it also ends in "output.dense"
    for name, module in wrapped.items():
        feedforward = name.endswith(".output.dense")
        assert module.is_feedforward == feedforward
        # l_ff has the FFN width F (after the SwiGLU gate product, not 2F); l_k, l_v the hidden width
        assert tuple(module.ia3_l["default"].shape) == ((1, F) if feedforward else (H, 1))


def test_ia3_forward_equals_hand_scaled_weights(tokenizer):
    register_peft_defaults()
    base = _classifier(seed=1)
    reference = _classifier(seed=1)
    model = get_peft_model(base, IA3Config(task_type="SEQ_CLS")).eval()
    generator = torch.Generator().manual_seed(5)
    with torch.no_grad():
        for i in range(LAYERS):
            layer = reference.esm.encoder.layer[i]
            for part, linear in (
                ("attention.self.key", layer.attention.self.key),
                ("attention.self.value", layer.attention.self.value),
            ):
                scale = torch.rand(H, generator=generator) + 0.5
                model.get_submodule(f"base_model.model.esm.encoder.layer.{i}.{part}").ia3_l["default"].copy_(
                    scale[:, None]
                )
                linear.weight.mul_(scale[:, None])  # l ⊙ (W x + b)
                linear.bias.mul_(scale)
            scale = torch.rand(F, generator=generator) + 0.5
            model.get_submodule(f"base_model.model.esm.encoder.layer.{i}.output.dense").ia3_l["default"].copy_(
                scale[None]
            )
            layer.output.dense.weight.mul_(scale[None, :])  # W2 (l_ff ⊙ SiLU(x W_gate) * (x W_value))
    batch = tokenizer(["ACGTGTACGTTTGCA", "GGGCCCAATTNACG"], padding=True, return_tensors="pt")
    with torch.no_grad():
        torch.testing.assert_close(model(**batch).logits, reference(**batch).logits, rtol=1e-5, atol=1e-5)


def test_apply_method_covers_models_deeper_than_the_registered_lists():
    from nucleotide_transformer_hf.finetuning import PEFT_DEFAULT_MAX_LAYERS, apply_method

    depth = PEFT_DEFAULT_MAX_LAYERS + 2
    config = NucleotideTransformerConfig.from_preset(
        "v2", hidden_size=8, num_hidden_layers=depth, num_attention_heads=2, intermediate_size=8, num_labels=2
    )
    model = apply_method(NucleotideTransformerForSequenceClassification(config), "ia3", verbose=False)
    scaled = {name for name, p in model.named_parameters() if ".ia3_l." in name}
    assert len(scaled) == 3 * depth
    assert f"base_model.model.esm.encoder.layer.{depth - 1}.output.dense.ia3_l.default" in scaled


def test_lora_default_targets_query_and_value():
    register_peft_defaults()
    model = get_peft_model(_classifier(), LoraConfig(task_type="SEQ_CLS"))
    trainable = {name for name, p in model.named_parameters() if p.requires_grad}
    lora = {n for n in trainable if ".lora_" in n}
    assert lora == {
        f"base_model.model.esm.encoder.layer.{i}.attention.self.{proj}.lora_{ab}.default.weight"
        for i in range(LAYERS)
        for proj in ("query", "value")
        for ab in "AB"
    }
    assert trainable - lora == {n for n in _expected_ia3_trainable() if "classifier" in n}


# ---- training with Trainer -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["binary", "token"])
def test_ia3_training_changes_only_scalings_and_head(tiny_model_dir, tokenizer, tmp_path, kind):
    head = (
        NucleotideTransformerForTokenClassification
        if kind == "token"
        else NucleotideTransformerForSequenceClassification
    )
    torch.manual_seed(0)  # the seed `finetune` initialises the head with (settings.seed)
    before = head.from_pretrained(tiny_model_dir, num_labels=3 if kind == "token" else 2).state_dict()
    train = _random_task(32, 30, 1, kind)
    result = _quietly(
        finetune, tiny_model_dir, train, _random_task(16, 30, 2, kind), None, _settings(tmp_path), tokenizer
    )
    assert result.steps == 4
    changed, unchanged = set(), set()
    for name, value in result.model.named_parameters():
        key = name.removeprefix("base_model.model.")
        if ".ia3_l." in name:
            (changed if not torch.allclose(value, torch.ones_like(value)) else unchanged).add(key)
        elif ".modules_to_save." in name or "original_module" in name:
            continue
        else:
            key = key.replace(".base_layer", "")
            torch.testing.assert_close(value, before[key], rtol=0, atol=0)  # frozen weights bit-identical
            assert not value.requires_grad
    assert len(changed) == 3 * LAYERS and not unchanged
    trained_head = result.model.base_model.model.classifier.modules_to_save["default"]
    initial_head = {k.removeprefix("classifier."): v for k, v in before.items() if k.startswith("classifier.")}
    assert any(not torch.equal(p, initial_head[n]) for n, p in trained_head.named_parameters())
    assert result.trainable_parameters == sum(p.numel() for p in result.model.parameters() if p.requires_grad)


def test_saved_adapter_and_merged_model_reproduce_predictions(tiny_model_dir, tokenizer, tmp_path):
    train, test = _random_task(32, 24, 3), _random_task(12, 24, 4)
    result = finetune(
        tiny_model_dir, train, None, None, _settings(tmp_path, max_steps=3, learning_rate=5e-2), tokenizer
    )
    trained = predict(result.model, tokenizer, test)
    result.model.save_pretrained(tmp_path / "adapter")
    saved = {p.name for p in (tmp_path / "adapter").iterdir()}
    assert {"adapter_config.json", "adapter_model.safetensors"} <= saved
    base = NucleotideTransformerForSequenceClassification.from_pretrained(tiny_model_dir, num_labels=2)
    assert not np.allclose(predict(base, tokenizer, test), trained, atol=1e-4)  # the adapter does matter
    reloaded = PeftModel.from_pretrained(base, tmp_path / "adapter")
    np.testing.assert_allclose(predict(reloaded, tokenizer, test), trained, rtol=1e-5, atol=1e-6)
    merged = merge_adapter(reloaded)
    assert type(merged) is NucleotideTransformerForSequenceClassification
    assert not any("ia3" in name or "modules_to_save" in name for name in merged.state_dict())
    np.testing.assert_allclose(predict(merged, tokenizer, test), trained, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("method", ["lora", "full"])
def test_lora_and_full_train_with_the_same_code(tiny_model_dir, tokenizer, tmp_path, method):
    result = _quietly(
        finetune,
        tiny_model_dir,
        _random_task(24, 24, 5),
        None,
        _random_task(10, 24, 6),
        _settings(tmp_path, method=method),
        tokenizer,
    )
    assert set(result.test_metrics) == {"mcc", "f1", "accuracy", "auroc"}
    total = sum(p.numel() for p in result.model.parameters())
    assert (result.trainable_parameters == total) == (method == "full")
    if method == "lora":
        test = _random_task(10, 24, 6)
        before = predict(result.model, tokenizer, test)
        merged = _quietly(merge_adapter, result.model)
        np.testing.assert_allclose(predict(merged, tokenizer, test), before, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("kind", ["multiclass", "multilabel", "regression"])
def test_other_label_kinds_train_and_score(tiny_model_dir, tokenizer, tmp_path, kind):
    result = finetune(
        tiny_model_dir,
        _random_task(24, 18, 7, kind),
        _random_task(12, 18, 8, kind),
        _random_task(12, 18, 9, kind),
        _settings(tmp_path),
        tokenizer,
    )
    config = result.model.get_base_model().config
    assert (
        config.problem_type
        == {
            "multiclass": "single_label_classification",
            "multilabel": "multi_label_classification",
            "regression": "regression",
        }[kind]
    )
    expected = {"mse", "pearson"} if kind == "regression" else {"mcc", "f1", "accuracy", "auroc"}
    assert set(result.test_metrics) == expected and set(expected) <= set(result.validation_metrics)


def test_cross_validation_holds_out_each_fold_once(tiny_model_dir, tokenizer, tmp_path):
    task = _random_task(30, 18, 10)
    folds = kfold_indices(task, 3, seed=0)
    held_out = np.concatenate([rows for _, rows in folds])
    assert sorted(held_out.tolist()) == list(range(30))
    for train_rows, rows in folds:
        assert not set(train_rows) & set(rows)
        assert abs(np.mean(task.labels[rows]) - np.mean(task.labels)) < 0.2  # stratified
    result = cross_validate(tiny_model_dir, task, None, 3, _settings(tmp_path, max_steps=2), tokenizer)
    assert len(result.fold_metrics) == 3
    mccs = [m["mcc"] for m in result.fold_metrics]
    assert result.mean["mcc"] == pytest.approx(np.mean(mccs)) and result.sd["mcc"] == pytest.approx(
        np.std(mccs, ddof=1)
    )
    assert (tmp_path / "trainer" / "fold-2").is_dir()


# ---- token labels ----------------------------------------------------------------------------------------------------


def test_token_labels_land_on_the_right_tokens(tokenizer):
    # tokens: <cls> ACGTGT | A C (tail before N) | N | TGCACG | G A (tail)
    sequence = "ACGTGTACNTGCACGGA"
    base_labels = "000111" + "10" + "2" + "222110" + ".1"
    task = TaskData([sequence], [np.array([-100 if c == "." else int(c) for c in base_labels])], "token", 3)
    encoded = encode_task(task, tokenizer)
    assert tokenizer.convert_ids_to_tokens(encoded[0]["input_ids"]) == [
        "<cls>",
        "ACGTGT",
        "A",
        "C",
        "N",
        "TGCACG",
        "G",
        "A",
    ]
    # ACGTGT: three 0s and three 1s, tie -> the leftmost base's label 0; TGCACG: 2,2,2,1,1,0 -> 2; singles 1:1;
    # the tail G is unlabelled -> ignored, like <cls>
    assert encoded[0]["labels"] == [IGNORE_INDEX, 0, 1, 0, 2, 2, IGNORE_INDEX, 1]
    assert token_labels_from_bases([1, 1, 0, 0, 0, 2], [(0, 6)]) == [0]  # plain majority
    assert token_labels_from_bases([2, 1, 1, 2, 0, 0], [(0, 6)]) == [2]  # three-way tie -> leftmost
    scores = np.arange(16, dtype=float).reshape(8, 2)
    per_base = base_scores_from_tokens(
        scores, tokenizer(sequence, return_offsets_mapping=True)["offset_mapping"], len(sequence)
    )
    np.testing.assert_array_equal(per_base[:6], np.repeat(scores[1:2], 6, axis=0))
    np.testing.assert_array_equal(per_base[[6, 7, 8, 15, 16]], scores[[2, 3, 4, 6, 7]])


def test_token_labels_from_a_file(tmp_path, tokenizer):
    path = tmp_path / "bases.tsv"
    path.write_text("sequence\tlabel\nACGTGTACNT\t0001110020\nNNACGTGTAA\t..11111100\n")
    task = load_task(path, kind="token")
    assert task.kind == "token" and task.num_labels == 3
    assert task.labels[1].tolist() == [IGNORE_INDEX, IGNORE_INDEX, 1, 1, 1, 1, 1, 1, 0, 0]
    assert encode_task(task, tokenizer)[1]["labels"] == [IGNORE_INDEX, IGNORE_INDEX, IGNORE_INDEX, 1, 0, 0]
    path.write_text("sequence\tlabel\nACGTGT\t00011\n")
    with pytest.raises(ValueError, match=r"bases.tsv, row 0: 5 per-base labels for a sequence of 6 bp"):
        load_task(path, kind="token")


# ---- long sequences and windows --------------------------------------------------------------------------------------


def test_too_long_sequences_raise_naming_them_or_use_windows(tokenizer, tmp_path):
    config = NucleotideTransformerConfig.from_preset(
        "v2", max_position_embeddings=22, num_labels=2, **TINY
    )  # 20 tokens
    task = _random_task(4, 60, 11)
    task.sequences[2] = task.sequences[2] * 4  # 240 bp = 41 tokens
    assert token_count(task.sequences[2]) == len(tokenizer(task.sequences[2])["input_ids"]) == 41
    with pytest.raises(ValueError, match=r"sequence 2 is 240 bp = 41 tokens .* context of 20 tokens"):
        check_sequence_lengths(task, config.context_length)
    with pytest.raises(ValueError, match="sequence 2 is 240 bp"):
        finetune(config, task, None, None, _settings(tmp_path), tokenizer)
    result = finetune(config, task, None, task, _settings(tmp_path, window_bp=60, stride_bp=30), tokenizer)
    assert set(result.test_metrics) == {"mcc", "f1", "accuracy", "auroc"}

    model = result.model.get_base_model()
    windowed = predict(result.model, tokenizer, task, window_bp=60, stride_bp=30)
    long = task.sequences[2]
    starts = [0, 30, 60, 90, 120, 150, 180]
    with torch.no_grad():
        window_logits = [model(**tokenizer(long[s : s + 60], return_tensors="pt")).logits[0].numpy() for s in starts]
    np.testing.assert_allclose(windowed[2], np.mean(window_logits, axis=0), rtol=1e-5, atol=1e-6)


# ---- task files ------------------------------------------------------------------------------------------------------


def test_task_files_csv_tsv_fasta_datasets_and_nt_layout(tmp_path):
    rows = [("ACGTGTAC", "1"), ("ttgcaacg", "0"), ("GGGCCCAN", "1")]
    (tmp_path / "t.csv").write_text("sequence,label\n" + "".join(f"{s},{y}\n" for s, y in rows))
    with gzip.open(tmp_path / "t.tsv.gz", "wt") as handle:
        handle.write("sequence\tlabel\n" + "".join(f"{s}\t{y}\n" for s, y in rows))
    (tmp_path / "t.fna").write_text("".join(f">seq{i}|{y}\n{s[:4]}\n{s[4:]}\n" for i, (s, y) in enumerate(rows)))
    import datasets

    datasets.Dataset.from_dict({"sequence": [s for s, _ in rows], "label": [int(y) for _, y in rows]}).save_to_disk(
        tmp_path / "ds"
    )
    for source in ("t.csv", "t.tsv.gz", "t.fna", "ds"):
        task = load_task(tmp_path / source)
        assert task.kind == "binary" and task.num_labels == 2, source
        assert task.sequences == [s for s, _ in rows] and task.labels.tolist() == [1, 0, 1], source
    assert load_task(tmp_path / "t.fna").names == ["seq0", "seq1", "seq2"]

    (tmp_path / "nt.csv").write_text(
        "sequence,name,label,task\nACGT,a,0,enhancers\nGGCC,b,2,enhancers_types\nTTAA,c,1,enhancers\n"
    )
    enhancers = load_task(tmp_path / "nt.csv", task="enhancers")
    assert enhancers.sequences == ["ACGT", "TTAA"] and enhancers.names == ["a", "c"]
    with pytest.raises(ValueError, match="no rows for task 'H3'"):
        load_task(tmp_path / "nt.csv", task="H3")

    (tmp_path / "kinds.csv").write_text(
        "sequence,a,b,y,cls\nACGT,1,0,0.5,promoter\nGGCC,0,1,1.25,enhancer\nTTAA,1,1,-2.0,promoter\n"
    )
    multilabel = load_task(tmp_path / "kinds.csv", label_columns=["a", "b"])
    assert multilabel.kind == "multilabel" and multilabel.labels.tolist() == [[1, 0], [0, 1], [1, 1]]
    regression = load_task(tmp_path / "kinds.csv", label_columns="y")
    assert regression.kind == "regression" and regression.labels.tolist() == [0.5, 1.25, -2.0]
    named = load_task(tmp_path / "kinds.csv", label_columns="cls")
    assert named.label_names == ["enhancer", "promoter"] and named.labels.tolist() == [1, 0, 1]

    with pytest.raises(ValueError, match=r"t.csv: missing column\(s\) target"):
        load_task(tmp_path / "t.csv", label_columns="target")
    (tmp_path / "bad.fa").write_text(">seq0\nACGT\n")
    with pytest.raises(ValueError, match=r"bad.fa, record 0 \('seq0'\): the label must be the last"):
        load_task(tmp_path / "bad.fa")


def test_split_files_agree_on_text_labels_and_kind(tmp_path):
    (tmp_path / "train.csv").write_text("sequence,label\nACGT,weak\nGGCC,strong\nTTAA,none\n")
    (tmp_path / "test.csv").write_text("sequence,label\nACGA,weak\nGGCA,none\n")
    splits = load_task_splits(tmp_path)
    assert splits["train"].label_names == splits["test"].label_names == ["none", "strong", "weak"]
    assert splits["test"].labels.tolist() == [2, 0] and splits["test"].kind == "multiclass"
    (tmp_path / "train.csv").write_text("sequence,label\nACGT,0.5\nGGCC,1.5\n")
    (tmp_path / "test.csv").write_text("sequence,label\nACGA,1\nGGCA,2\n")
    assert {t.kind for t in load_task_splits(tmp_path).values()} == {"regression"}  # the train split decides


def test_bundled_task_folders_load_with_their_splits():
    splits = load_task_splits(REPO / "data" / "tasks" / "prom_core_all")
    assert set(splits) == {"train", "validation", "test"}
    assert all(t.kind == "binary" and t.num_labels == 2 for t in splits.values())
    assert {len(s) for s in splits["train"].sequences} == {70}


# ---- the 6-mer baseline and a real learning signal ------------------------------------------------------------------


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


def _load_example():
    spec = importlib.util.spec_from_file_location("finetune_example", REPO / "examples" / "finetune.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_example_script_learns_a_real_task_better_than_shuffled_labels(tiny_model_dir, tmp_path):
    example = _load_example()
    common = [
        "--model",
        str(tiny_model_dir),
        "--task-dir",
        str(REPO / "data" / "tasks" / "prom_core_all"),
        "--method",
        "full",
        "--pooling",
        "mean",
        "--max-steps",
        "100",
        "--batch-size",
        "16",
        "--learning-rate",
        "1e-3",
        "--eval-steps",
        "50",
        "--patience",
        "3",
        "--quiet",
    ]
    real = example.main([*common, "--out", str(tmp_path / "real")])
    shuffled = example.main([*common, "--shuffle-labels", "--out", str(tmp_path / "shuffled")])
    assert real["test"]["mcc"] > shuffled["test"]["mcc"] + 0.1 and real["test"]["mcc"] > 0.15
    assert json.loads((tmp_path / "real" / "metrics.json").read_text())["test"]["mcc"] == real["test"]["mcc"]
    assert (tmp_path / "real" / "model" / "model.safetensors").exists()


def test_example_script_saves_and_merges_an_ia3_adapter(tiny_model_dir, tmp_path):
    example = _load_example()
    summary = example.main(
        [
            "--model",
            str(tiny_model_dir),
            "--task-dir",
            str(REPO / "data" / "tasks" / "prom_core_all"),
            "--max-steps",
            "2",
            "--eval-steps",
            "1",
            "--merge",
            "--quiet",
            "--out",
            str(tmp_path),
        ]
    )
    assert summary["trainable_parameters"] < summary["total_parameters"] / 10
    config = json.loads((tmp_path / "adapter" / "adapter_config.json").read_text())
    assert config["peft_type"] == "IA3" and config["task_type"] == "SEQ_CLS"
    merged = NucleotideTransformerForSequenceClassification.from_pretrained(tmp_path / "merged")
    assert not any("ia3" in name for name in merged.state_dict())
