"""Training benchmark: our v2-50M-shaped model against transformers' `EsmForMaskedLM` of equal FLOPs.

    python benchmarks/bench_training.py [--quick] [--data DIR]

* Throughput: training tokens/s of one full step (forward, masked-LM loss, backward, AdamW step, zero_grad) at 512
  tokens x batch 8 (2 with `--quick`) of real DNA masked by `MLMCollator`, ours and ESM alternately in one process
  (`run.alternate`: a warm-up step on one sequence, then A B A B ..., medians), without and with gradient
  checkpointing. AdamW is fused, as `Trainer` runs it by default. ESM is configured to the same FLOPs per token:
  width 512, 12 layers, 16 heads, rotary positions, GELU FFN of width 3,072 (= SwiGLU 2 x 2,048 in + 2,048 out:
  3 x 512 x 2,048 multiply-adds either way), the same 4,107-token vocabulary; it differs by its FFN biases and
  activation, and ties its LM decoder to the input embedding (ours is untied as in the checkpoints: 2.1 M more
  parameters, the same FLOPs).
* Memory: the extra memory a training step needs above weights + gradients + Adam state (activations and
  temporaries), with and without gradient checkpointing, at 512 tokens x batch 8 (4 with `--quick`). CPU tensors
  are invisible to `torch.cuda` counters and to `tracemalloc`, and the process's RSS high-water mark (`ru_maxrss`)
  is already set by the warm-up, so each variant runs in a fresh subprocess that takes one warm-up step on one
  sequence (Adam state, gradients and lazy buffers now exist), hands freed heap pages back to the OS
  (`malloc_trim`), records its resident set size (RSS), then samples RSS every millisecond during the measured step: peak minus that RSS. The probes run
  with glibc's mmap threshold fixed at 1 MiB (`PROBE_ENV`), so that RSS follows live tensors rather than allocator
  slack; the full run records the default-allocator figures beside them. On CUDA the same probe uses
  `memory_allocated` / `max_memory_allocated`.

`--quick` (CPU, about 1.5 minutes on 2 cores, memory aside): batch 2, 3 rounds, checkpointed throughput and memory
of our model only, memory at batch 4, 1 step per probe.
"""

import argparse
import ctypes
import gc
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parent.parent
TOKENS, BATCH = 512, 8
QUICK_BATCH = 2  # --quick times steps of 2 x 512 tokens (`training_batch_tokens` says which)
QUICK_MEMORY_BATCH = 4  # and measures the memory of 4 x 512-token steps (`training_memory_batch_tokens`)


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
    from nucleotide_transformer_hf.dna import read_fasta
    from nucleotide_transformer_hf.pretraining_data import MLMCollator

    folder = (data / "genomes") if data else REPO / "data" / "genomes"
    bp = (tokens - 1) * 6
    windows = []
    for path in sorted(folder.glob("*.fa*")):
        for record in read_fasta(path):
            sequence = record.sequence.upper()
            windows += [
                sequence[i : i + bp] for i in range(0, len(sequence) - bp + 1, bp) if "N" not in sequence[i : i + bp]
            ]
    tokenizer = NucleotideTransformerTokenizerFast(vocab_layout="v2")
    rows = [{"input_ids": ids} for ids in tokenizer(windows[:batch])["input_ids"]]
    encoded = MLMCollator(tokenizer, seed=0)(rows)
    assert encoded["input_ids"].shape == (batch, tokens), encoded["input_ids"].shape
    return encoded


def _adamw(model: torch.nn.Module) -> torch.optim.Optimizer:
    """AdamW as `Trainer` runs it by default (`optim="adamw_torch_fused"`): one fused kernel, no multi-tensor
    temporaries. Our `pretraining_arguments` keep that default."""
    return torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.0, fused=True)


def _train_step(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    batch: dict[str, torch.Tensor],
    checkpointing: bool = False,
):
    def step():
        if checkpointing != model.is_activation_checkpointing:
            if checkpointing:
                model.activation_checkpointing_enable()
            else:
                model.activation_checkpointing_disable()
        loss = model(**batch).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=False)
        if loss.is_cuda:  # timers around the step measure the work, not its queueing
            torch.cuda.synchronize(loss.device)
        return loss

    return step


def _rss_bytes() -> int:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _release_freed_memory() -> None:
    """Returns freed heap pages to the OS (glibc `malloc_trim`), so that RSS counts live memory only."""
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


class _PeakRSS(threading.Thread):
    """Samples the process's RSS every millisecond while running; `base` is the RSS at the start, `peak` the largest
    sample."""

    def __init__(self):
        super().__init__(daemon=True)
        self.base = self.peak = _rss_bytes()
        self.done = threading.Event()

    def run(self):
        while not self.done.is_set():
            self.peak = max(self.peak, _rss_bytes())
            time.sleep(0.001)

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.done.set()
        self.join()
        self.peak = max(self.peak, _rss_bytes())


def peak_memory_above_baseline(work: Callable[[], object], device: str) -> int:
    """Bytes that `work()` needs above what is live before it: on CUDA peak minus current `memory_allocated`; on the
    CPU, after freed heap pages are handed back to the OS, the largest RSS sampled every millisecond minus the RSS
    before. Called in a fresh process after a warm-up, so that the baseline holds the weights and lazily created
    state and nothing else."""
    if device == "cuda":
        torch.cuda.synchronize()
        base = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
        work()
        torch.cuda.synchronize()
        return torch.cuda.max_memory_allocated() - base
    _release_freed_memory()
    with _PeakRSS() as sampler:
        work()
    return sampler.peak - sampler.base


def memory_probe(
    which: str, checkpointing: bool, steps: int, data: Path | None, rows: int, device: str
) -> dict[str, float]:
    """Runs in its own process: MB a training step needs above weights + gradients + Adam state."""
    model = _models(which).to(device).train()
    batch = {k: v.to(device) for k, v in _batch(data, batch=rows).items()}
    optimizer = _adamw(model)
    step = _train_step(model, optimizer, batch, checkpointing)
    _train_step(
        model, optimizer, {k: v[:1] for k, v in batch.items()}, checkpointing
    )()  # warm-up on one sequence: Adam state,
    # gradients (kept, zeroed) and lazily created buffers now exist
    if device == "cuda":
        state = torch.cuda.memory_allocated()
    else:
        _release_freed_memory()
        state = _rss_bytes()

    def run_steps():
        for _ in range(steps):
            step()

    return {"step_mb": peak_memory_above_baseline(run_steps, device) / 2**20, "state_mb": state / 2**20}


PROBE_ENV = {"MALLOC_MMAP_THRESHOLD_": str(1 << 20), "OMP_NUM_THREADS": "1"}
"""Environment of the CPU memory probes. One thread each, so that the probes share the cores side by side without
oversubscription (spinning OpenMP threads would slow them several-fold; the memory does not depend on it). glibc's
malloc raises its mmap threshold as large blocks are freed (up to 32 MiB), after which freed multi-MB tensors stay
in the heap and RSS keeps counting them long after they died. A fixed 1 MiB threshold makes every tensor of 1 MiB or more its own mapping, handed back to the OS when freed, so RSS
follows live tensor memory, as `max_memory_allocated` does on CUDA. (Without it the figures include allocator slack:
the full run also records them, keys `..._glibc_default`.)"""


def probe_env(default_malloc: bool = False) -> dict[str, str]:
    return dict(os.environ) if default_malloc else {**os.environ, **PROBE_ENV}


def start_memory_probes(args: argparse.Namespace) -> Callable[[], dict[str, float]]:
    """Starts the training memory probes, one fresh process per (model, checkpointing, default malloc) variant, side
    by side (RSS is per process, so they do not disturb each other's figures; only their wall time overlaps), and
    returns the function that waits for them and gives their results. `run.py` starts them beside its inference
    memory probes."""
    steps = 1 if args.quick else 2
    rows = QUICK_MEMORY_BATCH if args.quick else BATCH
    variants = [("ours", False, False), ("ours", True, False)]
    if not args.quick:
        variants += [("esm", False, False), ("esm", True, False)]
        if args.device == "cpu":  # the allocator's slack in RSS; CUDA counts allocated tensors either way
            variants += [("ours", False, True), ("ours", True, True)]
    processes = []
    for which, checkpointing, default_malloc in variants:
        probe = [which, checkpointing, steps, rows, args.device]
        command = [sys.executable, __file__, "--memory-probe", json.dumps(probe)]
        if args.data:
            command += ["--data", str(args.data)]
        processes.append(
            subprocess.Popen(
                command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=probe_env(default_malloc)
            )
        )

    def collect() -> dict[str, float]:
        results = {"training_memory_batch_tokens": float(rows * TOKENS)}
        for (which, checkpointing, default_malloc), process in zip(variants, processes):
            stdout, stderr = process.communicate()
            if process.returncode != 0:
                raise RuntimeError(f"memory probe {which} checkpointing={checkpointing} failed:\n{stderr[-3000:]}")
            probe = json.loads(stdout.strip().splitlines()[-1])
            key = f"{which}_{'ckpt' if checkpointing else 'no_ckpt'}{'_glibc_default' if default_malloc else ''}"
            results[f"training_step_mem_mb_{key}"] = probe["step_mb"]
            results[f"training_process_mem_mb_{key}"] = probe["state_mb"]
        for which, suffix in (("ours", ""), ("esm", ""), ("ours", "_glibc_default")):
            if f"training_step_mem_mb_{which}_ckpt{suffix}" in results:
                results[f"training_ckpt_step_mem_reduction_{which}{suffix}"] = 1 - (
                    results[f"training_step_mem_mb_{which}_ckpt{suffix}"]
                    / results[f"training_step_mem_mb_{which}_no_ckpt{suffix}"]
                )
        return results

    return collect


def bench_training(args: argparse.Namespace) -> dict[str, float]:
    """Training tokens/s, ours vs ESM of equal FLOPs, without and with gradient checkpointing (`start_memory_probes`
    measures memory)."""
    alternate = _alternate()
    rows = QUICK_BATCH if args.quick else BATCH
    batch = {k: v.to(args.device) for k, v in _batch(args.data, batch=rows).items()}
    ours, esm = _models("ours").to(args.device).train(), _models("esm").to(args.device).train()
    flops_ours = sum(p.numel() for n, p in ours.named_parameters() if ".encoder." in n and p.dim() == 2)
    flops_esm = sum(p.numel() for n, p in esm.named_parameters() if ".encoder." in n and p.dim() == 2)
    assert abs(flops_ours - flops_esm) / flops_esm < 0.01, (flops_ours, flops_esm)  # same matmul sizes per token
    optimizers = {name: _adamw(model) for name, model in (("ours", ours), ("esm", esm))}
    one_row = {k: v[:1] for k, v in batch.items()}
    for name, model in (("ours", ours), ("esm", esm)):  # warm-up on one sequence: Adam state, gradients, kernels
        _train_step(model, optimizers[name], one_row)()
    steps = {name: _train_step(model, optimizers[name], batch) for name, model in (("ours", ours), ("esm", esm))}
    # With checkpointing too (the same models, switched on for these steps): ours only with --quick.
    steps["ours_ckpt"] = _train_step(ours, optimizers["ours"], batch, checkpointing=True)
    if not args.quick:
        steps["esm_ckpt"] = _train_step(esm, optimizers["esm"], batch, checkpointing=True)
    seconds = alternate(steps, repeats=3 if args.quick else 5, warmups=0)
    tokens = rows * TOKENS
    results = {
        "training_batch_tokens": float(tokens),
        "training_params_ours_m": sum(p.numel() for p in ours.parameters()) / 1e6,
        "training_params_esm_m": sum(p.numel() for p in esm.parameters()) / 1e6,
        "training_tokens_per_s_ours": tokens / seconds["ours"],
        "training_tokens_per_s_esm": tokens / seconds["esm"],
        "training_speedup_vs_esm": seconds["esm"] / seconds["ours"],
        "training_tokens_per_s_ours_ckpt": tokens / seconds["ours_ckpt"],
        "training_ckpt_time_cost_ours": seconds["ours_ckpt"] / seconds["ours"],
    }
    if "esm_ckpt" in seconds:
        results["training_tokens_per_s_esm_ckpt"] = tokens / seconds["esm_ckpt"]
        results["training_ckpt_speedup_vs_esm_ckpt"] = seconds["esm_ckpt"] / seconds["ours_ckpt"]
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--data", type=Path, default=None)
    parser.add_argument("--memory-probe", help=argparse.SUPPRESS)
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from run import add_device_argument

    add_device_argument(parser)
    args = parser.parse_args(argv)
    if args.memory_probe:
        which, checkpointing, steps, rows, device = json.loads(args.memory_probe)
        print(json.dumps(memory_probe(which, checkpointing, steps, args.data, rows, device)))
        return 0
    results = bench_training(args)
    results.update(start_memory_probes(args)())
    for key, value in results.items():
        print(f"{key:45} {value:>14,.2f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
