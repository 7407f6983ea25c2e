"""Peak memory of the attention-map enrichment next to holding every layer's attention maps.

One 12 kb window (2,047 6-mer tokens + `<cls>` = 2,048, the v2 context) through a v2-50M-shaped model (width 512,
12 layers, 16 heads, random weights; `--quick`: 4 layers), each approach in a fresh `python` process that reports its
peak RSS (`VmHWM` of `/proc/self/status`; not `ru_maxrss`, which Linux carries over fork and exec):

* `enrichment` — `attention_maps.attention_enrichment` on the model as loaded (sdpa attention): forward hooks count
  high-confidence attention layer by layer, one head's `T x T` map at a time;
* `full_maps` — `output_attentions=True` with eager attention, all layers' maps held (what a script that collects
  the maps and then aggregates them needs), then the same counts from the held maps.

    python benchmarks/bench_attention.py [--quick]
"""

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
WINDOW_BP = 2047 * 6


def peak_rss_mb() -> float:
    """This process's RSS high-water mark (`VmHWM`, per address space: it starts afresh at exec)."""
    with open("/proc/self/status") as handle:
        return next(int(line.split()[1]) for line in handle if line.startswith("VmHWM:")) / 1024


def _model(layers: int, device: str, attention: str):
    import torch

    from nucleotide_transformer_hf import (
        NucleotideTransformerConfig,
        NucleotideTransformerForMaskedLM,
        NucleotideTransformerTokenizerFast,
    )

    torch.manual_seed(0)
    config = NucleotideTransformerConfig.from_preset(
        "v2",
        hidden_size=512,
        num_hidden_layers=layers,
        num_attention_heads=16,
        intermediate_size=2048,
        max_position_embeddings=2050,
    )
    model = NucleotideTransformerForMaskedLM(config).eval().to(device)
    model.set_attn_implementation(attention)
    tokenizer = NucleotideTransformerTokenizerFast(vocab_layout="v2", model_max_length=2048)
    return model, tokenizer


def _child(spec: dict) -> dict:
    import numpy as np
    import torch

    from nucleotide_transformer_hf.attention_maps import LabelledWindow, attention_enrichment

    # The enrichment runs the model as loaded (sdpa: the forward builds no maps); the maps need eager attention.
    model, tokenizer = _model(spec["layers"], spec["device"], "sdpa" if spec["approach"] == "enrichment" else "eager")
    rng = np.random.default_rng(0)
    sequence = "".join(rng.choice(list("ACGT"), WINDOW_BP))
    ids = np.asarray(tokenizer(sequence, add_special_tokens=False)["input_ids"])
    labels = rng.integers(0, 4, len(ids))
    window = LabelledWindow(ids, labels)
    before = peak_rss_mb()
    start = time.perf_counter()
    if spec["approach"] == "enrichment":
        frame = attention_enrichment(model, [window], ["a", "b", "c", "d"], threshold=0.3, batch_size=1)
        cells = len(frame)
    else:
        with torch.inference_mode():
            input_ids = torch.tensor([[3, *ids.tolist()]], device=spec["device"])
            maps = model.esm(input_ids=input_ids, output_attentions=True).attentions  # all layers held
            onehot = torch.nn.functional.one_hot(torch.as_tensor(labels), 4).float().to(spec["device"])
            counts = [torch.einsum("ht,te->he", (m[0] > 0.3).float().sum(1)[:, 1:], onehot) for m in maps]
        cells = sum(c.numel() for c in counts)
    seconds = time.perf_counter() - start
    return {"peak_rss_mb": peak_rss_mb(), "rss_before_mb": before, "seconds": seconds, "cells": cells}


def run_child(approach: str, layers: int, device: str) -> dict:
    spec = json.dumps({"approach": approach, "layers": layers, "device": device})
    env = dict(os.environ, TOKENIZERS_PARALLELISM="false")
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")])
    if device == "cpu":
        env["CUDA_VISIBLE_DEVICES"] = ""
    result = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--child", spec], env=env, capture_output=True, text=True
    )
    if result.returncode != 0:
        raise RuntimeError(f"{approach} failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def bench_attention(args: argparse.Namespace) -> dict[str, float]:
    """Peak RSS (MB) and seconds of each approach on one 2,048-token window, and the full/enrichment ratios."""
    layers = 4 if getattr(args, "quick", False) else 12
    device = getattr(args, "device", None) or "cpu"
    results: dict[str, float] = {"attention_layers": layers, "attention_window_tokens": 2048}
    for approach in ("enrichment", "full_maps"):
        child = run_child(approach, layers, device)
        results[f"attention_{approach}_peak_rss_mb"] = child["peak_rss_mb"]
        results[f"attention_{approach}_rss_before_mb"] = child["rss_before_mb"]
        results[f"attention_{approach}_seconds"] = child["seconds"]
    for key in ("peak_rss_mb",):
        results[f"attention_full_to_enrichment_{key}_ratio"] = (
            results[f"attention_full_maps_{key}"] / results[f"attention_enrichment_{key}"]
        )
    results["attention_full_to_enrichment_added_rss_ratio"] = (
        results["attention_full_maps_peak_rss_mb"] - results["attention_full_maps_rss_before_mb"]
    ) / max(results["attention_enrichment_peak_rss_mb"] - results["attention_enrichment_rss_before_mb"], 1e-9)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="4 layers instead of 12")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--data", type=Path, default=None, help="unused (the inputs are synthetic)")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(_child(json.loads(args.child))))
        return 0
    results = bench_attention(args)
    for key, value in results.items():
        print(f"{key:60} {value:>12,.2f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
