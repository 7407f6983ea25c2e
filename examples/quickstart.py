"""End to end on bundled real DNA: build a small NT-v2 model, pretrain it briefly with masked LM (`Trainer` and the
library's pretraining pipeline), score held-out DNA against a frequency baseline, fill a masked 6-mer with
`pipeline("fill-mask")`, embed sequences, score ClinVar variants zero-shot, fine-tune on a promoter task, and run
the paper's two analyses (attention over annotated elements, perplexity per element) on the E. coli slice.

    python examples/quickstart.py [--data DIR] [--max-steps N] [--out outputs/quickstart]

Held-out DNA is the last `--held-out-fraction` of every FASTA record (plus any `--held-out-records`); no training
window touches it. Each held-out window is masked `--mask-copies` times (15% of its tokens, all `<mask>`). What it
prints, model next to the training 6-mer frequencies alone (always the most common 6-mer; the frequency
distribution's loss): masked 6-mer accuracy, base accuracy (bases of the masked 6-mer the prediction has right)
and loss; then fill-mask candidates for a masked held-out 6-mer and the cosine similarity of mean-pooled embeddings
within and between species. Everything is also written to `<out>/summary.json`, the curves to
`<out>/loss_curve.png`.

On 196 kb a few CPU minutes teach composition (base accuracy and loss beat the frequencies) but not whole 6-mers:
even a 4th-order Markov model fitted to the training DNA predicts ~0.3% of the held-out 6-mers against ~0.2% for
the most common one, so whole-6-mer accuracy stays within noise of that baseline at this size; beating it clearly
takes more DNA (`--data DIR` with a larger genomes/ folder) and a longer run than this budget.
"""

import argparse
import json
import time
from pathlib import Path

import numpy as np
from datasets import concatenate_datasets, disable_progress_bars
from transformers import AutoModelForMaskedLM, AutoTokenizer, PrinterCallback, pipeline, set_seed
from transformers.utils import logging as transformers_logging

from nucleotide_transformer_hf import (
    NucleotideTransformerConfig,
    NucleotideTransformerForMaskedLM,
    NucleotideTransformerTokenizerFast,
)
from nucleotide_transformer_hf.pretraining import (
    PretrainingTrainer,
    WarmupInverseSqrt,
    frequency_baseline,
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
from nucleotide_transformer_hf.variant_evaluation import evaluate_variant_windows, format_metrics

REPO = Path(__file__).resolve().parent.parent
SHIPPED_MODEL = REPO / "data" / "models" / "nt-v2-small-six-genomes"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=REPO / "data", help="folder with a genomes/ subfolder of FASTA")
    parser.add_argument("--out", type=Path, default=REPO / "outputs" / "quickstart")
    parser.add_argument("--window-bp", type=int, default=600)
    parser.add_argument(
        "--stride-bp",
        type=int,
        default=301,
        help="half-overlapping windows; not a multiple of 6, so the two copies of a base sit in different 6-mer phases",
    )
    parser.add_argument("--held-out-fraction", type=float, default=0.1)
    parser.add_argument("--held-out-records", nargs="*", default=[])
    parser.add_argument("--max-steps", type=int, default=600)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--mask-copies", type=int, default=6, help="held-out maskings (each scores 15%% of tokens)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--no-quiet", dest="quiet", action="store_false", help="show the progress bars of datasets and transformers"
    )
    return parser.parse_args(argv)


def build_model() -> tuple[NucleotideTransformerTokenizerFast, NucleotideTransformerForMaskedLM]:
    """A small model of the NT-v2 architecture (rotary, SwiGLU, no biases) with the published v2 vocabulary."""
    tokenizer = NucleotideTransformerTokenizerFast(vocab_layout="v2")
    config = NucleotideTransformerConfig.from_preset(
        "v2", hidden_size=128, num_hidden_layers=4, num_attention_heads=4, intermediate_size=256
    )
    return tokenizer, NucleotideTransformerForMaskedLM(config)


def load_data(args: argparse.Namespace, tokenizer) -> dict:
    """Training windows (both strands, random offsets) and held-out windows with fixed masks (`--mask-copies`
    independent maskings, so most held-out tokens are scored)."""
    options = WindowOptions(window_bp=args.window_bp, stride_bp=args.stride_bp, seed=args.seed)
    held_out = HeldOutSplit(records=args.held_out_records, tail_fraction=args.held_out_fraction)
    data = build_pretraining_datasets(
        [args.data / "genomes"],
        tokenizer,
        options,
        held_out=held_out,
        keep_sequence=True,
        cache_dir=args.out / "datasets",
    )
    copies = [
        with_fixed_masks(data["held_out"], MLMCollator.for_evaluation(tokenizer, seed=args.seed + c))
        for c in range(args.mask_copies)
    ]
    data["held_out_masked"] = concatenate_datasets(copies)
    return data


def pretrain(args: argparse.Namespace, tokenizer, model, data: dict) -> tuple[PretrainingTrainer, dict]:
    """Masked-LM pretraining with `Trainer`; returns the trainer and held-out metrics before and after."""
    training_args = pretraining_arguments(
        args.out / "trainer",
        sequence_tokens=args.window_bp // 6 + 1,
        per_device_train_batch_size=args.batch_size,
        tokens_per_step=None,
        learning_rate=args.learning_rate,
        bf16="no",
        max_steps=args.max_steps,
        per_device_eval_batch_size=256,
        eval_strategy="steps",
        eval_steps=max(1, args.max_steps // 4),
        logging_steps=max(1, args.max_steps // 10),
        save_strategy="no",
        seed=args.seed,
        disable_tqdm=True,
    )
    trainer = PretrainingTrainer(
        model=model,
        args=training_args,
        train_dataset=data["train"],
        eval_dataset=data["held_out_masked"],
        data_collator=MLMCollator(tokenizer, seed=args.seed),
        # The paper's shape (linear warm-up from half the peak, then 1/sqrt decay) at a small model's pace.
        schedule=WarmupInverseSqrt(warmup_steps=max(1, args.max_steps // 10), start_factor=0.5),
    )
    trainer.remove_callback(PrinterCallback)  # the logged losses go to loss_curve.png, not to the terminal
    before = trainer.evaluate()
    start = time.perf_counter()
    trainer.train()
    seconds = time.perf_counter() - start
    after = trainer.evaluate()
    return trainer, {"before": before, "after": after, "train_seconds": seconds}


def report_held_out(tokenizer, data: dict, metrics: dict, trainer: PretrainingTrainer, out: Path) -> dict:
    """Prints the model next to the frequency baselines and writes the loss curve."""
    baseline = frequency_baseline(data["train"], data["held_out_masked"], tokenizer)
    after, before = metrics["after"], metrics["before"]
    n = int(after["eval_masked_tokens"])
    maskings = len(data["held_out_masked"]) // len(data["held_out"])
    always = f"always '{baseline['token']}'"
    print(f"held-out masked tokens: {n:,} ({len(data['held_out'])} windows x {maskings} maskings)")
    print(f"                   {'model':>18}   {always} (the most common training 6-mer)")
    print(
        f"  6-mer accuracy   {after['eval_masked_accuracy']:>11.2%} ({round(after['eval_masked_accuracy'] * n):>4})"
        f"   {baseline['held_out_accuracy']:.2%} ({round(baseline['held_out_accuracy'] * n)})"
    )
    print(f"  base accuracy    {after['eval_masked_base_accuracy']:>18.2%}   {baseline['held_out_base_accuracy']:.2%}")
    print(
        f"  loss (nats)      {after['eval_masked_loss']:>18.3f}   {baseline['held_out_loss']:.3f} (training 6-mer "
        f"frequencies); {before['eval_masked_loss']:.3f} before training"
    )
    print(f"  trained {trainer.args.max_steps} steps in {metrics['train_seconds']:.0f} s")
    plot_loss_curve(trainer.state.log_history, out / "loss_curve.png", baseline)
    return {
        "held_out_masked_tokens": n,
        "held_out_masked_accuracy": after["eval_masked_accuracy"],
        "held_out_masked_base_accuracy": after["eval_masked_base_accuracy"],
        "baseline_most_common_6mer": baseline["token"],
        "baseline_masked_accuracy": baseline["held_out_accuracy"],
        "baseline_masked_base_accuracy": baseline["held_out_base_accuracy"],
        "held_out_loss_before": before["eval_masked_loss"],
        "held_out_loss_after": after["eval_masked_loss"],
        "baseline_frequency_loss": baseline["held_out_loss"],
        "train_seconds": metrics["train_seconds"],
    }


def save_and_reload(trainer: PretrainingTrainer, tokenizer, out: Path):
    model_dir = out / "model"
    trainer.save_model(str(model_dir))
    tokenizer.save_pretrained(str(model_dir))
    model, reloaded_tokenizer = (
        AutoModelForMaskedLM.from_pretrained(str(model_dir)),
        AutoTokenizer.from_pretrained(str(model_dir)),
    )
    print(f"saved to {model_dir}; reloaded as {type(model).__name__} + {type(reloaded_tokenizer).__name__}")
    return model, reloaded_tokenizer


def fill_mask_demo(model, tokenizer, held_out) -> dict:
    """Hides the 6th 6-mer of a held-out window and asks `pipeline("fill-mask")` for it."""
    example = held_out[0]
    window = example["sequence"]
    hidden = window[30:36]
    masked = window[:30] + tokenizer.mask_token + window[36:]
    fill_mask = pipeline("fill-mask", model=model, tokenizer=tokenizer, top_k=5)
    candidates = fill_mask(masked)
    print(f"fill-mask on held-out {example['species']} DNA, true 6-mer {hidden}:")
    for candidate in candidates:
        print(f"  {candidate['token_str']}  {candidate['score']:.4f}")
    return {"true_6mer": hidden, "candidates": [c["token_str"] for c in candidates]}


def embedding_demo(model, tokenizer, held_out, out: Path) -> dict:
    """Mean-pooled embeddings of held-out windows (`pipeline("dna-embedding")`); cosine similarity within vs between
    species."""
    per_species: dict[str, list[int]] = {}
    for index, species in enumerate(held_out["species"]):
        per_species.setdefault(species, []).append(index)
    rows = held_out.select(sorted(i for indices in per_species.values() for i in indices[:32]))  # every species
    labels = list(rows["species"])
    embed = pipeline("dna-embedding", model=model, tokenizer=tokenizer)
    embeddings = np.stack(embed(list(rows["sequence"]), pooling="mean", batch_size=32))
    np.save(out / "held_out_embeddings.npy", embeddings)
    unit = embeddings / np.linalg.norm(embeddings, axis=1, keepdims=True)
    similarity = unit @ unit.T
    same = np.array([[a == b for b in labels] for a in labels]) & ~np.eye(len(labels), dtype=bool)
    different = np.array([[a != b for b in labels] for a in labels])
    summary = {
        "embedding_shape": list(embeddings.shape),
        "mean_cosine_same_species": float(similarity[same].mean()),
        "mean_cosine_different_species": float(similarity[different].mean()) if different.any() else None,
    }
    between = summary["mean_cosine_different_species"]
    print(
        f"embeddings {embeddings.shape}: mean cosine within species {summary['mean_cosine_same_species']:.3f}, "
        f"between species {'n/a (one species)' if between is None else f'{between:.3f}'}"
    )
    return summary


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    if args.quiet:  # the bars of dataset preparation and of saving/loading weights
        disable_progress_bars()
        transformers_logging.disable_progress_bar()
    set_seed(args.seed)
    tokenizer, model = build_model()
    data = load_data(args, tokenizer)
    print(
        f"data: {len(data['train'])} training and {len(data['held_out'])} held-out windows of {args.window_bp} bp; "
        f"model: NT-v2 architecture, {sum(p.numel() for p in model.parameters()) / 1e6:.2f} M parameters"
    )

    trainer, metrics = pretrain(args, tokenizer, model, data)
    summary = report_held_out(tokenizer, data, metrics, trainer, args.out)
    model, tokenizer = save_and_reload(trainer, tokenizer, args.out)
    summary["fill_mask"] = fill_mask_demo(model, tokenizer, data["held_out"])
    summary.update(embedding_demo(model, tokenizer, data["held_out"], args.out))

    (args.out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(f"wrote {args.out / 'summary.json'}")

    # Zero-shot variant scores on 200 bundled ClinVar SNVs (100 benign, 100 pathogenic): AUROC per score.
    variant_metrics = evaluate_variant_windows(
        model,
        tokenizer,
        REPO / "data" / "variants" / "clinvar_snv_200.csv.gz",
        out_dir=args.out / "variants",
        batch_size=32,
    )
    print(format_metrics(variant_metrics))
    print(f"wrote {args.out / 'variants'}/roc.png, scores.tsv, metrics.json")

    # Fine-tune on a bundled real task (GUE human core promoters) with IA3, beside the 6-mer-count logistic regression
    # and the same architectures trained from random weights, two seeds each: the model pretrained above and the
    # checkpoint shipped in data/models/ (pretrained for 25 CPU-minutes on six genomes:
    # benchmarks/results/pretraining-study-2026-12-02/), side by side in one table.
    from nucleotide_transformer_hf.task_benchmark import (
        BenchmarkSettings,
        evaluate_tasks,
        find_task_sources,
        select_sources,
    )

    promoters = select_sources(find_task_sources(REPO / "data" / "tasks"), ["prom_core_all"])
    report = evaluate_tasks(
        [args.out / "model", SHIPPED_MODEL],
        promoters,
        args.out / "tasks",
        BenchmarkSettings(
            methods=("ia3", "random", "kmer"), seeds=(0, 1), max_steps=200, eval_steps=100, batch_size=32
        ),
    )
    print(report.markdown)
    ia3 = [row for row in report.summary if row["method"] == "ia3"]
    print(
        "IA3 on prom_core_all, MCC (mean ± sd, 2 seeds): "
        + "; ".join(f"{row['model']} {row['mcc_mean']:.3f} ± {row['mcc_sd']:.3f}" for row in ia3)
    )
    print(f"wrote {args.out / 'tasks'}/results.md, results.csv, results.png")
    analyses(model, tokenizer, args.out)


def analyses(model, tokenizer, out: Path) -> None:
    """The paper's two analyses on the bundled E. coli slice and its RefSeq annotation: attention per layer and head
    on each element type against background, and masked-LM perplexity per element (6 kb windows)."""
    from nucleotide_transformer_hf.attention_maps import attention_map
    from nucleotide_transformer_hf.perplexity import annotation_labels, perplexity_report
    from nucleotide_transformer_hf.pretraining_data import species_name

    fasta = REPO / "data" / "genomes" / "ecoli_K12_MG1655_NC_000913.3_1-120000.fa.gz"
    gff = REPO / "data" / "annotations" / "ecoli_K12_MG1655_NC_000913.3_1-120000.gff.gz"
    summary = attention_map(model, tokenizer, fasta, gff, out / "attention", window_bp=6000, progress=False)
    print(
        f"attention over E. coli elements ({summary['windows']} windows of 6 kb): {summary['enriched_cells']} of "
        f"{summary['tests']} (layer, head, element) cells enriched at 5% FDR; wrote {out / 'attention'}/"
        f"attention_enrichment.tsv and {len(summary['heatmaps'])} heatmaps (heatmap_<element>.png)"
    )
    labels = {species_name(fasta): annotation_labels(fasta, gff)}
    tables, files = perplexity_report(model, tokenizer, fasta, out / "perplexity", window_bp=6000, base_labels=labels)
    per_element = tables.elements.sort_values("perplexity")
    print(
        "masked-LM perplexity per element (E. coli, 6 kb windows): "
        + ", ".join(f"{row.element} {row.perplexity:,.0f}" for row in per_element.itertuples())
        + f"; wrote {files['plot']} and the tables beside it"
    )


if __name__ == "__main__":
    main()
