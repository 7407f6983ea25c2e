"""Benchmarks of the variant and embedding paths, alternating the two candidates in one process (`run.alternate`).

    python benchmarks/bench_variants.py [--quick] [--data DIR]

* `bench_variants`: variants/s of `score_vcf` (the `score-variants` command) on real variants — the GIAB chr20 calls
  against the hg19 slice in `data/variants/` plus ClinVar SNVs, each ClinVar 1,024 bp reference window written as its
  own FASTA contig — with window sharing (reference passes reused by the variants of a window) and without.
  Full: 1,000 variants (the 222 GIAB alleles + 778 ClinVar SNVs), a random model of the v2-50m shape (12 layers,
  width 512, 2,048-token context = 12,282 bp windows). `--quick`: the first 100 GIAB alleles only and a 2-layer,
  width-64 v2 model with a 512-token context (3,066 bp windows); the keys say which. The same A/B then runs on
  clustered variants (keys `..._saturation_...`): all three alternative bases at each of `total // 3` consecutive
  positions of chr20 from the first GIAB call on (saturation mutagenesis), where the variants of a window share its
  reference pass and the three alleles of a position share its masked pass.
* `bench_embedding`: sequences/s of `embed_sequences` (length-sorted batches; `--quick`: a 4-layer width-256 model, 256
  sequences) against naive padding (batches in
  input order, padded to their longest member: tokenizer(padding=True) + model + mean pooling) on real sequences of
  mixed lengths — GUE test sets of five tasks (70-500 bp) under `--data`, else windows of random length (60-1,200 bp)
  of the bundled genomes. Both give the same embeddings (checked).
"""

import argparse
import contextlib
import csv
import gzip
import io
import random
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parent.parent
BUNDLED = REPO / "data" / "variants"
GIAB_VCF = BUNDLED / "giab_chr20_10mb.vcf.gz"
GIAB_FASTA = BUNDLED / "hg19_chr20_1-10110000.fa.gz"


def _alternate():
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from run import alternate

    return alternate


def _model(device: str, quick: bool, context: int | None = None, width: int = 64, layers: int = 2):
    """A random v2 model on `device`: the v2-50m shape, or with `quick` a small one (`layers` x `width`, FFN 2 x
    width)."""
    from nucleotide_transformer_hf import (
        NucleotideTransformerConfig,
        NucleotideTransformerForMaskedLM,
        NucleotideTransformerTokenizerFast,
    )

    torch.manual_seed(0)
    if quick:
        context = context or 512
        config = NucleotideTransformerConfig.from_preset(
            "v2",
            hidden_size=width,
            num_hidden_layers=layers,
            num_attention_heads=max(4, width // 32),
            intermediate_size=2 * width,
            max_position_embeddings=context + 2,
        )
    else:
        config = NucleotideTransformerConfig.from_preset("nucleotide-transformer-v2-50m-multi-species")
    model = NucleotideTransformerForMaskedLM(config).to(device).eval()
    tokenizer = NucleotideTransformerTokenizerFast(vocab_layout="v2", model_max_length=config.context_length)
    return model, tokenizer


def _clinvar_snvs(data: Path | None, count: int) -> list[dict[str, str]]:
    shared = data / "clinvar_variant_windows" / "variants.csv.gz" if data else None
    path = shared if shared and shared.exists() else BUNDLED / "clinvar_snv_200.csv.gz"
    with gzip.open(path, "rt", newline="") as handle:
        rows = list(csv.DictReader(handle))
    snvs = []
    for row in rows:
        ref, alt = row["ref_seq"], row["alt_seq"]
        if len(ref) == len(alt) and sum(a != b for a, b in zip(ref, alt)) == 1:
            snvs.append(row)
    return snvs[:count]


def write_variant_inputs(folder: Path, data: Path | None, total: int) -> tuple[Path, Path, int, int]:
    """A plain FASTA (the hg19 chr20 slice + one contig per ClinVar window) and a VCF of `total` real variants."""
    import pysam

    with gzip.open(GIAB_VCF, "rt") as handle:
        giab_lines = [line for line in handle if not line.startswith("#")][:total]
    giab_alleles = sum(len(line.split("\t")[4].split(",")) for line in giab_lines)
    clinvar = _clinvar_snvs(data, total - giab_alleles) if total > giab_alleles else []
    fasta, vcf = folder / "ref.fa", folder / "calls.vcf"
    chr20 = pysam.FastaFile(str(GIAB_FASTA))
    with open(fasta, "w") as handle:
        sequence = chr20.fetch("chr20")
        handle.write(">chr20\n" + "\n".join(sequence[i : i + 80] for i in range(0, len(sequence), 80)) + "\n")
        for row in clinvar:
            handle.write(f">{row['variant_id']}\n{row['ref_seq']}\n")
    pysam.faidx(str(fasta))
    with open(vcf, "w") as handle:
        handle.write("##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n")
        handle.writelines(giab_lines)
        for row in clinvar:
            p = next(i for i, (a, b) in enumerate(zip(row["ref_seq"], row["alt_seq"])) if a != b)
            name = row["variant_id"]
            fields = [name, str(p + 1), name, row["ref_seq"][p], row["alt_seq"][p], ".", ".", "."]
            handle.write("\t".join(fields) + "\n")
    return fasta, vcf, giab_alleles, len(clinvar)


def write_saturation_vcf(folder: Path, fasta: Path, positions: int) -> Path:
    """Clustered variants: every alternative base at each of `positions` consecutive positions of the hg19 chr20
    slice from the first GIAB call on (in-silico saturation mutagenesis, one multi-allelic VCF line per position)."""
    import pysam

    with gzip.open(GIAB_VCF, "rt") as handle:
        first = int(next(line for line in handle if not line.startswith("#")).split("\t")[1])
    sequence = pysam.FastaFile(str(fasta)).fetch("chr20", first - 1, first - 1 + positions).upper()
    vcf = folder / "saturation.vcf"
    with open(vcf, "w") as handle:
        handle.write("##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n")
        for offset, ref in enumerate(sequence):
            alts = ",".join(base for base in "ACGT" if base != ref)
            handle.write(f"chr20\t{first + offset}\t.\t{ref}\t{alts}\t.\t.\t.\n")
    return vcf


def _sharing_ab(model, tokenizer, vcf: Path, fasta: Path, folder: Path, warmups: int) -> tuple[dict, dict, int]:
    """Seconds (median, alternating) and summaries of score_vcf with and without window sharing on `vcf`, after
    checking that both give the same scores; and the number of distinct scored windows."""
    from nucleotide_transformer_hf.variants import read_table, score_vcf

    summaries, outputs = {}, {}

    def run(share: bool):
        def go():
            outputs[share] = folder / f"{vcf.stem}_{share}.tsv"
            with contextlib.redirect_stdout(io.StringIO()):
                summaries[share] = score_vcf(
                    model, tokenizer, vcf, fasta, outputs[share], share_windows=share, progress=False, batch_size=8
                )

        return go

    seconds = _alternate()({"shared": run(True), "unshared": run(False)}, repeats=2, warmups=warmups)
    shared, unshared = read_table(outputs[True]), read_table(outputs[False])
    scored = [i for i, row in enumerate(shared) if row["status"] == "scored"]
    for name in ("cosine_similarity", "mlm_log_ratio"):  # same numbers either way (float32 batch noise aside)
        a = np.array([float(shared[i][name]) for i in scored])
        b = np.array([float(unshared[i][name]) for i in scored])
        if not np.allclose(a, b, rtol=1e-4, atol=1e-4):
            raise AssertionError(f"window sharing changed {name} on {vcf.name}; the comparison would be void")
    windows = len({(row["contig"], row["window_start"]) for row in shared if row["status"] == "scored"})
    return seconds, summaries, windows


def bench_variants(args: argparse.Namespace) -> dict[str, float]:
    """variants/s of score-variants with and without window sharing (alternating): on real variants (GIAB calls and
    ClinVar SNVs, mostly one per window) and on clustered ones (saturation mutagenesis of a chr20 stretch)."""
    quick = args.quick
    total = 100 if quick else 1000
    model, tokenizer = _model(args.device, quick)
    tag = "quick_2layer_w64_ctx512" if quick else "v2_50m_shape"
    prefix = f"score_variants_{tag}"
    results: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        fasta, vcf, giab, clinvar = write_variant_inputs(folder, args.data, total)
        saturation = write_saturation_vcf(folder, fasta, positions=total // 3)
        for name, path in (("", vcf), ("saturation_", saturation)):
            seconds, summaries, windows = _sharing_ab(model, tokenizer, path, fasta, folder, 0 if quick else 1)
            rows = summaries[True]["rows"]
            key = f"{prefix}_{name}"
            results.update(
                {
                    f"{key}variants": rows,
                    f"{key}scored": summaries[True]["scored"],
                    f"{key}distinct_windows": windows,
                    f"{key}forward_passes_shared_windows": summaries[True]["forward_passes"],
                    f"{key}forward_passes_no_sharing": summaries[False]["forward_passes"],
                    f"{key}shared_windows_variants_per_s": rows / seconds["shared"],
                    f"{key}no_sharing_variants_per_s": rows / seconds["unshared"],
                    f"{key}window_sharing_speedup": seconds["unshared"] / seconds["shared"],
                }
            )
            if not name:
                results.update({f"{key}giab_chr20_variants": giab, f"{key}clinvar_variants": clinvar})
    return results


def embedding_sequences(data: Path | None, count: int, seed: int = 0) -> tuple[str, list[str]]:
    """Real DNA of mixed lengths: GUE test sets of five tasks under `data`, else random-length bundled windows."""
    rng = random.Random(seed)
    gue = data / "gue" if data else None
    if gue and gue.exists():
        tasks = ["prom_prom_core_all", "tf_0", "prom_prom_300_all", "splice_reconstructed", "EMP_H3"]
        pool = []
        for task in tasks:
            with gzip.open(gue / task / "test.csv.gz", "rt", newline="") as handle:
                rows = [row["sequence"] for row in csv.DictReader(handle)]
            pool += rng.sample(rows, min(len(rows), count // len(tasks) + 1))
        rng.shuffle(pool)
        return "gue_mix", pool[:count]
    from nucleotide_transformer_hf.dna import read_fasta

    genomes = [r.sequence for path in sorted((REPO / "data" / "genomes").glob("*.fa*")) for r in read_fasta(path)]
    out = []
    for _ in range(count):
        genome = rng.choice(genomes)
        length = rng.randint(60, 1200)
        start = rng.randrange(len(genome) - length)
        out.append(genome[start : start + length])
    return "bundled_windows", out


def bench_embedding(args: argparse.Namespace) -> dict[str, float]:
    """sequences/s of embed_sequences (length-sorted batches) vs naive padding, mean pooling, same model."""
    from nucleotide_transformer_hf.inference import embed_sequences
    from nucleotide_transformer_hf.modeling_nucleotide_transformer import pool_hidden_states

    alternate = _alternate()
    quick = args.quick
    # --quick: 4 layers of width 256, where compute still outweighs the per-batch overhead that a width-64 toy
    # model would time instead.
    model, tokenizer = _model(args.device, quick, context=2048, width=256, layers=4)
    source, sequences = embedding_sequences(args.data, 256 if quick else 1024)
    batch_size = 16

    def bucketed():
        return embed_sequences(model, tokenizer, sequences, batch_size=batch_size)

    def naive():
        out = []
        with torch.inference_mode():
            for start in range(0, len(sequences), batch_size):
                batch = tokenizer(sequences[start : start + batch_size], return_tensors="pt", padding=True)
                batch = {k: v.to(model.device) for k, v in batch.items()}
                hidden = model.esm(**batch).last_hidden_state
                out.append(pool_hidden_states(hidden, batch["attention_mask"], "mean").cpu().numpy())
        return np.concatenate(out)

    if not np.allclose(np.stack(bucketed()), naive(), rtol=1e-4, atol=1e-5):
        raise AssertionError("bucketed and naive embeddings differ; the comparison would be void")
    seconds = alternate({"bucketed": bucketed, "naive": naive}, repeats=3, warmups=1)
    tag = "quick_4layer_w256" if quick else "v2_50m_shape"
    lengths = [len(s) for s in sequences]
    return {
        f"embedding_{tag}_{source}_sequences": len(sequences),
        f"embedding_{tag}_{source}_min_bp": min(lengths),
        f"embedding_{tag}_{source}_max_bp": max(lengths),
        f"embedding_{tag}_{source}_length_sorted_sequences_per_s": len(sequences) / seconds["bucketed"],
        f"embedding_{tag}_{source}_naive_padding_sequences_per_s": len(sequences) / seconds["naive"],
        f"embedding_{tag}_{source}_length_sorting_speedup": seconds["naive"] / seconds["bucketed"],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--data", type=Path, default=None)
    parser.add_argument("--only", choices=("variants", "embedding"), action="append")
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from run import add_device_argument

    add_device_argument(parser)
    args = parser.parse_args(argv)
    for name in args.only or ("variants", "embedding"):
        results = {"variants": bench_variants, "embedding": bench_embedding}[name](args)
        for key, value in results.items():
            print(f"{key:70} {value:>14,.2f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
