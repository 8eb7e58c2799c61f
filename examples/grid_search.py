"""Grid search over pooling and objective, ranked by Spearman's rho on held-out folds.

``SBERTVectorizer`` is an ordinary scikit-learn estimator, so ``GridSearchCV`` can tune its
fine-tuning: here every combination of ``pooling`` (mean, max, cls) and ``loss`` (cosine,
cosent: the two objectives for scored pairs) is fine-tuned on two folds of a seeded subset of
``sts-train`` and scored on the third. On scored pairs, ``SBERTVectorizer.score`` (Spearman's
correlation of cosine similarity with the gold score) is the default scoring, so no scorer is
passed. The script prints the ``cv_results_`` table and saves it as a heat map.

Run it from the repository root with ``python examples/grid_search.py`` (about two and a half
minutes on two CPU cores: 6 candidates x 3 folds, then one refit). ``--data`` names the folder
that holds ``stsbenchmark/`` (default: ``../shared/data`` beside the repository); where it is
absent, the script says so and uses the small set of pairs in
``examples/_data.py``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from _data import DATA, REPO, stsb_train_subset
from matplotlib.figure import Figure
from sklearn.model_selection import GridSearchCV, KFold

from skbert import SBERTVectorizer

POOLING = ["mean", "max", "cls"]
LOSSES = ["cosine", "cosent"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA, help="folder holding stsbenchmark/")
    parser.add_argument("--size", type=int, default=150, help="scored pairs searched over")
    parser.add_argument("--folds", type=int, default=3, help="cross-validation folds")
    parser.add_argument("--seed", type=int, default=0, help="draws the pairs, seeds training")
    parser.add_argument("--out", type=Path, default=REPO / "docs/_static/examples/grid_search.png")
    args = parser.parse_args()

    pairs, scores = stsb_train_subset(args.data, args.size, args.seed)
    search = GridSearchCV(
        SBERTVectorizer(batch_size=16, random_state=args.seed),
        {"pooling": POOLING, "loss": LOSSES},
        cv=KFold(args.folds, shuffle=True, random_state=args.seed),
    )
    search.fit(pairs, scores)

    results = search.cv_results_
    print(f"{len(pairs)} scored pairs, {args.folds}-fold cross-validation")
    print(f"{'rank':>4}  {'pooling':<8}{'loss':<8}{'Spearman (mean +- sd)':>23}{'fit s':>7}")
    for i in np.argsort(results["rank_test_score"], kind="stable"):
        print(
            f"{results['rank_test_score'][i]:>4}  {results['param_pooling'][i]:<8}"
            f"{results['param_loss'][i]:<8}{results['mean_test_score'][i]:>14.3f} +- "
            f"{results['std_test_score'][i]:.3f}{results['mean_fit_time'][i]:>7.1f}"
        )
    print(f"best: {search.best_params_}, Spearman {search.best_score_:.3f}")

    grid = np.empty((len(POOLING), len(LOSSES)))
    for params, mean in zip(results["params"], results["mean_test_score"], strict=True):
        grid[POOLING.index(params["pooling"]), LOSSES.index(params["loss"])] = mean
    fig = Figure(figsize=(5, 4), layout="constrained")
    ax = fig.subplots()
    image = ax.imshow(grid, cmap="viridis")
    for (row, col), value in np.ndenumerate(grid):
        color = "black" if value > grid.mean() else "white"
        ax.text(col, row, f"{value:.3f}", ha="center", va="center", color=color)
    ax.set(
        xticks=range(len(LOSSES)),
        xticklabels=LOSSES,
        yticks=range(len(POOLING)),
        yticklabels=POOLING,
        xlabel="loss",
        ylabel="pooling",
        title=f"Mean Spearman over {args.folds} folds",
    )
    fig.colorbar(image, ax=ax, label="Spearman's rho")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=100)
    print(f"picture: {args.out}")


if __name__ == "__main__":
    main()
