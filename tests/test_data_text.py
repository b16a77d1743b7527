"""Reading corpora and tokenizing them: round trips and every unusable-file case."""

import pytest
import torch

from rnnkit.data import (
    CharTokenizer,
    default_corpus_path,
    fit_tokenizer,
    read_text,
    tokenizer_from_dict,
)
from rnnkit.errors import RnnkitError


def test_bundled_corpus_is_shakespeare_and_small():
    path = default_corpus_path()
    assert path.is_file() and path.stat().st_size < 1_500_000
    text = read_text(None)
    assert "HAMLET" in text and "To be, or not to be" in text
    assert len(text) > 900_000


@pytest.mark.parametrize(
    "content, message",
    [
        (b"", "empty"),
        (b"  \n\n", "empty"),
        (b"abc\x00def", "binary"),
        (b"caf\xe9 au lait", "not valid UTF-8"),
    ],
)
def test_unusable_files_raise_one_clear_error(tmp_path, content, message):
    f = tmp_path / "t.txt"
    f.write_bytes(content)
    with pytest.raises(RnnkitError, match=message):
        read_text(f)


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(RnnkitError, match="not found"):
        read_text(tmp_path / "nope.txt")
    with pytest.raises(RnnkitError, match="not a regular file"):
        read_text(tmp_path)


def test_crlf_and_bom_are_normalised(tmp_path):
    f = tmp_path / "t.txt"
    f.write_bytes("\ufeffa\r\nb\rc".encode())
    assert read_text(f) == "a\nb\nc"


def test_char_tokenizer_round_trips_and_rejects_unknown():
    text = read_text(None)[:20000]
    tok = CharTokenizer.fit(text)
    assert tok.decode(tok.encode(text)) == text
    assert tok.vocab == sorted(set(text))
    again = tokenizer_from_dict(tok.to_dict())
    assert again.encode(text) == tok.encode(text)
    with pytest.raises(RnnkitError, match="vocabulary lacks"):
        tok.encode("caf\u00e9")


def test_word_tokenizer_unknown_words_and_vocab_limit():
    text = "the cat sat on the mat .\nthe dog sat .\n"
    tok = fit_tokenizer(text, "word", max_vocab=4)
    assert len(tok) == 4 and tok.vocab[0] == "<unk>"
    assert tok.vocab[1:] == ["the", "sat", "."]  # most frequent first, ties by appearance
    assert tok.decode(tok.encode("the zebra sat .")) == "the <unk> sat."
    full = fit_tokenizer(text, "word", 100)
    # Decoding normalises spacing only: words, punctuation and line breaks all come back.
    assert full.decode(full.encode(text)) == "the cat sat on the mat.\nthe dog sat.\n"
    assert tokenizer_from_dict(full.to_dict()).vocab == full.vocab


def test_word_tokenizer_keeps_apostrophes_and_punctuation():
    tok = fit_tokenizer("I'll go, won't you?", "word")
    assert tok.tokenize("I'll go, won't you?") == ["I'll", "go", ",", "won't", "you", "?"]
    assert tok.decode(tok.encode("I'll go, won't you?")) == "I'll go, won't you?"


def test_bad_level_and_bad_saved_tokenizer():
    with pytest.raises(RnnkitError, match="level"):
        fit_tokenizer("abc", "byte")
    with pytest.raises(RnnkitError):
        tokenizer_from_dict({"level": "word", "vocab": ["a"]})
    with pytest.raises(RnnkitError):
        tokenizer_from_dict({"nothing": 1})


def test_compact_ids_equal_the_plain_encoding():
    text = "Hello, w\u00f6rld! \U0001f600 tab\there\n" * 50
    tok = fit_tokenizer(text, "char")
    ids = tok.encode_ids(text)
    assert ids.dtype == torch.uint8 and ids.tolist() == tok.encode(text)
    big = fit_tokenizer("".join(chr(0x4E00 + i) for i in range(300)), "char")
    assert big.encode_ids(big.vocab[299] + big.vocab[0]).tolist() == [299, 0]
    assert big.encode_ids(big.vocab[5]).dtype == torch.int16
    with pytest.raises(RnnkitError, match="vocabulary lacks"):
        tok.encode_ids("caf\u00e9 \U0001f601")
    assert tok.encode_ids("caf\u00e9 \U0001f601", strict=False).tolist() == tok.encode(
        "caf\u00e9 \U0001f601", strict=False
    )
