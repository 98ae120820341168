"""Progress slope monitor: the least-squares slope of a task's progress samples, and when it is flat."""

from __future__ import annotations

from collections.abc import Sequence


def progress_slope(samples: Sequence[tuple[float, float]]) -> float:
    """Least-squares slope of progress over time (units per second); 0 for fewer than two samples."""
    if len(samples) < 2:
        return 0.0
    n = len(samples)
    mean_t = sum(t for t, _ in samples) / n
    mean_p = sum(p for _, p in samples) / n
    var = sum((t - mean_t) ** 2 for t, _ in samples)
    if var == 0:
        return 0.0
    return sum((t - mean_t) * (p - mean_p) for t, p in samples) / var


def is_flat(
    samples: Sequence[tuple[float, float]],
    now: float,
    window: float,
    *,
    min_slope: float = 0.0,
    min_samples: int = 3,
) -> tuple[bool, float]:
    """(flat?, slope) over the last `window` seconds; needs samples spanning most of the window."""
    recent = [(t, p) for t, p in samples if t >= now - window]
    if len(recent) < min_samples or recent[-1][0] - recent[0][0] < 0.8 * window:
        return False, 0.0
    slope = progress_slope(recent)
    return slope <= min_slope, slope
