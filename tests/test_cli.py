"""The `nucleotide-transformer` console command, run as users run it (installed entry point)."""

import shutil
import subprocess
import sys

from nucleotide_transformer_hf import PUBLISHED_MODELS


def test_console_script_lists_presets():
    command = shutil.which("nucleotide-transformer") or shutil.which("nucleotide-transformer", path=sys.prefix + "/bin")
    assert command, "the nucleotide-transformer console script is not installed"
    result = subprocess.run([command, "presets"], capture_output=True, text=True, check=True)
    for name in PUBLISHED_MODELS:
        assert name in result.stdout
    assert "2048" in result.stdout and "1000" in result.stdout


def test_unknown_subcommand_fails():
    result = subprocess.run(
        [sys.executable, "-m", "nucleotide_transformer_hf.cli", "nope"], capture_output=True, text=True
    )
    assert result.returncode != 0 and "invalid choice" in result.stderr
