"""Simple baselines measured beside every model, on the same split.

- classification: TF-IDF features + logistic regression (scikit-learn); for real-valued
  sequences, logistic regression on the standardised flattened sequence;
- tagging: each token's most frequent training tag, the overall most frequent tag for tokens
  never seen in training;
- forecasting: naive (repeat the last value) and seasonal-naive (repeat the last season).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

import numpy as np

from rnnkit.data.conll import Sentence


def tfidf_logreg(
    train_texts: list[str], train_labels: list[str], test_texts: list[str], level: str = "word"
) -> list[str]:
    """Labels predicted for ``test_texts`` by TF-IDF (word 1-2-grams or char 2-5-grams) + LR."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    if level == "char":
        vec = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True)
    else:
        vec = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=1)
    clf = LogisticRegression(max_iter=2000, C=4.0)
    clf.fit(vec.fit_transform(train_texts), train_labels)
    return list(clf.predict(vec.transform(test_texts)))


def _flatten(seqs: list[np.ndarray], steps: int) -> np.ndarray:
    out = np.zeros((len(seqs), steps, seqs[0].shape[-1]), dtype=np.float64)  # (N, T, F)
    for i, s in enumerate(seqs):
        out[i, : min(len(s), steps)] = s[:steps]
    return out.reshape(len(seqs), -1)  # (N, T*F)


def flat_logreg(
    train_seqs: list[np.ndarray], train_labels: list[str], test_seqs: list[np.ndarray]
) -> list[str]:
    """Labels from logistic regression on sequences zero-padded to the longest and flattened."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    steps = max(len(s) for s in train_seqs)
    clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    clf.fit(_flatten(train_seqs, steps), train_labels)
    return list(clf.predict(_flatten(test_seqs, steps)))


def most_frequent_tag(train: list[Sentence], test_tokens: list[list[str]]) -> list[list[str]]:
    """Each token's most frequent training tag (ties: first seen); unseen tokens get the
    overall most frequent tag."""
    counts: dict[str, Counter] = defaultdict(Counter)
    overall: Counter = Counter()
    for tokens, tags in train:
        for w, t in zip(tokens, tags, strict=True):
            counts[w][t] += 1
            overall[t] += 1
    best = {w: c.most_common(1)[0][0] for w, c in counts.items()}
    default = overall.most_common(1)[0][0]
    return [[best.get(w, default) for w in tokens] for tokens in test_tokens]


def naive(history: np.ndarray, horizon: int) -> np.ndarray:
    """(H,) the last value repeated: yhat_{n+h} = y_n."""
    return np.full(horizon, history[-1], dtype=np.float64)


def seasonal_naive(history: np.ndarray, horizon: int, period: int) -> np.ndarray:
    """(H,) the value one season earlier: yhat_{n+h} = y_{n+h-m*k}, k = ceil(h/m)."""
    if period is None or period < 1 or len(history) < period:
        return naive(history, horizon)
    season = history[-period:]
    return np.array([season[h % period] for h in range(horizon)], dtype=np.float64)


# name: (median spacing of the dates in days, season length); a spacing within 15% matches
SPACINGS = {
    "half-hourly": (1 / 48, 48),
    "hourly": (1 / 24, 24),
    "daily": (1.0, 7),
    "weekly": (7.0, 52),
    "monthly": (30.44, 12),
    "quarterly": (91.3, 4),
    "yearly": (365.25, None),
}


def infer_period(dates: list[str] | None) -> tuple[int | None, str | None]:
    """(season length, spacing name) from the median spacing of ``dates``: monthly data has a
    season of 12, weekly 52, daily 7, hourly 24, half-hourly 48, quarterly 4; yearly none.
    (None, None) when there are no dates or the spacing is none of these."""
    if not dates or len(dates) < 3:
        return None, None
    import pandas as pd

    try:
        stamps = pd.to_datetime(pd.Series(dates)).to_numpy()
    except (ValueError, TypeError):
        return None, None
    days = float(np.median(np.diff(stamps).astype("timedelta64[s]").astype(np.float64))) / 86400
    for name, (spacing, period) in SPACINGS.items():
        if abs(days - spacing) <= 0.15 * spacing:
            return period, name
    return None, None


def statespace_forecasts(
    kind: str, y: np.ndarray, origins: range, horizon: int, period: int | None, fit_end: int
) -> np.ndarray:
    """(N, H) forecasts from every origin by a model fitted once on ``y[:fit_end]`` and then run
    forward over the series without refitting (each origin sees only the values before it).

    ``kind``: ``ets``, exponential smoothing with an additive trend and, when the series has a
    season, additive seasonality (Hyndman et al. 2008); ``sarima``, a seasonal ARIMA
    (1,1,1)x(0,1,1)_m, the "airline" family (Box and Jenkins), or ARIMA(1,1,1) without a season.
    Both from statsmodels' state-space models.
    """
    import warnings

    from statsmodels.tsa.statespace.exponential_smoothing import ExponentialSmoothing
    from statsmodels.tsa.statespace.sarimax import SARIMAX

    seasonal = period if period and 2 <= period <= fit_end // 3 else None
    with warnings.catch_warnings():  # convergence chatter from the optimiser
        warnings.simplefilter("ignore")
        if kind == "ets":
            model = ExponentialSmoothing(y[:fit_end], trend=True, seasonal=seasonal)
        elif kind == "sarima":
            season = (0, 1, 1, seasonal) if seasonal else (0, 0, 0, 0)
            model = SARIMAX(y[:fit_end], order=(1, 1, 1), seasonal_order=season)
        else:
            raise ValueError(f"unknown baseline {kind!r}")
        fitted = model.fit(disp=False).apply(y)  # same parameters, filtered over the series
    return state_forecasts(fitted, origins, horizon)


def state_forecasts(fitted: Any, origins: range, horizon: int) -> np.ndarray:
    """(N, H) forecasts of a time-invariant state-space model from every origin at once:
    a = a_{t|t-1} (the filter's predicted state), then yhat_{t+j} = Z a + d, a <- T a + c."""
    ssm = fitted.model.ssm

    def fixed(name: str, dims: int) -> np.ndarray:
        m = np.asarray(ssm[name])
        if m.ndim > dims:  # time-varying: these models never are, but say so if one is
            if m.shape[-1] != 1:
                raise ValueError(f"{name} varies in time")
            m = m[..., 0]
        return m

    Z, T = fixed("design", 2), fixed("transition", 2)  # (1, k), (k, k)
    d, c = fixed("obs_intercept", 1), fixed("state_intercept", 1)  # (1,), (k,)
    a = np.asarray(fitted.predicted_state)[:, list(origins)]  # (k, N)
    out = np.empty((len(origins), horizon))
    for j in range(horizon):
        out[:, j] = (Z @ a)[0] + d[0]
        a = T @ a + c[:, None]
    return out
