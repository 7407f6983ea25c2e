"""Saves one checkpoint of the pretraining study as the repository's shipped model: weights in bfloat16 with
`save_pretrained` (so that it stays under 10 MB), its tokenizer, and a model card written from the study's numbers.

    python benchmarks/results/pretraining-study-2026-12-02/ship.py RUNS SIZE STEP data/models/NAME

RUNS is the folder `run.sh` wrote; the card's scores come from `curve.csv` beside this file (run `curve.py` first).
"""

import argparse
import csv
import json
import math
from pathlib import Path

import torch
from transformers import AutoModelForMaskedLM, AutoTokenizer

import nucleotide_transformer_hf  # noqa: F401  (registers the Auto classes)

HERE = Path(__file__).resolve().parent
LIMIT_BYTES = 10 * 1024 * 1024


def scores(size: str, step: int) -> tuple[list[dict], list[dict]]:
    """(MCC rows of this checkpoint and the size's baselines, held-out rows of this size) from curve.csv."""
    with (HERE / "curve.csv").open(newline="") as handle:
        rows = [r for r in csv.DictReader(handle) if r["size"] == size]
    mcc = [r for r in rows if r["kind"] == "mcc" and r["step"] in (str(step), "", "0")]
    for row in mcc:
        if row["step"] == "0" and step != 0:  # the same run's step-0 weights: the random-init copy
            row["method"] += "@0"
    held_out = [r for r in rows if r["kind"] == "perplexity"]
    return mcc, held_out


def card(name: str, size: str, step: int, model, runs: Path) -> str:
    metrics = json.loads((runs / size / "metrics.json").read_text())
    mcc, held_out = scores(size, step)
    at_step = [r for r in held_out if r["step"] == str(step)]
    perplexity = float(at_step[0]["value"]) if at_step else float("nan")
    baseline = math.exp(metrics["baseline_frequency_loss"])
    tokens = step * 16 * 101
    config = model.config
    parameters = sum(p.numel() for p in model.parameters())
    tasks = sorted({r["task"] for r in mcc})
    methods = [
        m for m in ("ia3", "probing", "ia3@0", "probing@0", "random", "kmer") if any(r["method"] == m for r in mcc)
    ]
    label = {
        "ia3": "IA3 on this model",
        "probing": "probing this model (logistic regression, best layer)",
        "ia3@0": "IA3 on its random-init copy (the run's step-0 weights)",
        "probing@0": "probing its random-init copy",
        "random": "same architecture from random weights, fully trained",
        "kmer": "6-mer counts + logistic regression",
    }
    table = ["| method | " + " | ".join(tasks) + " |", "|---|" + "---:|" * len(tasks)]
    for method in methods:
        cells = []
        for task in tasks:
            match = [r for r in mcc if r["method"] == method and r["task"] == task]
            cells.append(f"{float(match[0]['value']):.3f} ± {float(match[0]['sd']):.3f}" if match else "")
        table.append(f"| {label[method]} | " + " | ".join(cells) + " |")
    return f"""---
library_name: transformers
tags: [dna, nucleotide-transformer, masked-lm, genomics]
license: apache-2.0
---

# {name}

A small Nucleotide Transformer v2 (rotary positions, SwiGLU without biases, the published v2 6-mer vocabulary)
pretrained with this repository's masked-LM recipe on six small genomes, on one CPU thread. It is a model to
fine-tune and to test pipelines with, not a substitute for the published NT models: it saw
{tokens / 1e6:.1f} M tokens, where the published ones saw about 300 B.

- **Shape:** {config.num_hidden_layers} layers, width {config.hidden_size}, {config.num_attention_heads} heads,
  SwiGLU width {config.intermediate_size}; {parameters / 1e6:.2f} M parameters, stored in bfloat16
  (load with `dtype=torch.float32` to compute in float32).
- **Data:** *S. cerevisiae* S288C (Ensembl R64-1-1), *E. coli* K-12 MG1655 (NC_000913.3), *M. tuberculosis*
  H37Rv (NC_000962.3), *Mycolicibacterium gilvum* Spyr1 (NC_014814.1) and the human, chimpanzee and orangutan
  mitochondrial genomes (NC_012920.1, NC_001643.1, NC_002083.1): 26.8 Mb, public INSDC/RefSeq/Ensembl records.
  Held out by record: yeast chromosome XVI and the orangutan mitochondrion.
- **Training:** windows of 600 bp (100 6-mers and `<cls>`) every 301 bp, both strands, random offsets; the
  paper's masking (15% of tokens; 80% `<mask>`, 10% random, 10% kept); Adam, batch 16 windows (1,616 tokens),
  learning rate 1e-5 to 1e-3 linearly over 500 steps then inverse-square-root decay; {step:,} steps.
- **Command:** `bash benchmarks/results/pretraining-study-2026-12-02/run.sh DIR` (DIR holds `genomes/` and
  `gue/`), then `ship.py RUNS {size} {step} data/models/{name}` beside it; the study's README has the curve.

## Scores

Held-out masked-LM perplexity (masked 6-mers, 500 held-out windows): **{perplexity:,.1f}**, against
{baseline:,.1f} for the training 6-mer frequencies and 4,096 for a uniform guess.

GUE tasks (MCC, mean ± sd over 2 seeds; 800 training and 400 test rows drawn per task, 100 optimiser steps; the
tasks are human and yeast DNA, and no human nuclear DNA was in the pretraining data):

{chr(10).join(table)}

## Use

```python
from transformers import AutoModelForMaskedLM, AutoTokenizer
import nucleotide_transformer_hf  # registers the NT classes with the Auto factories

model = AutoModelForMaskedLM.from_pretrained("data/models/{name}")
tokenizer = AutoTokenizer.from_pretrained("data/models/{name}")
```
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", type=Path)
    parser.add_argument("size")
    parser.add_argument("step", type=int)
    parser.add_argument("out", type=Path)
    args = parser.parse_args()
    checkpoint = args.runs / args.size / f"checkpoint-{args.step}"
    model = AutoModelForMaskedLM.from_pretrained(str(checkpoint), dtype=torch.float32)
    tokenizer = AutoTokenizer.from_pretrained(str(checkpoint))
    model.to(torch.bfloat16).save_pretrained(str(args.out))
    tokenizer.save_pretrained(str(args.out))
    size = (args.out / "model.safetensors").stat().st_size
    if size > LIMIT_BYTES:
        raise SystemExit(f"{args.out / 'model.safetensors'} is {size:,} bytes, over the 10 MB limit")
    (args.out / "README.md").write_text(card(args.out.name, args.size, args.step, model, args.runs))
    print(f"wrote {args.out}: model.safetensors {size / 1e6:.2f} MB, tokenizer, README.md")


if __name__ == "__main__":
    main()
