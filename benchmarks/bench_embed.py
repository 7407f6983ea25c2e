"""Benchmarks of `embed_to_folder` (the `nucleotide-transformer embed` command).

    python benchmarks/bench_embed.py [--quick] [--data DIR] [--device cpu|cuda]

* Throughput: sequences/s of `embed_to_folder` (a parquet table of sequences in, parquet shards + manifest out:
  the input check, length-sorted token-budget batches, writing included) against the plain transformers way a user
  would write it — a hand batch loop in input order, `tokenizer(..., padding=True)` at a fixed batch size, the
  encoder, mean over the real tokens (no `<cls>`, no padding) — on the same model and the same real sequences of
  mixed length (`bench_variants.embedding_sequences`: GUE test sets under `--data`, else random-length windows,
  60-1,200 bp, of the bundled genomes). The two alternate in one process (`run.alternate`) and are checked to give
  the same vectors. Full: 1,024 sequences, the v2-50m shape; `--quick`: 256 sequences, 4 layers of width 256.
* Memory: peak RSS of a fresh process running `embed_to_folder` (mean pooling, a tiny 2-layer width-32 model) on a
  FASTA of 10x, 100x and 1,000x a unit of 300 bp records (unit 20 records; `--quick` 10), with glibc's mmap
  threshold fixed and one thread (`bench_training.PROBE_ENV`), and the largest/smallest ratio: the reader streams
  and shards are written a row group at a time, so the target is flat (1.0). Also the peak above the process's
  high-water mark once the model is built (what the job itself adds).
"""

import argparse
import contextlib
import io
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

BENCHMARKS = Path(__file__).resolve().parent
REPO = BENCHMARKS.parent
sys.path.insert(0, str(BENCHMARKS))

MEMORY_SCRIPT = """
import sys, random, torch
from bench_streaming import peak_rss_mb  # VmHWM: ru_maxrss would carry the parent's peak over fork and exec
from nucleotide_transformer_hf import (NucleotideTransformerConfig, NucleotideTransformerForMaskedLM,
    NucleotideTransformerTokenizerFast)
from nucleotide_transformer_hf.dna import read_fasta
from nucleotide_transformer_hf.embedding_job import FastaInput, embed_to_folder

count, folder = int(sys.argv[1]), sys.argv[2]
genomes = [r.sequence for r in read_fasta({genome!r})]
rng = random.Random(0)
with open(folder + "/in.fa", "w") as handle:
    for k in range(count):
        g = rng.choice(genomes)
        start = rng.randrange(len(g) - 300)
        handle.write(f">r{{k}}\\n{{g[start:start + 300]}}\\n")
del genomes
torch.manual_seed(0)
config = NucleotideTransformerConfig.from_preset("v2", hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
    intermediate_size=64, max_position_embeddings=130)
model = NucleotideTransformerForMaskedLM(config).eval()
tokenizer = NucleotideTransformerTokenizerFast(vocab_layout="v2", model_max_length=128)
import pyarrow.parquet
before = peak_rss_mb()
counts = embed_to_folder(model, tokenizer, FastaInput(folder + "/in.fa"), folder + "/out", progress=False,
    shard_size=1000)
assert counts["inputs"] == count, counts
print(before, peak_rss_mb())
"""


def _throughput(args: argparse.Namespace) -> dict[str, float]:
    import pyarrow as pa
    import pyarrow.parquet as pq
    from bench_variants import _model, embedding_sequences
    from run import alternate

    from nucleotide_transformer_hf.embedding_job import TableInput, embed_to_folder

    quick = args.quick
    model, tokenizer = _model(args.device, quick, context=2048, width=256, layers=4)
    source, sequences = embedding_sequences(args.data, 256 if quick else 1024)
    batch_size = 16
    folder = Path(tempfile.mkdtemp(prefix="bench-embed-"))
    table = folder / "sequences.parquet"
    pq.write_table(pa.table({"id": [f"s{i}" for i in range(len(sequences))], "sequence": sequences}), table)
    runs = {"count": 0}

    def ours():
        runs["count"] += 1
        out = folder / f"out{runs['count']}"
        with contextlib.redirect_stderr(io.StringIO()):
            embed_to_folder(model, tokenizer, TableInput(table), out, batch_size=batch_size, progress=False)
        return out

    def plain():
        vectors = []
        with torch.inference_mode():
            for start in range(0, len(sequences), batch_size):
                batch = tokenizer(sequences[start : start + batch_size], return_tensors="pt", padding=True)
                batch = {k: v.to(model.device) for k, v in batch.items()}
                hidden = model.esm(**batch).last_hidden_state
                mask = batch["attention_mask"].clone()
                mask[:, 0] = 0  # <cls>
                pooled = (hidden * mask[..., None]).sum(1) / mask.sum(1, keepdim=True)
                vectors.append(pooled.float().cpu().numpy())
        return np.concatenate(vectors)

    written = np.asarray(pq.read_table(ours() / "data").column("embedding").to_pylist(), dtype=np.float32)
    if not np.allclose(written, plain(), rtol=1e-4, atol=1e-5):
        raise AssertionError("embed_to_folder and the hand loop give different vectors; the comparison would be void")
    seconds = alternate({"ours": ours, "plain": plain}, repeats=3, warmups=1)
    tag = f"embed_{'quick_4layer_w256' if quick else 'v2_50m_shape'}_{source}"
    return {
        f"{tag}_sequences": len(sequences),
        f"{tag}_embed_to_folder_sequences_per_s": len(sequences) / seconds["ours"],
        f"{tag}_plain_transformers_loop_sequences_per_s": len(sequences) / seconds["plain"],
        f"{tag}_speedup_over_plain_loop": seconds["plain"] / seconds["ours"],
    }


def _memory(args: argparse.Namespace) -> dict[str, float]:
    from bench_training import probe_env

    unit = 10 if args.quick else 20
    genome = str(REPO / "data" / "genomes" / "ecoli_K12_MG1655_NC_000913.3_1-120000.fa.gz")
    script = MEMORY_SCRIPT.format(genome=genome)
    env = {**probe_env(), "CUDA_VISIBLE_DEVICES": "", "TOKENIZERS_PARALLELISM": "false", "PYTHONPATH": str(BENCHMARKS)}
    results = {}
    for factor in (10, 100, 1000):
        with tempfile.TemporaryDirectory() as folder:
            done = subprocess.run(
                [sys.executable, "-c", script, str(unit * factor), folder], capture_output=True, text=True, env=env
            )
            if done.returncode != 0:
                raise RuntimeError(f"memory probe x{factor} failed:\n{done.stderr[-3000:]}")
            before, peak = map(float, done.stdout.strip().splitlines()[-1].split())
            results[f"embed_memory_{unit * factor}_inputs_peak_rss_mb"] = peak
            results[f"embed_memory_{unit * factor}_inputs_peak_rss_mb_above_loaded_model"] = peak - before
    sizes = [unit * f for f in (10, 1000)]
    results["embed_memory_rss_ratio_1000x_to_10x"] = (
        results[f"embed_memory_{sizes[1]}_inputs_peak_rss_mb"] / results[f"embed_memory_{sizes[0]}_inputs_peak_rss_mb"]
    )
    return results


def bench_embed(args: argparse.Namespace) -> dict[str, float]:
    """Throughput of `embed_to_folder` against a plain transformers loop, and its peak RSS at 10x/100x/1,000x."""
    return {**_throughput(args), **_memory(args)}


def main(argv: list[str] | None = None) -> int:
    from run import add_device_argument

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--data", type=Path, default=None)
    add_device_argument(parser)
    args = parser.parse_args(argv)
    results = bench_embed(args)
    for key, value in results.items():
        print(f"{key:70} {value:>14,.2f}", flush=True)
    print(results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
