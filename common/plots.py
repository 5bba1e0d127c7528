"""One consistent plotting style for the bootcamp, and the figures every lab needs.

Each function returns the matplotlib ``Figure`` it drew, so a notebook can save it or tweak it.
:class:`LivePlot` redraws a training curve in place in Jupyter (as a Keras callback or from a
PyTorch loop) and draws once at the end when there is no notebook front end.
"""

from __future__ import annotations

import contextlib
import functools
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
from matplotlib import ticker
from matplotlib.axes import Axes
from matplotlib.figure import Figure

STYLE: dict[str, Any] = {
    "figure.figsize": (7.0, 4.0),
    "figure.dpi": 100,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.titlesize": 12,
    "axes.labelsize": 11,
    "legend.frameon": False,
    "image.cmap": "viridis",
}
LOG_SCALE_WORDS = ("loss", "mse", "mae", "error")


_Draw = TypeVar("_Draw", bound=Callable[..., Any])


def use_style() -> None:
    """Apply the bootcamp's style to every later figure (a notebook's own, explicit choice)."""
    matplotlib.rcParams.update(STYLE)


def style() -> contextlib.AbstractContextManager[Any]:
    """Return a context in which figures get the bootcamp's style; rcParams are restored after."""
    return matplotlib.rc_context(STYLE)


def styled(draw: _Draw) -> _Draw:
    """Make ``draw`` draw in :func:`style`, leaving rcParams as it found them."""

    @functools.wraps(draw)
    def draw_in_style(*args: Any, **kwargs: Any) -> Any:
        with style():
            return draw(*args, **kwargs)

    return draw_in_style  # type: ignore[return-value]


def _history_dict(history: Any) -> dict[str, list[float]]:
    """Accept a Keras ``History``, a dict of lists, or a :class:`LivePlot`."""
    if hasattr(history, "history"):
        history = history.history
    if not isinstance(history, Mapping):
        raise TypeError(
            f"Expected a Keras History or a dict of metric lists, got {type(history).__name__}."
        )
    return {key: [float(v) for v in values] for key, values in history.items()}


def _metric_groups(names: Sequence[str]) -> list[str]:
    """Base metric names ('loss', 'accuracy') in order, each possibly with a 'val_' partner."""
    groups: list[str] = []
    for name in names:
        base = name.removeprefix("val_")
        if base not in groups and base != "learning_rate":
            groups.append(base)
    return groups


def _is_log_metric(name: str) -> bool:
    return any(word in name.lower() for word in LOG_SCALE_WORDS)


def _draw_history(
    axes: Sequence[Any], history: dict[str, list[float]], x: Sequence[float] | None, xlabel: str
) -> None:
    for ax, base in zip(axes, _metric_groups(list(history)), strict=False):
        ax.clear()
        for key, label in ((base, "train"), (f"val_{base}", "validation")):
            if key in history and history[key]:
                values = history[key]
                steps = list(x)[: len(values)] if x is not None else range(1, len(values) + 1)
                ax.plot(steps, values, marker="o" if len(values) < 30 else None, ms=3, label=label)
        if _is_log_metric(base):
            ax.set_yscale("log")
        ax.set_xlabel(xlabel)
        ax.set_ylabel(base)
        ax.legend()


@styled
def loss_curves(history: Any, title: str | None = None, xlabel: str = "epoch") -> Figure:
    """Plot train/validation curves (semilog for losses), one panel per metric."""
    history_dict = _history_dict(history)
    groups = _metric_groups(list(history_dict))
    fig, axes = plt.subplots(1, len(groups), figsize=(5.0 * len(groups), 3.8), squeeze=False)
    _draw_history(axes[0], history_dict, None, xlabel)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


@styled
def image_grid(
    images: np.ndarray,
    labels: Sequence[Any] | None = None,
    predictions: Sequence[Any] | None = None,
    class_names: Sequence[str] | None = None,
    ncols: int = 8,
    title: str | None = None,
    cmap: str = "gray",
) -> Figure:
    """Show images in a grid with their labels; predictions that differ are shown in red."""
    images = np.asarray(images)
    count = len(images)
    nrows = max(1, int(np.ceil(count / ncols)))
    fig, axes = plt.subplots(nrows, ncols, figsize=(1.4 * ncols, 1.6 * nrows), squeeze=False)

    def name(value: Any) -> str:
        return class_names[int(value)] if class_names is not None else str(value)

    for index, ax in enumerate(axes.ravel()):
        ax.axis("off")
        if index >= count:
            continue
        image = images[index]
        ax.imshow(image.squeeze(), cmap=cmap if image.ndim == 2 or image.shape[-1] == 1 else None)
        caption, colour = "", "black"
        if labels is not None:
            caption = name(labels[index])
        if predictions is not None:
            predicted = name(predictions[index])
            caption = f"{caption}\n→ {predicted}" if caption else predicted
            if labels is not None and predictions[index] != labels[index]:
                colour = "red"
        ax.set_title(caption, fontsize=8, color=colour)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


@styled
def confusion_matrix(
    y_true: Sequence[int],
    y_pred: Sequence[int],
    class_names: Sequence[str] | None = None,
    normalize: bool = True,
    title: str | None = None,
) -> Figure:
    """Plot the confusion matrix (rows: true, columns: predicted), row-normalised by default."""
    from sklearn.metrics import confusion_matrix as sk_confusion_matrix

    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    num_classes = (
        len(class_names) if class_names is not None else int(max(y_true.max(), y_pred.max())) + 1
    )
    counts = sk_confusion_matrix(y_true, y_pred, labels=np.arange(num_classes))
    shown = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1) if normalize else counts
    names = list(class_names) if class_names is not None else [str(i) for i in range(num_classes)]
    size = max(4.0, 0.55 * num_classes + 1.5)
    fig, ax = plt.subplots(figsize=(size + 1.0, size))
    image = ax.imshow(shown, cmap="Blues", vmin=0)
    ax.grid(False)
    for (row, col), value in np.ndenumerate(shown):
        text = f"{value:.2f}" if normalize else str(value)
        ax.text(
            col,
            row,
            text,
            ha="center",
            va="center",
            fontsize=7,
            color="white" if value > 0.6 * shown.max() else "black",
        )
    ax.set_xticks(range(num_classes), names, rotation=45, ha="right")
    ax.set_yticks(range(num_classes), names)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    fig.colorbar(image, ax=ax, label="fraction of the true class" if normalize else "count")
    ax.set_title(title or "Confusion matrix")
    fig.tight_layout()
    return fig


@styled
def field(
    values: np.ndarray,
    extent: Sequence[float] | None = None,
    title: str | None = None,
    label: str | None = None,
    mask: np.ndarray | None = None,
    cmap: str = "viridis",
    symmetric: bool = False,
    ax: Any = None,
) -> Figure:
    """Show a scalar field on a 2D grid (rows are y, columns x); masked cells are left blank."""
    values = np.asarray(values, dtype=float)
    if mask is not None:
        values = np.ma.masked_where(np.asarray(mask, dtype=bool), values)
    if ax is None:
        fig, ax = plt.subplots(figsize=(7.0, 3.5))
    else:
        fig = ax.figure
    limit = float(np.nanmax(np.abs(values))) if symmetric else None
    image = ax.imshow(
        values,
        origin="lower",
        extent=extent,
        cmap="RdBu_r" if symmetric else cmap,
        vmin=-limit if symmetric else None,
        vmax=limit,
        aspect="equal",
    )
    ax.grid(False)
    ax.set_xlabel("x")
    ax.set_ylabel("y")
    fig.colorbar(image, ax=ax, label=label, shrink=0.8)
    if title:
        ax.set_title(title)
    return fig


@styled
def prediction_vs_truth(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    title: str | None = None,
    xlabel: str = "truth",
    ylabel: str = "prediction",
    ax: Any = None,
) -> Figure:
    """Scatter predictions against the truth with the y = x line and the R² score."""
    y_true = np.asarray(y_true, dtype=float).ravel()
    y_pred = np.asarray(y_pred, dtype=float).ravel()
    if ax is None:
        fig, ax = plt.subplots(figsize=(4.8, 4.5))
    else:
        fig = ax.figure
    ax.scatter(y_true, y_pred, s=6, alpha=0.5, label="samples")
    low, high = float(min(y_true.min(), y_pred.min())), float(max(y_true.max(), y_pred.max()))
    ax.plot([low, high], [low, high], "k--", lw=1, label="y = x")
    residual = np.sum((y_true - y_pred) ** 2)
    total = np.sum((y_true - y_true.mean()) ** 2)
    r2 = 1.0 - residual / total if total > 0 else float("nan")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title or f"Prediction vs truth (R² = {r2:.3f})")
    ax.legend()
    return fig


@styled
def flow_prediction(
    obstacle: np.ndarray,
    true_velocity: np.ndarray,
    predicted_velocity: np.ndarray,
    title: str | None = None,
) -> Figure:
    """Speed |u| of the truth and the prediction, and the size of the error, side by side."""
    true_speed = np.hypot(true_velocity[..., 0], true_velocity[..., 1])
    predicted_speed = np.hypot(predicted_velocity[..., 0], predicted_velocity[..., 1])
    error = np.hypot(*(predicted_velocity - true_velocity).transpose(2, 0, 1))
    fig, axes = plt.subplots(1, 3, figsize=(15, 2.8))
    top = float(true_speed.max())
    for ax, values, name in zip(
        axes,
        (true_speed, predicted_speed, error),
        ("solver |u|", "network |u|", "|error|"),
        strict=True,
    ):
        shown = np.ma.masked_where(obstacle, values)
        image = ax.imshow(shown, origin="lower", vmin=0, vmax=top if name != "|error|" else None)
        ax.grid(False)
        ax.set_title(name)
        ax.set_xlabel("x (cells)")
        fig.colorbar(image, ax=ax, shrink=0.8)
    axes[0].set_ylabel("y (cells)")
    relative = np.linalg.norm(predicted_velocity - true_velocity) / np.linalg.norm(true_velocity)
    fig.suptitle(title or f"Relative L2 error {relative:.1%}")
    fig.tight_layout()
    return fig


@styled
def neuron_diagram(
    inputs: Sequence[float],
    weights: Sequence[float],
    bias: float,
    activation: str,
    title: str | None = None,
    ax: Axes | None = None,
) -> Figure:
    """Draw one neuron: weighted inputs into a sum with a bias, then the activation and output."""
    if len(inputs) != len(weights):
        raise ValueError(
            f"A neuron needs one weight per input: got {len(inputs)} inputs and "
            f"{len(weights)} weights."
        )
    num_inputs = len(inputs)
    if ax is None:
        fig, ax = plt.subplots(figsize=(7.0, max(4.0, 1.4 * num_inputs)))
    else:
        fig = ax.figure
    centre = float(num_inputs)  # the summing node sits level with the middle input
    heights = [centre + 2.0 * ((num_inputs - 1) / 2 - j) for j in range(num_inputs)]
    arrow = {"arrowstyle": "->"}
    for j, (value, weight, height) in enumerate(zip(inputs, weights, heights, strict=True)):
        ax.add_patch(plt.Circle((1, height), 0.55, color="tab:blue", alpha=0.25))
        ax.text(1, height, f"$x_{{{j + 1}}}$ = {value:g}", ha="center", va="center", fontsize=9)
        ax.annotate("", xy=(4.4, centre), xytext=(1.6, height), arrowprops=arrow)
        ax.text(
            3.0,
            (height + centre) / 2,
            f"$w_{{{j + 1}}}$ = {weight:g}",
            ha="center",
            va="center",
            fontsize=9,
            bbox={"facecolor": "white", "edgecolor": "none", "pad": 1},
        )
    ax.add_patch(plt.Circle((5, centre), 0.6, color="tab:orange", alpha=0.3))
    ax.text(5, centre, r"$\Sigma$", ha="center", va="center", fontsize=16)
    ax.annotate(
        f"b = {bias:g}",
        xy=(5, centre + 0.6),
        xytext=(5, centre + 2.2),
        ha="center",
        arrowprops=arrow,
    )
    ax.annotate("", xy=(6.7, centre), xytext=(5.6, centre), arrowprops=arrow)
    ax.text(6.15, centre + 0.25, "z", ha="center")
    ax.add_patch(plt.Rectangle((6.7, centre - 0.6), 1.6, 1.2, color="tab:green", alpha=0.3))
    ax.text(7.5, centre, rf"$\varphi$ = {activation}", ha="center", va="center", fontsize=9)
    ax.annotate("", xy=(9.5, centre), xytext=(8.3, centre), arrowprops=arrow)
    ax.text(9.8, centre, "y", va="center", fontsize=12)
    bottom = min(heights[-1] - 1.0, centre - 1.0)
    top = max(heights[0] + 1.2, centre + 2.6)
    ax.set(xlim=(0, 10.5), ylim=(bottom, top), aspect="equal")
    ax.axis("off")
    if title:
        ax.set_title(title)
    return fig


@styled
def loss_curves_loglog(
    history: Any,
    floor: float | None = None,
    floor_label: str = "noise floor",
    xlabel: str = "epoch",
    ylabel: str = "loss",
    title: str | None = "Loss curves",
    ax: Axes | None = None,
) -> Figure:
    """Plot training and validation loss per epoch on log-log axes, with an optional floor line."""
    history_dict = _history_dict(history)
    if not history_dict.get("loss") and not history_dict.get("val_loss"):
        raise ValueError(
            f"The history has no 'loss' or 'val_loss' values (keys: {sorted(history_dict)})."
        )
    if ax is None:
        fig, ax = plt.subplots(figsize=(6.0, 4.0))
    else:
        fig = ax.figure
    for key, label in (("loss", "train"), ("val_loss", "validation")):
        values = history_dict.get(key)
        if values:
            ax.plot(np.arange(1, len(values) + 1), values, label=label)
    if floor is not None:
        ax.axhline(floor, color="k", ls=":", label=floor_label)
    ax.set(xscale="log", yscale="log", xlabel=xlabel, ylabel=ylabel)
    if title:
        ax.set_title(title)
    ax.legend()
    return fig


@styled
def fit_and_loss_curves(
    history: Any,
    x: np.ndarray,
    truth: np.ndarray,
    prediction: np.ndarray,
    x_data: np.ndarray,
    y_data: np.ndarray,
    floor: float | None = None,
    *,
    floor_label: str = "noise floor",
    truth_label: str = "truth",
    model_label: str = "model",
    xlabel: str = "x",
    ylabel: str = "y",
    loss_xlabel: str = "epoch",
    loss_ylabel: str = "loss",
    ylim: tuple[float, float] | None = None,
    title: str | None = None,
) -> Figure:
    """Loss curves (left, log-log) and a 1D fit against the truth and its training data (right)."""
    fig, (ax_loss, ax_fit) = plt.subplots(1, 2, figsize=(12.0, 4.0))
    loss_curves_loglog(history, floor, floor_label, loss_xlabel, loss_ylabel, ax=ax_loss)
    few = len(x_data) < 50  # a small training set is drawn with large markers
    ax_fit.scatter(
        x_data,
        y_data,
        s=40 if few else 10,
        alpha=1.0 if few else 0.4,
        zorder=3,
        color="tab:orange" if few else "tab:gray",
        edgecolor="k" if few else "none",
        label=f"training data ({len(x_data)})",
    )
    ax_fit.plot(x, truth, "k--", label=truth_label)
    ax_fit.plot(x, prediction, color="tab:red", label=model_label)
    ax_fit.set(xlabel=xlabel, ylabel=ylabel, title="Fitted curve")
    if ylim is not None:
        ax_fit.set_ylim(ylim)
    ax_fit.legend(loc="upper right", fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def _plain_number(value: float, _position: int | None = None) -> str:
    """12,000 for whole numbers, 0.5 or 2.5 otherwise: never 1.2e4 for a tick of a plot."""
    if abs(value) >= 1 and float(value).is_integer():
        return f"{value:,.0f}"
    return f"{value:,g}"


def plain_number_ticks(
    ax: Axes, axis: str = "x", log: bool = False, subs: Sequence[float] = (1.0, 2.0, 5.0)
) -> Axes:
    """Label an axis with plain numbers (12,000, 0.5); ``log``: log scale, ticks at subs × 10^k."""
    if axis not in ("x", "y"):
        raise ValueError(f"axis must be 'x' or 'y', got {axis!r}.")
    target = ax.xaxis if axis == "x" else ax.yaxis
    if log:  # set the scale first: it resets the locators and formatters
        if axis == "x":
            ax.set_xscale("log")
        else:
            ax.set_yscale("log")
        target.set_major_locator(ticker.LogLocator(subs=subs))
        target.set_minor_formatter(ticker.NullFormatter())
    target.set_major_formatter(ticker.FuncFormatter(_plain_number))
    return ax


def _in_notebook() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and type(shell).__name__ == "ZMQInteractiveShell"


class LivePlot:
    """Training curves that redraw in place in Jupyter; headless, they are drawn once at the end.

    Use ``live.update(epoch, loss=..., val_loss=...)`` from a PyTorch loop and ``live.close()``
    after it, or pass ``live.keras_callback()`` to ``model.fit``.
    """

    def __init__(
        self, title: str | None = None, xlabel: str = "epoch", min_interval_s: float = 0.5
    ) -> None:
        self.title = title
        self.xlabel = xlabel
        self.min_interval_s = min_interval_s
        self.history: dict[str, list[float]] = {}
        self.steps: list[float] = []
        self._handle: Any = None
        self._last_draw = 0.0
        self._live = _in_notebook()

    def update(self, step: float, **metrics: float) -> None:
        """Append one point per metric (e.g. ``loss=0.3, val_loss=0.4``) and redraw if due."""
        self.steps.append(float(step))
        for name, value in metrics.items():
            self.history.setdefault(name, []).append(float(value))
        if self._live and time.monotonic() - self._last_draw >= self.min_interval_s:
            self._show()

    @styled
    def figure(self, managed: bool = False) -> Figure:
        """Draw the curves so far on a new figure (a pyplot one if ``managed``) and return it."""
        groups = _metric_groups(list(self.history)) or ["loss"]
        size = (5.0 * len(groups), 3.8)
        fig = plt.figure(figsize=size) if managed else Figure(figsize=size)
        axes = fig.subplots(1, len(groups), squeeze=False)[0]
        _draw_history(axes, self.history, self.steps, self.xlabel)
        if self.title:
            fig.suptitle(self.title)
        fig.tight_layout()
        return fig

    def _show(self) -> None:
        from IPython.display import display

        fig = self.figure()
        if self._handle is None:
            self._handle = display(fig, display_id=True)
        else:
            self._handle.update(fig)
        self._last_draw = time.monotonic()

    def close(self) -> None:
        """Draw the final curves: in place in Jupyter, else once on a pyplot figure."""
        if self._live:
            self._show()
        else:
            self.figure(managed=True)

    def keras_callback(self) -> Any:
        """Return a Keras callback that feeds this plot at the end of every epoch."""
        import keras

        live = self

        class _LivePlotCallback(keras.callbacks.Callback):
            def on_epoch_end(self, epoch: int, logs: dict[str, float] | None = None) -> None:
                live.update(
                    epoch + 1, **{k: v for k, v in (logs or {}).items() if k != "learning_rate"}
                )

            def on_train_end(self, logs: dict[str, float] | None = None) -> None:
                live.close()

        return _LivePlotCallback()
