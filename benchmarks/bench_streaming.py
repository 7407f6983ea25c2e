"""Memory of streaming `score-variants`: peak RSS of `score_vcf` against the size of the VCF, each run in a fresh
process.

    python benchmarks/bench_streaming.py [--quick] [--device cpu]

* Synthetic VCFs of 10x, 100x and 1,000x a base size (full: 10,000 / 100,000 / 1,000,000 records; `--quick`: 1,000 /
  10,000 / 100,000), sorted calls on the real sequence (9,995,001-10,110,000) of the bundled hg19 chr20 slice
  `data/variants/hg19_chr20_1-10110000.fa.gz`: SNVs with the FASTA's REF, every 7th record bi-allelic, every 10th a
  deletion. Records get denser as the file grows (the slice is 115 kb), so the larger files also have more variants
  per window.
* Each size runs `score_vcf(..., dry_run=True)` (reads, checks, plans, tokenizes the windows and writes every row,
  no forward pass) in a fresh `python` process, which reports its peak RSS (`VmHWM` of `/proc/self/status`,
  torch and the model included; see `peak_rss_mb`) and the RSS peak before the call; the keys give both, the records/s,
  and the ratio of the largest file's peak to the smallest's (the target: at most 1.5).
* Two small real runs (full: 1,000 / 10,000 records; `--quick`: 500 / 5,000) score every SNV on the same tiny
  random model (v2 shape, 2 layers of width 64, 64-token context = 378 bp windows) on `--device`.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
GIAB_FASTA = REPO / "data" / "variants" / "hg19_chr20_1-10110000.fa.gz"
SEQUENCE_START, SEQUENCE_END = 9_995_001, 10_110_000  # 1-based, inclusive: the slice's real (non-N) bases


def write_synthetic_vcf(path: Path, records: int, sequence: str, seed: int = 0) -> Path:
    """`records` sorted calls on `sequence` (chr20 from `SEQUENCE_START`): SNVs with the true REF, every 7th
    bi-allelic, every 10th a 1-base deletion."""
    rng = np.random.default_rng(seed)
    offsets = np.sort(rng.integers(0, len(sequence) - 2, records))
    with open(path, "w") as handle:
        handle.write("##fileformat=VCFv4.2\n##contig=<ID=chr20>\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n")
        lines = []
        for i, offset in enumerate(offsets.tolist()):
            ref = sequence[offset]
            alts = [base for base in "ACGT" if base != ref]
            alt = ",".join(alts[:2]) if i % 7 == 0 else alts[i % 3]
            if i % 10 == 0:
                ref, alt = sequence[offset : offset + 2], ref
            lines.append(f"chr20\t{SEQUENCE_START + offset}\tv{i}\t{ref}\t{alt}\t.\tPASS\t.\n")
            if len(lines) == 100_000:
                handle.writelines(lines)
                lines.clear()
        handle.writelines(lines)
    return path


def _tiny_model(device: str):
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from bench_variants import _model

    return _model(device, quick=True, context=64, width=64, layers=2)


def _child(spec: dict) -> dict:
    """In a fresh process: the tiny model, then one `score_vcf`; peak RSS before and after (MB), seconds, summary."""
    import contextlib
    import io

    from nucleotide_transformer_hf.variants import score_vcf

    model, tokenizer = _tiny_model(spec["device"])
    before = peak_rss_mb()
    start = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        summary = score_vcf(
            model,
            tokenizer,
            spec["vcf"],
            GIAB_FASTA,
            spec["out"],
            progress=False,
            dry_run=spec["dry_run"],
            batch_size=64,
        )
    seconds = time.perf_counter() - start
    peak = peak_rss_mb()
    return {"peak_rss_mb": peak, "rss_before_mb": before, "seconds": seconds, **summary}


def peak_rss_mb() -> float:
    """This process's RSS high-water mark (`VmHWM`, per address space, so it starts afresh at exec). Not
    `ru_maxrss`: Linux carries that over fork and exec, so a child of a large parent (benchmarks/run.py after its
    model benchmarks) would report the parent's peak."""
    with open("/proc/self/status") as handle:
        return next(int(line.split()[1]) for line in handle if line.startswith("VmHWM:")) / 1024


def run_child(vcf: Path, out: Path, device: str, dry_run: bool) -> dict:
    """`_child` in a fresh interpreter (nothing of an earlier run in its memory)."""
    spec = json.dumps({"vcf": str(vcf), "out": str(out), "device": device, "dry_run": dry_run})
    env = dict(os.environ, TOKENIZERS_PARALLELISM="false")
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")])
    if device == "cpu":
        env["CUDA_VISIBLE_DEVICES"] = ""
    result = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--child", spec],
        env=env,
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        raise RuntimeError(f"score_vcf on {vcf.name} failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def bench_streaming(args: argparse.Namespace) -> dict[str, float]:
    """Peak RSS of dry-run score-variants on VCFs of 10x, 100x, 1,000x a base size (fresh process each), the ratio
    largest/smallest, and two small real runs."""
    import pysam

    base = 100 if args.quick else 1_000
    dry_sizes = [10 * base, 100 * base, 1_000 * base]
    real_sizes = [500, 5_000] if args.quick else [1_000, 10_000]
    sequence = pysam.FastaFile(str(GIAB_FASTA)).fetch("chr20", SEQUENCE_START - 1, SEQUENCE_END).upper()
    results: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        for kind, sizes in (("dry_run", dry_sizes), ("real", real_sizes)):
            peaks = {}
            for records in sizes:
                vcf = write_synthetic_vcf(folder / f"calls_{records}.vcf", records, sequence)
                child = run_child(vcf, folder / f"{kind}_{records}.tsv", args.device, kind == "dry_run")
                (folder / f"{kind}_{records}.tsv").unlink()
                vcf.unlink()
                key = f"streaming_{kind}_{records}_records"
                peaks[records] = child["peak_rss_mb"]
                results.update(
                    {
                        f"{key}_rows": child["rows"],
                        f"{key}_chunks": child["chunks"],
                        f"{key}_forward_passes": child["forward_passes"],
                        f"{key}_peak_rss_mb": child["peak_rss_mb"],
                        f"{key}_rss_before_score_vcf_mb": child["rss_before_mb"],
                        f"{key}_records_per_s": records / child["seconds"],
                    }
                )
            largest, smallest = max(sizes), min(sizes)
            results[f"streaming_{kind}_peak_rss_ratio_{largest}_to_{smallest}_records"] = (
                peaks[largest] / peaks[smallest]
            )
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--data", type=Path, default=None, help="unused (the inputs are synthetic)")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from run import add_device_argument

    add_device_argument(parser)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(_child(json.loads(args.child))))
        return 0
    results = bench_streaming(args)
    for key, value in results.items():
        print(f"{key:70} {value:>14,.2f}", flush=True)
    print(results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
