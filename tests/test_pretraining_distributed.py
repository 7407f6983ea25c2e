"""examples/pretrain.py end to end, in subprocesses: 2 processes under a real `accelerate launch` reach the weights
of 1 process with the same global batch, and a run killed with SIGKILL and started again with the same command ends
with the weights of a run never killed.

One tiny run (hidden 32, 2 layers, 10-token windows of the bundled human mitochondrion) is the reference for both.
"""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from nucleotide_transformer_hf.pretraining import latest_checkpoint

REPO = Path(__file__).resolve().parent.parent
SCRIPT = REPO / "examples" / "pretrain.py"
MITO = REPO / "data" / "genomes" / "human_mito_NC_012920.1.fa.gz"
STEPS, SAVE_STEPS = 24, 4
WINDOW_TOKENS = 11  # 60 bp = 10 six-mers, plus <cls>
GLOBAL_BATCH = 8


def pretrain_args(output_dir: Path, cache_dir: Path, per_device_batch_size: int) -> list[str]:
    """The tiny run. `--tokens-per-step` fixes the global batch at 8 windows: 1 process accumulates 2 micro-batches
    of 4, 2 processes take 1 micro-batch of 4 each, so both paths of the global normalisation are exercised."""
    return [
        "--config", "v2",
        "--override", "hidden_size=32", "num_hidden_layers=2", "num_attention_heads=4", "intermediate_size=64",
        "--data", str(MITO), "--held-out-fraction", "0.1", "--window-bp", "60",
        "--output-dir", str(output_dir), "--cache-dir", str(cache_dir),
        "--max-steps", str(STEPS), "--save-steps", str(SAVE_STEPS), "--save-total-limit", "0", "--eval-steps", str(STEPS),
        "--logging-steps", "4", "--per-device-batch-size", str(per_device_batch_size),
        "--tokens-per-step", str(GLOBAL_BATCH * WINDOW_TOKENS),
        "--learning-rate", "3e-3", "--warmup-steps", "4", "--seed", "0", "--report-to",
    ]  # fmt: skip


def environment() -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        CUDA_VISIBLE_DEVICES="",
        OMP_NUM_THREADS="1",  # the same kernels (and reduction order) in every run, and no oversubscription
        TOKENIZERS_PARALLELISM="false",
        HF_DATASETS_DISABLE_PROGRESS_BARS="1",
        TQDM_DISABLE="1",
        PYTHONUNBUFFERED="1",
    )
    return env


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(command: list[str], timeout: float = 300) -> subprocess.CompletedProcess:
    result = subprocess.run(command, env=environment(), cwd=REPO, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, (
        f"{' '.join(command)}\n--- stdout\n{result.stdout[-3000:]}\n--- stderr\n{result.stderr[-5000:]}"
    )
    return result


def weights(output_dir: Path) -> dict[str, torch.Tensor]:
    return load_file(output_dir / "model.safetensors")


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("pretrain")


@pytest.fixture(scope="module")
def reference(workspace) -> Path:
    """One process, never interrupted."""
    out = workspace / "one_process"
    run([sys.executable, str(SCRIPT), *pretrain_args(out, workspace / "cache", per_device_batch_size=4)])
    return out


def test_reference_run_learns_and_writes_its_outputs(reference):
    log = (reference / "log.csv").read_text().splitlines()
    assert log[0] == "step,epoch,name,value" and any(",eval_masked_accuracy," in line for line in log)
    assert (reference / "loss_curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert latest_checkpoint(reference) == str(reference / f"checkpoint-{STEPS}")
    trained = weights(reference)
    initial = weights(reference / f"checkpoint-{SAVE_STEPS}")
    moved = max((trained[k] - initial[k]).abs().max().item() for k in trained)
    assert moved > 1e-2  # the weights travel far, so the equalities below are not trivially met


def test_two_processes_reach_the_weights_of_one(reference, workspace):
    """2 gloo processes (accelerate launch --multi_gpu on a CPU-only machine) with 4 windows each against 1 process
    with 2 accumulated micro-batches of 4: the same 8 windows per step (seedable sampler), the same masks (a pure
    function of the window's tokens), and the loss divided by the number of masked tokens in the whole step.

    Tolerance 1e-5: only the order of fp32 additions may differ (gloo all-reduce of two half-batch gradients vs. one
    accumulated sum), ~1e-7 relative per step, and Adam's update m / (sqrt(v) + eps) does not amplify relative
    changes except where a gradient is near eps. Measured on the development machine: 0 (bitwise equal). The weights
    moved by > 1e-2 meanwhile (test above), and normalising the loss per process instead of over the global batch
    (`average_tokens_across_devices=False`) ends 4e-2 away from the 1-process weights, so the bound catches that.
    """
    accelerate = Path(sys.executable).parent / "accelerate"
    out = workspace / "two_processes"
    run([
        str(accelerate), "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
        "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port", str(free_port()),
        str(SCRIPT), *pretrain_args(out, workspace / "cache", per_device_batch_size=4),
    ])  # fmt: skip
    one, two = weights(reference), weights(out)
    assert one.keys() == two.keys()
    worst = max((one[k] - two[k]).abs().max().item() for k in one)
    assert worst < 1e-5, f"largest weight difference {worst:.2e}"


def test_kill_9_then_same_command_resumes_to_the_same_weights(reference, workspace):
    out = workspace / "killed"
    command = [sys.executable, str(SCRIPT), *pretrain_args(out, workspace / "cache", per_device_batch_size=4)]
    process = subprocess.Popen(command, env=environment(), cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 300
        while latest_checkpoint(out) is None:
            assert process.poll() is None, f"run ended before its first checkpoint:\n{process.stderr.read()[-3000:]}"
            assert time.monotonic() < deadline, "no checkpoint within 300 s"
            time.sleep(0.02)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
        process.stderr.close()
    assert process.returncode == -signal.SIGKILL
    killed_at = latest_checkpoint(out)
    assert not (out / "model.safetensors").exists(), "the run finished before the kill; nothing was resumed"
    assert int(killed_at.rsplit("-", 1)[1]) < STEPS

    result = run(command)
    assert f"resuming from {killed_at}" in result.stdout
    resumed, uninterrupted = weights(out), weights(reference)
    for name in uninterrupted:
        assert torch.equal(resumed[name], uninterrupted[name]), name
