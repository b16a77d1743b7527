"""Data: corpora, tokenizers and batching."""

from rnnkit.data.stream import TokenStream, eval_stream, split_tail
from rnnkit.data.text import default_corpus_path, read_text
from rnnkit.data.tokenizers import (
    CharTokenizer,
    WordTokenizer,
    fit_tokenizer,
    tokenizer_from_dict,
)

__all__ = [
    "CharTokenizer",
    "TokenStream",
    "WordTokenizer",
    "default_corpus_path",
    "eval_stream",
    "fit_tokenizer",
    "read_text",
    "split_tail",
    "tokenizer_from_dict",
]
