"""Parse an area size as the command line takes it: ``5000x5000``, ``5kmx5km``, ``2.5km``."""

from __future__ import annotations

import math
import re

from citygen.errors import UsageError

_PART = r"\s*([0-9]*\.?[0-9]+(?:e[+-]?[0-9]+)?)\s*(km|m)?\s*"


def parse_area(text: str) -> tuple[float, float]:
    """Width and height in metres of ``"WxH"`` (metres, or with ``km``/``m``), or one side.

    Raises
    ------
    UsageError
        If the text is not one or two positive sizes.
    """
    s = str(text).strip().lower()
    m = re.fullmatch(_PART + r"(?:[x×*]" + _PART + r")?", s)
    if not m:
        msg = f"cannot read area {text!r}; give WIDTHxHEIGHT in m or km, e.g. 5000x5000 or 5kmx5km"
        raise UsageError(msg)
    w = float(m.group(1)) * (1000.0 if m.group(2) == "km" else 1.0)
    h = w if m.group(3) is None else float(m.group(3)) * (1000.0 if m.group(4) == "km" else 1.0)
    if not (math.isfinite(w) and math.isfinite(h)) or w <= 0 or h <= 0:
        msg = f"area must be positive, got {text!r}"
        raise UsageError(msg)
    return w, h
