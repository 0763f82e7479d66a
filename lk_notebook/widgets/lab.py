"""LabWidget: the delivery lab as a form with live plots, for notebooks.

Example::

    from lk_notebook.widgets.lab import LabWidget
    w = LabWidget()          # a local server with the relay starts on the first run (or pass lab=Lab(...))
    w                        # controls: modes, sizes, rate, duration, loss, delay; Run / Cancel; live plot
    ...
    w.results.frame          # what the last run measured

The run happens in a background task on the kernel's loop (owned; cancelled by Cancel or `aclose()`); the live
plot re-renders at a fixed rate, coalesced, and errors appear in the widget, never only in the log.
"""

from __future__ import annotations

import asyncio
import html
import io
from typing import Any

import ipywidgets as w

from .._tasks import TaskOwner
from ..errors import LkNotebookError
from ..lab.lab import Lab
from ..lab.packets import RunResult
from ..lab.plots import latency_cdf, loss_vs_size
from ..lab.probe import Mode
from ..lab.relay import Impairment
from ..lab.sweep import Results, measure
from .liveplot import LivePlot, display_view

__all__ = ["LabWidget", "WidgetProgress"]


class WidgetProgress:
    """A sweep's progress (`lk_notebook.lab.sweep.SweepProgress`) as an ipywidgets IntProgress with a label, for a
    form that places the bar itself (the LabWidget)."""

    def __init__(self) -> None:
        self.bar = w.IntProgress(min=0, max=1, value=0, description="sweep")
        self.label = w.Label("")
        self.box = w.HBox([self.bar, self.label])

    def start(self, total: int) -> None:
        self.bar.max = max(1, total)
        self.bar.value = 0

    def step(self, done: int, label: str) -> None:
        self.bar.value = done
        self.label.value = f"{done}/{self.bar.max}: {label}"

    def close(self) -> None:
        self.bar.bar_style = "success" if self.bar.value >= self.bar.max else "warning"

    def _ipython_display_(self) -> None:
        display_view(self.box)


def _png(fig: Any) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=80)
    return buf.getvalue()


class LabWidget:
    """Controls and live plots for `measure()`. Display it in a notebook cell."""

    def __init__(self, *, lab: Lab | None = None, hz: float = 4.0) -> None:
        self.lab = lab
        self._owns_lab = lab is None
        self.tasks = TaskOwner("lab widget", on_error=self._show_error)
        self.results = Results()
        self.modes = w.SelectMultiple(
            options=[m.value for m in Mode], value=("lossy", "reliable"), description="modes", rows=3
        )
        self.sizes = w.Text(value="200,1200,4000", description="sizes (B)")
        self.rate = w.Text(value="500", description="rate (/s)", placeholder="number or 'max'")
        self.duration = w.BoundedFloatText(value=2.0, min=0.1, max=600, step=0.5, description="duration (s)")
        self.loss = w.FloatSlider(value=0.0, min=0.0, max=0.5, step=0.01, description="loss p")
        self.delay = w.FloatSlider(value=0.0, min=0.0, max=300.0, step=5.0, description="delay (ms)")
        self.run_button = w.Button(description="Run", button_style="primary", icon="play")
        self.cancel_button = w.Button(description="Cancel", icon="stop", disabled=True)
        self.error = w.HTML("")
        self.progress = WidgetProgress()
        self.live = LivePlot(hz=hz)
        self.summary = w.HTML("")
        # Hidden until the first result: an empty Image shows as a broken-image icon.
        self.loss_plot = w.Image(format="png", layout=w.Layout(display="none"))
        self.cdf_plot = w.Image(format="png", layout=w.Layout(display="none"))
        self.run_button.on_click(lambda _: self.start())
        self.cancel_button.on_click(lambda _: self.cancel())
        controls = w.VBox(
            [
                w.HBox([self.modes, w.VBox([self.sizes, self.rate, self.duration])]),
                w.HBox([self.loss, self.delay]),
                w.HBox([self.run_button, self.cancel_button, self.progress.box]),
                self.error,
            ]
        )
        self.box = w.VBox([controls, self.live.widget(), self.summary, w.HBox([self.loss_plot, self.cdf_plot])])
        self._task: asyncio.Task[Results] | None = None

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        # The box's widget view, with a text/plain that says what was measured (VS Code after a reload, nbconvert
        # and terminals show only that).
        bundle: Any = self.box._repr_mimebundle_(**kwargs)
        if isinstance(bundle, dict):
            bundle["text/plain"] = self.text_fallback()
        return bundle

    def text_fallback(self) -> str:
        """The widget as plain text: its state and one line per measured run."""
        state = "running" if self._task is not None and not self._task.done() else "idle"
        lines = [f"LabWidget ({state}): {len(self.results.runs)} run(s) measured"]
        for row in self.results.rows[-10:]:
            lines.append(
                f"  {row.get('mode')} {row.get('size')} B at {row.get('rate')}/s: "
                f"sent {row.get('sent')}, received {row.get('received')}, loss {row.get('loss_rate')}"
            )
        return "\n".join(lines)

    def __repr__(self) -> str:
        return self.text_fallback()

    # -- parameters -----------------------------------------------------------------------------------------------
    def parameters(self) -> dict[str, Any]:
        """The form's values as `measure()` arguments; LabError/ValueError with a readable message if bad."""
        try:
            sizes = [int(s) for s in self.sizes.value.split(",") if s.strip()]
        except ValueError:
            raise LkNotebookError(f"sizes must be comma-separated integers, got {self.sizes.value!r}") from None
        rates: list[float | None] = []
        for r in (x.strip() for x in self.rate.value.split(",") if x.strip()):
            if r.lower() == "max":
                rates.append(None)
                continue
            try:
                rates.append(float(r))
            except ValueError:
                raise LkNotebookError(f"rate must be a number of messages/s or 'max', got {r!r}") from None
        if not self.modes.value:
            raise LkNotebookError("choose at least one mode")
        imp = Impairment(loss=self.loss.value, delay_ms=self.delay.value)
        return {
            "modes": list(self.modes.value),
            "sizes": sizes,
            "rates": rates,
            "impairments": [imp],
            "duration": float(self.duration.value),
        }

    # -- running --------------------------------------------------------------------------------------------------
    def start(self) -> None:
        """What the Run button does: validate, then run in a background task."""
        self.error.value = ""
        if self._task is not None and not self._task.done():
            return
        try:
            params = self.parameters()
        except LkNotebookError as exc:
            self._show_error("parameters", exc)
            return
        self._task = self.tasks.spawn(self.run(**params), name="run")

    async def run(self, **params: Any) -> Results:
        """Run the sweep with `params` (the form's values by default); also usable directly with `await`."""
        params = params or self.parameters()
        self.results = Results()
        self.live.reset()  # the chart's time axis starts with this run, not when the widget was made
        duration = params.get("duration")
        if isinstance(duration, int | float) and duration > 0:
            self.live.set_window(float(duration))  # a 1.5 s run fills the chart, not 1.5 s of a 30 s axis
        self.run_button.disabled = True
        self.cancel_button.disabled = False
        try:
            if self.lab is None:
                self.lab = Lab()
            results = await measure(
                lab=self.lab, progress=self.progress, on_sample=self.live.add, on_result=self._on_result, **params
            )
            self.results = results
            return results
        finally:
            self.run_button.disabled = False
            self.cancel_button.disabled = True

    def _on_result(self, result: RunResult) -> None:
        self.results.runs.append(result)
        frame = self.results.frame
        cols = ["mode", "size", "rate", "impairment", "sent", "received", "loss_rate", "expected_loss",
                "throughput_msgs_s", "latency_p50_ms", "latency_p99_ms"]  # fmt: skip
        self.summary.value = frame[[c for c in cols if c in frame.columns]].to_html(
            index=False, float_format=lambda v: f"{v:.3f}"
        )
        self.loss_plot.value = _png(loss_vs_size(frame))
        self.cdf_plot.value = _png(latency_cdf(self.results.runs))
        self.loss_plot.layout.display = self.cdf_plot.layout.display = ""

    def cancel(self) -> None:
        if self._task is not None:
            self._task.cancel()

    def _show_error(self, where: str, exc: BaseException) -> None:
        self.error.value = f"<span style='color:#b00'>{html.escape(where)}: {html.escape(str(exc))}</span>"

    async def aclose(self) -> None:
        await self.tasks.aclose()
        await self.live.aclose()
        if self._owns_lab and self.lab is not None:
            await self.lab.aclose()
