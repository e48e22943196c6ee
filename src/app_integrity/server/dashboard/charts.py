"""Charts as inline SVG, drawn on the server from aggregates the database computed: no script, no build step, no
network. Every text is escaped (action names and reasons come from callers)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from app_integrity.storage.insights import Bucket

_STEP = {Bucket.MINUTE: timedelta(minutes=1), Bucket.HOUR: timedelta(hours=1), Bucket.DAY: timedelta(days=1)}
_KEY_FORMAT = {Bucket.MINUTE: "%Y-%m-%d %H:%M", Bucket.HOUR: "%Y-%m-%d %H", Bucket.DAY: "%Y-%m-%d"}


@dataclass(frozen=True, slots=True)
class Category:
    key: str
    label: str
    css: str  # a class of dashboard.css: the colour lives in the stylesheet, the legend matches it


OUTCOME_CATEGORIES = (
    Category("allow", "allow", "c-allow"),
    Category("limit", "limit", "c-limit"),
    Category("block", "block (enforced)", "c-block"),
    Category("would_block", "would block (observe)", "c-would"),
)


def bucket_keys(since: datetime, until: datetime, bucket: Bucket) -> list[str]:
    """Every bucket key from ``since`` to ``until`` (UTC), so empty periods show as gaps, not as nothing."""
    step = _STEP[bucket]
    if bucket is Bucket.DAY:
        start = since.replace(hour=0, minute=0, second=0, microsecond=0)
    elif bucket is Bucket.HOUR:
        start = since.replace(minute=0, second=0, microsecond=0)
    else:
        start = since.replace(second=0, microsecond=0)
    keys: list[str] = []
    at = start
    while at < until and len(keys) < 2000:
        keys.append(at.strftime(_KEY_FORMAT[bucket]))
        at += step
    return keys


def _short(key: str, bucket: Bucket) -> str:
    if bucket is Bucket.DAY:
        return key[5:]
    if bucket is Bucket.HOUR:
        return key[5:] + "h"
    return key[11:]


@dataclass(frozen=True, slots=True)
class Rect:
    x: float
    y: float
    width: float
    height: float
    css: str
    tip: str


@dataclass(frozen=True, slots=True)
class Text:
    x: float
    y: float
    text: str
    anchor: str = "start"
    css: str = "axis"
    tip: str = ""


@dataclass(frozen=True, slots=True)
class Chart:
    """Geometry only: ``_charts.html`` draws it as SVG (Jinja escapes every text)."""

    title: str
    width: int
    height: int
    rects: tuple[Rect, ...]
    texts: tuple[Text, ...]
    gridlines: tuple[float, ...] = ()
    grid_from: float = 0
    grid_to: float = 0

    @property
    def empty(self) -> bool:
        return not self.rects


def stacked_bars(
    keys: Sequence[str],
    values: Mapping[tuple[str, str], int],
    *,
    bucket: Bucket,
    categories: Sequence[Category] = OUTCOME_CATEGORIES,
    title: str,
) -> Chart:
    """One bar per bucket, stacked by category; the y axis from zero to the largest stack."""
    width, height, left, bottom, top = 720, 150, 44, 26, 10
    plot_w, plot_h = width - left - 8, height - bottom - top
    totals = [sum(values.get((key, c.key), 0) for c in categories) for key in keys]
    peak = max(totals, default=0) or 1
    slot = plot_w / max(len(keys), 1)
    bar = max(slot * 0.8, 1.0)
    rects: list[Rect] = []
    texts: list[Text] = []
    grid: list[float] = []
    for fraction in (0.0, 0.5, 1.0):
        y = top + plot_h * (1 - fraction)
        grid.append(round(y, 1))
        texts.append(Text(left - 6, round(y + 4, 1), str(round(peak * fraction)), anchor="end"))
    for index, key in enumerate(keys):
        x = round(left + index * slot + (slot - bar) / 2, 1)
        y = top + plot_h
        for category in categories:
            count = values.get((key, category.key), 0)
            if not count:
                continue
            h = plot_h * count / peak
            y -= h
            rects.append(
                Rect(x, round(y, 1), round(bar, 1), round(h, 1), category.css, f"{key} · {category.label}: {count}")
            )
    label_every = max(1, len(keys) // 8)
    for index, key in enumerate(keys):
        if index % label_every == 0:
            x = round(left + index * slot + slot / 2, 1)
            texts.append(Text(x, height - 8, _short(key, bucket), anchor="middle"))
    return Chart(title, width, height, tuple(rects), tuple(texts), tuple(grid), left, width - 8)


def horizontal_bars(
    rows: Sequence[tuple[str, int]], *, title: str, css: str = "c-neutral", compact: bool = False
) -> Chart:
    """Labelled bars in the order given; the count at the end of each bar. ``compact`` for half-width cards."""
    row_h, label_w, width = (24, 180, 440) if compact else (24, 250, 720)
    height = row_h * len(rows) + 6
    peak = max((count for _, count in rows), default=0) or 1
    plot_w = width - label_w - 70
    rects: list[Rect] = []
    texts: list[Text] = []
    for index, (label, count) in enumerate(rows):
        y = 3 + index * row_h
        w = round(max(plot_w * count / peak, 1.0), 1)
        room = 24 if compact else 36
        shown = label if len(label) <= room else label[: room - 1] + "…"
        texts.append(Text(label_w - 8, y + 16, shown, anchor="end", css="label", tip=label))
        rects.append(Rect(label_w, y + 3, w, row_h - 8, css, f"{label}: {count}"))
        texts.append(Text(round(label_w + w + 6, 1), y + 16, str(count), css="value"))
    return Chart(title, width, height, tuple(rects), tuple(texts))
