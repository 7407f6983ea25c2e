"""Fine-tune a Nucleotide Transformer on labelled sequences with `Trainer`: IA3 (the paper's method), LoRA or full.

    python examples/finetune.py --model outputs/quickstart/model --task-dir data/tasks/prom_core_all --out outputs/ft
    python examples/finetune.py --model MODEL --train train.csv --test test.csv --kind regression --label-columns y
    python examples/finetune.py --model MODEL --task-dir data/tasks/EMP_H3 --folds 10 --out outputs/cv   # paper's CV

Data: CSV/TSV (optionally .gz) with a `sequence` column and label column(s), FASTA with `>name|label` headers, or a
folder saved by `datasets` (`save_to_disk`). `--task-dir` reads `train`/`dev`/`test` files from one folder. Label kinds
(`--kind`, inferred when omitted): binary, multiclass, multilabel (several 0/1 `--label-columns` or list values),
regression, token (one label per base: a digit string as long as the sequence; each 6-mer token takes the majority
label of its bases, see `tasks.token_labels_from_bases`).

Validation: the `dev` file, `--validation`, or else 10% of train; training stops early when the validation MCC has
not improved for `--patience` evaluations and the best checkpoint is tested. `--folds K` runs K-fold cross-validation
(each fold of train is the validation split once, the test split scores every fold). Sequences longer than the
model's context raise an error naming them unless `--window-bp` cuts them into windows (scores averaged).

Outputs in `--out`: `metrics.json`; `adapter/` (IA3/LoRA: a peft adapter, load with
`AutoPeftModelForSequenceClassification.from_pretrained`) or `model/` (full); `--merge` also writes `merged/`, the
adapter folded into the weights (`merge_and_unload`, through `finetuning.merge_adapter`); `--push-to-hub REPO` uploads
the adapter (needs network and a token).
"""

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

from nucleotide_transformer_hf.errors import InputError
from nucleotide_transformer_hf.finetuning import METHODS, FinetuneSettings, cross_validate, finetune, merge_adapter
from nucleotide_transformer_hf.tasks import LABEL_KINDS, harmonise_splits, load_task, load_task_splits, split_off
from nucleotide_transformer_hf.tokenization_nucleotide_transformer import NucleotideTransformerTokenizerFast


def parse_arguments(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="model folder with tokenizer files")
    data = parser.add_argument_group("data")
    data.add_argument("--task-dir", type=Path, help="folder with train/dev/test files")
    data.add_argument("--train", type=Path, help="training file (instead of --task-dir)")
    data.add_argument(
        "--validation", type=Path, help="validation file (default: dev in --task-dir, else 10%% of train)"
    )
    data.add_argument("--test", type=Path, help="test file")
    data.add_argument("--sequence-column", default="sequence")
    data.add_argument("--label-columns", nargs="+", default=["label"])
    data.add_argument("--task", help="keep rows whose `task` column equals this (NT downstream layout)")
    data.add_argument("--kind", choices=LABEL_KINDS, help="label kind (inferred when omitted)")
    data.add_argument("--window-bp", type=int, help="cut sequences into windows of this many bases (multiple of 6)")
    data.add_argument("--stride-bp", type=int, help="window stride (default: half a window)")
    data.add_argument("--shuffle-labels", action="store_true", help="permute the training labels (negative control)")
    training = parser.add_argument_group("training")
    training.add_argument("--method", choices=METHODS, default="ia3")
    training.add_argument("--random-init", action="store_true", help="same architecture from random weights")
    training.add_argument("--folds", type=int, help="K-fold cross-validation (the paper used 10)")
    training.add_argument("--max-steps", type=int, default=10_000)
    training.add_argument("--batch-size", type=int, default=8)
    training.add_argument("--learning-rate", type=float, help="default: 3e-3 IA3, 5e-4 LoRA, 1e-4 full")
    training.add_argument("--eval-steps", type=int, default=500)
    training.add_argument("--patience", type=int, default=5)
    training.add_argument("--pooling", choices=("cls", "mean"), help="sequence-head pooling (default: the model's)")
    training.add_argument("--lora-rank", type=int, default=8)
    training.add_argument("--seed", type=int, default=0)
    training.add_argument("--quiet", action="store_true")
    output = parser.add_argument_group("output")
    output.add_argument("--out", type=Path, default=Path("outputs/finetune"))
    output.add_argument("--merge", action="store_true", help="also save the adapter merged into the weights")
    output.add_argument("--push-to-hub", metavar="REPO", help="upload the adapter (or model) to this Hub repository")
    return parser.parse_args(argv)


def load_splits(args: argparse.Namespace) -> dict:
    """train / validation / test `TaskData` from the arguments (same reader as the library and the benchmark)."""
    options = dict(
        sequence_column=args.sequence_column, label_columns=args.label_columns, kind=args.kind, task=args.task
    )
    if args.task_dir:
        splits = load_task_splits(args.task_dir, **options)
    else:
        splits = {}
    for split in ("train", "validation", "test"):
        path = getattr(args, split)
        if path is not None:
            splits[split] = load_task(path, **options)
    if "train" not in splits:
        raise SystemExit("finetune.py: give --task-dir with a train file, or --train.")
    splits = harmonise_splits(splits)
    if args.shuffle_labels:
        train = splits["train"]
        permutation = np.random.default_rng(args.seed).permutation(len(train))
        labels = (
            [train.labels[i] for i in permutation] if train.kind == "token" else np.asarray(train.labels)[permutation]
        )
        splits["train"] = replace(train, labels=labels)
    return splits


def main(argv=None) -> dict:
    args = parse_arguments(argv)
    splits = load_splits(args)
    tokenizer = NucleotideTransformerTokenizerFast.from_pretrained(args.model)
    train = splits["train"]
    print(f"task: {train.kind}, {train.num_labels} labels; " + ", ".join(f"{k} {len(v)}" for k, v in splits.items()))
    settings = FinetuneSettings(
        method=args.method,
        learning_rate=args.learning_rate,
        max_steps=args.max_steps,
        batch_size=args.batch_size,
        eval_steps=args.eval_steps,
        patience=args.patience,
        seed=args.seed,
        pooling=args.pooling,
        window_bp=args.window_bp,
        stride_bp=args.stride_bp,
        output_dir=str(args.out / "trainer"),
        lora_rank=args.lora_rank,
        random_init=args.random_init,
        verbose=not args.quiet,
    )
    args.out.mkdir(parents=True, exist_ok=True)
    if args.folds:
        result = cross_validate(args.model, train, splits.get("test"), args.folds, settings, tokenizer)
        summary = {
            "folds": result.fold_metrics,
            "mean": result.mean,
            "sd": result.sd,
            "train_seconds": result.train_seconds,
        }
        print(
            f"{args.folds}-fold cross-validation: "
            + ", ".join(f"{k} {result.mean[k]:.3f} ± {result.sd[k]:.3f}" for k in result.mean)
        )
    else:
        validation = splits.get("validation")
        if validation is None:
            train, validation = split_off(train, 0.1, args.seed)
        result = finetune(args.model, train, validation, splits.get("test"), settings, tokenizer)
        summary = {
            "test": result.test_metrics,
            "validation": result.validation_metrics,
            "train_seconds": result.train_seconds,
            "steps": result.steps,
            "trainable_parameters": result.trainable_parameters,
            "total_parameters": result.total_parameters,
        }
        if result.test_metrics:
            print("test: " + ", ".join(f"{k} {v:.3f}" for k, v in result.test_metrics.items()))
        saved = args.out / ("model" if args.method == "full" else "adapter")
        result.model.save_pretrained(saved)  # a peft model writes adapter_config.json + adapter_model.safetensors
        tokenizer.save_pretrained(saved)
        print(f"saved {saved}")
        if args.merge and args.method != "full":
            merged = merge_adapter(result.model)
            merged.save_pretrained(args.out / "merged")
            tokenizer.save_pretrained(args.out / "merged")
            print(f"saved {args.out / 'merged'} (adapter merged into the weights)")
        if args.push_to_hub:
            result.model.push_to_hub(args.push_to_hub)
            print(f"pushed to {args.push_to_hub}")
    summary["arguments"] = {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}
    (args.out / "metrics.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(f"wrote {args.out / 'metrics.json'}")
    return summary


if __name__ == "__main__":
    try:
        main()
    except InputError as error:  # a problem with a task file: one line, no traceback (as the command line does)
        print(f"finetune.py: error: {error}", file=sys.stderr)
        sys.exit(2)
