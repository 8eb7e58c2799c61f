"""Scaling out on Dask: a GridSearchCV through joblib's dask backend, transform per partition.

Runs a real ``distributed.LocalCluster`` with two worker processes, so it is marked slow.
"""

import numpy as np
import pandas as pd
import pytest

from skbert import SBERTVectorizer
from tests.conftest import PAIRS, SCORES

distributed = pytest.importorskip("distributed", reason="needs dask[distributed]")
dd = pytest.importorskip("dask.dataframe", reason="needs dask[dataframe]")
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def client():
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as dask_client,
    ):
        yield dask_client


def test_grid_search_on_dask_matches_the_local_run(client, tiny_model):
    import joblib
    from sklearn.model_selection import GridSearchCV

    X, y = PAIRS * 3, np.tile(SCORES, 3)
    grid = {"pooling": ["mean", "max"], "loss": ["cosine"]}

    def search(n_jobs):
        vec = SBERTVectorizer(tiny_model, batch_size=4, random_state=0)
        return GridSearchCV(vec, grid, cv=2, n_jobs=n_jobs).fit(X, y)

    local = search(1)
    with joblib.parallel_backend("dask"):
        remote = search(-1)
    assert remote.best_params_ == local.best_params_
    np.testing.assert_allclose(
        remote.cv_results_["mean_test_score"], local.cv_results_["mean_test_score"], atol=1e-6
    )


def test_transform_maps_over_dask_partitions(client, tiny_model):
    vec = SBERTVectorizer(tiny_model).fit(["warm-up"]).set_output(transform="pandas")
    frame = pd.DataFrame({"text": [f"a dog runs {i}" for i in range(40)]}, index=range(100, 140))
    column = dd.from_pandas(frame, npartitions=4)["text"]
    meta = vec.transform(frame["text"].iloc[:1]).iloc[:0]
    embedded = column.map_partitions(vec.transform, meta=meta).compute()
    expected = vec.transform(frame["text"])
    assert embedded.index.tolist() == list(range(100, 140))
    np.testing.assert_allclose(embedded.to_numpy(), expected.to_numpy(), atol=1e-5)
