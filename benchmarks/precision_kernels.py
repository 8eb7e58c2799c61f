"""Linear-layer speed per precision on this CPU: which precision pays here, in seconds.

Runs the six linear layers of one all-MiniLM-L6-v2 block (384 -> 384 four times, 384 ->
1536, 1536 -> 384) on a batch of 32 sentences of 15 tokens in float32, under bfloat16 and
float16 autocast as ``precision`` runs them, as skbert's int8 layers on each of PyTorch's
quantized engines (``QuantizedLinear``: ``torch.ops.quantized.linear_dynamic``), and as bare
``torch._int_mm`` products (the int8 cost without quantizing the activations).
No model or data needed. To see what oneDNN does on an older CPU, cap its instruction set,
e.g. ``ONEDNN_MAX_CPU_ISA=AVX512_CORE_VNNI`` (an AVX-512 VNNI CPU without bfloat16); only
oneDNN's kernels obey it, not MKL's float32 ones nor torch's own.

    python benchmarks/precision_kernels.py --out benchmarks/results/precision_kernels.md
"""

from __future__ import annotations

import os
import shlex
import sys
import time
from collections.abc import Callable

import torch
from _common import parser, report, table

from skbert._precision import autocast
from skbert._quantize import QuantizedLinear, int8_kernel, quantized_engine

SHAPES = [(384, 384)] * 4 + [(384, 1536), (1536, 384)]
ENGINES = [
    e for e in ("onednn", "x86", "fbgemm") if e in torch.backends.quantized.supported_engines
]


def mean_ms(run: Callable[[], object], repeats: int = 10) -> float:
    """Mean time of ``repeats`` calls of ``run``, in ms."""
    start = time.perf_counter()
    for _ in range(repeats):
        run()
    return 1e3 * (time.perf_counter() - start) / repeats


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--tokens", type=int, default=32 * 15, help="rows of each product")
    p.add_argument("--rounds", type=int, default=5)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    cpu = torch.device("cpu")
    floats = [torch.nn.Linear(n_in, n_out) for n_in, n_out in SHAPES]
    reduce_range = int8_kernel().reduce_range
    int8s = {}
    for engine in ENGINES:
        with quantized_engine(engine):
            int8s[engine] = [QuantizedLinear(f, reduce_range=reduce_range) for f in floats]
    inputs = [torch.randn(args.tokens, n_in) for n_in, _ in SHAPES]
    quantized = [torch.randint(-127, 128, x.shape, dtype=torch.int8) for x in inputs]
    weights = [
        torch.randint(-127, 128, (n_out, n_in), dtype=torch.int8).t() for n_in, n_out in SHAPES
    ]

    def block(layers: list[torch.nn.Module], precision: str) -> Callable[[], None]:
        def run() -> None:
            with torch.inference_mode(), autocast(cpu, precision):
                for layer, x in zip(layers, inputs, strict=True):
                    layer(x)

        return run

    def int_mm_only() -> None:
        for weight, q in zip(weights, quantized, strict=True):
            torch._int_mm(q, weight)

    runs = {
        "float32": block(floats, "float32"),
        "bfloat16 (autocast)": block(floats, "bfloat16"),
        "float16 (autocast)": block(floats, "float16"),
        **{
            f"int8 ({engine}{', skbert picks it' if engine == int8_kernel().engine else ''})": (
                block(layers, "int8")
            )
            for engine, layers in int8s.items()
        },
        "int8, torch._int_mm alone": int_mm_only,
    }
    for run in runs.values():  # warm up: oneDNN builds its kernels on the first calls
        mean_ms(run, repeats=3)
    ms = dict.fromkeys(runs, float("inf"))
    for _ in range(args.rounds):  # interleaved, so a busy moment hits every precision alike
        for name, run in runs.items():
            ms[name] = min(ms[name], mean_ms(run))
    flops = 2 * args.tokens * sum(n_in * n_out for n_in, n_out in SHAPES)
    rows = [
        [name, f"{t:.2f}", f"{ms['float32'] / t:.2f}", f"{flops / t / 1e6:.0f}"]
        for name, t in ms.items()
    ]
    body = table(["precision", "ms per block", "speed vs float32", "GOP/s"], rows)
    cap = os.environ.get("ONEDNN_MAX_CPU_ISA")
    body += (
        f"\n\n{args.tokens} tokens through the six linear layers of one MiniLM block, best of "
        f"{args.rounds} interleaved rounds of 10 calls. oneDNN instruction set: "
        + (f"capped with ONEDNN_MAX_CPU_ISA={cap}." if cap else "not capped.")
    )
    command = "python " + " ".join(
        shlex.quote(a) for a in ["benchmarks/precision_kernels.py", *sys.argv[1:]]
    )
    if cap:
        command = f"ONEDNN_MAX_CPU_ISA={cap} {command}"
    report("Linear layers per precision", command, body, args.out)


if __name__ == "__main__":
    main()
