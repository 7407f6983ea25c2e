"""The `nucleotide-transformer` command: every subcommand's arguments, and one error convention.

This is the only module that knows about argparse; each subcommand is a thin shell over library functions, imported
when the subcommand runs (so `--help` is fast and the library never imports this module).

Errors: a user's mistake (`InputError`: a bad file, a refused pickle, no Hub token, a `--model` folder with no model
or no tokenizer) prints one line `nucleotide-transformer <command>: error: <message>` and exits with status 2,
without a traceback; anything else is a bug and keeps its traceback.

    nucleotide-transformer presets
    nucleotide-transformer convert SOURCE OUT [--allow-pickle]
    nucleotide-transformer push MODEL_DIR REPO_ID [--dry-run DIR]
    nucleotide-transformer score-variants --vcf V --fasta F --model M --out scores.tsv
    nucleotide-transformer evaluate-variants --data pairs.csv.gz --model M [--out-dir D]
    nucleotide-transformer evaluate-tasks MODEL DATA... --out D
    nucleotide-transformer evaluate-tasks --model A --model B [--trust-remote-code] DATA... --out D [--protocol nt-paper]
    nucleotide-transformer export-onnx MODEL OUT [--encoder] [--int8]
    nucleotide-transformer embed --model M (--fasta F [--window W] | --bed B --fasta F | --table T | --dataset D) --out DIR
"""

import argparse
import dataclasses
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from .errors import InputError

PROG = "nucleotide-transformer"

DEFAULT_BATCH_SIZE = 8  # windows per forward pass for the variant commands (the inference engine's default)


# ---- presets ---------------------------------------------------------------------------------------------------


def _presets_arguments(parser: argparse.ArgumentParser) -> None:
    return None


def _presets(args: argparse.Namespace) -> int:
    from .configuration_nucleotide_transformer import PUBLISHED_MODELS, NucleotideTransformerConfig

    print(f"{'name':48} {'version':7} {'hidden':>6} {'layers':>6} {'heads':>5} {'ffn':>6} {'context':>7}")
    for name, (version, _) in PUBLISHED_MODELS.items():
        c = NucleotideTransformerConfig.from_preset(name)
        print(
            f"{name:48} {version:7} {c.hidden_size:>6} {c.num_hidden_layers:>6} {c.num_attention_heads:>5} "
            f"{c.intermediate_size:>6} {c.context_length:>7}"
        )
    return 0


# ---- convert / push --------------------------------------------------------------------------------------------


def _convert_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("source", help="published checkpoint folder (Hugging Face layout or JAX jax_model/)")
    parser.add_argument("out", help="folder to write our native checkpoint to")
    parser.add_argument(
        "--allow-pickle", action="store_true", help="read pytorch_model.bin / joblib pickles (trusted sources only)"
    )
    parser.add_argument("--max-shard-size", default="2GB")


def _convert(args: argparse.Namespace) -> int:
    from .conversion import convert_checkpoint

    report = convert_checkpoint(
        args.source, args.out, allow_pickle=args.allow_pickle, max_shard_size=args.max_shard_size
    )
    print(report.summary())
    print(f"wrote {args.out}")
    return 0


def _push_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model_dir", help="a folder saved by this package (save_pretrained, convert, examples)")
    parser.add_argument("repo_id", help="the Hub repository, e.g. user/my-nt-model")
    parser.add_argument("--token", default=None, help="Hugging Face token (default: HF_TOKEN or the saved login)")
    parser.add_argument("--dry-run", metavar="DIR", default=None, help="write the upload folder to DIR, upload nothing")
    parser.add_argument("--private", action="store_true")
    parser.add_argument("--base-model", default=None)
    parser.add_argument("--dataset", action="append", default=None, help="dataset id (repeatable)")
    parser.add_argument("--trained-on", default=None, help="a sentence on the training data, for the card")
    parser.add_argument("--license", default="cc-by-nc-sa-4.0")


def _push(args: argparse.Namespace) -> int:
    from .hub import push

    result = push(
        args.model_dir,
        args.repo_id,
        token=args.token,
        dry_run_dir=args.dry_run,
        private=args.private,
        base_model=args.base_model,
        datasets=args.dataset,
        trained_on=args.trained_on,
        license=args.license,
    )
    print(f"dry run: wrote {result}, uploaded nothing" if args.dry_run else f"uploaded to {args.repo_id}: {result}")
    return 0


# ---- variants --------------------------------------------------------------------------------------------------


DTYPE_CHOICES = ("float32", "bfloat16", "int8")  # precision.DTYPES, named here so that --help stays fast


def _dtype_argument(parser: argparse.ArgumentParser, what: str = "inference") -> None:
    parser.add_argument(
        "--dtype",
        choices=DTYPE_CHOICES,
        default="float32",
        help=f"{what} precision: float32, bfloat16 weights, or int8 linear layers (CPU; docs/precision.md)",
    )


def _job_model(args: argparse.Namespace, masked_lm: bool):
    """The `--model` of a job (checked folder, tokenizer beside it), with the masked-LM head or without, in the
    precision `--dtype`, on this process's device (`accelerate launch` gives each process its own). `--dtype int8`
    on a GPU is a one-line error before the model loads."""
    from transformers import AutoModel, AutoModelForMaskedLM

    from .loading import load_model_and_tokenizer
    from .precision import check_dtype
    from .variants import accelerate_state

    device = accelerate_state().device
    dtype = check_dtype(args.dtype, device)
    model_class = AutoModelForMaskedLM if masked_lm else AutoModel
    model, tokenizer = load_model_and_tokenizer(args.model, model_class, dtype=dtype, progress=not args.no_progress)
    return model.to(device), tokenizer


def _scoring_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, help="folder or Hub name of a masked-LM NT checkpoint")
    parser.add_argument("--layer", type=int, default=-1, help="hidden-state index for the embedding scores (-1 = last)")
    parser.add_argument("--pooling", choices=("mean", "cls"), default="mean")
    parser.add_argument("--both-strands", action="store_true", help="average every score over both strands")
    parser.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE)
    _dtype_argument(parser)
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def _score_variants_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--vcf", required=True, type=Path, help="VCF, plain or bgzip/gzip")
    parser.add_argument("--fasta", required=True, type=Path, help="indexed FASTA, plain or bgzip")
    parser.add_argument("--out", required=True, type=Path, help="output .tsv or .parquet")
    _scoring_arguments(parser)
    parser.add_argument("--window-bp", type=int, default=None, help="bases per window (default: the model's context)")
    parser.add_argument("--window-snap", type=int, default=None, help="grid of window starts in bp (default window/8)")
    parser.add_argument("--chunk-size", type=int, default=256, help="variants per checkpointed chunk")
    parser.add_argument("--no-share-windows", action="store_true", help="recompute reference passes per variant")
    parser.add_argument("--restart", action="store_true", help="discard a checkpoint left by another run")
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="read, check, plan and write every record as a real run would (same rows, statuses and windows) without "
        "running the model: the score columns stay empty; for sizing a job",
    )


def _score_variants(args: argparse.Namespace) -> int:
    from .variants import score_vcf

    model, tokenizer = _job_model(args, masked_lm=True)
    score_vcf(
        model,
        tokenizer,
        args.vcf,
        args.fasta,
        args.out,
        layer=args.layer,
        pooling=args.pooling,
        both_strands=args.both_strands,
        window_bp=args.window_bp,
        window_snap=args.window_snap,
        batch_size=args.batch_size,
        chunk_size=args.chunk_size,
        share_windows=not args.no_share_windows,
        restart=args.restart,
        progress=not args.no_progress,
        dry_run=args.dry_run,
    )
    return 0


def _evaluate_variants_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data",
        required=True,
        type=Path,
        help="CSV(.gz) with ref_seq, alt_seq, label, or a folder holding variants.csv.gz",
    )
    parser.add_argument("--out-dir", type=Path, default=None, help="where scores.tsv, metrics.json and roc.png go")
    parser.add_argument("--max-variants", type=int, default=None, help="score only the first N rows")
    _scoring_arguments(parser)


def _evaluate_variants(args: argparse.Namespace) -> int:
    from .variant_evaluation import evaluate_variant_windows, format_metrics

    model, tokenizer = _job_model(args, masked_lm=True)
    metrics = evaluate_variant_windows(
        model,
        tokenizer,
        args.data,
        out_dir=args.out_dir,
        max_variants=args.max_variants,
        layer=args.layer,
        pooling=args.pooling,
        both_strands=args.both_strands,
        batch_size=args.batch_size,
        progress=not args.no_progress,
    )
    print(format_metrics(metrics))
    if args.out_dir is not None:
        print(f"wrote {args.out_dir / 'scores.tsv'}, {args.out_dir / 'metrics.json'} and {args.out_dir / 'roc.png'}")
    return 0


# ---- ONNX --------------------------------------------------------------------------------------------------------


def _export_onnx_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", help="model folder (float32 or bf16 weights; exported in float32)")
    parser.add_argument("out", type=Path, help="folder for model.onnx, config.json and the tokenizer files")
    parser.add_argument(
        "--encoder", action="store_true", help="export the encoder (last_hidden_state) instead of the masked-LM logits"
    )
    parser.add_argument("--int8", action="store_true", help="also write onnxruntime's dynamic int8 quantisation")
    parser.add_argument(
        "--int8-out", type=Path, help="folder for the int8 model (default: OUT with the suffix -int8 beside OUT)"
    )
    parser.add_argument("--opset", type=int, help="ONNX opset (default: the exporter's, 20)")


def _export_onnx(args: argparse.Namespace) -> int:
    from .loading import check_model_folder

    check_model_folder(args.model)
    from .onnx_export import export_onnx, quantize_onnx_int8

    report = export_onnx(args.model, args.out, masked_lm=not args.encoder, opset=args.opset)
    print(
        f"wrote {report['path']} (opset {report['opset']}, outputs {', '.join(report['outputs'])}; onnxruntime "
        f"matches torch to {report['max_abs_diff']:.1e})"
    )
    if args.int8:
        int8_out = args.int8_out or args.out.with_name(args.out.name + "-int8")
        quantized = quantize_onnx_int8(args.out, int8_out)
        print(
            f"wrote {quantized['path']} (int8 weights, {quantized['size_bytes'] / 1e6:.1f} MB from "
            f"{quantized['float32_size_bytes'] / 1e6:.1f} MB; onnxruntime dynamic quantisation)"
        )
    return 0


# ---- tasks -----------------------------------------------------------------------------------------------------


def _evaluate_tasks_arguments(parser: argparse.ArgumentParser) -> None:
    # No library import here: building the parser must stay fast for every subcommand (task_benchmark pulls in Trainer).
    parser.add_argument(
        "paths",
        nargs="*",
        metavar="[MODEL] DATA",
        help="without --model: the model folder, then data folders or table files (layout: docs/tasks.md); "
        "with --model: data folders or table files only",
    )
    parser.add_argument(
        "--model",
        action="append",
        default=[],
        metavar="MODEL",
        help="a model to compare (repeat for several): an NT folder (ours, published or converted) or any Hugging Face "
        "checkpoint folder with its tokenizer (e.g. DNABERT-2, HyenaDNA)",
    )
    parser.add_argument(
        "--trust-remote-code",
        action="store_true",
        help="allow models whose folder brings its own code (HyenaDNA, Caduceus, DNABERT-2's remote code) to run it",
    )
    parser.add_argument(
        "--paper-model",
        metavar="HUB_ID",
        help="the published NT model the first NT --model stands for: its numbers fill the 'paper' column "
        "(found by name when a --model is such a Hub id or a folder named after it; ids in docs/paper_results.md)",
    )
    parser.add_argument(
        "--paper-benchmark",
        choices=("auto", "revised", "original"),
        default="auto",
        help="which published NT benchmark the tasks are (auto: from the task names)",
    )
    parser.add_argument(
        "--protocol",
        choices=("default", "nt-paper"),
        default="default",
        help="default (seeds, MCC) or nt-paper (10-fold CV, the paper's metric and IA3/probing settings; what is "
        "unknown is printed in the header)",
    )
    parser.add_argument("--folds", type=int, help="k-fold cross-validation of the training split instead of seeds")
    parser.add_argument("--out", required=True, help="output folder for runs.csv, results.{csv,md,png}")
    parser.add_argument(
        "--nt-downstream",
        action="append",
        default=[],
        metavar="HUB_ID",
        help="also the published NT benchmark by Hub id (needs the network; ids in docs/tasks.md)",
    )
    parser.add_argument("--tasks", nargs="+", help="task names or shell patterns (e.g. 'gue/EMP_*' prom_core_all)")
    parser.add_argument(
        "--methods",
        default=None,
        help="comma-separated subset of ia3, lora, full, probing, random, kmer (default: all; nt-paper: ia3,probing)",
    )
    parser.add_argument("--seeds", type=int, nargs="+", help="seeds (default 0 1 2)")
    parser.add_argument("--max-steps", type=int, help="training steps per run (default 1000; nt-paper 10000)")
    parser.add_argument("--batch-size", type=int, help="training batch (default 16; nt-paper 8)")
    parser.add_argument("--eval-steps", type=int, default=100)
    parser.add_argument("--patience", type=int, default=3)
    parser.add_argument("--max-train", type=int, help="cap on training rows per task (stratified draw)")
    parser.add_argument("--max-test", type=int, help="cap on test rows per task (stratified draw)")
    parser.add_argument("--probe-layers", type=int, nargs="+", help="hidden-state indices to probe (default: all)")
    parser.add_argument("--probes", default="logistic,mlp", help="comma-separated: logistic, mlp")
    parser.add_argument("--pooling", choices=("cls", "mean"), default="mean", help="sequence-head pooling (NT models)")
    _dtype_argument(parser, what="probing embeddings")
    parser.add_argument("--quiet", action="store_true")


def _evaluate_tasks(args: argparse.Namespace) -> int:
    paths = list(args.paths)
    models = list(args.model)
    if not models:
        if not paths:
            raise InputError("give a model (MODEL DATA... or --model MODEL ... DATA...).")
        models = [paths.pop(0)]
    from .loading import check_model_folder

    for model in models:
        check_model_folder(model)
    for root in paths:
        if not Path(root).exists():
            raise InputError(f"no such data folder or file: {root}")
    from .model_zoo import describe_model
    from .paper_results import match_published_model
    from .task_benchmark import (
        evaluate_tasks,
        find_task_sources,
        nt_downstream_sources,
        protocol_settings,
        select_sources,
    )

    described = []
    paper_given = args.paper_model
    for path in models:
        model = describe_model(path, trust_remote_code=args.trust_remote_code, paper_name=match_published_model(path))
        if paper_given and model.is_nt:
            model, paper_given = dataclasses.replace(model, paper_name=paper_given), None
        described.append(model)
    if paper_given:
        raise InputError(f"--paper-model {paper_given}: no NT model among --model to stand for it.")
    sources, skipped = [], []
    for root in paths:
        sources += find_task_sources(root, skipped)
    for dataset_id in args.nt_downstream:
        sources += nt_downstream_sources(dataset_id)
    if not sources:
        raise InputError("no tasks found (give data folders or --nt-downstream).")
    sources = select_sources(sources, args.tasks)
    settings = protocol_settings(
        args.protocol,
        methods=[m.strip() for m in args.methods.split(",") if m.strip()] if args.methods else None,
        seeds=args.seeds,
        folds=args.folds,
        max_steps=args.max_steps,
        batch_size=args.batch_size,
        eval_steps=args.eval_steps,
        patience=args.patience,
        max_train=args.max_train,
        max_test=args.max_test,
        probe_layers=args.probe_layers,
        probes=[p.strip() for p in args.probes.split(",") if p.strip()],
        pooling=args.pooling,
        dtype=args.dtype,
        paper_benchmark=args.paper_benchmark,
        verbose=not args.quiet,
    )
    for line in skipped:
        print(f"not a task: {line}")
    report = evaluate_tasks(described, sources, args.out, settings)
    print(report.markdown)
    print("wrote " + ", ".join(str(path) for path in report.files.values()))
    return 0


# ---- embed -----------------------------------------------------------------------------------------------------


def _embed_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, help="folder or Hub name of an NT checkpoint (the encoder is used)")
    parser.add_argument("--out", required=True, type=Path, help="output folder (parquet shards + manifest.json)")
    inputs = parser.add_argument_group("input (one of --fasta, --bed with --fasta, --table, --dataset)")
    inputs.add_argument("--fasta", type=Path, help="FASTA(.gz): whole records or --window tiles; indexed for --bed")
    inputs.add_argument("--window", type=int, help="tile each FASTA record with windows of this many bases")
    inputs.add_argument("--stride", type=int, help="bases between tile starts (default: --window)")
    inputs.add_argument("--bed", type=Path, help="BED regions (0-based half-open) read from the indexed --fasta")
    inputs.add_argument("--flank", type=int, default=0, help="bases added on both sides of each BED region")
    inputs.add_argument("--table", type=Path, help="CSV/TSV(.gz) or parquet table of sequences")
    inputs.add_argument("--dataset", type=Path, help="a datasets Dataset folder written by save_to_disk")
    inputs.add_argument("--column", default="sequence", help="table/dataset column with the DNA")
    inputs.add_argument(
        "--id-column", default=None, help="table/dataset id column (default: 'id' if present, else the row number)"
    )
    parser.add_argument("--pooling", choices=("mean", "cls", "token", "nucleotide"), default="mean")
    parser.add_argument(
        "--layers", type=int, nargs="+", default=None, help="hidden-state indexes (default: -1, the last)"
    )
    parser.add_argument("--both-strands", action="store_true", help="average with the reverse complement's output")
    _dtype_argument(parser)
    parser.add_argument(
        "--batch-size", type=int, default=DEFAULT_BATCH_SIZE, help="windows per forward pass (token budget)"
    )
    parser.add_argument("--shard-size", type=int, default=10_000, help="inputs per output shard")
    parser.add_argument("--restart", action="store_true", help="discard a checkpoint or output of another run")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def _embed(args: argparse.Namespace) -> int:
    if args.bed is not None and args.fasta is None:
        raise InputError("--bed needs --fasta (the indexed genome the regions are read from).")
    given = [name for name in ("fasta", "table", "dataset") if getattr(args, name) is not None]
    if len(given) != 1:
        raise InputError("give exactly one input: --fasta, --bed with --fasta, --table or --dataset.")
    if (args.window is not None or args.stride is not None) and (args.bed is not None or args.fasta is None):
        raise InputError("--window and --stride tile FASTA records; they do not apply to --bed, --table or --dataset.")
    if args.flank and args.bed is None:
        raise InputError("--flank applies to --bed regions only.")
    from .embedding_job import BedInput, DatasetInput, FastaInput, TableInput, embed_to_folder
    from .variants import accelerate_state

    if args.bed is not None:
        source = BedInput(args.bed, args.fasta, flank=args.flank)
    elif args.fasta is not None:
        source = FastaInput(args.fasta, window=args.window, stride=args.stride)
    elif args.table is not None:
        source = TableInput(args.table, column=args.column, id_column=args.id_column)
    else:
        source = DatasetInput(args.dataset, column=args.column, id_column=args.id_column)
    model, tokenizer = _job_model(args, masked_lm=False)
    layers = -1 if args.layers is None else (args.layers[0] if len(args.layers) == 1 else args.layers)
    counts = embed_to_folder(
        model,
        tokenizer,
        source,
        args.out,
        pooling=args.pooling,
        layers=layers,
        both_strands=args.both_strands,
        batch_size=args.batch_size,
        shard_size=args.shard_size,
        restart=args.restart,
        progress=not args.no_progress,
    )
    if accelerate_state().is_main_process:
        print(
            f"embed: {counts['inputs']} inputs ({counts['bases']} bp) in {counts['shards']} shards, "
            f"{counts['shards_resumed']} resumed from a checkpoint; wrote {args.out}",
            flush=True,
        )
    return 0


# ---- analyses: attention over genomic elements, perplexity ---------------------------------------------------


def _attention_map_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, help="NT model folder (any head; the encoder's attention is read)")
    parser.add_argument("--fasta", required=True, type=Path, help="FASTA (plain or gzip) of the annotated DNA")
    annotation = parser.add_mutually_exclusive_group(required=True)
    annotation.add_argument("--gff", type=Path, help="GFF3 annotation (plain or gzip)")
    annotation.add_argument("--bed", type=Path, help="BED annotation (plain or gzip; the name column is the element)")
    parser.add_argument("--out", required=True, type=Path, help="folder for attention.tsv, summary.json, heatmaps")
    parser.add_argument("--window-bp", type=int, default=None, help="bases per window (default: the model's context)")
    parser.add_argument("--stride-bp", type=int, default=None, help="bases between window starts (default: window)")
    parser.add_argument("--threshold", type=float, default=0.3, help="attention weights above it count (Vig et al.)")
    parser.add_argument("--alpha", type=float, default=0.05, help="false-discovery rate for the enrichment")
    parser.add_argument("--promoter-bp", type=int, default=100, help="bases upstream of each gene called promoter")
    parser.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE)
    _dtype_argument(parser)
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def _attention_map(args: argparse.Namespace) -> int:
    from .annotations import annotated_records, read_annotation
    from .attention_maps import attention_map

    annotated_records(args.fasta, read_annotation(args.gff or args.bed))  # a mismatch fails before the model loads
    model, tokenizer = _job_model(args, masked_lm=False)
    summary = attention_map(
        model,
        tokenizer,
        args.fasta,
        args.gff or args.bed,
        args.out,
        window_bp=args.window_bp,
        stride_bp=args.stride_bp,
        threshold=args.threshold,
        alpha=args.alpha,
        promoter_bp=args.promoter_bp,
        batch_size=args.batch_size,
        progress=not args.no_progress,
    )
    enriched = {element: len(part["enriched_heads"]) for element, part in summary["per_element"].items()}
    print(
        f"attention-map: {summary['windows']} windows, {summary['enriched_cells']} of {summary['tests']} "
        f"(layer, head, element) cells enriched; per element: "
        + ", ".join(f"{element} {count}" for element, count in enriched.items())
    )
    print(
        f"wrote {args.out / 'attention_enrichment.tsv'}, {args.out / 'summary.json'} and {len(summary['heatmaps'])} heatmaps"
    )
    return 0


def _perplexity_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, help="masked-LM NT model folder")
    parser.add_argument("--fasta", required=True, type=Path, nargs="+", help="FASTA files or folders (species)")
    annotation = parser.add_mutually_exclusive_group()
    annotation.add_argument("--gff", type=Path, nargs="+", help="GFF3 per FASTA file, in the same order")
    annotation.add_argument("--bed", type=Path, nargs="+", help="BED per FASTA file, in the same order")
    parser.add_argument("--out", required=True, type=Path, help="folder for the TSVs and perplexity.png")
    parser.add_argument("--window-bp", type=int, default=None, help="bases per window (default: the model's context)")
    parser.add_argument("--stride-bp", type=int, default=None, help="bases between window starts (default: window)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the masks (per window: seed, record, start)")
    parser.add_argument("--copies", type=int, default=1, help="independent maskings per window")
    parser.add_argument("--max-n-fraction", type=float, default=0.5, help="skip windows with more N than this")
    parser.add_argument("--promoter-bp", type=int, default=100, help="bases upstream of each gene called promoter")
    parser.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE)
    _dtype_argument(parser)
    parser.add_argument("--no-plot", action="store_true", help="write the tables only")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def _perplexity(args: argparse.Namespace) -> int:
    from .perplexity import annotation_labels, perplexity_report
    from .pretraining_data import species_name

    annotations = args.gff or args.bed
    labels = None
    if annotations:
        if len(annotations) != len(args.fasta) or any(path.is_dir() for path in args.fasta):
            raise InputError(
                f"give one annotation per FASTA file, in the same order: {len(args.fasta)} FASTA, "
                f"{len(annotations)} annotation files."
            )
        labels = {
            species_name(fasta): annotation_labels(fasta, annotation, promoter_bp=args.promoter_bp)
            for fasta, annotation in zip(args.fasta, annotations)
        }
    model, tokenizer = _job_model(args, masked_lm=True)
    tables, files = perplexity_report(
        model,
        tokenizer,
        args.fasta,
        args.out,
        plot=not args.no_plot,
        window_bp=args.window_bp,
        stride_bp=args.stride_bp,
        seed=args.seed,
        copies=args.copies,
        base_labels=labels,
        max_n_fraction=args.max_n_fraction,
        batch_size=args.batch_size,
        progress=not args.no_progress,
    )
    print(tables.species.to_string(index=False))
    print("perplexity: wrote " + ", ".join(str(path) for path in files.values()))
    return 0


# ---- the command -----------------------------------------------------------------------------------------------

Subcommand = tuple[str, Callable[[argparse.ArgumentParser], None], Callable[[argparse.Namespace], int]]

SUBCOMMANDS: dict[str, Subcommand] = {
    "presets": ("List the built-in architectures and published model shapes.", _presets_arguments, _presets),
    "convert": (
        "Convert a published NT checkpoint (HF v1/v2 or JAX) to this package's format.",
        _convert_arguments,
        _convert,
    ),
    "push": ("Upload a model with tokenizer, code and a generated model card to the Hub.", _push_arguments, _push),
    "score-variants": (
        "Zero-shot scores for every variant of a VCF (windows from an indexed FASTA).",
        _score_variants_arguments,
        _score_variants,
    ),
    "evaluate-variants": (
        "AUROC of each zero-shot score on labelled ref/alt sequence pairs, with a ROC plot.",
        _evaluate_variants_arguments,
        _evaluate_variants,
    ),
    "attention-map": (
        "Share of high-confidence attention per layer and head on each annotated element type, against background.",
        _attention_map_arguments,
        _attention_map,
    ),
    "perplexity": (
        "Masked-LM perplexity per window, record, species and (with an annotation) element type.",
        _perplexity_arguments,
        _perplexity,
    ),
    "evaluate-tasks": (
        "Benchmark a model on every task of data folders: IA3, full fine-tune, probing, random init, 6-mer LR.",
        _evaluate_tasks_arguments,
        _evaluate_tasks,
    ),
    "export-onnx": (
        "Export a model to ONNX (dynamic batch and length) for onnxruntime, optionally with int8 weights.",
        _export_onnx_arguments,
        _export_onnx,
    ),
    "embed": (
        "Embed FASTA records or tiles, BED regions, or table/dataset rows into parquet shards with a manifest.",
        _embed_arguments,
        _embed,
    ),
}
"""name -> (help, function adding the arguments, function running the command)."""


def build_parser() -> argparse.ArgumentParser:
    """The parser of every subcommand."""
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0])
    subparsers = parser.add_subparsers(dest="command", required=True)
    for name, (help_text, add_arguments, run) in SUBCOMMANDS.items():
        sub = subparsers.add_parser(name, help=help_text, description=help_text)
        add_arguments(sub)
        sub.set_defaults(run=run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Runs one subcommand; a user error prints one line and returns 2 (see the module docstring)."""
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except InputError as error:
        print(f"{PROG} {args.command}: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
