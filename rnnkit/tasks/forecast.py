"""Forecasting real-valued series: a rolling-origin test against naive baselines, and forecasts.

Split (in time order): train | validation | test. The scaling (mean, standard deviation) is
learned on the training part only. Training windows lie wholly in the training part; the
validation origins (early stopping) in the validation part; the test is rolling-origin: from
every origin t in the test part with t + H <= N, forecast y_{t..t+H-1} from the W values
before t, and average the errors over all origins and steps:

    MAE = mean |e|     RMSE = sqrt(mean e^2)     MASE = MAE / mean_{t in train} |y_t - y_{t-1}|

MASE < 1 means the model beats the in-sample one-step naive forecast on average (Hyndman and
Koehler 2006). The prediction interval is the model's outer quantiles (default 5% and 95%,
trained with the pinball loss); its empirical coverage on the test origins is reported beside it.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from rnnkit.baselines import classic as baselines
from rnnkit.config import Settings, setting
from rnnkit.data.panel import read_panel
from rnnkit.data.series import Series, read_series
from rnnkit.errors import RnnkitError
from rnnkit.models.esrnn import ESRNN
from rnnkit.models.forecaster import BASES, Forecaster, ForecasterConfig, pinball_loss
from rnnkit.scoring.forecast import errors, mase_scale, seasonal_mase_scale
from rnnkit.scoring.m4 import smape as scoring_smape
from rnnkit.tasks import forecast_panel as panel
from rnnkit.tasks import panel_combine as combination
from rnnkit.tasks.base import (
    Companion,
    LoadedModel,
    Refit,
    Splits,
    Task,
    TrainedModel,
    exactly_one_source,
    register_task,
)
from rnnkit.train.steps import ListBatches, StepOutput

Examples = tuple[np.ndarray, int, float]  # series (N,), first forecast origin, MASE scale


def default_window(period: int | None) -> int:
    """Enough to see the last full season and a little more; at least 24 values."""
    return max(24, period + 8) if period else 24


def split_points(n: int, window: int, horizon: int, val: float, test: float) -> tuple[int, int]:
    """(start of validation, start of test); refuses series too short for window + horizon."""
    if n < window + horizon:
        raise RnnkitError(
            f"the series has {n} values, shorter than window + horizon = {window + horizon}"
        )
    t_test = n - max(horizon, round(n * test))
    t_val = t_test - max(horizon, round(n * val))
    if t_val - horizon < window + 1:
        need = window + 3 * horizon + 1
        raise RnnkitError(
            f"the series has {n} values: too short to train on windows of {window} with "
            f"horizon {horizon} and keep validation and test parts (try a smaller window; "
            f"need roughly {need / (1 - val - test):.0f} values)"
        )
    return t_val, t_test


def windows(z: np.ndarray, origins: range, window: int, horizon: int) -> tuple[Tensor, Tensor]:
    """Inputs (N, W) z[t-W:t] and targets (N, H) z[t:t+H] for every origin t."""
    x = np.stack([z[t - window : t] for t in origins])  # (N, W)
    y = np.stack([z[t : t + horizon] for t in origins])  # (N, H)
    return torch.tensor(x, dtype=torch.float32), torch.tensor(y, dtype=torch.float32)


def median_index(quantiles: list[float]) -> int:
    return int(np.argmin([abs(q - 0.5) for q in quantiles]))


@dataclass(kw_only=True)
class ForecastData(Settings):
    data: str | None = setting(
        None, "CSV/TSV file or folder of them: one series (--column) or several (one column "
        "each, or a long table with an id column)", metavar="FILE|DIR",
    )  # fmt: skip
    dataset: str | None = setting(None, "named dataset", metavar="NAME")
    column: str | None = setting(
        None, "the numeric column to forecast (of a long table: its values)", metavar="NAME"
    )
    id_col: str | None = setting(None, "a long table's series id column", metavar="NAME")
    date_col: str | None = setting(None, "date column (rows are sorted by it)", metavar="NAME")
    period: int | None = setting(None, "season length for seasonal-naive", lo=1, hi=100_000)
    horizon: int = setting(None, "steps to forecast", lo=1, hi=100_000)
    window: int | None = setting(
        None, "past values read (default: a season + 8, at least 24)", lo=2, hi=1_000_000
    )
    val: float = setting(0.1, "validation fraction (in time order)", lo=0, hi=1, lo_open=True)
    test: float = setting(0.2, "rolling-origin test fraction", lo=0, hi=1, lo_open=True)
    batch_size: int = setting(32, "windows per step", lo=1, hi=65536)
    base: str = setting(
        "naive", "forecast the network learns to correct: naive (the last value) or seasonal "
        "(the value one season back; for short, strongly seasonal series)", choices=BASES,
    )  # fmt: skip

    def check(self) -> None:
        if self.val + self.test >= 1:
            raise RnnkitError(f"val + test must be below 1, got {self.val} + {self.test}")


@register_task
class ForecastTask(Task):
    name = "forecast"
    help = "train a multi-step forecaster on a time series"
    description = (
        "Train a recurrent forecaster of the next H values with a quantile prediction interval. "
        "Scaling is learned on the training part; the test is rolling-origin over the last "
        "test fraction of the series, beside naive and seasonal-naive forecasts (MAE, RMSE, MASE)."
    )
    Data = ForecastData
    Model = ForecasterConfig
    defaults = {"train": {"epochs": 50, "lr": 3e-3, "eval_every": 25, "patience": 5}}
    # runs saved before these were tested by their own model and chose their interval
    absent = {"model": {"refit": False, "interval": "auto"}}
    monitor = ("val_mae", "min")
    unit = "windows"
    input_settings = ("column", "date_col")
    restored = False

    series_names: list[str] | None = None
    panel_values: list[np.ndarray] | None = None  # a panel's series, as prepare read them
    combination: dict[str, Any] | None = None  # a panel's weights and interval, from its test
    refitted: TrainedModel | None = None  # a panel's network trained to the test origin

    def restore(self, files: dict[str, Any]) -> None:
        self.restored = True  # the scaling lives in the model settings, saved with the run
        self.series_names = files.get("series.json")

    def restore_results(self, results: dict[str, Any]) -> None:
        if self.is_panel:
            self.combination = results.get("test", {}).get("combination")

    def load_series(self, path: str) -> Series:
        if self.data.column is None:
            raise RnnkitError("column NAME is needed with a data file")
        return read_series(path, self.data.column, self.data.date_col, self.data.period)

    def load_panel(self, path: str) -> list[Series]:
        """The file's series: one (--column of a wide table) or several."""
        d = self.data
        if d.column is not None and d.id_col is None and not Path(path).is_dir():
            return [self.load_series(path)]
        found = read_panel(path, d.column, d.date_col, d.id_col)
        for s in found:
            s.period = d.period or s.period
        return found

    @property
    def is_panel(self) -> bool:
        return self.model.kind == "esrnn"

    def prepare(self) -> Splits:
        d = self.data
        loaded, source = exactly_one_source(d.data, d.dataset, self.name)
        if loaded is None:
            loaded = self.load_panel(d.data)
        # a named dataset that loads a list is a panel even with one series (panel-hourly,
        # panel-sub-daily): the ES-RNN and M4's scoring, as for the other frequencies
        named = d.data is None
        if isinstance(loaded, list) and (len(loaded) > 1 or self.is_panel or named):
            return self.prepare_panel(loaded, source)
        series: Series = loaded[0] if isinstance(loaded, list) else loaded
        period, period_from = d.period, "given"
        if period is None and series.period:
            period, period_from = series.period, "the dataset"
        if period is None:
            period, spacing = baselines.infer_period(series.dates)
            period_from = f"inferred from the {spacing} dates" if spacing else "none found"
        window = self.model.window if self.restored else d.window or default_window(period)
        y = series.values
        t_val, t_test = split_points(len(y), window, d.horizon, d.val, d.test)
        if not self.restored:
            std = float(y[:t_val].std())
            self.model.horizon, self.model.window = d.horizon, window
            self.model.mean, self.model.std = float(y[:t_val].mean()), std if std > 0 else 1.0
            if d.base == "seasonal" and not (period and period <= window):
                raise RnnkitError(
                    f"--base seasonal needs a season length (--period) no longer than the "
                    f"window ({window}); the series has {period or 'none'}"
                )
            self.model.base = d.base
            self.model.period = period if d.base == "seasonal" else 0
        info = {
            "source": source,
            "column": series.name,
            "horizon": d.horizon,
            "window": window,
            "period": period,
            "period_from": period_from,
            "base": self.model.base,
            "split": {"train": t_val, "val": t_test - t_val, "test": len(y) - t_test,
                      "test_origins": len(y) - d.horizon + 1 - t_test},
            "interpolated": series.interpolated,
        }  # fmt: skip
        scale = mase_scale(y[:t_val])
        return Splits((y[:t_val], window, scale), (y[:t_test], t_val, scale), (y, t_test, scale),
                      info)  # fmt: skip

    def prepare_panel(self, series: list[Series], source: str) -> Splits:
        """Several series: the ES-RNN across them, M4's holdout (module forecast_panel)."""
        d = self.data
        info = panel.prepare_panel(self.model, series, d.horizon, d.period, d.window,
                                   self.restored)  # fmt: skip
        if self.restored and info["series"] != self.series_names:
            raise RnnkitError("the run was trained on other series than these")
        self.series_names = info["series"]
        self.monitor = ("val_smape", "min")
        values = [s.values for s in series]
        info.update(source=source, interpolated=sum(s.interpolated for s in series))
        self.panel_values = values
        return Splits(values, values, values, info)

    def artefacts(self) -> dict[str, Any]:
        return {"series.json": self.series_names} if self.is_panel else {}

    def batch_sources(self, splits: Splits, rank: int, world: int, seed: int):
        m = self.model
        if self.is_panel:  # training windows end before the validation part
            return (self.panel_batches(splits.train, panel.train_end(m), seed, rank, world),
                    ListBatches([panel.cut(m, splits.val, m.horizon)], shuffle=False))  # fmt: skip
        (y_tr, start, _), (y_va, t_val, _) = splits.train, splits.val
        x_tr, z_tr = windows(self.scale(y_tr), range(start, len(y_tr) - m.horizon + 1),
                             m.window, m.horizon)  # fmt: skip
        x_va, z_va = windows(self.scale(y_va), range(t_val, len(y_va) - m.horizon + 1),
                             m.window, m.horizon)  # fmt: skip
        bs = self.data.batch_size
        train = [(x_tr[i : i + bs], z_tr[i : i + bs]) for i in range(0, len(x_tr), bs)]
        return (ListBatches(train, seed=seed, rank=rank, world=world),
                ListBatches([(x_va, z_va)], shuffle=False))  # fmt: skip

    def panel_batches(
        self, values: list[np.ndarray], end: int, seed: int, rank: int = 0, world: int = 1
    ) -> ListBatches:
        """The panel's training batches: every series' windows that end ``end`` values before
        its end, ``batch_size`` series a batch."""
        m, bs, n = self.model, self.data.batch_size, len(values)
        chunks = [panel.cut(m, values, end, range(i, min(i + bs, n))) for i in range(0, n, bs)]
        # a panel is a batch or a few: an epoch goes over it several times, so that the task's
        # default epochs make enough steps (each step sees every window anyway)
        chunks *= -(-panel.STEPS_PER_EPOCH // len(chunks))
        return ListBatches(chunks, seed=seed, rank=rank, world=world)

    # -- the refit (a panel's) -----------------------------------------------------------------

    def companions(self, purpose: str) -> list[Companion]:
        """A panel's refit: the network trained again, for the whole schedule, on the windows up to
        the test origin (the validation part's last H values included), as the M4 entries
        refitted on the whole series; validation had to hold those values out."""
        if not (self.is_panel and self.model.refit):
            return []
        return [Refit("refit", self.build_model, self.refit_batches)]

    def refit_batches(self, seed: int) -> ListBatches:
        """The refit's training batches: every series' windows up to the test origin."""
        if self.panel_values is None:
            raise RnnkitError("the refit's batches need the panel's series (prepare first)")
        return self.panel_batches(self.panel_values, self.model.horizon, seed)

    def use_companions(self, given: dict[str, TrainedModel | LoadedModel]) -> None:
        refit = given.get("refit")
        self.refitted = refit if isinstance(refit, TrainedModel) else None

    def forecasting_model(self, model: nn.Module) -> nn.Module:
        """The network that forecasts from the test origin on: the refit when there is one."""
        return self.refitted.model if self.refitted is not None else model

    def scale(self, y: np.ndarray) -> np.ndarray:
        return (y - self.model.mean) / self.model.std

    def build_model(self) -> nn.Module:
        if not self.is_panel:
            return Forecaster(self.model)
        model = ESRNN(self.model)
        if self.panel_values is not None and not self.restored:  # a new run: seasons from data
            m = self.model
            seasons = panel.initial_seasons(
                self.panel_values, m.offsets, m.period, panel.train_end(m)
            )
            with torch.no_grad():
                model.init_season.copy_(seasons.expand_as(model.init_season))
        return model

    def loss(self, model: nn.Module, batch: Any, state: Any) -> StepOutput:
        if self.is_panel:
            return StepOutput(*panel.loss(model, batch))
        x, z = batch
        q = torch.tensor(self.model.quantiles, device=x.device)
        return StepOutput(pinball_loss(model(x), z, q), z.numel())

    @torch.no_grad()
    def forecasts(self, model: nn.Module, x: Tensor) -> np.ndarray:
        """Quantile forecasts (N, H, Q) in the series' units for scaled windows (N, W), in
        rising order: the quantile heads are trained apart and can cross (a point forecast
        above its own upper bound), and sorting them (monotone rearrangement, Chernozhukov et
        al. 2010) never raises the pinball loss."""
        model.eval()
        device = next(model.parameters()).device
        z = torch.cat([model(x[i : i + 512].to(device)).cpu() for i in range(0, len(x), 512)])
        return np.sort(model.unscale(z).numpy(), axis=-1)

    def metrics(self, model: nn.Module, val: ListBatches, examples: Any) -> dict[str, float]:
        if self.is_panel:  # forecasts from every validation origin, mean sMAPE
            values = examples  # splits.val: the whole series
            h, smapes = self.model.horizon, []
            for end in panel.validation_ends(self.model.origins, h):
                f = panel.forecast(model, panel.cut(self.model, values, end))[..., 1]  # (N, H)
                truth = [v[len(v) - end : len(v) - end + h] for v in values]
                smapes += [scoring_smape(*p) for p in zip(truth, f, strict=True)]
            return {"smape": float(np.mean(smapes))}
        ((x, z),) = val.batches
        pred = self.forecasts(model, x)[..., median_index(self.model.quantiles)]  # (N, H)
        return {"mae": float(np.abs(pred - model.unscale(z).numpy()).mean())}

    def origins(self, y: np.ndarray, start: int) -> range:
        return range(max(start, self.model.window), len(y) - self.model.horizon + 1)

    def score(self, model: nn.Module, examples: Examples) -> dict[str, Any]:
        if self.is_panel:
            return self.score_panel(model, examples)
        y, start, scale = examples
        m = self.model
        origins = self.origins(y, start)
        if len(origins) < 1:
            raise RnnkitError(
                f"the series has {len(y)} values; scoring needs window + horizon = "
                f"{m.window + m.horizon}"
            )
        x, _ = windows(self.scale(y), origins, m.window, m.horizon)
        pred = self.forecasts(model, x)  # (N, H, Q)
        truth = np.stack([y[t : t + m.horizon] for t in origins])  # (N, H)
        inside = (truth >= pred[..., 0]) & (truth <= pred[..., -1])
        return {
            "origins": len(origins),
            **errors(pred[..., median_index(m.quantiles)], truth, scale),
            "interval": [m.quantiles[0], m.quantiles[-1]],
            "coverage": float(inside.mean()),
        }

    def test(self, model: nn.Module, splits: Splits, run_dir: Path) -> dict[str, Any]:
        if self.is_panel:  # the choice and interval fitted on the validated model's forecasts
            test = panel.test_panel(self.forecasting_model(model), splits.test, splits.info,
                                    validated=model)  # fmt: skip
            self.combination = test["combination"]
            if self.refitted is not None:
                test["refit"] = {"steps": self.refitted.steps,
                                 "train_s": round(self.refitted.seconds, 1)}  # fmt: skip
            return {"test": test}
        y, start, scale = splits.test
        origins, h = self.origins(y, start), self.model.horizon
        truth = np.stack([y[t : t + h] for t in origins])
        period = splits.info["period"]
        seasonal_scale = seasonal_mase_scale(y[: splits.info["split"]["train"]], period)
        forecasts = {"naive": np.stack([baselines.naive(y[:t], h) for t in origins])}
        if period:
            forecasts[f"seasonal_naive_m{period}"] = np.stack(
                [baselines.seasonal_naive(y[:t], h, period) for t in origins]
            )
        for kind in ("ets", "sarima"):  # fitted on train + validation, run over the test part
            forecasts[kind] = baselines.statespace_forecasts(kind, y, origins, h, period, start)
        test = self.score(model, splits.test)
        if seasonal_scale is not None:
            test["mase_seasonal"] = test["mae"] / seasonal_scale
        return {
            "test": test,
            "baselines": {k: errors(f, truth, scale, seasonal_scale) for k, f in forecasts.items()},
            "mase_scale": scale,
            "seasonal_mase_scale": seasonal_scale,
        }

    @staticmethod
    def format_results(r: dict[str, Any]) -> str:
        if "series" in r:
            return panel.format_panel(r)
        t = r["test"]
        seasonal = r.get("seasonal_mase_scale") is not None  # runs before it have no column

        def row(label: str, e: dict[str, Any]) -> str:
            cells = f"{label:28s} {e['mae']:10.4f} {e['rmse']:10.4f} {e['mase']:8.4f}"
            return cells + (f" {e['mase_seasonal']:10.4f}" if seasonal else "")

        lines = [
            f"rolling-origin test: {r['split']['test_origins']} origins x horizon {r['horizon']} "
            f"(window {r['window']}; train {r['split']['train']}, val {r['split']['val']}, "
            f"test {r['split']['test']} values)",
            f"{'':28s} {'MAE':>10s} {'RMSE':>10s} {'MASE':>8s}"
            + (f" {'MASE (m)':>10s}" if seasonal else ""),
            row("rnnkit forecaster", t),
        ]
        lines += [row("baseline: " + name, b) for name, b in r["baselines"].items()]
        lo, hi = t["interval"]
        lines.append(f"{lo:.0%}-{hi:.0%} interval covered {t['coverage']:.1%} of test values")
        if r["horizon"] > 1:
            steps = " ".join(f"{m:.3f}" for m in t["mase_by_step"])
            lines.append(f"rnnkit MASE at steps 1..{r['horizon']}: {steps}")
        lines.append(f"season length: {r['period'] or 'none'} ({r['period_from']})")
        if "base" in r:
            lines.append(f"the network corrects the {r['base']} forecast (--base)")
        if seasonal:
            lines.append(
                "MASE divides by the mean one-step change over the training part; MASE (m) by "
                f"the mean change over one season ({r['period']}), the M4 competition's scale"
            )
        if r["interpolated"]:
            lines.append(f"note: {r['interpolated']} missing values were interpolated")
        return "\n".join(lines)

    # -- using a trained model -----------------------------------------------------------------

    def read_examples(self, path: str) -> Examples:
        if self.is_panel:
            return self.load_panel(path)
        y = self.load_series(path).values
        return y, self.model.window, mase_scale(y)

    def panel_index(self, inputs: list[Series]) -> list[int]:
        """The run's numbers of the series ``inputs`` names; refuses a series it never saw."""
        names = self.series_names or []
        unknown = [s.name for s in inputs if s.name not in names]
        if unknown:
            raise RnnkitError(
                f"the run was trained on {len(names)} series ({', '.join(names[:5])}...); it "
                f"cannot forecast others: {', '.join(unknown[:5])}"
            )
        return [names.index(s.name) for s in inputs]

    def fitted_combination(self) -> dict[str, Any]:
        if self.combination is None:
            raise RnnkitError(
                "the run has no interval calibration (results.json holds none: its training "
                "did not reach the test); train it again"
            )
        return self.combination

    def score_panel(self, model: nn.Module, examples: Any) -> dict[str, Any]:
        """M4's scores on the last H values of each series: the run's own test split (splits.test,
        its values) or a file's series, which must be among the run's (by name)."""
        if examples and isinstance(examples[0], Series):
            index = self.panel_index(examples)
            values = [s.values for s in examples]
        else:
            index, values = list(range(len(examples))), list(examples)
        need = self.model.window + self.model.horizon + 1
        short = [self.series_names[i] for i, v in zip(index, values, strict=True) if len(v) < need]
        if short:
            raise RnnkitError(
                f"scoring needs at least window + horizon + 1 = {need} values per series; "
                f"too short: {', '.join(short[:5])}"
            )
        info = {"series": self.series_names, "period": self.model.period}
        fitted = self.fitted_combination()
        return panel.test_panel(self.forecasting_model(model), values, info, fitted, index,
                                validated=model)  # fmt: skip

    def format_scores(self, scores: dict[str, Any]) -> str:
        if not self.is_panel:
            return super().format_scores(scores)
        o = scores["overall"]
        return "\n".join(
            [f"{'':10s} {'sMAPE':>8s} {'MASE':>8s} {'OWA':>8s}"]
            + [f"{m:10s} {o[m]['smape']:8.3f} {o[m]['mase']:8.3f} {o[m]['owa']:8.3f}" for m in o]
            + [f"rnnkit 95% interval: coverage {o['rnnkit']['coverage']:.1%}, "
               f"MSIS {o['rnnkit']['msis']:.3f}"]
        )  # fmt: skip

    def parse_input(self, text: str) -> Series:
        """A series written inline: numbers separated by commas or spaces."""
        if self.is_panel:
            raise RnnkitError("a panel run forecasts its own series: give them with --input FILE")
        try:
            values = np.array([float(v) for v in text.replace(",", " ").split()], dtype=np.float64)
        except ValueError:
            raise RnnkitError(f"an input series must be numbers, got {text[:40]!r}") from None
        return Series("input", values)

    def read_inputs(self, path: str) -> list[Series]:
        return self.load_panel(path) if self.is_panel else [self.load_series(path)]

    def predict_panel(self, model: nn.Module, inputs: list[Series]) -> list[dict[str, Any]]:
        """The next H values of each of the run's series found in the inputs (by name): the
        combination with the weights and interval factor the run's test fitted."""
        index = self.panel_index(inputs)
        fitted = self.fitted_combination()
        c = self.model
        need = max(c.window, 2 * max(c.period, 1) + 2)
        short = [s.name for s in inputs if len(s.values) < need]
        if short:
            raise RnnkitError(f"each series needs at least {need} values; too short: "
                              f"{', '.join(short[:5])}")  # fmt: skip
        values = [s.values for s in inputs]  # each from its first value, as in training
        members, q = panel.member_forecasts(self.forecasting_model(model), values, index, 0,
                                            c.period)  # fmt: skip
        if self.refitted is not None:  # the interval in the half-widths it was calibrated in
            q = panel.quantiles_at(model, values, index, 0)
        naive = combination.naive_scale(values, c.horizon, c.history)  # (N, H)
        center, lower, upper = panel.combined(members, q, fitted, naive)
        return [{"series": s.name, "steps": future_labels(s.dates, c.horizon, len(s.values)),
                 "forecast": center[i].tolist(), "lower": lower[i].tolist(),
                 "upper": upper[i].tolist(), "interval": [c.quantiles[0], c.quantiles[-1]],
                 "interpolated": s.interpolated}
                for i, s in enumerate(inputs)]  # fmt: skip

    def predict(self, model: nn.Module, inputs: list[Series]) -> list[dict[str, Any]]:
        """The next H values after the end of each series, with the model's interval."""
        if self.is_panel:
            return self.predict_panel(model, inputs)
        m = self.model
        rows = []
        for series in inputs:
            y = series.values
            if len(y) < m.window or not np.isfinite(y[-m.window :]).all():
                raise RnnkitError(
                    f"a series needs its last {m.window} values finite (the model's window); "
                    f"got {len(y)} values"
                )
            x = torch.tensor(self.scale(y[-m.window :]), dtype=torch.float32)[None]  # (1, W)
            pred = self.forecasts(model, x)[0]  # (H, Q)
            rows.append({
                "steps": future_labels(series.dates, m.horizon, len(y)),
                "forecast": pred[:, median_index(m.quantiles)].tolist(),
                "lower": pred[:, 0].tolist(),
                "upper": pred[:, -1].tolist(),
                "interval": [m.quantiles[0], m.quantiles[-1]],
                "interpolated": series.interpolated,
            })  # fmt: skip
        return rows

    def format_prediction(self, fc: dict[str, Any]) -> str:
        lo, hi = fc["interval"]
        lo_name, hi_name = f"{lo * 100:g}%", f"{hi * 100:g}%"
        lines = [f"{'step':>12s} {'forecast':>12s} {lo_name:>12s} {hi_name:>12s}"]
        if "series" in fc:
            lines.insert(0, fc["series"])
        for s, m, a, b in zip(fc["steps"], fc["forecast"], fc["lower"], fc["upper"], strict=True):
            lines.append(f"{s:>12s} {m:12.4f} {a:12.4f} {b:12.4f}")
        if fc["interpolated"]:
            lines.append(f"note: {fc['interpolated']} missing values were interpolated")
        return "\n".join(lines)


def future_labels(dates: list[str] | None, horizon: int, n: int) -> list[str]:
    """Dates of the next ``horizon`` steps when the dates have a regular frequency, else
    step numbers n, n+1, ..."""
    if dates and len(dates) >= 3:
        import pandas as pd

        try:
            idx = pd.DatetimeIndex(pd.to_datetime(dates[-10:]))
            with warnings.catch_warnings():  # pandas 3 warns that infer_freq's type will change
                warnings.simplefilter("ignore")
                freq = pd.infer_freq(idx)
            if freq:
                fut = pd.date_range(idx[-1], periods=horizon + 1, freq=freq)[1:]
                width = len(dates[-1]) if len(dates[-1]) in (4, 7) else 10  # YYYY, YYYY-MM
                return [str(d.date())[:width] for d in fut]
        except (ValueError, TypeError):
            pass
    return [str(n + h) for h in range(horizon)]
