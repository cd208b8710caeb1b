"""PNG charts for asset metadata: rendered off-screen with matplotlib, embedded as Markdown.

The Dagster UI renders Markdown metadata, including ``data:image/png;base64`` images, so each
chart travels with its materialization and needs no file server.
"""

from __future__ import annotations

import base64
import functools
import io
from collections.abc import Sequence
from types import ModuleType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from matplotlib.figure import Figure

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@functools.cache
def _pyplot() -> ModuleType:
    """matplotlib's pyplot, off-screen (no display: runs in workers and CI), imported with the
    first chart: about a second that loading the definitions should not pay."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot

    return matplotlib.pyplot


def _png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.tight_layout()
    figure.savefig(buffer, format="png", dpi=100)
    _pyplot().close(figure)
    return buffer.getvalue()


def bar_chart_png(labels: Sequence[str], values: Sequence[float], title: str, xlabel: str) -> bytes:
    """Horizontal bars, the first label on top."""
    figure, axes = _pyplot().subplots(figsize=(8, max(2.0, 0.4 * len(labels) + 1)))
    positions = list(range(len(labels)))[::-1]
    axes.barh(positions, list(values), color="#4f46e5")
    axes.set_yticks(positions, labels=list(labels))
    axes.set_xlabel(xlabel)
    axes.set_title(title)
    return _png(figure)


def line_chart_png(
    x: Sequence[str], series: dict[str, Sequence[float]], title: str, ylabel: str
) -> bytes:
    figure, axes = _pyplot().subplots(figsize=(8, 4))
    for name, values in series.items():
        axes.plot(list(x), list(values), marker="o", label=name)
    axes.set_ylabel(ylabel)
    axes.set_title(title)
    axes.legend()
    axes.tick_params(axis="x", labelrotation=30)
    return _png(figure)


def markdown_image(png: bytes, alt: str) -> str:
    """Markdown showing ``png`` inline (what ``dg.MetadataValue.md`` renders in the UI)."""
    return f"![{alt}](data:image/png;base64,{base64.b64encode(png).decode('ascii')})"
