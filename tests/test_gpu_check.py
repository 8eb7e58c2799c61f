"""benchmarks/gpu_check.py, the prepared GPU check, where there is no GPU to check."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_gpu_check_exits_cleanly_with_a_message_without_cuda():
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "gpu_check.py")],
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert "gpu_check: skipped, no CUDA device here" in done.stdout
    assert "--device cpu to rehearse it" in done.stdout
