"""Server-side SVG line charts of a device's history (battery %, free storage MB, Capture app
PSS MB over time): pure geometry for ``templates/reports/_chart.html`` (no script, no CDN).
Missing values (unknown) break the line rather than dropping it to zero."""

from __future__ import annotations

from datetime import datetime

WIDTH, HEIGHT = 600, 200
LEFT, RIGHT, TOP, BOTTOM = 56, 16, 12, 32


def _nice(value: float) -> float:
    import math

    if value <= 0:
        return 1.0
    exp = math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if step * 10**exp >= value:
            return float(step * 10**exp)
    return float(10 ** (exp + 1))


def line_chart(points: list[tuple[datetime, float | None]], *, title: str, unit: str,
               y_max: float | None = None) -> dict:
    """Chart geometry: ``segments`` (lists of "x,y" strings, one per run of known values),
    ``dots`` (x, y, label), ``y_ticks`` (y, label), ``x_ticks`` (x, label), ``title``,
    ``unit``, ``width``, ``height``, ``empty`` (no known value)."""
    known = [(t, v) for t, v in points if v is not None]
    chart = {"title": title, "unit": unit, "width": WIDTH, "height": HEIGHT, "segments": [],
             "dots": [], "y_ticks": [], "x_ticks": [], "empty": not known,
             "left": LEFT, "right": WIDTH - RIGHT, "top": TOP, "bottom": HEIGHT - BOTTOM}
    if not known:
        return chart
    times = [t.timestamp() for t, _ in points]
    t0, t1 = min(times), max(times)
    span = (t1 - t0) or 1.0
    top = y_max or _nice(max(v for _, v in known) * 1.1 or 1)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def xy(ts: float, value: float) -> tuple[float, float]:
        x = LEFT + (ts - t0) / span * plot_w if t1 > t0 else LEFT + plot_w / 2
        y = TOP + plot_h - min(value, top) / top * plot_h
        return round(x, 1), round(y, 1)

    run: list[str] = []
    for (t, value), ts in zip(points, times, strict=True):
        if value is None:
            if run:
                chart["segments"].append(run)
            run = []
            continue
        x, y = xy(ts, value)
        run.append(f"{x},{y}")
        chart["dots"].append((x, y, f"{t:%Y-%m-%d %H:%M}: {value:g} {unit}"))
    if run:
        chart["segments"].append(run)
    for i in range(5):
        value = top * i / 4
        chart["y_ticks"].append((round(TOP + plot_h - value / top * plot_h, 1), f"{value:g}"))
    for i in range(3):
        ts = t0 + span * i / 2
        chart["x_ticks"].append((round(LEFT + plot_w * i / 2, 1),
                                 datetime.fromtimestamp(ts).strftime("%m-%d %H:%M")))
    return chart


def device_charts(reports) -> list[dict]:
    """The three history charts of a device from its reports (oldest first)."""
    return [
        line_chart([(r.received_at, r.battery_level) for r in reports],
                   title="Battery", unit="%", y_max=100),
        line_chart([(r.received_at, r.storage_free_mb) for r in reports],
                   title="Free storage", unit="MB"),
        line_chart([(r.received_at, r.app_pss_mb) for r in reports],
                   title="Capture app memory (PSS)", unit="MB"),
    ]
