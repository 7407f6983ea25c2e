"""Side-by-side benchmarks: ours and a baseline alternately in one process (A B A B ..., warm-ups, medians).

    python benchmarks/run.py [--quick] [--data DIR] [--only tokenizer] [--device cpu]
    python benchmarks/readme_table.py        # the README's performance table from the newest results JSON

Prints a table of absolute figures and ratios, and writes `benchmarks/results/<date>-<host>.json` plus a Markdown
summary beside it. Each ratio sits in the JSON under a stable, self-explaining key. The models run on CUDA where
there is a GPU (the full mode's target: timings synchronise, memory is `max_memory_allocated`), else on the CPU;
`--device cpu` keeps them on the CPU. The tokenizer runs on the CPU either way.
"""

import argparse
import datetime
import json
import platform
import random
import socket
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch
import transformers

# bf16 rows (and the bf16 target) apply only with bf16 matrix instructions: elsewhere torch emulates bf16 matmuls
from nucleotide_transformer_hf.precision import bfloat16_is_native, cpu_flags

REPO = Path(__file__).resolve().parent.parent
BUNDLED_GENOMES = REPO / "data" / "genomes"


def alternate(candidates: dict[str, Callable[[], object]], repeats: int, warmups: int = 1) -> dict[str, float]:
    """Runs each candidate `warmups` times, then `repeats` rounds of A B A B ...; returns median seconds per name."""
    for _ in range(warmups):
        for run in candidates.values():
            run()
    times: dict[str, list[float]] = {name: [] for name in candidates}
    for _ in range(repeats):
        for name, run in candidates.items():
            start = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def default_device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


def synchronize(device: str) -> None:
    """Waits for queued CUDA work, so that a timer around it measures the work (a no-op on the CPU)."""
    if device == "cuda":
        torch.cuda.synchronize()


def gemm_size(device: str) -> int:
    """Side of the square GEMM yardstick: 1024 on a CPU; 4096 on a GPU, where a 1024² product is too short to time."""
    return 4096 if device == "cuda" else 1024


def add_device_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--device",
        choices=("cpu", "cuda"),
        default=default_device(),
        help="where the models run (default: cuda when there is a GPU, else cpu)",
    )


def gemm_gflops(dtype: torch.dtype, device: str, n: int | None = None) -> float:
    n = n or gemm_size(device)
    a, b = torch.randn(n, n, device=device, dtype=dtype), torch.randn(n, n, device=device, dtype=dtype)

    def run():
        a @ b
        synchronize(device)

    for _ in range(3):  # warm-up
        run()
    best = float("inf")
    for _ in range(15):  # the peak rate: the best of 15 (a median would fold this shared VM's noise into the yardstick)
        start = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - start)
    return round(2 * n**3 / best / 1e9, 1)


IMPORT_CASES = {
    "import_torch_transformers_s": "import torch, transformers",
    "import_nucleotide_transformer_hf_s": "import nucleotide_transformer_hf",
    "import_package_and_model_class_s": "import nucleotide_transformer_hf; nucleotide_transformer_hf.NucleotideTransformerForMaskedLM",
}
"""Import-time yardsticks: torch + transformers, our package, and our package with its first model class."""


def import_seconds(rounds: int = 3) -> dict[str, float]:
    """Best-of-`rounds` wall time of each `IMPORT_CASES` statement in a fresh interpreter, the cases alternating."""
    import subprocess

    best = dict.fromkeys(IMPORT_CASES, float("inf"))
    for _ in range(rounds):
        for key, statement in IMPORT_CASES.items():
            code = f"import time; t = time.perf_counter(); {statement}; print(time.perf_counter() - t)"
            out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
            best[key] = min(best[key], float(out.split()[-1]))
    return {key: round(value, 3) for key, value in best.items()}


def machine_info(device: str) -> dict[str, object]:
    """Device, CPU, threads and library versions, plus measured GEMM GFLOP/s in fp32 and bf16 (the yardsticks for the
    model benchmarks); without bf16 matrix instructions, bf16 on small products only (it is emulated, ~100x slower)."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as handle:
            cpu = next(line.split(":", 1)[1].strip() for line in handle if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    from nucleotide_transformer_hf.precision import cpu_matrix_features, kernel_info

    bf16 = bfloat16_is_native(device)
    return {
        "device": device,
        "host": socket.gethostname(),
        "cpu": cpu,
        "torch_threads": torch.get_num_threads(),
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "gemm_fp32_gflops": gemm_gflops(torch.float32, device),
        "bf16_matrix_unit": bf16,
        "gemm_bf16_gflops": gemm_gflops(torch.bfloat16, device) if bf16 else None,
        # Without a bf16 matrix unit, the emulated rate on small products: the evidence for leaving bf16 out.
        "gemm_bf16_emulated_256_gflops": None if bf16 else gemm_gflops(torch.bfloat16, device, n=256),
        # The instruction sets that decide which targets apply: bf16 needs avx512_bf16 or amx_bf16, int8 gains vnni.
        "cpu_flags": " ".join(
            sorted(
                cpu_flags()
                & {"avx2", "avx512f", "avx512_bf16", "avx512_vnni", "avx_vnni", "amx_bf16", "amx_int8", "fma"}
            )
        ),
        # What decides the precision paths (precision.cpu_matrix_features / kernel_info): the int8 engine, oneDNN.
        "cpu_matrix_features": cpu_matrix_features(),
        "kernel_info": kernel_info(),
        **import_seconds(),
    }


def dna_sequences(count: int, length: int, data: Path | None, seed: int = 0) -> list[str]:
    """`count` windows of real DNA (random offsets in the genomes under `data/genomes` or the bundled ones), with
    a sprinkling of `N` (about one in 1,000 bases) so that the grid-restart path is exercised."""
    from nucleotide_transformer_hf.dna import read_fasta

    folder = (data / "genomes") if data else BUNDLED_GENOMES
    genomes = [r.sequence.upper() for path in sorted(folder.glob("*.fa*")) for r in read_fasta(path)]
    genomes = [g for g in genomes if len(g) > length]
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        genome = rng.choice(genomes)
        start = rng.randrange(len(genome) - length)
        window = list(genome[start : start + length])
        for _ in range(length // 1000):
            window[rng.randrange(length)] = "N"
        out.append("".join(window))
    return out


def numpy_limit_encoder(block_bases: int | None):
    """The practical limit: a vectorised numpy base-4 encoder of equal-length A/C/G/T strings, straight to the two
    tensors the tokenizers return (ids: `<cls>` + 6-mers from the left + single-base tail; an all-ones attention
    mask). No offsets, no padding and no N handling (an N is read as a base), so it is an upper bound, not a
    tokenizer. Rows go in blocks of about `block_bases` bases (None: the whole batch at once), which keeps the
    temporaries in cache."""
    import numpy as np

    from nucleotide_transformer_hf.tokenization_nucleotide_transformer import build_vocab

    index = {token: i for i, token in enumerate(build_vocab("v2"))}
    table = np.zeros(256, dtype=np.uint8)
    for code, letter in enumerate("ATCG"):  # the vocabulary's base order
        table[ord(letter)] = code
    table = table.tobytes()
    first, cls = index["AAAAAA"], index["<cls>"]
    singles = np.array([index[letter] for letter in "ATCG"], dtype=np.int64)

    def encode(sequences: list[str]) -> dict[str, torch.Tensor]:
        count, length = len(sequences), len(sequences[0])
        kmers = length // 6
        out = np.empty((count, 1 + kmers + length - 6 * kmers), dtype=np.int64)
        out[:, 0] = cls
        rows = count if block_bases is None else max(1, block_bases // length)
        for top in range(0, count, rows):
            block = sequences[top : top + rows]
            codes = np.frombuffer("".join(block).encode("ascii").translate(table), dtype=np.uint8)
            codes = codes.reshape(len(block), length)
            digits = codes[:, : 6 * kmers].reshape(len(block), kmers, 6)
            value = digits[:, :, 0].astype(np.int64)
            for i in range(1, 6):
                value *= 4
                value += digits[:, :, i]
            value += first
            out[top : top + len(block), 1 : 1 + kmers] = value
            out[top : top + len(block), 1 + kmers :] = singles[codes[:, 6 * kmers :]]
        return {"input_ids": torch.from_numpy(out), "attention_mask": torch.ones(out.shape, dtype=torch.int64)}

    return encode


def bench_tokenizer(args: argparse.Namespace) -> dict[str, float]:
    """bp/s to padded PyTorch tensors: ours vs transformers' EsmTokenizer over the same (v2) vocabulary, and vs the
    numpy limit (`numpy_limit_encoder`, the fastest of three block sizes in this run)."""
    from transformers import EsmTokenizer

    from nucleotide_transformer_hf import NucleotideTransformerTokenizerFast
    from nucleotide_transformer_hf.tokenization_nucleotide_transformer import build_vocab

    count = 500 if args.quick else 2000
    sequences = dna_sequences(count, 6000, args.data)
    ours = NucleotideTransformerTokenizerFast(vocab_layout="v2")
    with tempfile.TemporaryDirectory() as folder:
        vocab_file = Path(folder) / "vocab.txt"
        vocab_file.write_text("\n".join(build_vocab("v2")) + "\n")
        esm = EsmTokenizer(str(vocab_file), eos_token=None, model_max_length=2048)

    ours_ids = ours(sequences[:20], return_tensors="pt", padding=True)["input_ids"]
    esm_ids = esm(sequences[:20], return_tensors="pt", padding=True)["input_ids"]
    if not torch.equal(ours_ids, esm_ids):
        raise AssertionError("ours and EsmTokenizer disagree on the benchmark input; the comparison would be void.")

    limits = {f"numpy_{name}": numpy_limit_encoder(block) for name, block in
              (("whole_batch", None), ("blocks_256k", 1 << 18), ("blocks_64k", 1 << 16))}  # fmt: skip
    plain = [sequence.replace("N", "A") for sequence in sequences[:20]]
    for encode in limits.values():
        expected = ours(plain, return_tensors="pt")
        if any(not torch.equal(tensor, expected[name]) for name, tensor in encode(plain).items()):
            raise AssertionError(
                "the numpy limit encoder disagrees with ours on N-free DNA; the comparison would be void."
            )

    # The cheap candidates take several calls per round, so that a round of each lasts long enough to time.
    calls = 20
    seconds = alternate(
        {
            "ours": lambda: [ours(sequences, return_tensors="pt", padding=True) for _ in range(calls)],
            **{
                name: (lambda encode=encode: [encode(sequences) for _ in range(calls)])
                for name, encode in limits.items()
            },
            "ours_offsets": lambda: ours(sequences, return_tensors="pt", padding=True, return_offsets_mapping=True),
            "esm": lambda: esm(sequences, return_tensors="pt", padding=True),
        },
        repeats=3 if args.quick else 7,
    )
    for name in ("ours", *limits):
        seconds[name] /= calls
    limit = min(limits, key=seconds.get)
    bases = sum(map(len, sequences))
    return {
        "tokenizer_sequences": count,
        "tokenizer_sequence_bp": 6000,
        "tokenizer_ours_bp_per_s": bases / seconds["ours"],
        "tokenizer_ours_with_offsets_bp_per_s": bases / seconds["ours_offsets"],
        "tokenizer_esm_bp_per_s": bases / seconds["esm"],
        "tokenizer_numpy_limit_bp_per_s": bases / seconds[limit],
        **{f"tokenizer_{name}_bp_per_s": bases / seconds[name] for name in limits},
        "tokenizer_speedup_vs_esm_tokenizer": seconds["esm"] / seconds["ours"],
        "tokenizer_with_offsets_speedup_vs_esm_tokenizer": seconds["esm"] / seconds["ours_offsets"],
        "tokenizer_ours_fraction_of_numpy_limit": seconds[limit] / seconds["ours"],
        "tokenizer_numpy_limit_speedup_vs_esm_tokenizer": seconds["esm"] / seconds[limit],
    }


def _v2_50m_pair(device: str):
    """Ours at the v2-50M shape and transformers' EsmModel of equal FLOPs: hidden 512, 12 layers, 16 heads, rotary,
    GELU FFN of width 3,072 (= the parameters and FLOPs of a SwiGLU FFN of width 2,048), SDPA attention."""
    from transformers import EsmConfig, EsmModel

    from nucleotide_transformer_hf import NucleotideTransformerConfig, NucleotideTransformerModel

    ours_config = NucleotideTransformerConfig.from_preset("nucleotide-transformer-v2-50m-multi-species")
    esm_config = EsmConfig(
        vocab_size=4107,
        hidden_size=512,
        num_hidden_layers=12,
        num_attention_heads=16,
        intermediate_size=3072,
        max_position_embeddings=2050,
        position_embedding_type="rotary",
        token_dropout=False,
        pad_token_id=1,
        mask_token_id=2,
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
        emb_layer_norm_before=False,
    )
    ours = NucleotideTransformerModel._from_config(ours_config, attn_implementation="sdpa").to(device).eval()
    esm = EsmModel._from_config(esm_config, attn_implementation="sdpa", add_pooling_layer=False).to(device).eval()
    return ours, esm, ours_config


def _encoder_flops(config, tokens: int, length: int) -> float:
    """Forward FLOPs of the encoder stack: projections 8H², SwiGLU 6HF, attention 4TH per token and layer."""
    H, F, L = config.hidden_size, config.intermediate_size, config.num_hidden_layers
    return tokens * L * (8 * H * H + 6 * H * F + 4 * length * H)


GEMM_ROUND_PRODUCTS = 10


def bench_inference(args: argparse.Namespace) -> dict[str, float]:
    """Encoder forward tokens/s, ours vs ESM-SDPA of equal FLOPs, fp32 and (with a bf16 matrix unit) bf16 autocast;
    achieved GFLOP/s and its fraction of the fp32 GEMM rate (`gemm_size` products) measured in the same A B A B
    rounds. Then the precision rows (`bench_precision_speed`: each dtype against our float32 and ESM-SDPA, and
    `bench_onnxruntime`) and their accuracy guards on real DNA (`bench_precision_guards`)."""
    device = args.device
    dtypes = ("fp32", "bf16") if bfloat16_is_native(device) else ("fp32",)
    ours, esm, config = _v2_50m_pair(device)
    shapes = [(512, 1), (512, 8), (2048, 1)] if args.quick else [(512, 1), (512, 8), (2048, 1), (2048, 8)]
    results: dict[str, float] = {}
    n = gemm_size(device)
    gemm_a, gemm_b = torch.randn(n, n, device=device), torch.randn(n, n, device=device)

    def gemm_round():
        for _ in range(GEMM_ROUND_PRODUCTS):
            gemm_a @ gemm_b
        synchronize(device)

    for number, (length, batch) in enumerate(shapes):
        ids = torch.randint(6, 4102, (batch, length), device=device)
        ids[:, 0] = 3
        for dtype in dtypes:

            def run(model, ids=ids, dtype=dtype):
                with torch.inference_mode(), torch.autocast(device, dtype=torch.bfloat16, enabled=dtype == "bf16"):
                    model(ids)
                synchronize(device)

            # --quick: a warm-up round at the first shape of each length only (batch 8 reuses batch 1's kernels).
            warmups = 1 if not args.quick or number == 0 or shapes[number - 1][0] != length else 0
            candidates = {"ours": lambda: run(ours), "esm": lambda: run(esm)}
            if dtype == "fp32":  # the GEMM yardstick in the same rounds: this VM's speed drifts from minute to minute
                candidates["gemm"] = gemm_round
            seconds = alternate(candidates, repeats=5, warmups=warmups)  # medians of 5: the VM drifts
            tag = f"{length}tok_b{batch}_{dtype}"
            tokens = length * batch
            results[f"inference_{tag}_ours_tokens_per_s"] = tokens / seconds["ours"]
            results[f"inference_{tag}_esm_sdpa_tokens_per_s"] = tokens / seconds["esm"]
            results[f"inference_{tag}_ours_ms_per_sequence"] = 1000 * seconds["ours"] / batch
            results[f"inference_{tag}_speedup_vs_esm_sdpa"] = seconds["esm"] / seconds["ours"]
            gflops = _encoder_flops(config, tokens, length) / seconds["ours"] / 1e9
            results[f"inference_{tag}_ours_gflops"] = gflops
            if dtype == "fp32":
                gemm = GEMM_ROUND_PRODUCTS * 2 * n**3 / seconds["gemm"] / 1e9
                results[f"inference_{tag}_gemm_fp32_gflops_same_rounds"] = gemm
                results[f"inference_{tag}_ours_fraction_of_gemm_peak"] = gflops / gemm
    for length, batch in shapes if "bf16" in dtypes else []:
        tag = f"{length}tok_b{batch}"
        results[f"inference_{tag}_bf16_speedup_vs_ours_fp32"] = (
            results[f"inference_{tag}_bf16_ours_tokens_per_s"] / results[f"inference_{tag}_fp32_ours_tokens_per_s"]
        )
    results.update(bench_precision_speed(args, ours, esm))
    results.update(bench_precision_guards(args))
    return results


# ---- precision: dtype rows, accuracy guards, targets, onnxruntime ------------------------------------------------

PRECISION_SHAPES = ((2048, 1), (512, 8))
"""(tokens, batch) of the dtype rows: the issue's 2,048- and 512-token shapes."""

SHIPPED_MODEL = REPO / "data" / "models" / "nt-v2-small-six-genomes"


def bench_precision_speed(args: argparse.Namespace, ours, esm) -> dict[str, float]:
    """Encoder forward tokens/s at the v2-50M shape (`PRECISION_SHAPES`), all candidates alternating in the same
    rounds: our float32, our bf16 weights (`prepare_for_inference(..., "bfloat16")`), our float32 weights under bf16
    autocast, our int8 (`prepare_for_inference(..., "int8")`, CPU; run one sequence per forward pass as the engine
    runs it: `precision.runs_windows_alone`), ESM-SDPA float32, ESM-SDPA with bf16 weights and under bf16 autocast.
    bf16 candidates only with a bf16 matrix unit (`precision.bfloat16_is_native`), int8 only on the CPU. Ratios are
    to our float32 and to ESM-SDPA (float32; the faster of its two bf16 forms for our bf16) of the same run."""
    import copy

    from nucleotide_transformer_hf.precision import int8_engine, prepare_for_inference

    device = args.device
    bf16 = bfloat16_is_native(device)
    try:
        int8 = device == "cpu" and bool(int8_engine())
    except Exception:  # InputError: no quantised engine in this torch build
        int8 = False
    models = {"ours_fp32": ours, "esm_sdpa_fp32": esm}
    if bf16:
        models["ours_bf16"] = prepare_for_inference(copy.deepcopy(ours), "bfloat16")
        models["esm_sdpa_bf16"] = copy.deepcopy(esm).to(torch.bfloat16)
    if int8:
        models["ours_int8"] = prepare_for_inference(copy.deepcopy(ours), "int8")
    results: dict[str, float] = {}
    for length, batch in PRECISION_SHAPES:
        ids = torch.randint(6, 4102, (batch, length), device=device)
        ids[:, 0] = 3

        def run(model, autocast=False, alone=False):
            with torch.inference_mode(), torch.autocast(device, dtype=torch.bfloat16, enabled=autocast):
                for rows in ids.split(1) if alone else (ids,):
                    model(rows)
            synchronize(device)

        candidates = {"ours_fp32": lambda: run(ours), "esm_sdpa_fp32": lambda: run(esm)}
        if bf16:
            candidates["ours_bf16"] = lambda: run(models["ours_bf16"])
            candidates["ours_bf16_autocast"] = lambda: run(ours, autocast=True)
            candidates["esm_sdpa_bf16"] = lambda: run(models["esm_sdpa_bf16"])
            candidates["esm_sdpa_bf16_autocast"] = lambda: run(esm, autocast=True)
        if int8:
            candidates["ours_int8"] = lambda: run(models["ours_int8"], alone=True)
        seconds = alternate(candidates, repeats=3 if args.quick else 5)
        tag = f"precision_{length}tok_b{batch}"
        tokens = length * batch
        for name, value in seconds.items():
            results[f"{tag}_{name}_tokens_per_s"] = tokens / value
            results[f"{tag}_{name}_speedup_vs_ours_fp32"] = seconds["ours_fp32"] / value
            results[f"{tag}_{name}_speedup_vs_esm_sdpa_fp32"] = seconds["esm_sdpa_fp32"] / value
        if bf16:
            esm_bf16 = min(seconds["esm_sdpa_bf16"], seconds["esm_sdpa_bf16_autocast"])
            results[f"{tag}_ours_bf16_speedup_vs_esm_sdpa_bf16"] = esm_bf16 / seconds["ours_bf16"]
    results.update(bench_onnxruntime(args, PRECISION_SHAPES))
    return results


def bench_onnxruntime(args: argparse.Namespace, shapes) -> dict[str, float]:
    """ONNX Runtime rows, ORT fp32 and ORT int8 (`onnx_export.quantize_onnx_int8`) against our float32 masked-LM at
    the v2-50M shape: tokens/s, the ratio to ours in the same rounds, and the largest absolute logit difference to
    ours, with as many intra-op threads as torch. Left out (`results["onnx_skipped"]` = 1) without `onnxruntime` or
    `nucleotide_transformer_hf.onnx_export`, and on a GPU."""
    import importlib
    import importlib.util

    if args.device != "cpu" or importlib.util.find_spec("onnxruntime") is None:
        return {"onnx_skipped": 1.0}
    if importlib.util.find_spec("nucleotide_transformer_hf.onnx_export") is None:
        return {"onnx_skipped": 1.0}
    import numpy as np

    from nucleotide_transformer_hf import NucleotideTransformerConfig, NucleotideTransformerForMaskedLM

    # The other worker's module (issue #16): export_onnx, quantize_onnx_int8, onnx_session, run_onnx.
    onnx_export = importlib.import_module("nucleotide_transformer_hf.onnx_export")
    export_onnx, onnx_session = onnx_export.export_onnx, onnx_export.onnx_session
    quantize_onnx_int8, run_onnx = onnx_export.quantize_onnx_int8, onnx_export.run_onnx

    torch.manual_seed(0)
    config = NucleotideTransformerConfig.from_preset("nucleotide-transformer-v2-50m-multi-species")
    model = NucleotideTransformerForMaskedLM._from_config(config, attn_implementation="sdpa").eval()
    results: dict[str, float] = {"onnx_skipped": 0.0}
    with tempfile.TemporaryDirectory() as folder:
        fp32_dir, int8_dir = Path(folder) / "fp32", Path(folder) / "int8"
        exported = export_onnx(model, fp32_dir, masked_lm=True)
        results["onnx_export_verify_max_abs_diff"] = float(exported["max_abs_diff"] or 0.0)
        quantize_onnx_int8(fp32_dir, int8_dir)
        threads = torch.get_num_threads()  # the same thread count as torch's rows
        sessions = {"ort_fp32": onnx_session(fp32_dir, threads), "ort_int8": onnx_session(int8_dir, threads)}
        for length, batch in shapes:
            ids = torch.randint(6, 4102, (batch, length))
            ids[:, 0] = 3
            mask = torch.ones_like(ids)
            with torch.inference_mode():
                ours = model(input_ids=ids, attention_mask=mask).logits.float().numpy()
            tag = f"onnx_{length}tok_b{batch}"
            for name, session in sessions.items():
                got = run_onnx(session, ids.numpy(), mask.numpy())
                results[f"{tag}_{name}_logits_max_abs_diff"] = float(np.abs(got - ours).max())

            def run_ours():
                with torch.inference_mode():
                    model(input_ids=ids, attention_mask=mask)

            candidates = {"ours_fp32": run_ours}
            for name, session in sessions.items():
                candidates[name] = lambda session=session: run_onnx(session, ids.numpy(), mask.numpy())
            seconds = alternate(candidates, repeats=3 if args.quick else 5)
            for name in sessions:
                results[f"{tag}_{name}_tokens_per_s"] = length * batch / seconds[name]
                results[f"{tag}_{name}_speedup_vs_ours_fp32"] = seconds["ours_fp32"] / seconds[name]
    return results


def guard_inputs(args: argparse.Namespace) -> tuple[list[str], list[dict[str, str]]]:
    """Real DNA for the accuracy guards: windows of the genomes (`dna_sequences`: the bundled ones, or `--data`'s)
    and ClinVar SNVs (the bundled 200, or `--data`'s `clinvar_variant_windows`) as ref/alt window pairs."""
    from bench_variants import _clinvar_snvs

    count, length, variants = (12, 1200, 40) if args.quick else (64, 3000, 200)
    sequences = dna_sequences(count, length, args.data, seed=1)
    rows = _clinvar_snvs(args.data, variants)
    return sequences, [{"ref_sequence": row["ref_seq"], "alt_sequence": row["alt_seq"]} for row in rows]


def bench_precision_guards(args: argparse.Namespace) -> dict[str, float]:
    """`precision_guards.accuracy_guards` of bf16 (with a bf16 matrix unit) and int8 (CPU) against float32 on real DNA
    (`guard_inputs`), for two models: the random-weight v2-50M shape (`guards_v2_50m_random_...`) and the trained
    shipped checkpoint `data/models/nt-v2-small-six-genomes` (`guards_shipped_...`). Neither is the published
    v2-50M: the trained model has real input dependence but 4 layers of width 128; the random one has the speed rows'
    12 layers of width 512, over which int8 rounding accumulates (measured: its int8 guards are the lower ones), but
    random weights, whose embeddings vary little with the input. Both are reported; the verdicts are given for each."""
    from nucleotide_transformer_hf import (
        NucleotideTransformerConfig,
        NucleotideTransformerForMaskedLM,
        NucleotideTransformerTokenizerFast,
    )
    from nucleotide_transformer_hf.loading import load_model_and_tokenizer
    from nucleotide_transformer_hf.precision_guards import accuracy_guards

    device = args.device
    dtypes = [d for d, ok in (("bfloat16", bfloat16_is_native(device)), ("int8", device == "cpu")) if ok]
    if not dtypes:
        return {}
    sequences, variants = guard_inputs(args)
    torch.manual_seed(0)
    config = NucleotideTransformerConfig.from_preset("nucleotide-transformer-v2-50m-multi-species")
    random_model = NucleotideTransformerForMaskedLM._from_config(config, attn_implementation="sdpa").to(device).eval()
    random_tokenizer = NucleotideTransformerTokenizerFast(vocab_layout="v2", model_max_length=config.context_length)
    shipped, shipped_tokenizer = load_model_and_tokenizer(SHIPPED_MODEL, dtype="float32", progress=False)
    results: dict[str, float] = {
        "guards_sequences": float(len(sequences)),
        "guards_sequence_bp": float(len(sequences[0])),
    }
    for name, model, tokenizer in (
        ("v2_50m_random", random_model, random_tokenizer),
        ("shipped", shipped.to(device), shipped_tokenizer),
    ):
        found = accuracy_guards(model, tokenizer, dtypes, sequences, variants)
        for dtype, guards in found.items():
            short = {"bfloat16": "bf16", "int8": "int8"}[dtype]
            for key, value in guards.items():
                results[f"guards_{name}_{short}_{key}"] = value
    return results


def precision_targets(record: dict) -> dict[str, str]:
    """The issue's precision targets, each `"met"`, `"missed"`, `"not applicable (...)"` (the machine lacks the
    feature it needs: VNNI for int8, AVX512-BF16/AMX for bf16) or `"not measured"` (the run has no such rows)."""
    from nucleotide_transformer_hf.precision import cpu_matrix_features
    from nucleotide_transformer_hf.precision_guards import GUARD_THRESHOLDS

    r = record.get("results", {})
    machine = record.get("machine", {})
    features = machine.get("cpu_matrix_features") or cpu_matrix_features(str(machine.get("cpu_flags", "")).split())
    cuda = machine.get("device") == "cuda"
    has = {"vnni": bool(features.get("vnni")) and not cuda, "bf16": cuda or bool(features.get("bf16"))}
    why = {"vnni": "not applicable (no VNNI)" if not cuda else "not applicable (int8 is CPU only)",
           "bf16": "not applicable (no AVX512-BF16/AMX)"}  # fmt: skip
    targets: dict[str, str] = {}

    def target(name: str, needs: str | None, key: str, floor: float) -> None:
        if needs and not has[needs]:
            targets[name] = why[needs]
        elif key not in r or r[key] != r[key]:  # absent or nan
            targets[name] = "not measured"
        else:
            targets[name] = "met" if r[key] >= floor else "missed"

    for length, batch in PRECISION_SHAPES:
        tag = f"precision_{length}tok_b{batch}"
        target(f"int8 >= 2.0x our float32, {length} tok b{batch}", "vnni", f"{tag}_ours_int8_speedup_vs_ours_fp32", 2.0)
        target(f"bf16 >= 1.6x our float32, {length} tok b{batch}", "bf16", f"{tag}_ours_bf16_speedup_vs_ours_fp32", 1.6)
        target(
            f"bf16 >= 1.25x ESM-SDPA bf16, {length} tok b{batch}",
            "bf16",
            f"{tag}_ours_bf16_speedup_vs_esm_sdpa_bf16",
            1.25,
        )
    for model in ("shipped", "v2_50m_random"):
        for key, floor in GUARD_THRESHOLDS.items():
            target(f"int8 {key} >= {floor} ({model})", None, f"guards_{model}_int8_{key}", floor)
    if "onnx_skipped" not in r:
        targets["onnxruntime fp32 logits within 1e-4 of ours"] = "not measured"
    elif r["onnx_skipped"] == 1.0:
        targets["onnxruntime fp32 logits within 1e-4 of ours"] = "not measured (onnxruntime or onnx_export missing)"
    else:
        worst = max(v for k, v in r.items() if k.startswith("onnx_") and k.endswith("_ort_fp32_logits_max_abs_diff"))
        targets["onnxruntime fp32 logits within 1e-4 of ours"] = "met" if worst <= 1e-4 else "missed"
    return targets


MEMORY_SCRIPT = """
import sys, torch
sys.path.insert(0, {benchmarks!r})
from run import _v2_50m_pair
from bench_training import peak_memory_above_baseline
which, batch, device = sys.argv[1], int(sys.argv[2]), sys.argv[3]
ours, esm, _ = _v2_50m_pair(device)
model = ours if which == "ours" else esm
del ours, esm  # only the measured model stays alive
ids = torch.randint(6, 4102, (batch, 2048), device=device); ids[:, 0] = 3
with torch.inference_mode():
    model(ids[:, :64])  # warm-up on a short input: lazily created buffers and kernels exist, little is left over
    print(peak_memory_above_baseline(lambda: model(ids), device) / 2**20)
"""


def bench_memory(args: argparse.Namespace) -> dict[str, float]:
    """Peak memory above the loaded weights (a fresh process each, after a warm-up forward on 64 tokens:
    `bench_training.peak_memory_above_baseline`, RSS on the CPU, allocated memory on CUDA) for 2,048 tokens (≈12 kb),
    batch 1 and 8, with glibc's mmap threshold fixed as for the training probes (`bench_training.PROBE_ENV`); and,
    in processes started beside these, the training step's memory (`bench_training.start_memory_probes`)."""
    import subprocess

    from bench_training import probe_env, start_memory_probes

    training_probes = start_memory_probes(args)

    results = {}
    script = MEMORY_SCRIPT.format(benchmarks=str(REPO / "benchmarks"))
    variants = [(batch, which) for batch in ((1,) if args.quick else (1, 8)) for which in ("ours", "esm")]
    # Side by side (RSS is per process, so the probes do not disturb each other's figures; only wall time overlaps).
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", script, which, str(batch), args.device],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=probe_env(),
        )
        for batch, which in variants
    ]
    for (batch, which), process in zip(variants, processes):
        stdout, stderr = process.communicate()
        if process.returncode != 0:
            raise RuntimeError(f"memory probe {which} batch {batch} failed:\n{stderr[-3000:]}")
        key = f"memory_2048tok_b{batch}_{which}{'_sdpa' if which == 'esm' else ''}_peak_mb_above_weights"
        results[key] = float(stdout.strip().splitlines()[-1])
    for batch in sorted({batch for batch, _ in variants}):
        results[f"memory_2048tok_b{batch}_ratio_ours_to_esm_sdpa"] = (
            results[f"memory_2048tok_b{batch}_ours_peak_mb_above_weights"]
            / results[f"memory_2048tok_b{batch}_esm_sdpa_peak_mb_above_weights"]
        )
    results.update(training_probes())
    return results


BENCHMARKS: dict[str, Callable[[argparse.Namespace], dict[str, float]]] = {
    "tokenizer": bench_tokenizer,
    "inference": bench_inference,
    "memory": bench_memory,
}


def _register_benchmark_modules() -> None:
    sys.path.insert(0, str(REPO / "benchmarks"))
    from bench_attention import bench_attention
    from bench_embed import bench_embed
    from bench_streaming import bench_streaming
    from bench_training import bench_training
    from bench_variants import bench_embedding, bench_variants

    BENCHMARKS.update(
        training=bench_training,
        embedding=bench_embedding,
        variants=bench_variants,
        embed=bench_embed,
        streaming=bench_streaming,
        attention=bench_attention,
    )


def _fmt(value: float, digits: int = 0) -> str:
    return f"{value:,.{digits}f}"


def guard_text(verdict: str | None, dtype: str) -> str:
    """The verdict of an int8 guard; bf16 has no target of its own (its values are reported)."""
    return (verdict or "not measured") if dtype == "int8" else "reported"


def summary_table(record: dict) -> list[str]:
    """The headline rows (ours, baseline, ratio) of a record, as Markdown: what the README's performance section shows.
    Rows whose keys the run did not produce (another mode, `--only`) are left out."""
    r = record["results"]
    rows = []

    def row(keys, label, ours, baseline, ratio):
        if all(key in r for key in keys):
            rows.append(f"| {label} | {ours()} | {baseline()} | {ratio()} |")

    n, bp = r.get("tokenizer_sequences", 0), r.get("tokenizer_sequence_bp", 0)
    row(
        ["tokenizer_ours_bp_per_s", "tokenizer_esm_bp_per_s"],
        f"tokenizer, {n:,.0f} × {bp / 1000:.0f} kb real DNA with N → padded tensors",
        lambda: f"{r['tokenizer_ours_bp_per_s'] / 1e6:,.1f} Mbp/s",
        lambda: f"`EsmTokenizer` {r['tokenizer_esm_bp_per_s'] / 1e6:.2f} Mbp/s",
        lambda: f"{r['tokenizer_speedup_vs_esm_tokenizer']:.1f}×",
    )
    row(
        ["tokenizer_numpy_limit_bp_per_s"],
        "… against the numpy limit (ids + mask of N-free, equal-length DNA)",
        lambda: f"{r['tokenizer_ours_bp_per_s'] / 1e6:,.1f} Mbp/s",
        lambda: f"numpy limit {r['tokenizer_numpy_limit_bp_per_s'] / 1e6:,.0f} Mbp/s",
        lambda: f"{r['tokenizer_ours_fraction_of_numpy_limit']:.0%} of it",
    )
    row(
        ["tokenizer_ours_with_offsets_bp_per_s"],
        "… with offsets",
        lambda: f"{r['tokenizer_ours_with_offsets_bp_per_s'] / 1e6:.2f} Mbp/s",
        lambda: f"{r['tokenizer_esm_bp_per_s'] / 1e6:.2f} Mbp/s",
        lambda: f"{r['tokenizer_with_offsets_speedup_vs_esm_tokenizer']:.1f}×",
    )
    for length, batch in ((512, 1), (512, 8), (2048, 1), (2048, 8)):
        for dtype in ("fp32", "bf16"):
            tag = f"inference_{length}tok_b{batch}_{dtype}"
            peak = r.get(f"{tag}_ours_fraction_of_gemm_peak")
            row(
                [f"{tag}_ours_tokens_per_s"],
                f"inference {dtype}, {length:,} tokens, batch {batch}",
                lambda: (
                    f"{r[f'{tag}_ours_tokens_per_s']:,.0f} tok/s ({r[f'{tag}_ours_gflops']:.0f} GFLOP/s"
                    + (f", {peak:.0%} of GEMM peak)" if peak else ")")
                ),
                lambda: f"ESM-SDPA {r[f'{tag}_esm_sdpa_tokens_per_s']:,.0f} tok/s",
                lambda: f"{r[f'{tag}_speedup_vs_esm_sdpa']:.2f}×",
            )
    targets = precision_targets(record)

    def verdict(name: str) -> str:
        return f" ({targets[name]})" if name in targets and targets[name] in ("met", "missed") else ""

    for length, batch in PRECISION_SHAPES:
        tag = f"precision_{length}tok_b{batch}"
        shape = f"{length:,} tokens, batch {batch}, v2-50M shape"
        for name, label, floor in (
            ("ours_int8", "int8 linears (one sequence per pass)", "2.0"),
            ("ours_bf16", "bf16 weights", "1.6"),
            ("ours_bf16_autocast", "bf16 autocast", None),
        ):
            goal = (
                f"bf16 >= 1.6x our float32, {length} tok b{batch}"
                if name == "ours_bf16"
                else (f"int8 >= 2.0x our float32, {length} tok b{batch}" if name == "ours_int8" else "")
            )
            row(
                [f"{tag}_{name}_tokens_per_s"],
                f"inference {label}, {shape}",
                lambda: f"{r[f'{tag}_{name}_tokens_per_s']:,.0f} tok/s",
                lambda: f"our float32 {r[f'{tag}_ours_fp32_tokens_per_s']:,.0f} tok/s",
                lambda: (
                    f"{r[f'{tag}_{name}_speedup_vs_ours_fp32']:.2f}×"
                    + (f" (target ≥ {floor}×: {targets.get(goal, 'not measured')})" if floor else "")
                ),
            )
        goal = f"bf16 >= 1.25x ESM-SDPA bf16, {length} tok b{batch}"
        row(
            [f"{tag}_ours_bf16_speedup_vs_esm_sdpa_bf16"],
            f"… bf16 weights against ESM-SDPA in bf16 (the faster of bf16 weights and autocast), {shape}",
            lambda: f"{r[f'{tag}_ours_bf16_tokens_per_s']:,.0f} tok/s",
            lambda: (
                "ESM-SDPA bf16 "
                f"{max(r[f'{tag}_esm_sdpa_bf16_tokens_per_s'], r[f'{tag}_esm_sdpa_bf16_autocast_tokens_per_s']):,.0f}"
                " tok/s"
            ),
            lambda: f"{r[f'{tag}_ours_bf16_speedup_vs_esm_sdpa_bf16']:.2f}× (target ≥ 1.25×: {targets.get(goal)})",
        )
        for name in ("ort_fp32", "ort_int8"):
            onnx = f"onnx_{length}tok_b{batch}_{name}"
            row(
                [f"{onnx}_tokens_per_s"],
                f"ONNX Runtime {name.removeprefix('ort_')} (masked LM), {shape}",
                lambda: (
                    f"{r[f'{onnx}_tokens_per_s']:,.0f} tok/s (logits max diff {r[f'{onnx}_logits_max_abs_diff']:.1e})"
                ),
                lambda: "our float32 torch",
                lambda: f"{r[f'{onnx}_speedup_vs_ours_fp32']:.2f}×",
            )
    for model, what in (
        ("shipped", "trained `nt-v2-small-six-genomes` (4 x 128: real input dependence)"),
        ("v2_50m_random", "random-weight v2-50M shape (12 x 512: the speed rows' depth and width)"),
    ):
        for short, label in (("int8", "int8"), ("bf16", "bf16 weights")):
            g = f"guards_{model}_{short}_"
            row(
                [g + "embedding_cosine_mean", g + "variant_spearman"],
                f"accuracy vs float32, {label}, {what}: {r.get('guards_sequences', 0):.0f} genome windows of "
                f"{r.get('guards_sequence_bp', 0) / 1000:.1f} kb, {r.get(g + 'variants_scored', 0):.0f} ClinVar SNVs",
                lambda: (
                    f"cosine {r[g + 'embedding_cosine_mean']:.4f} (min {r[g + 'embedding_cosine_min']:.4f}), "
                    f"variant Spearman {r[g + 'variant_spearman']:.3f}, MLM top-1 agreement "
                    f"{r.get(g + 'mlm_top1_agreement', float('nan')):.1%}"
                ),
                lambda: (
                    f"targets cosine ≥ 0.99, Spearman ≥ 0.98 (float32 top-1 accuracy {r.get(g + 'mlm_top1_accuracy_float32', float('nan')):.1%})"
                ),
                lambda: (
                    "cosine "
                    + guard_text(targets.get(f"int8 embedding_cosine_mean >= 0.99 ({model})"), short)
                    + ", Spearman "
                    + guard_text(targets.get(f"int8 variant_spearman >= 0.98 ({model})"), short)
                ),
            )
    for batch in (1, 8):
        tag = f"memory_2048tok_b{batch}"
        row(
            [f"{tag}_ours_peak_mb_above_weights"],
            f"peak memory above weights, {'one' if batch == 1 else batch} 2,048-token (12 kb) sequence{'s' if batch > 1 else ''}",
            lambda: f"{r[f'{tag}_ours_peak_mb_above_weights']:,.0f} MB",
            lambda: f"ESM-SDPA {r[f'{tag}_esm_sdpa_peak_mb_above_weights']:,.0f} MB",
            lambda: f"{r[f'{tag}_ratio_ours_to_esm_sdpa']:.2f}×",
        )
    rows_ = r.get("training_batch_tokens", 0) / 512
    row(
        ["training_tokens_per_s_ours"],
        f"training step (fwd + bwd + fused AdamW), {rows_:.0f} × 512 tokens",
        lambda: f"{r['training_tokens_per_s_ours']:,.0f} tok/s",
        lambda: f"`EsmForMaskedLM` {r['training_tokens_per_s_esm']:,.0f} tok/s",
        lambda: f"{r['training_speedup_vs_esm']:.2f}×",
    )
    row(
        ["training_tokens_per_s_ours_ckpt", "training_tokens_per_s_esm_ckpt"],
        "… with gradient checkpointing",
        lambda: f"{r['training_tokens_per_s_ours_ckpt']:,.0f} tok/s",
        lambda: f"{r['training_tokens_per_s_esm_ckpt']:,.0f} tok/s",
        lambda: f"{r['training_ckpt_speedup_vs_esm_ckpt']:.2f}×",
    )
    if "training_tokens_per_s_esm_ckpt" not in r:
        row(
            ["training_tokens_per_s_ours_ckpt"],
            "… with gradient checkpointing",
            lambda: f"{r['training_tokens_per_s_ours_ckpt']:,.0f} tok/s",
            lambda: f"without {r['training_tokens_per_s_ours']:,.0f} tok/s",
            lambda: f"{r['training_ckpt_time_cost_ours']:.2f}× the step time",
        )
    row(
        ["training_ckpt_step_mem_reduction_ours"],
        f"training step memory above weights + Adam state, {r.get('training_memory_batch_tokens', 0) / 512:.0f} × 512,"
        " gradient checkpointing",
        lambda: f"{r['training_step_mem_mb_ours_ckpt']:,.0f} MB",
        lambda: f"{r['training_step_mem_mb_ours_no_ckpt']:,.0f} MB without",
        lambda: f"−{r['training_ckpt_step_mem_reduction_ours']:.0%}",
    )
    for key in sorted(k for k in r if k.endswith("_length_sorting_speedup")):
        tag = key[: -len("_length_sorting_speedup")]
        row(
            [key],
            f"embedding mixed-length sequences ({r[tag + '_min_bp']:.0f}–{r[tag + '_max_bp']:.0f} bp), "
            "length-sorted, token-budget batches",
            lambda: f"{r[tag + '_length_sorted_sequences_per_s']:,.0f} seq/s",
            lambda: f"naive padding {r[tag + '_naive_padding_sequences_per_s']:,.0f} seq/s",
            lambda: f"{r[key]:.2f}×",
        )
    for key in sorted(k for k in r if k.endswith("_window_sharing_speedup")):
        tag = key[: -len("window_sharing_speedup")]
        what = "clustered: saturation mutagenesis" if "_saturation_" in key else "real calls (GIAB chr20 + ClinVar)"
        row(
            [key],
            f"variant scoring, {what}, {r[tag + 'variants']:,.0f} variants, shared windows",
            lambda: (
                f"{r[tag + 'shared_windows_variants_per_s']:,.0f} var/s ({r[tag + 'forward_passes_shared_windows']:,.0f} passes)"
            ),
            lambda: (
                f"not shared {r[tag + 'no_sharing_variants_per_s']:,.0f} var/s ({r[tag + 'forward_passes_no_sharing']:,.0f})"
            ),
            lambda: f"{r[key]:.2f}×",
        )
    for key in sorted(k for k in r if k.startswith("embed_") and k.endswith("_speedup_over_plain_loop")):
        tag = key.removesuffix("_speedup_over_plain_loop")
        row(
            [key],
            f"`embed` to parquet shards, {r[tag + '_sequences']:,.0f} real sequences of mixed length, mean pooling",
            lambda: f"{r[tag + '_embed_to_folder_sequences_per_s']:,.0f} seq/s",
            lambda: f"plain transformers loop {r[tag + '_plain_transformers_loop_sequences_per_s']:,.0f} seq/s",
            lambda: f"{r[key]:.2f}×",
        )
    memory = sorted(
        (int(k.split("_")[2]), k) for k in r if k.startswith("embed_memory_") and k.endswith("_peak_rss_mb")
    )
    if len(memory) >= 2 and "embed_memory_rss_ratio_1000x_to_10x" in r:
        (small, small_key), (large, large_key) = memory[0], memory[-1]
        row(
            [large_key],
            f"`embed` peak RSS, {large:,} inputs against {small:,} (pooled output, tiny model)",
            lambda: f"{r[large_key]:,.0f} MB",
            lambda: f"{r[small_key]:,.0f} MB",
            lambda: f"{r['embed_memory_rss_ratio_1000x_to_10x']:.2f}×",
        )
    for key in sorted(k for k in r if k.startswith("streaming_dry_run_peak_rss_ratio_")):
        large, small = (int(part) for part in key.removeprefix("streaming_dry_run_peak_rss_ratio_").split("_")[:3:2])
        row(
            [key],
            f"`score-variants --dry-run` peak RSS, {large:,} VCF records against {small:,}",
            lambda: f"{r[f'streaming_dry_run_{large}_records_peak_rss_mb']:,.0f} MB",
            lambda: f"{r[f'streaming_dry_run_{small}_records_peak_rss_mb']:,.0f} MB",
            lambda: f"{r[key]:.2f}×",
        )
    row(
        ["attention_enrichment_peak_rss_mb", "attention_full_maps_peak_rss_mb"],
        f"`attention-map` peak RSS, one 2,048-token window, {r.get('attention_layers', 0):.0f} layers x 16 heads",
        lambda: f"{r['attention_enrichment_peak_rss_mb']:,.0f} MB (layer by layer)",
        lambda: f"all layers' maps held {r['attention_full_maps_peak_rss_mb']:,.0f} MB",
        lambda: f"{r['attention_enrichment_peak_rss_mb'] / r['attention_full_maps_peak_rss_mb']:.2f}×",
    )
    return ["| benchmark | ours | baseline | ratio |", "| --- | ---: | ---: | ---: |", *rows]


def write_results(record: dict[str, object], out_dir: Path) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = f"{datetime.date.today().isoformat()}-{record['machine']['host']}"
    json_path = out_dir / f"{stem}.json"
    json_path.write_text(json.dumps(record, indent=2) + "\n")
    lines = [f"# Benchmarks {stem}", "", f"Command: `{record['command']}`", "", *summary_table(record), ""]
    lines += ["| precision target | verdict |", "| --- | --- |"]
    lines += [f"| {name} | {verdict} |" for name, verdict in record.get("targets", {}).items()]
    lines += ["", "| machine | value |", "| --- | --- |"]
    lines += [f"| {key} | {value} |" for key, value in record["machine"].items()]
    lines += ["", "| benchmark | wall seconds |", "| --- | --- |"]
    lines += [f"| {key} | {value} |" for key, value in record.get("wall_seconds", {}).items()]
    lines += ["", "| result | value |", "| --- | --- |"]
    lines += [f"| {key} | {value:,.2f} |" for key, value in record["results"].items()]
    (out_dir / f"{stem}.md").write_text("\n".join(lines) + "\n")
    return json_path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smaller inputs and fewer repeats (CPU, < 5 minutes)")
    parser.add_argument(
        "--data",
        type=Path,
        default=None,
        help="a data folder with genomes/ and variants/ (layout: benchmarks/README.md)",
    )
    _register_benchmark_modules()
    parser.add_argument("--only", choices=sorted(BENCHMARKS), action="append", help="run only these benchmarks")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results")
    add_device_argument(parser)
    args = parser.parse_args(argv)

    # The data folder is the user's own: the record names its layout (`--data DIR`) and content, not its path.
    given = list(argv if argv is not None else sys.argv[1:])
    if args.data is not None:
        given = ["DIR" if item == str(args.data) else item.replace(f"={args.data}", "=DIR") for item in given]
    record = {"command": " ".join(["python", "benchmarks/run.py", *given])}
    if args.data is not None:
        genomes = sorted((args.data / "genomes").glob("*.fa*"))
        record["data"] = {path.name: path.stat().st_size for path in genomes}
    record["machine"] = machine_info(args.device)
    results: dict[str, float] = {}
    record["wall_seconds"] = {}
    started = time.perf_counter()
    for name in args.only or BENCHMARKS:
        print(f"running {name} ...", flush=True)
        start = time.perf_counter()
        results.update(BENCHMARKS[name](args))
        record["wall_seconds"][name] = round(time.perf_counter() - start, 1)
        print(f"  {name}: {record['wall_seconds'][name]:.0f} s", flush=True)
    record["wall_seconds"]["total"] = round(time.perf_counter() - started, 1)
    record["finished"] = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    record["results"] = results
    record["targets"] = precision_targets(record)
    path = write_results(record, args.out)
    width = max(map(len, results))
    for key, value in results.items():
        print(f"{key:{width}}  {value:>16,.2f}")
    print("\n".join(["", *summary_table(record), ""]))
    for name, verdict in record["targets"].items():
        print(f"target: {name}: {verdict}")
    print(f"wrote {path} and {path.with_suffix('.md')}; `python benchmarks/readme_table.py` puts it in the README")
    return 0


if __name__ == "__main__":
    sys.exit(main())
