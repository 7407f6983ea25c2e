"""Masked-LM pretraining with `Trainer` and Accelerate: the loss, metrics, frequency baseline, the paper's optimiser
schedule and arguments, the `Trainer` subclass, checkpoint discovery for resuming, and logs and plots.

The data side (FASTA windows, held-out splits, tokenized datasets, the masking collator) is `pretraining_data`.
`masked_lm_loss` divides the summed cross-entropy by the number of selected tokens in the whole step (all
gradient-accumulation micro-batches, all processes), so N processes compute the gradient of 1 process with the same
global batch.

`PretrainingTrainer` is `Trainer` with these defaults plus the paper's learning-rate schedule (`WarmupInverseSqrt`);
`pretraining_arguments` fills `TrainingArguments` with the paper's optimiser settings and derives gradient
accumulation from an effective batch counted in tokens.
"""

import csv
import functools
import json
import math
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from transformers import EvalPrediction, Trainer, TrainerCallback, TrainingArguments

from .errors import InputError
from .pretraining_data import MaskEpochCallback, MLMCollator

# ---- the paper's recipe (docs/pretraining.md#the-papers-recipe) -----------------------------------------------------

PAPER_PEAK_LR = 1e-4
"""Learning rate at the end of the warm-up."""
PAPER_WARMUP_START_LR = 5e-5
"""Learning rate at step 0 (the warm-up starts here, not at 0)."""
PAPER_WARMUP_STEPS = 16_000
"""Linear warm-up length in optimiser steps; inverse-square-root decay afterwards."""
PAPER_TOKENS_PER_STEP = 1_000_000
"""Effective batch of one optimiser step, in tokens (about 1,000 sequences of 1,000 tokens)."""
PAPER_ADAM = {"adam_beta1": 0.9, "adam_beta2": 0.999, "adam_epsilon": 1e-8, "weight_decay": 0.0}
"""Adam settings; with weight decay 0, `Trainer`'s AdamW is exactly Adam."""


# ---- loss and metrics ----------------------------------------------------------------------------------------


def masked_lm_loss(
    outputs: Any, labels: torch.Tensor, num_items_in_batch: torch.Tensor | int | None = None
) -> torch.Tensor:
    """Summed cross-entropy over selected tokens (labels != -100) divided by `num_items_in_batch`.

    `Trainer` passes the number of selected tokens in the whole optimiser step: all gradient-accumulation
    micro-batches and, with `average_tokens_across_devices` (its default), all processes; it then multiplies the
    loss by the number of processes, which DDP's gradient averaging undoes. The gradient is therefore that of the
    mean over every selected token of the global batch, however the batch is split. Without a count (a plain call)
    it is the mean over this batch.
    """
    logits = outputs["logits"] if isinstance(outputs, Mapping) else outputs[0]
    labels = labels.to(logits.device)
    total = torch.nn.functional.cross_entropy(
        logits.reshape(-1, logits.shape[-1]).float(), labels.reshape(-1), ignore_index=-100, reduction="sum"
    )
    count = num_items_in_batch if num_items_in_batch is not None else labels.ne(-100).sum()
    if torch.is_tensor(count):
        count = count.to(total.device).clamp(min=1)
    else:
        count = max(int(count), 1)
    return total / count


def mlm_logits_to_predictions(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """`Trainer.preprocess_logits_for_metrics`: keeps (argmax id, NLL of the label) per token instead of the 4k-wide
    logits, so held-out evaluation needs O(tokens) memory."""
    if isinstance(logits, tuple):
        logits = logits[0]
    log_probs = torch.log_softmax(logits.float(), dim=-1)
    safe = labels.clamp(min=0)
    nll = -log_probs.gather(-1, safe.unsqueeze(-1)).squeeze(-1)
    nll = torch.where(labels.ne(-100), nll, torch.zeros_like(nll))
    return torch.stack([log_probs.argmax(-1).float(), nll], dim=-1)


def kmer_bases(tokenizer: Any, k: int = 6) -> np.ndarray:
    """`(vocabulary, k)` int8 table: the bases (A=0, C=1, G=2, T=3) of every k-mer token, -1 rows for the rest."""
    vocab = tokenizer.get_vocab()
    table = np.full((max(vocab.values()) + 1, k), -1, dtype=np.int8)
    code = {"A": 0, "C": 1, "G": 2, "T": 3}
    for token, i in vocab.items():
        if len(token) == k and set(token) <= set(code):
            table[i] = [code[c] for c in token]
    return table


def _base_accuracy(predicted: np.ndarray, labels: np.ndarray, table: np.ndarray) -> float:
    truth = table[labels]
    kmer = (truth >= 0).all(axis=1)
    guessed = table[np.clip(predicted, 0, len(table) - 1)]
    return float((guessed[kmer] == truth[kmer]).mean()) if kmer.any() else float("nan")


def compute_mlm_metrics(prediction: EvalPrediction, tokenizer: Any | None = None) -> dict[str, float]:
    """Masked-token accuracy, mean masked-token loss (nats) and perplexity `exp(loss)`, over every selected token.

    With a tokenizer, also `masked_base_accuracy`: over masked 6-mers, the fraction of their 6 bases that the
    predicted token has right (a 6-mer exactly right scores 1, a wrong one still scores its matching bases), which
    shows what a model learned about composition long before it predicts whole 6-mers.
    """
    values = np.asarray(prediction.predictions)
    labels = np.asarray(prediction.label_ids)
    selected = labels != -100
    count = int(selected.sum())
    if count == 0:
        return {"masked_tokens": 0.0}
    predicted = values[..., 0][selected].astype(np.int64)
    correct = predicted == labels[selected]
    loss = float(values[..., 1][selected].astype(np.float64).mean())
    metrics = {
        "masked_accuracy": float(correct.mean()),
        "masked_loss": loss,
        "perplexity": math.exp(min(loss, 700.0)),
        "masked_tokens": float(count),
    }
    if tokenizer is not None:
        metrics["masked_base_accuracy"] = _base_accuracy(predicted, labels[selected], kmer_bases(tokenizer))
    return metrics


def frequency_baseline(
    train_dataset: Iterable[Mapping[str, Any]],
    held_out: Iterable[Mapping[str, Any]],
    tokenizer: Any,
    max_examples: int | None = None,
) -> dict[str, Any]:
    """What the training 6-mer frequencies alone score at the held-out masked positions (`held_out` with fixed
    masks): the accuracy (and base accuracy, see `compute_mlm_metrics`) of always predicting the most common
    training token, and the cross-entropy of the frequencies (add-one smoothed over the nucleotide tokens). Reads at
    most `max_examples` training rows."""
    vocab = tokenizer.get_vocab()
    nucleotide = np.zeros(max(vocab.values()) + 1, dtype=bool)
    nucleotide[[i for t, i in vocab.items() if t and set(t) <= set("ACGTN")]] = True
    counts = np.zeros(len(nucleotide), dtype=np.int64)
    for n, example in enumerate(train_dataset):
        if max_examples is not None and n >= max_examples:
            break
        counts += np.bincount(np.asarray(example["input_ids"]), minlength=len(counts))[: len(counts)]
    counts[~nucleotide] = 0
    token_id = int(counts.argmax())
    smoothed = np.where(nucleotide, counts + 1.0, 0.0)
    log_p = np.log(np.maximum(smoothed, 1e-300) / smoothed.sum())
    hits = total = 0
    loss = 0.0
    selected = []
    for example in held_out:
        labels = np.asarray(example["labels"])
        labels = labels[labels != -100]
        total += len(labels)
        hits += int((labels == token_id).sum())
        loss -= float(log_p[labels].sum())
        selected.append(labels)
    selected = np.concatenate(selected) if selected else np.zeros(0, dtype=np.int64)
    base_accuracy = _base_accuracy(np.full_like(selected, token_id), selected, kmer_bases(tokenizer))
    return {
        "token": tokenizer.convert_ids_to_tokens(token_id),
        "token_id": token_id,
        "train_frequency": float(counts[token_id] / max(counts.sum(), 1)),
        "held_out_accuracy": hits / max(total, 1),
        "held_out_loss": loss / max(total, 1),
        "held_out_base_accuracy": base_accuracy,
        "held_out_masked_tokens": total,
    }


# ---- model and tokenizer -------------------------------------------------------------------------------------


def parse_overrides(items: Iterable[str]) -> dict[str, Any]:
    """`["num_hidden_layers=2", "rope_theta=5e5", "token_dropout=false"]` -> a dict; values are read as JSON when
    they parse (numbers, booleans, null), else kept as strings. Raises `InputError` naming an item without `=`."""
    overrides: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise InputError(f"config override {item!r} is not of the form key=value.")
        try:
            overrides[key] = json.loads(value)
        except ValueError:
            overrides[key] = value
    return overrides


def load_model_config(spec: str | os.PathLike, overrides: Mapping[str, Any] | None = None) -> Any:
    """A `NucleotideTransformerConfig` from a folder with `config.json` (e.g. `hub_configs/<name>`), a JSON file, or
    a preset name (`"v1"`, `"v2"`, a published model name), with `overrides` applied. A folder without
    `config.json` or a missing JSON file is an `InputError`."""
    from .configuration_nucleotide_transformer import NucleotideTransformerConfig

    overrides = dict(overrides or {})
    path = Path(spec)
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise InputError(f"{path}: folder has no config.json.")
        return NucleotideTransformerConfig.from_pretrained(str(path), **overrides)
    if path.suffix == ".json":
        if not path.is_file():
            raise InputError(f"{path}: no such config file.")
        config = NucleotideTransformerConfig.from_json_file(str(path))
        return NucleotideTransformerConfig.from_dict({**config.to_dict(), **overrides})
    return NucleotideTransformerConfig.from_preset(str(spec), **overrides)


def load_tokenizer(config: Any, source: str | os.PathLike | None = None) -> Any:
    """The tokenizer saved in `source` (a folder with `tokenizer.json` or `vocab.txt`), else the built-in one whose
    vocabulary layout matches `config` (v1: 4,105 embedding rows, v2 otherwise)."""
    from transformers import AutoTokenizer

    from .tokenization_nucleotide_transformer import NucleotideTransformerTokenizerFast

    if (
        source is not None
        and Path(source).is_dir()
        and any((Path(source) / name).is_file() for name in ("tokenizer.json", "vocab.txt"))
    ):
        return AutoTokenizer.from_pretrained(str(source))
    layout = config.architecture_version or ("v1" if config.vocab_size == 4105 else "v2")
    return NucleotideTransformerTokenizerFast(vocab_layout=layout)


# ---- optimiser, schedule, arguments --------------------------------------------------------------------------


@dataclass(frozen=True)
class WarmupInverseSqrt:
    """LR multiplier (of the peak LR): linear from `start_factor` to 1 over `warmup_steps`, then `sqrt(warmup / step)`.

    The paper's schedule is `WarmupInverseSqrt(16_000, 5e-5 / 1e-4)` with peak 1e-4. A picklable object rather than a
    lambda, so that `LambdaLR` saves it in checkpoints and resumes exactly.
    """

    warmup_steps: int = PAPER_WARMUP_STEPS
    start_factor: float = PAPER_WARMUP_START_LR / PAPER_PEAK_LR

    def __call__(self, step: int) -> float:
        if step < self.warmup_steps:
            return self.start_factor + (1.0 - self.start_factor) * step / self.warmup_steps
        return math.sqrt(max(self.warmup_steps, 1) / max(step, 1))


def gradient_accumulation_for(
    tokens_per_step: int, per_device_batch_size: int, sequence_tokens: int, world_size: int = 1
) -> int:
    """Micro-batches per optimiser step so that one step sees at least `tokens_per_step` tokens:
    `ceil(tokens_per_step / (per_device_batch_size * sequence_tokens * world_size))`, at least 1."""
    if min(tokens_per_step, per_device_batch_size, sequence_tokens, world_size) <= 0:
        raise ValueError("tokens_per_step, per_device_batch_size, sequence_tokens and world_size must be positive.")
    return max(1, math.ceil(tokens_per_step / (per_device_batch_size * sequence_tokens * world_size)))


def resolve_bf16(mode: str) -> bool:
    """`"auto"`: bf16 on a CUDA device that supports it, else fp32; `"yes"` forces it (also on CPU); `"no"`."""
    if mode == "auto":
        return bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported())
    if mode in ("yes", "no"):
        return mode == "yes"
    raise ValueError(f"bf16 must be 'auto', 'yes' or 'no', got {mode!r}.")


def _has_accelerator() -> bool:
    if hasattr(torch, "accelerator"):
        return torch.accelerator.current_accelerator() is not None
    return torch.cuda.is_available()


def pretraining_arguments(
    output_dir: str | os.PathLike,
    *,
    sequence_tokens: int,
    per_device_train_batch_size: int = 8,
    tokens_per_step: int | None = PAPER_TOKENS_PER_STEP,
    world_size: int | None = None,
    learning_rate: float = PAPER_PEAK_LR,
    bf16: str = "auto",
    **overrides: Any,
) -> TrainingArguments:
    """`TrainingArguments` with the paper's optimiser (Adam 0.9/0.999/1e-8, no weight decay, peak LR 1e-4) and
    gradient accumulation derived from `tokens_per_step` (the effective batch in tokens; `None`: no accumulation).

    `world_size` defaults to the `WORLD_SIZE` that `accelerate launch` / `torchrun` set. The learning-rate schedule
    is `PretrainingTrainer`'s (`WarmupInverseSqrt`). `overrides` go to `TrainingArguments` unchanged.
    """
    world_size = world_size or int(os.environ.get("WORLD_SIZE", "1"))
    accumulation = (
        gradient_accumulation_for(tokens_per_step, per_device_train_batch_size, sequence_tokens, world_size)
        if tokens_per_step
        else 1
    )
    values: dict[str, Any] = {
        "output_dir": str(output_dir),
        "per_device_train_batch_size": per_device_train_batch_size,
        "gradient_accumulation_steps": accumulation,
        "learning_rate": learning_rate,
        "bf16": resolve_bf16(bf16),
        "lr_scheduler_type": "constant",  # replaced by PretrainingTrainer.create_scheduler
        "dataloader_pin_memory": torch.cuda.is_available(),
        # Without it, N processes on a machine with no accelerator each train alone (transformers leaves the
        # gloo group it finds unused); with it they form one data-parallel job.
        "use_cpu": not _has_accelerator(),
        **PAPER_ADAM,
        "report_to": [],
    }
    values.update(overrides)
    return TrainingArguments(**values)


class PretrainingTrainer(Trainer):
    """`Trainer` for masked-LM pretraining with this module's defaults.

    Unless given otherwise: loss `masked_lm_loss` (normalised over the global batch), metrics
    `compute_mlm_metrics` (held-out masked-token accuracy, loss, perplexity) via `mlm_logits_to_predictions`, a
    `MaskEpochCallback` for an `MLMCollator`, and the learning-rate schedule `schedule` (default: the paper's
    `WarmupInverseSqrt()`) as a `LambdaLR` over `args.learning_rate`. Pass `schedule=None` to use
    `args.lr_scheduler_type` instead.
    """

    def __init__(self, *args: Any, schedule: WarmupInverseSqrt | None = WarmupInverseSqrt(), **kwargs: Any):
        kwargs.setdefault("compute_loss_func", masked_lm_loss)
        kwargs.setdefault("preprocess_logits_for_metrics", mlm_logits_to_predictions)
        collator = kwargs.get("data_collator")
        kwargs.setdefault(
            "compute_metrics", functools.partial(compute_mlm_metrics, tokenizer=getattr(collator, "tokenizer", None))
        )
        super().__init__(*args, **kwargs)
        self.schedule = schedule
        if isinstance(self.data_collator, MLMCollator):
            self.add_callback(MaskEpochCallback(self.data_collator))

    def create_scheduler(self, num_training_steps: int, optimizer: torch.optim.Optimizer | None = None):
        """The `schedule` as a `LambdaLR` (its step count is saved in checkpoints); Trainer's own otherwise."""
        if self.schedule is None or self.lr_scheduler is not None:
            return super().create_scheduler(num_training_steps, optimizer)
        self.lr_scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer or self.optimizer, self.schedule)
        self._created_lr_scheduler = True
        return self.lr_scheduler


# ---- checkpoints, logs, plots --------------------------------------------------------------------------------

_CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")


def latest_checkpoint(output_dir: str | os.PathLike) -> str | None:
    """The newest complete `checkpoint-N` folder in `output_dir`, or `None`.

    Complete means its `trainer_state.json` (which `Trainer` writes last) parses and says step N, so a checkpoint
    cut short by a kill is skipped in favour of the one before it.
    """
    folder = Path(output_dir)
    if not folder.is_dir():
        return None
    found = []
    for path in folder.iterdir():
        match = _CHECKPOINT.match(path.name)
        if not match or not path.is_dir():
            continue
        try:
            state = json.loads((path / "trainer_state.json").read_text())
        except (OSError, ValueError):
            continue
        if state.get("global_step") == int(match.group(1)):
            found.append((int(match.group(1)), str(path)))
    return max(found)[1] if found else None


class CSVLoggerCallback(TrainerCallback):
    """Appends every logged number to a CSV file as `step,epoch,name,value` (main process only).

    On a resumed run, rows after the resumed step (logged by the run that was killed) are dropped first, so the file
    tells one consistent history.
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)

    def on_train_begin(self, args, state, control, **kwargs):
        if not state.is_world_process_zero:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        rows = []
        if self.path.exists():
            with self.path.open(newline="") as handle:
                rows = [r for r in csv.DictReader(handle) if int(r["step"]) <= state.global_step]
        with self.path.open("w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=["step", "epoch", "name", "value"])
            writer.writeheader()
            writer.writerows(rows)

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not state.is_world_process_zero or not logs:
            return
        new = not self.path.exists()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", newline="") as handle:
            writer = csv.writer(handle)
            if new:
                writer.writerow(["step", "epoch", "name", "value"])
            for name, value in logs.items():
                if isinstance(value, (int, float)) and not isinstance(value, bool):
                    writer.writerow([state.global_step, state.epoch, name, value])


def plot_loss_curve(
    log_history: Sequence[Mapping[str, Any]], path: str | os.PathLike, baseline: Mapping[str, Any] | None = None
) -> Path:
    """Writes a PNG against optimiser steps: training and held-out masked-LM loss, held-out masked-token accuracy
    and, when logged, base accuracy; a `frequency_baseline` result, when given, is drawn as dashed lines. Uses
    matplotlib's Agg canvas, so no display is needed and the global backend is left alone."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    def series(key: str) -> tuple[list[int], list[float]]:
        points = [(e["step"], e[key]) for e in log_history if key in e and "step" in e]
        return [p[0] for p in points], [p[1] for p in points]

    panels = [
        (
            "cross-entropy (nats)",
            [("loss", "training loss"), ("eval_masked_loss", "held-out masked-token loss")],
            "held_out_loss",
            "training 6-mer frequencies",
        ),
        (
            "6-mer accuracy",
            [("eval_masked_accuracy", "held-out masked-token accuracy")],
            "held_out_accuracy",
            "always the most common 6-mer",
        ),
    ]
    if series("eval_masked_base_accuracy")[0]:
        panels.append(
            (
                "base accuracy",
                [("eval_masked_base_accuracy", "held-out masked-token base accuracy")],
                "held_out_base_accuracy",
                "always the most common 6-mer",
            )
        )
    figure = Figure(figsize=(5 * len(panels), 4))
    FigureCanvasAgg(figure)
    for axes, (ylabel, keys, baseline_key, baseline_label) in zip(figure.subplots(1, len(panels)), panels):
        for key, label in keys:
            steps, values = series(key)
            if steps:
                axes.plot(steps, values, marker="." if len(steps) < 50 else None, label=label)
        if baseline is not None and baseline.get(baseline_key) is not None:
            axes.axhline(baseline[baseline_key], color="grey", linestyle="--", label=baseline_label)
        axes.set_xlabel("optimiser step")
        axes.set_ylabel(ylabel)
        axes.legend(fontsize="small")
    figure.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)
    return path


__all__ = [
    "PAPER_ADAM",
    "PAPER_PEAK_LR",
    "PAPER_TOKENS_PER_STEP",
    "PAPER_WARMUP_START_LR",
    "PAPER_WARMUP_STEPS",
    "CSVLoggerCallback",
    "PretrainingTrainer",
    "WarmupInverseSqrt",
    "compute_mlm_metrics",
    "frequency_baseline",
    "gradient_accumulation_for",
    "kmer_bases",
    "latest_checkpoint",
    "load_model_config",
    "load_tokenizer",
    "masked_lm_loss",
    "mlm_logits_to_predictions",
    "parse_overrides",
    "plot_loss_curve",
    "pretraining_arguments",
    "resolve_bf16",
]
