"""Argument types shared by sub-commands: they turn bad values into usage messages."""

from __future__ import annotations

import argparse
import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from citygen.sampling.loop import SampleConfig

#: Largest ``--seed``: seeds are 0 .. 2**63 - 1 (a signed 64-bit integer).
MAX_SEED = 2**63 - 1


def number(text: str) -> float:
    """Parse a float (argparse type); range checks happen in the API so they exit 1."""
    try:
        value = float(text)
    except ValueError:
        msg = f"not a number: {text!r}"
        raise argparse.ArgumentTypeError(msg) from None
    return value


def finite(text: str) -> float:
    """Parse a finite float (argparse type): ``nan`` and ``inf`` are refused."""
    value = number(text)
    if not math.isfinite(value):
        msg = f"not a finite number: {text!r}"
        raise argparse.ArgumentTypeError(msg)
    return value


def integer(text: str) -> int:
    """Parse an integer (argparse type); range checks happen in the API so they exit 1."""
    try:
        return int(text)
    except ValueError:
        msg = f"not an integer: {text!r}"
        raise argparse.ArgumentTypeError(msg) from None


def seed(text: str) -> int:
    """Parse a seed (argparse type): an integer in ``0 .. 2**63 - 1``."""
    value = integer(text)
    if not 0 <= value <= MAX_SEED:
        msg = f"seed must be within 0..{MAX_SEED}, got {value}"
        raise argparse.ArgumentTypeError(msg)
    return value


def add_run_folder(p: argparse.ArgumentParser) -> None:
    """Add the ``--out`` run folder and ``--overwrite`` of a command that writes a run.

    See :mod:`export.run`.
    """
    p.add_argument(
        "--out",
        required=True,
        metavar="OUT_DIR",
        help="run folder: new or empty (or an earlier run, with --overwrite)",
    )
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="replace the earlier run in OUT_DIR (only the files its citygen-run.json lists)",
    )


def add_temperatures(p: argparse.ArgumentParser) -> None:
    """Add ``--temperature`` and ``--structure-temperature`` (``SampleConfig``'s defaults)."""
    p.add_argument(
        "--temperature", type=finite, default=0.6,
        help="sampling temperature of positions, pointers and road classes (default 0.6: "
        "straighter streets, measured closest to unseen cities; 1: as learned)",
    )
    p.add_argument(
        "--structure-temperature", type=finite, default=1.0,
        help="temperature of the END and street decisions (default 1: as learned; cooler "
        "draws fewer streets and more fragments)",
    )
    p.add_argument(
        "--grid-strength", type=finite, default=1.0,
        help="factor on the model's grid term (street angles along the place's dominant "
        "bearing; default 1: as learned; 3 measured closer to unseen cities, 0: off)",
    )  # fmt: skip


def sample_config(args: argparse.Namespace) -> SampleConfig:
    """Build the :class:`SampleConfig` of ``generate``'s options (single layouts and ``--area``)."""
    from citygen.sampling.loop import SampleConfig

    return SampleConfig(
        min_dist=args.min_dist,
        temperature=args.temperature,
        structure_temperature=args.structure_temperature,
        grid_strength=args.grid_strength,
        snap=args.snap,
        bend_tolerance=args.bend_tolerance,
    )
