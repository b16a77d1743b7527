"""PNG figures of the analysis results (matplotlib, Agg backend, no display needed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rnnkit.plots.figure import save_figure


def _pyplot() -> Any:
    """pyplot on the Agg backend, imported when a figure is drawn (half a second that the
    command line's start would otherwise pay for every command)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_gradient_flow(results: dict[str, dict], path: str | Path) -> None:
    """Overlay ||dL_T/ds_t|| and ||J_T..J_{t+1}||_2 against steps back T - t, log scale."""
    fig, axes = _pyplot().subplots(1, 2, figsize=(11, 4.2), sharex=True)
    for name, r in results.items():
        T = r["length"]
        back = list(range(T, -1, -1))  # t = 0..T  ->  T - t
        grad = [g if g > 0 else float("nan") for g in r["grad_norm"]]  # 0: float32 underflow
        (line,) = axes[0].semilogy(back, grad, label=name)
        axes[1].semilogy(back, r["product_norm"], label=name, color=line.get_color())
    axes[0].set_title(r"$\|\partial L_T / \partial s_t\|$ (geometric mean over the batch)")
    axes[1].set_title(r"$\|J_T \cdots J_{t+1}\|_2$, $J_k = \partial s_k/\partial s_{k-1}$")
    for ax in axes:
        ax.set_xlabel("steps back from the last step, T - t")
        ax.grid(True, which="major", alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    save_figure(fig, path, dpi=110)


def plot_clipping(
    curves: dict[str, list[float]], losses: dict[str, list[float]], path: str | Path, title: str
) -> None:
    """Gradient norm before clipping, and the loss, per training step; one line per run."""
    fig, axes = _pyplot().subplots(1, 2, figsize=(11, 4))
    for name, norms in curves.items():
        (line,) = axes[0].semilogy(range(1, len(norms) + 1), norms, label=name)
        loss = losses[name]
        axes[1].plot(range(1, len(loss) + 1), loss, label=name, color=line.get_color())
    axes[0].set_ylabel("total gradient norm before clipping")
    axes[1].set_ylabel("training loss (cross-entropy, nats)")
    for ax in axes:
        ax.set_xlabel("training step")
        ax.grid(True, alpha=0.3)
        ax.legend()
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    save_figure(fig, path, dpi=110)


def plot_memory_table(rows: list[dict[str, Any]], path: str | Path) -> None:
    """One panel per task: the test metric against length, one line per cell."""
    tasks = sorted({r["task"] for r in rows})
    fig, axes = _pyplot().subplots(1, len(tasks), figsize=(5.5 * len(tasks), 4), squeeze=False)
    for ax, task in zip(axes[0], tasks, strict=True):
        key = "test_mse" if task == "adding" else "test_accuracy"
        for cell in sorted({r["cell"] for r in rows if r["task"] == task}):
            pts = sorted(
                (r["length"], r[key]) for r in rows if (r["task"], r["cell"]) == (task, cell)
            )
            ax.plot([p[0] for p in pts], [p[1] for p in pts], "o-", label=cell)
        if task == "adding":
            ax.set_yscale("log")
            ax.axhline(0.01, color="k", ls="--", lw=1, label="solved (0.01)")
            ax.axhline(1 / 6, color="gray", ls=":", lw=1, label="predict the mean (0.167)")
            ax.set_ylabel("test MSE")
        else:
            ax.axhline(0.99, color="k", ls="--", lw=1, label="solved (0.99)")
            ax.set_ylabel("per-symbol accuracy on the copied symbols")
        ax.set_xlabel("length T")
        ax.set_title(f"{task} task")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    save_figure(fig, path, dpi=110)
