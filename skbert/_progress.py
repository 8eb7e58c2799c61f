"""What people and scikit-learn's callbacks see of a fit in progress.

With ``verbose``, a tqdm bar counts the steps, with the time left, the running loss and the
last validation value. Where the installed scikit-learn has its callback API
(``sklearn.callback``, 1.9 and later), the fit is a task tree of epochs made of steps:
``ProgressBar`` draws it, and ``ScoringMonitor`` scores the vectorizer as it stands at the
end of every epoch, also inside ``GridSearchCV``. A callback that asks to stop ends the fit
at the end of an epoch. On an older scikit-learn the fit runs without callbacks.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from torch import nn

from ._distributed import World

try:  # scikit-learn >= 1.9; its ``_fit_context`` tears the callbacks down after fit
    from sklearn.callback import CallbackSupportMixin
except ImportError:  # pragma: no cover - older scikit-learn: no callbacks

    class CallbackSupportMixin:  # type: ignore[no-redef]
        """Stands in for scikit-learn's callback support where it does not exist."""


if TYPE_CHECKING:
    from ._plan import FitPlan

__all__ = ["CallbackSupportMixin", "Progress"]


@contextmanager
def evaluation_mode(module: nn.Module) -> Iterator[None]:
    """Switch ``module`` to evaluation mode (no dropout) for the block, then back."""
    was_training = module.training
    module.eval()
    try:
        yield
    finally:
        module.train(was_training)


class Progress:
    """Reports a fit's steps, evaluations and epochs to a bar and to scikit-learn's callbacks.

    Parameters
    ----------
    estimator : SBERTVectorizer
        The estimator being fitted; its callbacks, if any, are called.
    X, y : object
        The training data, handed to the callbacks' hooks.
    verbose : bool
        Show a tqdm bar.

    Used as a context manager around the fit; set ``final`` to the fitted attributes once
    the fit has succeeded.
    """

    def __init__(self, estimator: Any, X: Any, y: Any, *, verbose: bool) -> None:
        self.estimator, self.X, self.y = estimator, X, y
        self.verbose = verbose
        self.bar: Any = None
        self.running: float | None = None
        self.validation: str = ""
        init = getattr(estimator, "_init_callback_context", None)
        self.root = None if init is None else init(max_subtasks=None)
        self.epoch_context: Any = None
        self.final: dict[str, Any] | None = None
        if self.root is not None:
            self.root.call_on_fit_task_begin(estimator=estimator, X=X, y=y)

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc_info: object) -> None:
        """End the fit: close the bar, and tell the callbacks, if it succeeded (``final``)."""
        if self.bar is not None:
            self.bar.close()
        if self.root is not None and self.final is not None:
            self.root.call_on_fit_task_end(
                estimator=self.estimator, X=self.X, y=self.y, reconstruction_attributes=self.final
            )

    def start(self, plan: FitPlan, first_step: int) -> None:
        """Training begins (or resumes) at ``first_step`` of ``plan.total_steps``."""
        if self.verbose and World.current().main:  # one bar for a fit of several processes
            from tqdm.auto import tqdm

            self.bar = tqdm(total=plan.total_steps, initial=first_step, desc="fit", unit="step")

    def epoch_begin(self, steps: int) -> None:
        """Begin an epoch of ``steps`` steps (or what is left of it)."""
        if self.root is not None:
            self.epoch_context = self.root.subcontext(task_name="epoch", max_subtasks=steps)
            self.epoch_context.call_on_fit_task_begin(estimator=self.estimator)

    def step(self, loss: float) -> None:
        """Report a step that has run, with its loss."""
        self.running = loss if self.running is None else 0.9 * self.running + 0.1 * loss
        if self.epoch_context is not None:
            context = self.epoch_context.subcontext(task_name="step")
            context.call_on_fit_task_begin(estimator=self.estimator)
            context.call_on_fit_task_end(estimator=self.estimator)
        if self.bar is not None:
            self.bar.update()
            self._postfix()

    def evaluated(self, name: str, value: float) -> None:
        """Report a score of the validation rows."""
        self.validation = f"{value:.4f}"
        self.validation_name = name.removeprefix("validation_")
        if self.bar is not None:
            self._postfix()

    def _postfix(self) -> None:
        shown = {"loss": f"{self.running:.4f}"}
        if self.validation:
            shown[f"val {self.validation_name}"] = self.validation
        self.bar.set_postfix(shown, refresh=False)

    def epoch_end(self, encoder: nn.Module, snapshot: Callable[[], dict[str, Any]]) -> bool:
        """End an epoch; return whether a callback asks to stop.

        ``snapshot`` gives the fitted attributes of the vectorizer as it stands, for the
        callbacks that score it (with dropout off).
        """
        if self.epoch_context is None:
            return False
        with evaluation_mode(encoder):
            return bool(
                self.epoch_context.call_on_fit_task_end(
                    estimator=self.estimator,
                    X=self.X,
                    y=self.y,
                    reconstruction_attributes=snapshot,
                )
            )
