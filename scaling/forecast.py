"""The arrivals forecast: Holt's linear trend, with an additive daily season once a day of history exists.

The history is arrivals per minute averaged over buckets of `BUCKET_MIN` minutes (5: a day is 288 points,
so a fit over two days reads under 600). The smoothing weights are chosen on the history itself: each
candidate on a small grid runs the recursion once, and the one with the smallest sum of squared
one-step-ahead errors wins (how statsmodels' ExponentialSmoothing fits, without its optimiser: a grid is
enough for a 30-minute horizon and costs milliseconds). The residuals' spread is kept, so the caller can
size for an upper band instead of the mean.
"""

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import product

BUCKET_MIN = 5
DAY_BUCKETS = 24 * 60 // BUCKET_MIN
# The season needs one day to initialise and a little more to be checked against.
SEASON_AFTER = DAY_BUCKETS + 12
FIT_WINDOW = 2 * DAY_BUCKETS
ALPHAS = (0.1, 0.3, 0.6, 0.9)
BETAS = (0.01, 0.05, 0.2)
GAMMAS = (0.05, 0.2, 0.5)


@dataclass
class HoltWinters:
    """The fitted model's state; `update` folds in one more bucket, `forecast` reads ahead."""

    alpha: float
    beta: float
    gamma: float
    level: float
    trend: float
    season: list[float] = field(default_factory=list)  # empty: no seasonal term
    sse: float = 0.0
    fitted: int = 0
    position: int = 0  # index of the next bucket, modulo the season

    @property
    def method(self) -> str:
        return "holt-winters additive daily season" if self.season else "holt linear trend"

    @property
    def residual_sd(self) -> float:
        return math.sqrt(self.sse / self.fitted) if self.fitted else 0.0

    def update(self, value: float) -> None:
        """Fold in the next bucket's arrivals per minute."""
        seasonal = self.season[self.position % len(self.season)] if self.season else 0.0
        predicted = self.level + self.trend + seasonal
        self.sse += (value - predicted) ** 2
        self.fitted += 1
        previous = self.level
        self.level = self.alpha * (value - seasonal) + (1 - self.alpha) * (self.level + self.trend)
        self.trend = self.beta * (self.level - previous) + (1 - self.beta) * self.trend
        if self.season:
            slot = self.position % len(self.season)
            self.season[slot] = self.gamma * (value - self.level) + (1 - self.gamma) * seasonal
        self.position += 1

    def forecast(self, steps: int) -> list[float]:
        """Arrivals per minute for each of the next `steps` buckets (never below 0)."""
        out = []
        for h in range(1, steps + 1):
            seasonal = self.season[(self.position + h - 1) % len(self.season)] if self.season else 0.0
            out.append(max(0.0, self.level + h * self.trend + seasonal))
        return out


def _start(history: Sequence[float], alpha: float, beta: float, gamma: float, seasonal: bool) -> HoltWinters:
    if seasonal:
        first_day = history[:DAY_BUCKETS]
        mean = sum(first_day) / DAY_BUCKETS
        model = HoltWinters(alpha, beta, gamma, mean, 0.0, [x - mean for x in first_day])
        model.position = DAY_BUCKETS
        rest = history[DAY_BUCKETS:]
    else:
        trend = history[1] - history[0] if len(history) > 1 else 0.0
        model = HoltWinters(alpha, beta, gamma, history[0], trend)
        model.position = 1
        rest = history[1:]
    for value in rest:
        model.update(value)
    return model


def fit(history: Sequence[float]) -> HoltWinters | None:
    """The best model on the grid for `history` (bucket means, oldest first), or None when it is empty.

    The season is used once `SEASON_AFTER` buckets exist; the fit reads at most the last `FIT_WINDOW`
    buckets beyond the season's first day.
    """
    if not history:
        return None
    seasonal = len(history) >= SEASON_AFTER
    keep = FIT_WINDOW + DAY_BUCKETS if seasonal else FIT_WINDOW
    # Keep the season aligned with the clock: cut whole days off the front.
    cut = max(0, len(history) - keep)
    if seasonal:
        cut -= cut % DAY_BUCKETS
    history = list(history[cut:])
    best = None
    for alpha, beta, gamma in product(ALPHAS, BETAS, GAMMAS if seasonal else (0.0,)):
        model = _start(history, alpha, beta, gamma, seasonal)
        if best is None or model.sse < best.sse:
            best = model
    if best is not None:
        best.position += cut
    return best


def bucket_means(per_minute: Sequence[float]) -> list[float]:
    """Per-minute arrivals as means over whole buckets of BUCKET_MIN (a trailing partial bucket is left out)."""
    whole = len(per_minute) // BUCKET_MIN
    return [sum(per_minute[i * BUCKET_MIN : (i + 1) * BUCKET_MIN]) / BUCKET_MIN for i in range(whole)]
