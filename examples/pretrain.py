"""Masked-LM pretraining of a Nucleotide Transformer on FASTA genomes, with `Trainer` (the paper's recipe by default).

One process (CPU or GPU):
    python examples/pretrain.py --config nucleotide-transformer-v2-50m-multi-species \\
        --data DIR/genomes --held-out-records chrM --output-dir runs/v2-50m
Many processes, one or many machines (configs in examples/accelerate/, see its README):
    accelerate launch --config_file examples/accelerate/multi_gpu.yaml examples/pretrain.py ...
    torchrun --nproc_per_node 8 examples/pretrain.py ...

`--config` is a `hub_configs/<name>` folder, a preset name (`v1`, `v2`, a published model) or a config JSON, with
`--override key=value` on top; `--init-from` continues from a saved model instead. Defaults are the paper's:
context-filling windows (12,282 bp for v2, 5,994 bp for v1), both strands, Adam (0.9, 0.999, 1e-8), learning rate
5e-5 -> 1e-4 linearly over 16k steps then inverse-square-root decay, 1M tokens per optimiser step (gradient
accumulation is derived from it and the number of processes). Checkpoints every `--save-steps`; running the same
command again resumes from the newest complete checkpoint in `--output-dir` (also after kill -9). Writes
TensorBoard logs (`runs/`), `log.csv`, `loss_curve.png`, `metrics.json` and the final model to `--output-dir`.
"""

import argparse
import importlib.util
import json
import os
import sys
from pathlib import Path

from transformers import AutoModelForMaskedLM, set_seed

import nucleotide_transformer_hf  # noqa: F401  (registers the Auto classes)
from nucleotide_transformer_hf import NucleotideTransformerForMaskedLM
from nucleotide_transformer_hf.dna import KMER_SIZE, context_bp
from nucleotide_transformer_hf.errors import InputError
from nucleotide_transformer_hf.pretraining import (
    PAPER_PEAK_LR,
    PAPER_TOKENS_PER_STEP,
    PAPER_WARMUP_START_LR,
    PAPER_WARMUP_STEPS,
    CSVLoggerCallback,
    PretrainingTrainer,
    WarmupInverseSqrt,
    frequency_baseline,
    latest_checkpoint,
    load_model_config,
    load_tokenizer,
    parse_overrides,
    plot_loss_curve,
    pretraining_arguments,
)
from nucleotide_transformer_hf.pretraining_data import (
    HeldOutSplit,
    MLMCollator,
    WindowOptions,
    build_pretraining_datasets,
    with_fixed_masks,
)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line (see the module docstring)."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    model = p.add_argument_group("model")
    model.add_argument("--config", help="hub_configs/<name> folder, preset name or config JSON (default: v2)")
    model.add_argument("--override", nargs="*", default=[], metavar="KEY=VALUE", help="config fields to change")
    model.add_argument("--init-from", help="continue from this saved model (folder) instead of random weights")
    model.add_argument("--attn-implementation", default="sdpa", choices=["eager", "sdpa", "flash_attention_2"])
    data = p.add_argument_group("data")
    data.add_argument(
        "--data", nargs="+", required=True, help="FASTA / FASTA.gz files or folders (one species per file)"
    )
    data.add_argument("--species-weights", help='sampling weights, JSON {"species": weight} (species = file name stem)')
    data.add_argument("--held-out-records", nargs="*", default=[], help="record (chromosome) names held out")
    data.add_argument("--held-out-files", nargs="*", default=[], help="FASTA file names held out")
    data.add_argument("--held-out-fraction", type=float, default=0.0, help="hold out the tail of every other record")
    data.add_argument("--window-bp", type=int, help="window length (default: fills the model's context)")
    data.add_argument("--stride-bp", type=int, help="distance between windows (default: the window length)")
    data.add_argument("--no-random-offset", dest="random_offset", action="store_false")
    data.add_argument("--strands", default="both", choices=["both", "forward", "random"])
    data.add_argument("--max-n-fraction", type=float, default=0.5, help="drop windows with more N than this")
    data.add_argument("--passes", type=int, default=1, help="cut the genomes this many times (fresh offsets each)")
    data.add_argument("--streaming", action="store_true", help="read FASTA lazily (genomes larger than memory)")
    data.add_argument("--num-proc", type=int, help="processes for building the cached dataset")
    data.add_argument("--cache-dir", help="datasets cache folder (default: the datasets library's)")
    data.add_argument("--max-eval-windows", type=int, default=2000, help="held-out windows scored per evaluation")
    train = p.add_argument_group("training")
    train.add_argument("--output-dir", required=True)
    train.add_argument("--max-steps", type=int, required=True, help="optimiser steps")
    train.add_argument("--per-device-batch-size", type=int, default=8)
    train.add_argument(
        "--tokens-per-step",
        type=int,
        default=PAPER_TOKENS_PER_STEP,
        help="effective batch in tokens; gradient accumulation is derived (0: none)",
    )
    train.add_argument("--learning-rate", type=float, default=PAPER_PEAK_LR, help="peak learning rate")
    train.add_argument("--warmup-start-lr", type=float, default=PAPER_WARMUP_START_LR)
    train.add_argument("--warmup-steps", type=int, default=PAPER_WARMUP_STEPS)
    train.add_argument("--max-grad-norm", type=float, default=1.0)
    train.add_argument("--bf16", default="auto", choices=["auto", "yes", "no"], help="auto: CUDA with bf16 only")
    train.add_argument("--gradient-checkpointing", action="store_true")
    train.add_argument("--logging-steps", type=int, default=50)
    train.add_argument("--eval-steps", type=int, default=500)
    train.add_argument("--save-steps", type=int, default=500)
    train.add_argument("--save-total-limit", type=int, default=3, help="checkpoints kept (0: all)")
    train.add_argument("--dataloader-workers", type=int, default=0)
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--report-to", nargs="*", help="default: tensorboard when installed")
    train.add_argument(
        "--resume",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="resume from the newest complete checkpoint in --output-dir (default: yes)",
    )
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    output_dir = Path(args.output_dir)
    set_seed(args.seed)

    if args.init_from and (args.config or args.override):
        raise SystemExit("--init-from takes the model's own config; drop --config/--override.")
    if args.init_from:
        model = AutoModelForMaskedLM.from_pretrained(args.init_from, attn_implementation=args.attn_implementation)
        config, tokenizer = model.config, load_tokenizer(model.config, args.init_from)
    else:
        config = load_model_config(args.config or "v2", parse_overrides(args.override))
        config._attn_implementation = args.attn_implementation
        tokenizer = load_tokenizer(config, args.config)
        model = NucleotideTransformerForMaskedLM(config)
    window_bp = args.window_bp or context_bp(config, tokenizer)
    sequence_tokens = window_bp // KMER_SIZE + tokenizer.num_special_tokens_to_add()
    if args.gradient_checkpointing:
        model.activation_checkpointing_enable()

    holding_out = bool(args.held_out_records or args.held_out_files or args.held_out_fraction)
    report_to = args.report_to
    if report_to is None:
        report_to = ["tensorboard"] if importlib.util.find_spec("tensorboard") else []
    training_args = pretraining_arguments(
        output_dir,
        sequence_tokens=sequence_tokens,
        per_device_train_batch_size=args.per_device_batch_size,
        tokens_per_step=args.tokens_per_step or None,
        learning_rate=args.learning_rate,
        bf16=args.bf16,
        max_steps=args.max_steps,
        max_grad_norm=args.max_grad_norm,
        per_device_eval_batch_size=args.per_device_batch_size,
        logging_steps=args.logging_steps,
        eval_strategy="steps" if holding_out else "no",
        eval_steps=args.eval_steps,
        save_strategy="steps",
        save_steps=args.save_steps,
        save_total_limit=args.save_total_limit or None,
        dataloader_num_workers=args.dataloader_workers,
        seed=args.seed,
        report_to=report_to,
    )

    held_out = HeldOutSplit(
        records=args.held_out_records, files=args.held_out_files, tail_fraction=args.held_out_fraction
    )
    options = WindowOptions(
        window_bp=window_bp,
        stride_bp=args.stride_bp,
        random_offset=args.random_offset,
        strands=args.strands,
        max_n_fraction=args.max_n_fraction,
        seed=args.seed,
    )
    eval_collator = MLMCollator.for_evaluation(tokenizer, seed=args.seed, vocab_size=config.vocab_size)
    with training_args.main_process_first(desc="building the datasets"):
        datasets = build_pretraining_datasets(
            args.data,
            tokenizer,
            options,
            held_out=held_out,
            species_weights=json.loads(args.species_weights) if args.species_weights else None,
            streaming=args.streaming,
            passes=args.passes,
            num_proc=args.num_proc,
            cache_dir=args.cache_dir,
        )
        held = datasets["held_out"]
        if held is not None:
            # A random sample, so that every species is scored, not the first file's windows only.
            if args.streaming:
                held = held.shuffle(seed=args.seed, buffer_size=10 * args.max_eval_windows).take(args.max_eval_windows)
            else:
                held = held.shuffle(seed=args.seed).select(range(min(args.max_eval_windows, len(held))))
            held = with_fixed_masks(held, eval_collator)
    if holding_out and held is None:
        raise SystemExit(
            "The held-out split (--held-out-records/--held-out-files/--held-out-fraction) holds no "
            f"window of {window_bp} bp; hold out more DNA or use shorter windows."
        )

    trainer = PretrainingTrainer(
        model=model,
        args=training_args,
        train_dataset=datasets["train"],
        eval_dataset=held,
        data_collator=MLMCollator(tokenizer, seed=args.seed, vocab_size=config.vocab_size),
        schedule=WarmupInverseSqrt(args.warmup_steps, args.warmup_start_lr / args.learning_rate),
        callbacks=[CSVLoggerCallback(output_dir / "log.csv")],
    )
    step_tokens = (
        training_args.per_device_train_batch_size
        * training_args.gradient_accumulation_steps
        * training_args.world_size
        * sequence_tokens
    )
    if trainer.is_world_process_zero():
        print(
            f"model: {sum(p.numel() for p in model.parameters()) / 1e6:.1f} M parameters; windows of {window_bp} bp "
            f"({sequence_tokens} tokens); {training_args.world_size} process(es) x {training_args.per_device_train_batch_size}"
            f" x {training_args.gradient_accumulation_steps} accumulation = {step_tokens:,} tokens per step; "
            f"bf16={training_args.bf16}",
            flush=True,
        )

    resume_from = latest_checkpoint(output_dir) if args.resume else None
    if resume_from and trainer.is_world_process_zero():
        print(f"resuming from {resume_from}", flush=True)
    trainer.train(resume_from_checkpoint=resume_from)
    trainer.save_model(str(output_dir))

    metrics = trainer.evaluate() if held is not None else {}
    if trainer.is_world_process_zero():
        tokenizer.save_pretrained(str(output_dir))
        baseline = None
        if held is not None:
            baseline = frequency_baseline(datasets["train"], held, tokenizer, max_examples=20_000)
            metrics["baseline_most_common_token"] = baseline["token"]
            metrics["baseline_masked_accuracy"] = baseline["held_out_accuracy"]
            metrics["baseline_masked_base_accuracy"] = baseline["held_out_base_accuracy"]
            metrics["baseline_frequency_loss"] = baseline["held_out_loss"]
            print(
                f"held-out masked-token accuracy {metrics['eval_masked_accuracy']:.4f} vs "
                f"{baseline['held_out_accuracy']:.4f} always predicting {baseline['token']} (most common in training); "
                f"masked-token loss {metrics['eval_masked_loss']:.3f} vs {baseline['held_out_loss']:.3f} of the "
                f"training 6-mer frequencies; perplexity {metrics['eval_perplexity']:.1f}"
            )
        (output_dir / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
        plot = plot_loss_curve(trainer.state.log_history, output_dir / "loss_curve.png", baseline)
        print(f"wrote {output_dir}: model, {plot.name}, log.csv, metrics.json", flush=True)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    try:
        sys.exit(main())
    except InputError as error:  # a user's mistake (bad FASTA, missing folder): one line, no traceback
        print(f"{Path(sys.argv[0]).name}: error: {error}", file=sys.stderr)
        sys.exit(2)
