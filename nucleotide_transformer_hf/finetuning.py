"""Fine-tuning the Nucleotide Transformer on a labelled task (`tasks.TaskData`) with `Trainer`.

* **Methods**: `apply_method` wraps a model for peft IA3 (the paper's: learned rescaling vectors on the attention keys
  and values and the FFN intermediate activations, with a trainable head; the defaults of `peft_defaults`), peft LoRA
  or full fine-tuning; `merge_adapter` folds an adapter into the weights; `trainable_parameters` counts.
* **Models**: `load_model_for_task` puts a fresh sequence or token head on an encoder (a folder, a config or a model).
* **Training**: `finetune` (Trainer, early stopping on a validation split, the best checkpoint restored),
  `cross_validate` (k folds of the training set as validation, as in the paper).
* **Scoring**: `predict` and `evaluate_task` run the task head through the inference engine
  (`inference.head_logits`), with an optional sliding window (`tasks.make_windows`) averaged per sequence or base.

peft 0.21 reads transformers' deprecated `is_gradient_checkpointing` when it wraps a model, which warns
(`FutureWarning`) from inside the libraries; exactly that warning, by message and category, is silenced around our
`get_peft_model` call (no other warning arises in our IA3, LoRA or full fine-tuning, `predict` or `merge_adapter`).
"""

import contextlib
import math
import os
import time
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from transformers import (
    DataCollatorForTokenClassification,
    DataCollatorWithPadding,
    EarlyStoppingCallback,
    EvalPrediction,
    PreTrainedModel,
    Trainer,
    TrainingArguments,
)
from transformers.trainer_callback import PrinterCallback

from .configuration_nucleotide_transformer import NucleotideTransformerConfig
from .dna import context_tokens
from .inference import head_logits, is_nt_tokenizer
from .metrics import task_metrics
from .model_zoo import ComparedModel, context_of, load_classifier, load_tokenizer
from .modeling_nucleotide_transformer import (
    NucleotideTransformerForSequenceClassification,
    NucleotideTransformerForTokenClassification,
    NucleotideTransformerPreTrainedModel,
)
from .peft_defaults import PEFT_DEFAULT_MAX_LAYERS, ia3_modules_for, register_peft_defaults
from .tasks import (
    IGNORE_INDEX,
    TaskData,
    base_scores_from_tokens,
    check_sequence_lengths,
    kfold_indices,
    make_windows,
    selection_metric,
    split_off,
    token_labels_from_bases,
)
from .tokenization_nucleotide_transformer import NucleotideTransformerTokenizerFast

METHODS = ("ia3", "lora", "full")
"""Fine-tuning methods: peft IA3 (the paper's), peft LoRA, or every weight trained."""

PEFT_CHECKPOINTING_WARNING = r"`is_gradient_checkpointing` is deprecated"
"""Start of the `FutureWarning` that peft 0.21 triggers inside transformers 5 when it wraps a model (it reads the
deprecated `is_gradient_checkpointing`); `silence_peft_checkpointing_warning` silences exactly this one."""


@contextlib.contextmanager
def silence_peft_checkpointing_warning():
    """Silences, inside the block, the one deprecation warning that peft raises from library internals
    (`PEFT_CHECKPOINTING_WARNING`, a `FutureWarning`); every other warning is shown as usual."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=PEFT_CHECKPOINTING_WARNING, category=FutureWarning)
        yield


def trainable_parameters(model: torch.nn.Module) -> tuple[int, int]:
    """(trainable, total) parameter counts, each tensor counted once."""
    seen, trainable, total = set(), 0, 0
    for parameter in model.parameters():
        if id(parameter) in seen:
            continue
        seen.add(id(parameter))
        total += parameter.numel()
        trainable += parameter.numel() if parameter.requires_grad else 0
    return trainable, total


def describe_trainable(model: torch.nn.Module) -> str:
    """One line: trainable and total parameters and the trainable fraction."""
    trainable, total = trainable_parameters(model)
    return f"trainable params: {trainable:,d} || all params: {total:,d} || trainable%: {100 * trainable / total:.4f}"


# ---- models and methods ----------------------------------------------------------------------------------------------


def encode_task(task: TaskData, tokenizer: NucleotideTransformerTokenizerFast, max_tokens: int | None = None):
    """A `datasets.Dataset` with `input_ids`, `attention_mask` and `labels` for `Trainer` (token tasks: one label per
    token, see `token_labels_from_bases`). Sequences longer than `max_tokens` raise (see `check_sequence_lengths`)."""
    from datasets import Dataset

    if max_tokens is not None:
        check_sequence_lengths(task, tokenizer, max_tokens)
    if task.kind == "token":
        encoded = tokenizer(task.sequences, return_offsets_mapping=True)
        labels = [
            token_labels_from_bases(base_labels, offsets)
            for base_labels, offsets in zip(task.labels, encoded["offset_mapping"])
        ]
    else:
        encoded = tokenizer(task.sequences)
        array = np.asarray(task.labels)
        labels = array.astype(np.float32).tolist() if task.kind in ("multilabel", "regression") else array.tolist()
    columns = {"input_ids": encoded["input_ids"], "labels": labels}
    if "attention_mask" in encoded:  # a tokenizer of a model without attention mask (HyenaDNA's) returns none
        columns["attention_mask"] = encoded["attention_mask"]
    return Dataset.from_dict(columns)


ModelSource = str | os.PathLike | NucleotideTransformerConfig | NucleotideTransformerPreTrainedModel | ComparedModel
"""A model folder, a config (random weights), a model in memory, or a `model_zoo.ComparedModel` (an NT folder, or
another Hugging Face model with its own sequence head, compared with NT by `evaluate-tasks`)."""


def _head_class(kind: str):
    return (
        NucleotideTransformerForTokenClassification
        if kind == "token"
        else NucleotideTransformerForSequenceClassification
    )


def load_model_for_task(
    source: ModelSource,
    kind: str,
    num_labels: int,
    *,
    random_init: bool = False,
    pooling: str | None = None,
    seed: int = 0,
) -> NucleotideTransformerPreTrainedModel:
    """The encoder of `source` with a fresh task head (sequence classification/regression, or token classification).

    Args:
        source: a model folder (ours, or a published NT checkpoint), a config (random weights), or a model in memory
            (its encoder weights are copied).
        kind: one of `LABEL_KINDS`; sets the head and `problem_type`.
        num_labels: head outputs.
        random_init: same architecture, encoder re-initialised at random (the "random-init" baseline).
        pooling: `"cls"` or `"mean"` for the sequence head (`config.classifier_pooling`); the source's when None.
        seed: seed of the head (and of the encoder with `random_init`).
    """
    if isinstance(source, ComparedModel):
        if not source.is_nt:
            if kind == "token":
                raise ValueError(f"{source.label}: token tasks need our token head; this model is not an NT model.")
            return load_classifier(source, num_labels, problem_type_for(kind), random_init=random_init, seed=seed)
        source = source.path
    head = _head_class(kind)
    overrides: dict[str, Any] = {"num_labels": num_labels}
    if kind != "token":
        overrides["problem_type"] = problem_type_for(kind)
        if pooling is not None:
            overrides["classifier_pooling"] = pooling
    torch.manual_seed(seed)
    if isinstance(source, NucleotideTransformerConfig):
        return head(NucleotideTransformerConfig.from_dict({**source.to_dict(), **overrides}))
    if isinstance(source, PreTrainedModel):
        config = NucleotideTransformerConfig.from_dict({**source.config.to_dict(), **overrides})
        model = head(config)
        if not random_init:
            model.esm.load_state_dict(source.base_model.state_dict())
        return model
    if random_init:
        config = NucleotideTransformerConfig.from_pretrained(source, **overrides)
        return head(config)
    return head.from_pretrained(source, **overrides)


def problem_type_for(kind: str) -> str:
    """transformers' `problem_type` for a label kind."""
    return {"multilabel": "multi_label_classification", "regression": "regression"}.get(
        kind, "single_label_classification"
    )


def apply_method(
    model: NucleotideTransformerPreTrainedModel,
    method: str,
    *,
    lora_rank: int = 8,
    lora_alpha: int = 16,
    lora_dropout: float = 0.05,
    verbose: bool = True,
) -> torch.nn.Module:
    """Wraps `model` for `method`: `"ia3"` (peft `IA3Config` with our registered defaults), `"lora"` (peft
    `LoraConfig`, query/value), or `"full"` (unchanged, every weight trainable). Prints the trainable fraction.
    Another model type (`model_zoo`) gets peft's own defaults for it; peft raises `ValueError` where it has none."""
    if method not in METHODS:
        raise ValueError(f"Unknown method {method!r}; choose one of {', '.join(METHODS)}.")
    if method == "full":
        for parameter in model.parameters():
            parameter.requires_grad_(True)
        if verbose:
            print(describe_trainable(model))
        return model
    from peft import IA3Config, LoraConfig, get_peft_model

    register_peft_defaults()
    task_type = "TOKEN_CLS" if isinstance(model, NucleotideTransformerForTokenClassification) else "SEQ_CLS"
    ours = isinstance(model, NucleotideTransformerPreTrainedModel)
    if method == "ia3":
        if ours and model.config.num_hidden_layers > PEFT_DEFAULT_MAX_LAYERS:
            targets, feedforward = ia3_modules_for(model.config.num_hidden_layers)
            peft_config = IA3Config(task_type=task_type, target_modules=targets, feedforward_modules=feedforward)
        else:
            peft_config = IA3Config(task_type=task_type)
    else:
        peft_config = LoraConfig(task_type=task_type, r=lora_rank, lora_alpha=lora_alpha, lora_dropout=lora_dropout)
    with silence_peft_checkpointing_warning():
        peft_model = get_peft_model(model, peft_config)
    if verbose:
        peft_model.print_trainable_parameters()
    return peft_model


def merge_adapter(model: torch.nn.Module) -> NucleotideTransformerPreTrainedModel:
    """A peft model's adapter folded into the weights (`merge_and_unload`), with the trained head in place.

    peft 0.21's IA3 unload fails on a head made of several layers in `modules_to_save` (our `classifier`, and
    RoBERTa's or ESM's): it reads `.weight` of the head module (huggingface/peft#3114, PR #3213). The trained head
    copy is put in place first, which is what the unload would do, then peft merges the scalings.
    """
    from peft.utils import ModulesToSaveWrapper

    base = model.get_base_model()
    for name, module in list(base.named_modules()):
        if isinstance(module, ModulesToSaveWrapper):
            parent_name, _, child_name = name.rpartition(".")
            parent = base.get_submodule(parent_name) if parent_name else base
            setattr(parent, child_name, module.modules_to_save[model.active_adapter])
    return model.merge_and_unload()


# ---- training --------------------------------------------------------------------------------------------------------

DEFAULT_LEARNING_RATES = {"ia3": 3e-3, "lora": 5e-4, "full": 1e-4}
"""Learning rates per method: 3e-3 for IA3 as in the paper's recipe (docs/unverified.md#fine-tuning-hyper-parameters, UNVERIFIED), common values for
LoRA and full fine-tuning."""


@dataclass
class FinetuneSettings:
    """Training settings shared by `finetune`, `cross_validate`, the example script and the task benchmark.

    Attributes:
        method: "ia3", "lora" or "full".
        learning_rate: Adam(W) learning rate; `DEFAULT_LEARNING_RATES[method]` when None.
        max_steps: optimiser steps (the paper: 10,000 per fold).
        batch_size: sequences per step (the paper: 8).
        eval_steps: evaluate on the validation split every this many steps (early stopping, best checkpoint).
        patience: stop after this many evaluations without improvement of the validation metric.
        seed: seed of the head, data order and dropout.
        pooling: sequence-head pooling, "cls" or "mean" (None: the model config's).
        window_bp: if set, sequences are cut into windows of this many bases (predictions averaged per sequence);
            otherwise a sequence longer than the context raises.
        stride_bp: window stride (default half a window).
        output_dir: Trainer checkpoints and logs.
        lora_rank: LoRA rank.
        random_init: train the same architecture from random weights (baseline).
        weight_decay, warmup_ratio: as in `TrainingArguments`.
        verbose: print the trainable fraction and Trainer progress.
    """

    method: str = "ia3"
    learning_rate: float | None = None
    max_steps: int = 10_000
    batch_size: int = 8
    eval_steps: int = 500
    patience: int = 5
    seed: int = 0
    pooling: str | None = None
    window_bp: int | None = None
    stride_bp: int | None = None
    output_dir: str = "outputs/finetune"
    lora_rank: int = 8
    random_init: bool = False
    weight_decay: float = 0.0
    warmup_ratio: float = 0.0
    verbose: bool = True

    def __post_init__(self):
        if self.method not in METHODS:
            raise ValueError(f"Unknown method {self.method!r}; choose one of {', '.join(METHODS)}.")


@dataclass
class FinetuneResult:
    """What `finetune` returns: the trained model (a peft model for IA3/LoRA), its Trainer, test metrics (None
    without a test split), the best validation metrics, training seconds and parameter counts."""

    model: torch.nn.Module
    trainer: Trainer
    test_metrics: dict[str, float] | None
    validation_metrics: dict[str, float] | None
    train_seconds: float
    trainable_parameters: int
    total_parameters: int
    steps: int
    tokenizer: NucleotideTransformerTokenizerFast = field(repr=False, default=None)


def make_compute_metrics(kind: str):
    """`compute_metrics` for `Trainer`: `task_metrics` on the labelled positions (token tasks: per token)."""

    def compute_metrics(prediction: EvalPrediction) -> dict[str, float]:
        scores = prediction.predictions[0] if isinstance(prediction.predictions, tuple) else prediction.predictions
        labels = prediction.label_ids
        if kind == "token":
            keep = labels != IGNORE_INDEX
            return task_metrics(scores[keep], labels[keep], "token")
        return task_metrics(scores, labels, kind)

    return compute_metrics


def _tokenizer_for(
    source: Any, tokenizer: NucleotideTransformerTokenizerFast | None
) -> NucleotideTransformerTokenizerFast:
    if tokenizer is not None:
        return tokenizer
    if isinstance(source, ComparedModel):
        return load_tokenizer(source)
    if isinstance(source, (str, os.PathLike)) and any(
        (Path(source) / f).exists() for f in ("tokenizer.json", "vocab.txt")
    ):
        return NucleotideTransformerTokenizerFast.from_pretrained(source)
    raise ValueError(f"Pass the tokenizer: the model source {source!r} has no tokenizer files.")


def _windowed(task: TaskData, settings: FinetuneSettings) -> TaskData:
    """`task` itself, or its windows when `settings.window_bp` is set."""
    if settings.window_bp is None:
        return task
    return make_windows(task, settings.window_bp, settings.stride_bp).task


def context_with_specials(model: torch.nn.Module, tokenizer) -> int:
    """Tokens one input may have, `<cls>` included: the model's context capped by the tokenizer's
    `model_max_length` (`dna.context_tokens` plus the special tokens). `model` may be wrapped by peft."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    if not is_nt_tokenizer(tokenizer):  # another model compared with NT
        return context_of(base.config, tokenizer) or 1 << 62
    return context_tokens(base.config, tokenizer) + tokenizer.num_special_tokens_to_add()


def finetune(
    source: ModelSource,
    train: TaskData,
    validation: TaskData | None = None,
    test: TaskData | None = None,
    settings: FinetuneSettings | None = None,
    tokenizer: NucleotideTransformerTokenizerFast | None = None,
) -> FinetuneResult:
    """Fine-tunes `source` on `train` with `Trainer` and evaluates on `test`.

    With a `validation` split the model is evaluated every `settings.eval_steps` steps, training stops early after
    `settings.patience` evaluations without improvement (MCC; MSE for regression) and the best checkpoint is restored
    before testing. Test metrics come from `predict` (windows averaged per sequence; token tasks scored per base).
    """
    settings = settings or FinetuneSettings()
    tokenizer = _tokenizer_for(source, tokenizer)
    model = load_model_for_task(
        source,
        train.kind,
        train.num_labels,
        random_init=settings.random_init,
        pooling=settings.pooling,
        seed=settings.seed,
    )
    max_tokens = context_with_specials(model, tokenizer)
    model = apply_method(model, settings.method, lora_rank=settings.lora_rank, verbose=settings.verbose)
    trainable, total = trainable_parameters(model)

    train_dataset = encode_task(_windowed(train, settings), tokenizer, max_tokens)
    eval_dataset = encode_task(_windowed(validation, settings), tokenizer, max_tokens) if validation else None
    metric, greater_is_better = selection_metric(train.kind)
    has_eval = eval_dataset is not None
    args = _training_arguments(settings, has_eval, metric, greater_is_better)
    collator = (
        DataCollatorForTokenClassification(tokenizer) if train.kind == "token" else DataCollatorWithPadding(tokenizer)
    )
    trainer = Trainer(
        model=model,
        args=args,
        train_dataset=train_dataset,
        eval_dataset=eval_dataset,
        data_collator=collator,
        compute_metrics=make_compute_metrics(train.kind),
        callbacks=[EarlyStoppingCallback(early_stopping_patience=settings.patience)] if has_eval else [],
    )
    if not settings.verbose:
        trainer.remove_callback(PrinterCallback)  # the evaluation logs; progress bars are off already
    start = time.perf_counter()
    output = trainer.train()
    seconds = time.perf_counter() - start
    validation_metrics = None
    if has_eval:
        validation_metrics = {k.removeprefix("eval_"): v for k, v in trainer.evaluate().items()}
    test_metrics = None
    if test is not None:
        test_metrics = evaluate_task(model, tokenizer, test, window_bp=settings.window_bp, stride_bp=settings.stride_bp)
    return FinetuneResult(
        model=model,
        trainer=trainer,
        test_metrics=test_metrics,
        validation_metrics=validation_metrics,
        train_seconds=seconds,
        trainable_parameters=trainable,
        total_parameters=total,
        steps=output.global_step,
        tokenizer=tokenizer,
    )


def _training_arguments(
    settings: FinetuneSettings, has_eval: bool, metric: str, greater_is_better: bool
) -> TrainingArguments:
    return TrainingArguments(
        output_dir=settings.output_dir,
        max_steps=settings.max_steps,
        per_device_train_batch_size=settings.batch_size,
        per_device_eval_batch_size=max(settings.batch_size, 32),
        learning_rate=settings.learning_rate or DEFAULT_LEARNING_RATES[settings.method],
        weight_decay=settings.weight_decay,
        warmup_steps=math.ceil(settings.warmup_ratio * settings.max_steps),
        lr_scheduler_type="constant_with_warmup" if settings.warmup_ratio else "constant",
        eval_strategy="steps" if has_eval else "no",
        eval_steps=settings.eval_steps if has_eval else None,
        save_strategy="steps" if has_eval else "no",
        save_steps=settings.eval_steps,
        save_total_limit=1,
        load_best_model_at_end=has_eval,
        metric_for_best_model=metric if has_eval else None,
        greater_is_better=greater_is_better if has_eval else None,
        logging_strategy="steps" if settings.verbose else "no",
        logging_steps=max(1, min(settings.eval_steps, settings.max_steps // 10 or 1)),
        report_to=[],
        seed=settings.seed,
        data_seed=settings.seed,
        dataloader_num_workers=0,
        dataloader_pin_memory=torch.cuda.is_available(),
        disable_tqdm=not settings.verbose,
    )


# ---- prediction ------------------------------------------------------------------------------------------------------


def predict(
    model: torch.nn.Module,
    tokenizer: NucleotideTransformerTokenizerFast,
    task: TaskData,
    *,
    window_bp: int | None = None,
    stride_bp: int | None = None,
    batch_size: int = 32,
) -> "np.ndarray | list[np.ndarray]":
    """Model scores for every sequence of `task`: `(n, outputs)` for sequence tasks, a list of `(bp, classes)`
    per-base scores for token tasks (a base takes its token's scores, see `base_scores_from_tokens`).

    The head runs through the inference engine (`inference.head_logits`: batches by token budget, `batch_size` times
    the longest input, on the model's device; the model is left in the mode it came in). With `window_bp`, each
    sequence is cut into windows (`make_windows`) and the window scores are averaged per sequence (per base for
    token tasks, over the windows covering it). Without it, a sequence longer than the context raises `InputError`
    naming its index.
    """
    windows = make_windows(task, window_bp, stride_bp) if window_bp is not None else None
    scored = windows.task if windows is not None else task
    check_sequence_lengths(scored, tokenizer, context_with_specials(model, tokenizer))
    logits, offsets = head_logits(model, tokenizer, scored.sequences, batch_size=batch_size)
    if task.kind != "token":
        scores = np.stack(logits)
        if windows is None:
            return scores
        summed = np.zeros((len(task), scores.shape[1]))
        np.add.at(summed, windows.owner, scores)
        return summed / np.bincount(windows.owner, minlength=len(task))[:, None]
    per_window = [base_scores_from_tokens(s, o, len(q)) for s, o, q in zip(logits, offsets, scored.sequences)]
    if windows is None:
        return per_window
    classes = per_window[0].shape[1] if per_window else 0
    sums = [np.zeros((len(s), classes)) for s in task.sequences]
    counts = [np.zeros((len(s), 1)) for s in task.sequences]
    for per_base, owner, start in zip(per_window, windows.owner, windows.start):
        covered = ~np.isnan(per_base[:, 0])
        sums[owner][start : start + len(per_base)][covered] += per_base[covered]
        counts[owner][start : start + len(per_base)][covered] += 1
    return [np.where(c > 0, s / np.maximum(c, 1), np.nan) for s, c in zip(sums, counts)]


def evaluate_task(
    model: torch.nn.Module,
    tokenizer: NucleotideTransformerTokenizerFast,
    task: TaskData,
    *,
    window_bp: int | None = None,
    stride_bp: int | None = None,
    batch_size: int = 32,
) -> dict[str, float]:
    """`task_metrics` of `predict` against the task's labels (token tasks: over every labelled base)."""
    scores = predict(model, tokenizer, task, window_bp=window_bp, stride_bp=stride_bp, batch_size=batch_size)
    if task.kind == "token":
        stacked = np.concatenate(scores)
        labels = np.concatenate(task.labels)
        keep = (labels != IGNORE_INDEX) & ~np.isnan(stacked[:, 0])
        return task_metrics(stacked[keep], labels[keep], "token")
    return task_metrics(scores, np.asarray(task.labels), task.kind)


# ---- cross-validation ------------------------------------------------------------------------------------------------


@dataclass
class CrossValidationResult:
    """Per-fold metrics and their mean and standard deviation (ddof=1) over folds."""

    fold_metrics: list[dict[str, float]]
    mean: dict[str, float]
    sd: dict[str, float]
    train_seconds: list[float]


def summarise_folds(fold_metrics: list[dict[str, float]]) -> tuple[dict[str, float], dict[str, float]]:
    """Mean and sample standard deviation of each metric over folds (sd 0 for a single fold)."""
    keys = fold_metrics[0].keys()
    mean = {k: float(np.mean([m[k] for m in fold_metrics])) for k in keys}
    sd = {k: float(np.std([m[k] for m in fold_metrics], ddof=1)) if len(fold_metrics) > 1 else 0.0 for k in keys}
    return mean, sd


def cross_validate(
    source: ModelSource,
    train: TaskData,
    test: TaskData | None = None,
    folds: int = 10,
    settings: FinetuneSettings | None = None,
    tokenizer: NucleotideTransformerTokenizerFast | None = None,
) -> CrossValidationResult:
    """k-fold cross-validation as in the paper: fold `i` of `train` is the validation split (early stopping, best
    checkpoint) for a model trained on the other folds, which is then scored on `test`. Without a test split, fold `i`
    is the test split instead and 10% of the other folds (stratified) is the validation split, so that no fold is
    scored by the model it selected the checkpoint on. Each fold writes its checkpoints under `<output_dir>/fold-<i>`."""
    settings = settings or FinetuneSettings()
    fold_metrics, seconds = [], []
    for fold, (train_rows, held_out_rows) in enumerate(kfold_indices(train, folds, settings.seed)):
        fold_train, held_out = train.subset(train_rows), train.subset(held_out_rows)
        if test is None:
            fold_train, validation = split_off(fold_train, 0.1, settings.seed)
            fold_test = held_out
        else:
            validation, fold_test = held_out, test
        if settings.verbose:
            print(f"fold {fold + 1}/{folds}: {len(fold_train)} training, {len(validation)} validation sequences")
        fold_settings = replace(settings, output_dir=str(Path(settings.output_dir) / f"fold-{fold}"))
        result = finetune(source, fold_train, validation, fold_test, fold_settings, tokenizer)
        fold_metrics.append(result.test_metrics)
        seconds.append(result.train_seconds)
    mean, sd = summarise_folds(fold_metrics)
    return CrossValidationResult(fold_metrics, mean, sd, seconds)


__all__ = [
    "DEFAULT_LEARNING_RATES",
    "METHODS",
    "PEFT_CHECKPOINTING_WARNING",
    "CrossValidationResult",
    "FinetuneResult",
    "FinetuneSettings",
    "ModelSource",
    "apply_method",
    "context_with_specials",
    "cross_validate",
    "describe_trainable",
    "encode_task",
    "evaluate_task",
    "finetune",
    "load_model_for_task",
    "make_compute_metrics",
    "merge_adapter",
    "predict",
    "problem_type_for",
    "silence_peft_checkpointing_warning",
    "summarise_folds",
    "trainable_parameters",
]
