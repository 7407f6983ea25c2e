"""Fine-tuning: peft IA3/LoRA defaults for our model type, real Trainer runs on tiny models (quiet: no deprecation
warnings from our calls), predictions through the inference engine, long sequences and windows, cross-validation
folds, and the example script on a real task. Task files and token labels: test_tasks.py; the 6-mer baseline:
test_kmer_baseline.py."""

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
from nucleotide_transformer_hf.errors import InputError
from nucleotide_transformer_hf.finetuning import (
    FinetuneSettings,
    cross_validate,
    finetune,
    merge_adapter,
    predict,
)
from nucleotide_transformer_hf.inference import token_counts
from nucleotide_transformer_hf.peft_defaults import register_peft_defaults
from nucleotide_transformer_hf.tasks import TaskData, check_sequence_lengths, kfold_indices

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
    from nucleotide_transformer_hf.finetuning import apply_method
    from nucleotide_transformer_hf.peft_defaults import PEFT_DEFAULT_MAX_LAYERS

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


# ---- prediction ------------------------------------------------------------------------------------------------------


def test_predict_equals_one_sequence_at_a_time_for_sequence_and_token_heads(tokenizer):
    sequences = ["ACGTGTACGTTTGCAAC", "GGCN", "ATATATATATATATATATATATATATATAT", "ACGTTGCA" * 5]
    sequence_model = _classifier(num_labels=3, seed=2)
    task = TaskData(sequences, np.array([0, 1, 2, 0]), "multiclass", 3)
    scores = predict(sequence_model, tokenizer, task, batch_size=2)
    torch.manual_seed(3)
    config = NucleotideTransformerConfig.from_preset("v2", num_labels=3, **TINY)
    token_model = NucleotideTransformerForTokenClassification(config).train()  # left in the mode it came in
    token_task = TaskData(sequences, [np.zeros(len(s), dtype=int) for s in sequences], "token", 3)
    per_base = predict(token_model, tokenizer, token_task, batch_size=2)
    assert token_model.training
    token_model.eval()
    for index, sequence in enumerate(sequences):  # no padding, no batching
        encoded = tokenizer(sequence, return_tensors="pt", return_offsets_mapping=True)
        offsets = encoded.pop("offset_mapping")[0].tolist()
        with torch.no_grad():
            expected = sequence_model(**encoded).logits[0].numpy()
            token_logits = token_model(**encoded).logits[0].numpy()
        np.testing.assert_allclose(scores[index], expected, rtol=1e-5, atol=1e-6)
        assert per_base[index].shape == (len(sequence), 3)
        for row, (start, end) in enumerate(offsets[1:], start=1):  # <cls> covers no base
            np.testing.assert_allclose(
                per_base[index][start:end], np.repeat(token_logits[row : row + 1], end - start, 0), rtol=1e-5, atol=1e-6
            )


# ---- long sequences and windows --------------------------------------------------------------------------------------


def test_too_long_sequences_raise_naming_them_or_use_windows(tokenizer, tmp_path):
    config = NucleotideTransformerConfig.from_preset(
        "v2", max_position_embeddings=22, num_labels=2, **TINY
    )  # 20 tokens
    task = _random_task(4, 60, 11)
    task.sequences[2] = task.sequences[2] * 4  # 240 bp = 41 tokens
    assert token_counts(tokenizer, [task.sequences[2]]) == [len(tokenizer(task.sequences[2])["input_ids"])] == [41]
    with pytest.raises(InputError, match=r"sequence 2 is 240 bp = 41 tokens .* context of 20 tokens"):
        check_sequence_lengths(task, tokenizer, config.context_length)
    with pytest.raises(InputError, match="sequence 2 is 240 bp"):
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
