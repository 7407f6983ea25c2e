"""Training benchmark: our v2-50M-shaped model against transformers' `EsmForMaskedLM` of equal FLOPs.

    python benchmarks/bench_training.py [--quick] [--data ../shared/data]

* Throughput: training tokens/s of one full step (forward, masked-LM loss, backward, AdamW step, zero_grad) at 512
  tokens x batch 8 of real DNA masked by `MLMCollator`, ours and ESM alternately in one process (`run.alternate`:
  warm-ups, then A B A B ..., medians). ESM is configured to the same FLOPs per token: width 512, 12 layers, 16 heads,
  rotary positions, GELU FFN of width 3,072 (= SwiGLU 2 x 2,048 in + 2,048 out: 3 x 512 x 2,048 multiply-adds
  either way), the same 4,107-token vocabulary; it differs by its FFN biases and activation only.
* Memory: the extra memory a training step needs above weights + gradients + Adam state (activations and
  temporaries), with and without gradient checkpointing. CPU tensors are invisible to `torch.cuda` counters and to
  `tracemalloc`, so each variant runs in a fresh subprocess that builds the model and optimiser, materialises
  gradients and Adam state (zero gradients, one step), records its resident set size (RSS), then trains
  and reports its RSS high-water mark (`ru_maxrss`) minus that RSS. This counts what the OS had to provide, allocator
  slack included, so it is an upper bound on tensor memory; the high-water mark before training is checked to be
  below the one after, so the difference is the step's. On CUDA the same probe uses `max_memory_allocated`.

`--quick` (CPU, about 2-3 minutes on 2 cores): 1 warm-up and 2 rounds, memory of our model only, 1 step per probe.
"""

import argparse
import gc
import json
import os
import resource
import subprocess
import sys
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parent.parent
TOKENS, BATCH = 512, 8


def _alternate():
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from run import alternate

    return alternate


def _models(which: str):
    """`"ours"`: the published v2-50m shape; `"esm"`: transformers' ESM of equal FLOPs per token."""
    from transformers import EsmConfig, EsmForMaskedLM

    from nucleotide_transformer_hf import NucleotideTransformerConfig, NucleotideTransformerForMaskedLM

    torch.manual_seed(0)
    if which == "ours":
        config = NucleotideTransformerConfig.from_preset("nucleotide-transformer-v2-50m-multi-species")
        return NucleotideTransformerForMaskedLM(config)
    config = EsmConfig(
        vocab_size=4107, hidden_size=512, num_hidden_layers=12, num_attention_heads=16, intermediate_size=3072,
        hidden_act="gelu", position_embedding_type="rotary", max_position_embeddings=2050, pad_token_id=1,
        mask_token_id=2, token_dropout=False, emb_layer_norm_before=False, layer_norm_eps=1e-12,
        hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
    )  # fmt: skip
    return EsmForMaskedLM(config)


def _batch(data: Path | None, batch: int = BATCH, tokens: int = TOKENS) -> dict[str, torch.Tensor]:
    """`batch` windows of real DNA that tokenize to exactly `tokens` tokens, masked as in pretraining."""
    from nucleotide_transformer_hf import NucleotideTransformerTokenizerFast
    from nucleotide_transformer_hf.data import read_fasta
    from nucleotide_transformer_hf.pretraining import MLMCollator

    folder = (data / "genomes") if data else REPO / "data" / "genomes"
    bp = (tokens - 1) * 6
    windows = []
    for path in sorted(folder.glob("*.fa*")):
        for record in read_fasta(path):
            sequence = record.sequence.upper()
            windows += [sequence[i : i + bp] for i in range(0, len(sequence) - bp + 1, bp) if "N" not in sequence[i : i + bp]]
    tokenizer = NucleotideTransformerTokenizerFast(vocab_layout="v2")
    rows = [{"input_ids": ids} for ids in tokenizer(windows[:batch])["input_ids"]]
    encoded = MLMCollator(tokenizer, seed=0)(rows)
    assert encoded["input_ids"].shape == (batch, tokens), encoded["input_ids"].shape
    return encoded


def _train_step(model: torch.nn.Module, optimizer: torch.optim.Optimizer, batch: dict[str, torch.Tensor]):
    def step():
        loss = model(**batch).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=False)
        return loss

    return step


def _rss_bytes() -> int:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _max_rss_bytes() -> int:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024  # bytes on macOS, KiB on Linux


def memory_probe(which: str, checkpointing: bool, steps: int, data: Path | None) -> dict[str, float]:
    """Runs in its own process: MB a training step needs above weights + gradients + Adam state."""
    device = "cuda" if torch.cuda.is_available() else "cpu"
    model = _models(which).to(device).train()
    if checkpointing:
        model.gradient_checkpointing_enable()
    batch = {k: v.to(device) for k, v in _batch(data).items()}
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.0)
    for parameter in model.parameters():
        parameter.grad = torch.zeros_like(parameter)
    optimizer.step()  # zero gradients: creates the Adam state, changes no weight
    gc.collect()
    if device == "cuda":
        torch.cuda.synchronize()
        base = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
    else:
        base, peak_before = _rss_bytes(), _max_rss_bytes()
    step = _train_step(model, optimizer, batch)
    for _ in range(steps):
        step()
    if device == "cuda":
        torch.cuda.synchronize()
        peak, peak_before = torch.cuda.max_memory_allocated(), 0
    else:
        peak = _max_rss_bytes()
    return {
        "step_mb": (peak - base) / 2**20,
        "state_mb": base / 2**20,
        "high_water_before_training_below_step_peak": float(peak_before < peak),
    }


def _probe_in_subprocess(which: str, checkpointing: bool, steps: int, data: Path | None) -> dict[str, float]:
    command = [sys.executable, __file__, "--memory-probe", json.dumps([which, checkpointing, steps])]
    if data:
        command += ["--data", str(data)]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"memory probe {which} checkpointing={checkpointing} failed:\n{result.stderr[-3000:]}")
    probe = json.loads(result.stdout.strip().splitlines()[-1])
    if not probe["high_water_before_training_below_step_peak"]:
        raise RuntimeError(f"memory probe {which}: set-up used more memory than training; the figure would be void.")
    return probe


def bench_training(args: argparse.Namespace) -> dict[str, float]:
    """Training tokens/s, ours vs ESM of equal FLOPs, and a step's memory with and without gradient checkpointing."""
    alternate = _alternate()
    batch = _batch(args.data)
    ours, esm = _models("ours").train(), _models("esm").train()
    flops_ours = sum(p.numel() for n, p in ours.named_parameters() if ".encoder." in n and p.dim() == 2)
    flops_esm = sum(p.numel() for n, p in esm.named_parameters() if ".encoder." in n and p.dim() == 2)
    assert abs(flops_ours - flops_esm) / flops_esm < 0.01, (flops_ours, flops_esm)  # same matmul sizes per token
    steps = {
        name: _train_step(model, torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.0), batch)
        for name, model in (("ours", ours), ("esm", esm))
    }
    seconds = alternate(steps, repeats=2 if args.quick else 5, warmups=1)
    tokens = BATCH * TOKENS
    results = {
        "training_batch_tokens": float(tokens),
        "training_params_ours_m": sum(p.numel() for p in ours.parameters()) / 1e6,
        "training_params_esm_m": sum(p.numel() for p in esm.parameters()) / 1e6,
        "training_tokens_per_s_ours": tokens / seconds["ours"],
        "training_tokens_per_s_esm": tokens / seconds["esm"],
        "training_speedup_vs_esm": seconds["esm"] / seconds["ours"],
    }
    del ours, esm, steps
    gc.collect()
    probe_steps = 1 if args.quick else 2
    variants = [("ours", False), ("ours", True)] + ([] if args.quick else [("esm", False), ("esm", True)])
    for which, checkpointing in variants:
        probe = _probe_in_subprocess(which, checkpointing, probe_steps, args.data)
        results[f"training_step_mem_mb_{which}_{'ckpt' if checkpointing else 'no_ckpt'}"] = probe["step_mb"]
        results[f"training_state_mem_mb_{which}"] = probe["state_mb"]
    results["training_ckpt_mem_saving_ours"] = (
        results["training_step_mem_mb_ours_no_ckpt"] / results["training_step_mem_mb_ours_ckpt"]
    )
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--data", type=Path, default=None)
    parser.add_argument("--memory-probe", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.memory_probe:
        which, checkpointing, steps = json.loads(args.memory_probe)
        print(json.dumps(memory_probe(which, checkpointing, steps, args.data)))
        return 0
    for key, value in bench_training(args).items():
        print(f"{key:45} {value:>14,.2f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
