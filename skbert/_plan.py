"""The record of one fit's plan: the data, the objective, every setting resolved.

:class:`FitPlan` sits below every other module (it imports none of them), so the modules that
build the loss, draw the batches and train read one record, made once by
:func:`skbert._planning.make_plan`, and recorded on the fitted vectorizer as ``plan_``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._training_set import TrainingSet
    from ._validation_set import ValidationSet


@dataclass(frozen=True)
class FitPlan:
    """What one ``fit`` runs: the data, the objective, and every setting resolved.

    Recorded on the fitted vectorizer as ``plan_``. A setting the objective does not use
    is None (``margin`` for ``"cosine"``, ``pairs_per_text`` for fixed pairs, ...); with
    ``objective=None`` nothing is trained and only the first fields are set.
    ``total_steps`` is ``epochs * steps_per_epoch``, or ``max_steps`` if smaller: the
    learning-rate schedule is planned over it. ``validation`` says where the scored rows
    come from (``"given"``: ``X_val``; ``"held_out"``: ``validation_fraction`` of ``X``).
    ``device`` is where the fit runs, resolved once (in a fit of several processes, this
    process's device); ``normalize`` the normalisation resolved for the data given.
    ``target_type`` is the type of ``y`` as :func:`sklearn.utils.multiclass.type_of_target`
    names it (``"binary"``, ``"multiclass"``, ``"continuous"``, ``"multilabel-indicator"``;
    None without ``y``), after dropping the ``n_unlabelled`` rows marked ``unlabelled``.
    """

    data_kind: str
    objective: str | None
    seed: int
    device: str = "cpu"
    normalize: bool | str = "auto"
    target_type: str | None = None
    n_unlabelled: int = 0
    n_train: int = 0
    n_validation: int = 0
    epochs: int = 0
    steps_per_epoch: int = 0
    total_steps: int = 0
    batch_size: int | None = None
    learning_rate: float | None = None
    warmup_ratio: float | None = None
    weight_decay: float | None = None
    max_grad_norm: float | None = None
    precision: str | None = None
    margin: float | None = None
    scale: float | None = None
    pairs_per_text: int | None = None
    rows_per_epoch: int | None = None
    positive_fraction: float | None = None
    texts_per_class: int | None = None
    score_range: tuple[float, float] | None = None
    pair_features: tuple[str, ...] | None = None
    matryoshka_dims: tuple[int, ...] | None = None
    max_steps: int | None = None
    max_time: float | None = None
    checkpoint_dir: str | None = None
    checkpoint_steps: int | None = None
    validation: str | None = None
    validation_metric: str | None = None
    eval_steps: int | None = None
    early_stopping: bool = False
    n_iter_no_change: int | None = None
    tol: float | None = None


@dataclass(frozen=True)
class FitData:
    """What a plan trains and validates on: ``X``'s input kind, training and held-out rows."""

    input_kind: str
    training: TrainingSet
    validation: ValidationSet | None = None
