"""Where torch runs: resolving ``device`` names to a device this machine has."""

from __future__ import annotations

import torch


def _index_exists(device: torch.device) -> bool:
    if device.type != "cuda" or device.index is None:
        return True
    return device.index < torch.cuda.device_count()


def resolve_device(device: str | torch.device) -> torch.device:
    """``"auto"`` -> cuda, then mps, then cpu; anything else must name a device this machine has.

    Raises
    ------
    ValueError
        If ``device`` is not a torch device name, or names a device type or index this
        machine lacks.
    """
    if device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        resolved = torch.device(device)
    except RuntimeError:
        raise ValueError(
            f"device={device!r} is not a torch device; use 'auto', 'cpu', 'cuda', "
            "'cuda:<index>' or 'mps'."
        ) from None
    available = {
        "cuda": torch.cuda.is_available,
        "mps": torch.backends.mps.is_available,
    }.get(resolved.type, lambda: True)()
    if not available:
        raise ValueError(
            f"device={device!r} but {resolved.type} is not available on this machine; use "
            "device='auto' or 'cpu'."
        )
    if not _index_exists(resolved):
        raise ValueError(
            f"device={device!r} but this machine has {torch.cuda.device_count()} CUDA "
            f"device(s), numbered from 0; use 'cuda:0' to 'cuda:{torch.cuda.device_count() - 1}' "
            "or device='auto'."
        )
    return resolved
