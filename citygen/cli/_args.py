"""Argument types shared by sub-commands: they turn bad values into usage messages."""

from __future__ import annotations

import argparse


def number(text: str) -> float:
    """A float (argparse type); range checks happen in the API so they exit 1."""
    try:
        value = float(text)
    except ValueError:
        msg = f"not a number: {text!r}"
        raise argparse.ArgumentTypeError(msg) from None
    return value


def integer(text: str) -> int:
    """An integer (argparse type); range checks happen in the API so they exit 1."""
    try:
        return int(text)
    except ValueError:
        msg = f"not an integer: {text!r}"
        raise argparse.ArgumentTypeError(msg) from None
