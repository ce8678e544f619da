"""Validity and novelty: copies (also rotated or mirrored) are caught, new layouts are novel."""

import numpy as np

from citygen.layout import add_street, new_layout
from citygen.metrics.novelty import COPY_THRESHOLD_M, nearest_chamfer, novelty, validity


def random_layout(seed: int):
    rng = np.random.default_rng(seed)
    G = new_layout(1000.0)
    for i, (x, y) in enumerate(rng.uniform(50, 950, size=(40, 2))):
        G.add_node(i, x=float(x), y=float(y), border=False)
    for i in range(39):
        add_street(G, i, i + 1, "residential")
    return G


def transformed(G, fn):
    H = G.copy()
    for _, d in H.nodes(data=True):
        d["x"], d["y"] = fn(d["x"], d["y"])
    return H


def test_copies_are_not_novel_new_layouts_are():
    refs = [random_layout(s) for s in range(5)]
    copy_rot = transformed(refs[2], lambda x, y: (1000 - y, x))  # 90 degrees
    copy_flip = transformed(refs[3], lambda x, y: (1000 - x, y))
    jitter = transformed(refs[1], lambda x, y: (x + 3.0, y - 2.0))
    new = [random_layout(s) for s in range(100, 104)]
    d = nearest_chamfer([copy_rot, copy_flip, jitter, *new], refs)
    assert (d[:3] < COPY_THRESHOLD_M).all()
    assert (d[3:] > COPY_THRESHOLD_M).all()
    assert novelty([copy_rot, *new], refs) == 0.8


def test_validity_catches_crossings_and_close_nodes():
    G = new_layout(1000.0)
    for i, (x, y) in enumerate([(0, 0), (100, 100), (0, 100), (100, 0)]):
        G.add_node(i, x=float(x), y=float(y), border=False)
    add_street(G, 0, 1, "residential")
    ok = G.copy()
    add_street(G, 2, 3, "residential")  # crosses 0-1
    close = ok.copy()
    close.add_node(9, x=1.0, y=1.0, border=False)
    assert validity([ok, G, close]) == 1 / 3
