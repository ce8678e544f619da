"""Benchmark: realism of area tiles (cut at an offset, so seams fall inside) against single tiles.

Issue 13: the realism of area tiles is no worse than that of single tiles in ``citygen
evaluate``. Areas of 5 x 5 km are cut into 1 km windows offset by 500 m (every window holds a
seam cross in its middle), written as GeoJSON, and evaluated against the real test tiles of a
prepared data set exactly as ``citygen generate`` output is; single tiles come from
``citygen generate --n``.

    python bench/area_realism.py --data DATA_DIR [--seeds 0,1] [--n 32]
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import networkx as nx
from _util import citygen_cmd, run_timed, save


def windows(A: nx.Graph, size: float = 1000.0, offset: float = 500.0) -> list[nx.Graph]:
    """Square windows of an area graph, offset from the tile grid, as layouts."""
    from citygen.area.crop import crop

    out = []
    n = int((A.graph["width_m"] - offset) // size)
    for i in range(n):
        for j in range(n):
            x0, y0 = offset + i * size, offset + j * size
            H = nx.Graph(tile_size=size, source="citygen-area-window")
            for v, d in A.nodes(data=True):
                H.add_node(v, x=d["x"] - x0, y=d["y"] - y0, border=False)
            H.add_edges_from(A.edges(data=True))
            crop(H, size, size, 0.0)
            if H.number_of_edges():
                out.append(H)
    return out


def evaluate(data: str, folder: str) -> dict:
    """``citygen evaluate --generated`` on a folder; the JSON report."""
    with tempfile.NamedTemporaryFile(suffix=".json") as fh:
        run_timed(
            citygen_cmd(
                "evaluate",
                "--data",
                data,
                "--generated",
                folder,
                "--json",
                fh.name,
                "--no-progress",
            )
        )
        return json.loads(Path(fh.name).read_text())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True)
    ap.add_argument("--seeds", default="0,1")
    ap.add_argument("--n", type=int, default=32)
    args = ap.parse_args()
    from citygen.area import generate_area
    from citygen.model.checkpoint import load_model
    from export.write import write_layouts

    model = load_model()
    with tempfile.TemporaryDirectory() as tmp:
        wins = []
        for s in (int(v) for v in args.seeds.split(",")):
            wins += windows(generate_area(model, 5000, 5000, seed=s))
        write_layouts(wins, Path(tmp) / "area", formats="geojson")
        run_timed(
            citygen_cmd(
                "generate",
                "--n",
                str(args.n),
                "--format",
                "geojson",
                "--out",
                str(Path(tmp) / "single"),
            )
        )
        area = evaluate(args.data, str(Path(tmp) / "area"))
        single = evaluate(args.data, str(Path(tmp) / "single"))
    record = {
        "data": args.data,
        "seeds": args.seeds,
        "area_windows": len(wins),
        "single_tiles": args.n,
        "area": area,
        "single": single,
    }
    path = save("area_realism", record)
    print(f"{len(wins)} area windows, {args.n} single tiles; wrote {path}")


if __name__ == "__main__":
    main()
