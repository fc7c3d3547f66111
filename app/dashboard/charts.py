"""Tasks processed and failed per minute as an inline SVG bar chart: markup only, no script, no library."""

from dataclasses import dataclass

WIDTH, HEIGHT, TOP, BOTTOM = 600, 160, 10, 20


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    kind: str  # processed | failed
    minute: int  # minutes before now
    count: int


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    bars: list[Bar]
    peak: int
    baseline: float


def per_minute(processed: list[int], failed: list[int]) -> Chart:
    """Two bars per minute, oldest on the left; the tallest bar fills the plot."""
    minutes = max(len(processed), len(failed), 1)
    peak = max([*processed, *failed, 1])
    slot = WIDTH / minutes
    plot = HEIGHT - TOP - BOTTOM
    baseline = HEIGHT - BOTTOM
    bars = []
    for index in range(minutes):
        for offset, (kind, series) in enumerate((("processed", processed), ("failed", failed))):
            count = series[index] if index < len(series) else 0
            height = plot * count / peak
            bars.append(Bar(x=round(index * slot + offset * slot / 2, 2), y=round(baseline - height, 2),
                            width=round(max(slot / 2 - 0.5, 0.5), 2), height=round(height, 2), kind=kind,
                            minute=minutes - 1 - index, count=count))
    return Chart(width=WIDTH, height=HEIGHT, bars=bars, peak=peak, baseline=baseline)
