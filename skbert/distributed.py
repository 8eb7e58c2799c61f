"""Data-parallel fitting on the devices of one machine, without a launcher script.

:func:`fit_distributed` starts processes, joins them in a :mod:`torch.distributed` process
group, fits a copy of the estimator in each, and returns rank 0's. Every fit of an
:class:`~skbert.SBERTVectorizer` in such a group is data-parallel: each process embeds its
share of every batch, and the result equals a fit in one process. A script launched with
``torchrun`` needs none of this: its fits are data-parallel as they stand. The scaling
guide says which to use when.
"""

from __future__ import annotations

import contextlib
import copy
import os
import pickle
import tempfile
from datetime import timedelta
from pathlib import Path
from typing import Any

__all__ = ["fit_distributed"]

_BACKENDS = ("gloo", "nccl")


def _check(n_processes: Any, backend: str | None, timeout: Any) -> str:
    """Check the arguments and return the backend to use."""
    import torch

    if isinstance(n_processes, bool) or not isinstance(n_processes, int) or n_processes < 1:
        raise ValueError(
            f"n_processes={n_processes!r} must be an int >= 1: the number of processes to "
            "fit with, e.g. torch.cuda.device_count()."
        )
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0:
        raise ValueError(
            f"timeout={timeout!r} must be a positive number of seconds, e.g. 600: how long a "
            "process waits for the others before the fit fails."
        )
    if backend is None:
        backend = "nccl" if torch.cuda.is_available() else "gloo"
    if backend not in _BACKENDS:
        raise ValueError(
            f"backend={backend!r} is not one of {_BACKENDS}: 'nccl' for GPUs, 'gloo' for the "
            "CPU, or None to choose."
        )
    if backend == "nccl" and n_processes > torch.cuda.device_count():
        raise ValueError(
            f"backend='nccl' needs a GPU per process, but n_processes={n_processes} and this "
            f"machine has {torch.cuda.device_count()} CUDA device(s); use n_processes <= "
            f"{torch.cuda.device_count()}, or backend='gloo' to fit on the CPU."
        )
    return backend


def _worker(
    rank: int,
    n_processes: int,
    backend: str,
    folder: str,
    timeout: float,
    estimator: Any,
    X: Any,
    y: Any,
    fit_params: dict[str, Any],
) -> None:
    """Fit ``estimator`` as rank ``rank``; rank 0 writes it to ``folder``, a failure its error."""
    import torch
    from torch import distributed as dist

    os.environ["LOCAL_RANK"] = str(rank)  # the GPU that device="cuda" or "auto" takes
    if "OMP_NUM_THREADS" not in os.environ:  # share the cores, as joblib's workers do
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // n_processes))
    dist.init_process_group(
        backend,
        init_method=Path(folder, "rendezvous").as_uri(),
        rank=rank,
        world_size=n_processes,
        timeout=timedelta(seconds=timeout),
    )
    try:
        fitted = estimator.fit(X, y, **fit_params)
        if rank == 0:
            Path(folder, "fitted.pkl").write_bytes(pickle.dumps(fitted))
        dist.barrier()  # no process leaves the group while another still works in it
    except Exception as exc:
        with contextlib.suppress(Exception):  # one that does not pickle: its traceback tells
            Path(folder, f"error-{rank}.pkl").write_bytes(pickle.dumps(exc))
        raise
    finally:
        dist.destroy_process_group()


def fit_distributed(
    estimator: Any,
    X: Any,
    y: Any = None,
    *,
    n_processes: int,
    backend: str | None = None,
    timeout: float = 600.0,
    **fit_params: Any,
) -> Any:
    """Fit ``estimator`` data-parallel in ``n_processes`` processes of this machine.

    Each process joins one :mod:`torch.distributed` process group and fits its own copy of
    ``estimator`` on the whole of ``(X, y)``; every fit of an
    :class:`~skbert.SBERTVectorizer` in it is data-parallel (each process embeds its share
    of every batch, the result equals one process's fit with the same ``batch_size``). With
    GPUs, process ``r`` trains on GPU ``r`` (for ``device="auto"`` or ``"cuda"``). The copy
    fitted by rank 0 is returned; ``estimator`` itself is left as it was.

    Parameters
    ----------
    estimator : SBERTVectorizer or estimator
        An unfitted (or, with ``warm_start``, fitted) vectorizer, or an estimator such as a
        pipeline whose ``fit`` fits one; it is pickled to every process.
    X, y
        As for the estimator's ``fit``.
    n_processes : int
        How many processes, e.g. ``torch.cuda.device_count()``. 1 fits a copy here.
    backend : {"nccl", "gloo"} or None, default=None
        The process group's backend: ``"nccl"`` for GPUs, ``"gloo"`` for the CPU. None:
        ``"nccl"`` where CUDA is available, else ``"gloo"``.
    timeout : float, default=600.0
        Seconds a process waits for the others in a collective (a gradient all-reduce, a
        gathering of embeddings) before the fit fails with an error, instead of hanging
        when a process died or stalled.
    **fit_params : dict
        Passed to ``fit``, e.g. ``X_val`` and ``y_val``.

    Returns
    -------
    fitted : estimator
        The fitted copy from rank 0, on the device rank 0 trained on.

    Raises
    ------
    ValueError
        If an argument is invalid. An error raised by ``fit`` in a process is raised here,
        the processes' output and traceback chained to it.

    Notes
    -----
    Processes are started with ``"spawn"``: call this function under
    ``if __name__ == "__main__":`` in a script. Without ``OMP_NUM_THREADS`` set, each
    process uses ``cpu_count // n_processes`` torch threads.

    Examples
    --------
    >>> import tempfile
    >>> from skbert import SBERTVectorizer
    >>> from skbert._testing import make_tiny_bert
    >>> from skbert.distributed import fit_distributed
    >>> model = str(make_tiny_bert(tempfile.mkdtemp(), dropout=0.0))
    >>> pairs = [("a dog runs", "a dog is running"), ("a cat eats", "a car drives")] * 4
    >>> vec = SBERTVectorizer(model, loss="cosine", batch_size=4, random_state=0)
    >>> fitted = fit_distributed(vec, pairs, [0.9, 0.1] * 4, n_processes=2, backend="gloo")
    >>> fitted.transform(["a dog runs"]).shape
    (1, 32)
    """
    backend = _check(n_processes, backend, timeout)
    if n_processes == 1:
        return copy.deepcopy(estimator).fit(X, y, **fit_params)
    from torch import multiprocessing

    with tempfile.TemporaryDirectory(prefix="skbert-distributed-") as folder:
        args = (n_processes, backend, folder, timeout, estimator, X, y, fit_params)
        try:
            multiprocessing.start_processes(
                _worker, args=args, nprocs=n_processes, start_method="spawn"
            )
        except (
            multiprocessing.ProcessRaisedException,
            multiprocessing.ProcessExitedException,
        ) as exc:
            error = Path(folder, f"error-{exc.error_index}.pkl")
            if error.is_file():
                raise pickle.loads(error.read_bytes()) from exc
            raise
        return pickle.loads(Path(folder, "fitted.pkl").read_bytes())
