"""Typed Python API of the data stage (the same operations as ``citygen prepare``).

>>> from citygen.data import prepare, make_sources, load_dataset
>>> out = prepare(make_sources(bundled="test"), "data/test")   # doctest: +SKIP
>>> ds = load_dataset(out); ds.tiles("train")[0].layout()      # doctest: +SKIP
"""

from data_prep.clean import RegionGraph, clean
from data_prep.load import load_bbox, load_file, load_place
from data_prep.order import Sequence, canonical_order, to_layout, to_sequence
from data_prep.prepare import PrepareConfig, Source, make_sources, prepare
from data_prep.shards import Dataset, Tile, load_dataset
from data_prep.tiles import TileSpec, cut, random_window

__all__ = [
    "Dataset",
    "PrepareConfig",
    "RegionGraph",
    "Sequence",
    "Source",
    "Tile",
    "TileSpec",
    "canonical_order",
    "clean",
    "cut",
    "load_bbox",
    "load_dataset",
    "load_file",
    "load_place",
    "make_sources",
    "prepare",
    "random_window",
    "to_layout",
    "to_sequence",
]
