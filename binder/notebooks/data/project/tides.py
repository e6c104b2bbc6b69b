"""Harmonic tide prediction for one harbour."""

import math


def tide_height(hours: float, amplitude: float = 1.8, period_h: float = 12.42) -> float:
    """Height in metres above mean sea level, `hours` after a high tide (semi-diurnal M2 constituent)."""
    return amplitude * math.cos(2 * math.pi * hours / period_h)
