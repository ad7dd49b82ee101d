"""The report's statistics on raw samples: confidence intervals of ratios, and the test behind 'slower'.

scipy does the resampling and the rank test; this module only says which ones and how they are read.
"""

from __future__ import annotations

import numpy as np

#: Confidence of every interval in the report.
CONFIDENCE = 0.95
RESAMPLES = 2000


def _paired(a, b) -> bool:
    return a is not None and b is not None and len(a) == len(b) and len(a) >= 3


def paired_ratio(a: np.ndarray | None, b: np.ndarray | None) -> float:
    """The median over rounds of a / b, for samples timed in the same rounds; NaN if they are not paired.

    Load that lasts a round slows both alike, so their quotient keeps what the medians of each would blur.
    """
    return float(np.median(a / b)) if _paired(a, b) else np.nan


def ratio(a: np.ndarray | None, b: np.ndarray | None, median_a: float, median_b: float) -> float:
    """``paired_ratio(a, b)`` where the samples are paired (raced), else the ratio of the medians (timed alone)."""
    paired = paired_ratio(a, b)
    return paired if paired == paired else median_a / median_b


def ratio_interval(a: np.ndarray | None, b: np.ndarray | None) -> tuple[float, float]:
    """A 95% bootstrap interval of ``paired_ratio(a, b)``, the rounds resampled; NaN, NaN if not paired."""
    if not _paired(a, b):
        return np.nan, np.nan
    if np.array_equal(a, b):
        return 1.0, 1.0
    from scipy.stats import bootstrap
    result = bootstrap((a / b,), np.median, vectorized=True, n_resamples=RESAMPLES, confidence_level=CONFIDENCE,
                       method="percentile", random_state=0)
    return float(result.confidence_interval.low), float(result.confidence_interval.high)


def median_interval(samples: np.ndarray | None) -> tuple[float, float]:
    """A distribution-free 95% interval of the median of ``samples``: the order statistics whose ranks
    the binomial distribution puts around it; NaN, NaN for fewer than six samples (or none)."""
    if samples is None or len(samples) < 6:
        return np.nan, np.nan
    from scipy.stats import binom
    ordered, n = np.sort(samples), len(samples)
    k = max(int(binom.ppf((1 - CONFIDENCE) / 2, n, 0.5)), 1)
    return float(ordered[k - 1]), float(ordered[n - k])


def rank_test(a: np.ndarray, b: np.ndarray) -> float:
    """Two-sided Mann-Whitney U p-value that a and b come from the same distribution (samples of two runs)."""
    from scipy.stats import mannwhitneyu
    return float(mannwhitneyu(a, b, alternative="two-sided").pvalue)
