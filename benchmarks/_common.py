"""Shared helpers for the benchmarks: data location, peak memory, matmul peak, reports, SetFit."""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch

from skbert._hardware import cpu

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data"
PAGE = os.sysconf("SC_PAGE_SIZE")


def parser(description: str) -> argparse.ArgumentParser:
    """Argument parser with the options every benchmark shares."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument(
        "--data", type=Path, default=DEFAULT_DATA, help="folder with stsbenchmark/, trec/"
    )
    p.add_argument("--threads", type=int, default=torch.get_num_threads(), help="torch threads")
    p.add_argument("--out", type=Path, default=None, help="also write the markdown table here")
    return p


def require(path: Path) -> Path:
    """Exit with a clear message when a data folder is absent."""
    if not path.exists():
        sys.exit(
            f"skipped: {path} not found. skbert does not ship the benchmark data: README.md "
            "(Tests) says where each data set comes from; --data names the folder holding them."
        )
    return path


def rss_mib() -> float:
    """Resident set size of this process, in MiB."""
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * PAGE / 2**20


@contextmanager
def peak_rss(interval: float = 0.01) -> Iterator[dict[str, float]]:
    """Sample RSS in a thread; yields a dict that gets ``before`` and ``peak`` (MiB)."""
    result = {"before": rss_mib(), "peak": rss_mib()}
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            result["peak"] = max(result["peak"], rss_mib())
            time.sleep(interval)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield result
    finally:
        stop.set()
        thread.join()
        result["peak"] = max(result["peak"], rss_mib())


def matmul_peak(dtype: torch.dtype, size: int = 1024, repeats: int = 20) -> float:
    """Best GFLOP/s (GOP/s for int8) of a square matmul in ``dtype`` with the current threads."""
    if dtype == torch.int8:
        a = torch.randint(-127, 127, (size, size), dtype=torch.int8)
        b = torch.randint(-127, 127, (size, size), dtype=torch.int8)
        multiply = torch._int_mm
    else:
        a = torch.randn(size, size).to(dtype)
        b = torch.randn(size, size).to(dtype)
        multiply = torch.matmul
    best = 0.0
    for _ in range(3):
        for _ in range(3):
            multiply(a, b)
        start = time.perf_counter()
        for _ in range(repeats):
            multiply(a, b)
        best = max(best, 2 * size**3 * repeats / (time.perf_counter() - start) / 1e9)
    return best


def machine() -> str:
    """One line describing the machine and software: the CPU with its precision flags."""
    return (
        f"{cpu().describe()}, {os.cpu_count()} logical CPUs, torch {torch.__version__} with "
        f"{torch.get_num_threads()} threads, Python {platform.python_version()}"
    )


def table(headers: list[str], rows: list[list[object]]) -> str:
    """A markdown table."""
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def report(title: str, command: str, body: str, out: Path | None) -> None:
    """Print the result block and optionally write it to ``out``."""
    text = f"### {title}\n\nCommand: `{command}`\n\nMachine: {machine()}\n\n{body}\n"
    print(text)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text, encoding="utf-8")


def linear_flops_per_token(model: torch.nn.Module) -> int:
    """Forward FLOPs per token of the encoder's linear layers (2 per weight)."""
    return 2 * sum(
        m.weight.numel()
        for name, m in model.named_modules()
        if isinstance(m, torch.nn.Linear) and "pooler" not in name
    )


def train_setfit(model: str, texts: list[str], labels: Any, seed: int, **params: Any):
    """Train SetFit 1.2 on labelled texts, with its defaults but ``params`` (and a head of
    ``LogisticRegression(max_iter=1000)``), in a temporary output folder.

    Returns the trained ``SetFitModel``, the classes, each text's class code, and the
    ``TrainingArguments`` it ran with.
    """
    from datasets import Dataset
    from setfit import SetFitModel, Trainer, TrainingArguments

    classes, codes = np.unique(labels, return_inverse=True)
    with tempfile.TemporaryDirectory() as out:
        setfit = SetFitModel.from_pretrained(model, head_params={"max_iter": 1000})
        args = TrainingArguments(
            output_dir=out,
            save_strategy="no",
            report_to="none",
            show_progress_bar=False,
            seed=seed,
            **params,
        )
        trainer = Trainer(
            model=setfit,
            args=args,
            train_dataset=Dataset.from_dict({"text": texts, "label": codes.tolist()}),
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            trainer.train()
    return setfit, classes, codes, args
