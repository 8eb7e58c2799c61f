"""Seeding the torch generators a fit draws from, and giving them back afterwards."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch


@contextlib.contextmanager
def seeded(device: torch.device, seed: int) -> Iterator[None]:
    """Seed the CPU generator and ``device``'s, and give both back as they were afterwards.

    Dropout and the initialisation of objective heads draw from torch's process-wide
    generators, so a fit seeds them; only the CPU's and the training device's are touched
    (not every GPU's, as ``torch.manual_seed`` would), and both are restored on exit. Other
    threads that draw from the same generators while the fit runs interleave with it.
    """
    devices = []
    if device.type == "cuda":
        devices = [device.index if device.index is not None else torch.cuda.current_device()]
    with torch.random.fork_rng(devices=devices):
        torch.default_generator.manual_seed(seed)
        if devices:
            with torch.cuda.device(devices[0]):
                torch.cuda.manual_seed(seed)
        elif device.type == "mps":
            torch.mps.manual_seed(seed)  # not restored: fork_rng covers CPU and CUDA only
        yield
