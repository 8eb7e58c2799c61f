"""A tiny random BERT and its tokenizer, built offline for tests and doc examples.

The model is small enough to fine-tune in well under a second on a CPU, and its tokenizer
covers any text: lower-case letters, digits and punctuation are whole-word pieces and
``##``-continuations, so every English word splits into known pieces and anything else
becomes ``[UNK]``.
"""

from __future__ import annotations

import string
from pathlib import Path

from ._encoder import quiet_transformers
from ._st_format import write_config

_SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
_WORDS = [
    "the",
    "a",
    "an",
    "is",
    "are",
    "was",
    "of",
    "to",
    "and",
    "in",
    "on",
    "at",
    "for",
    "with",
    "man",
    "woman",
    "dog",
    "cat",
    "plays",
    "playing",
    "guitar",
    "music",
    "piano",
    "runs",
    "running",
    "eats",
    "food",
    "car",
    "drives",
    "fast",
    "slow",
    "good",
    "bad",
    "happy",
    "sad",
    "what",
    "who",
    "where",
    "when",
    "how",
    "why",
    "question",
    "answer",
    "city",
    "country",
    "person",
    "number",
    "name",
]


def _vocabulary() -> list[str]:
    symbols = list(string.ascii_lowercase + string.digits + string.punctuation)
    return _SPECIAL_TOKENS + symbols + ["##" + s for s in symbols] + _WORDS


def make_tiny_bert(
    path: str | Path,
    *,
    sentence_transformers_format: bool = False,
    hidden_size: int = 32,
    num_layers: int = 2,
    max_position_embeddings: int = 128,
    dropout: float = 0.1,
    seed: int = 0,
) -> Path:
    """Write a randomly initialised BERT and its tokenizer to ``path``.

    Parameters
    ----------
    path : str or Path
        Folder to create (its parents are created too).
    sentence_transformers_format : bool, default=False
        Also write the sentence-transformers files (``modules.json``, mean pooling and a
        ``Normalize`` module), as a model from the Hugging Face Hub would have them.
    hidden_size : int, default=32
        Width of the model, which is also the embedding dimension.
    num_layers : int, default=2
        Number of transformer layers.
    max_position_embeddings : int, default=128
        Longest sequence the model accepts, in tokens.
    dropout : float, default=0.1
        Dropout probability of the hidden layers and of the attention weights (BERT's
        0.1). With 0, a fit's result depends on its batches only, not on how many
        processes embed them, as the distributed tests need.
    seed : int, default=0
        Seed of the random weights: the same seed writes the same model.

    Returns
    -------
    path : Path
        The folder, ready for ``SBERTVectorizer(model=str(path))``.

    Examples
    --------
    >>> import tempfile
    >>> from skbert._testing import make_tiny_bert
    >>> folder = make_tiny_bert(tempfile.mkdtemp())
    >>> sorted(p.name for p in folder.iterdir())[:2]
    ['config.json', 'model.safetensors']
    """
    import torch
    from transformers import BertConfig, BertModel, BertTokenizerFast

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    vocab_file = path / "vocab.txt"
    vocab_file.write_text("\n".join(_vocabulary()) + "\n", encoding="utf-8")
    # from_pretrained reads vocab.txt in transformers 4 and 5 (5 ignores vocab_file=)
    tokenizer = BertTokenizerFast.from_pretrained(path, do_lower_case=True)
    tokenizer.model_max_length = max_position_embeddings
    tokenizer.save_pretrained(path)

    config = BertConfig(
        vocab_size=len(_vocabulary()),
        hidden_size=hidden_size,
        num_hidden_layers=num_layers,
        num_attention_heads=4,
        intermediate_size=2 * hidden_size,
        max_position_embeddings=max_position_embeddings,
        hidden_dropout_prob=dropout,
        attention_probs_dropout_prob=dropout,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = BertModel(config)
    with quiet_transformers():
        model.save_pretrained(path)

    if sentence_transformers_format:
        write_config(path, pooling="mean", normalize=True, max_seq_length=64, dim=hidden_size)
    return path
