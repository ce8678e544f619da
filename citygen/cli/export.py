"""``citygen export``: write real prepared tiles in the formats ``citygen generate`` writes."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``export`` parser."""
    p = sub.add_parser(
        "export",
        help="export prepared real tiles as GeoJSON, GraphML, OSM XML or PNG",
        description="Export tiles of a prepared data set the same way citygen generate exports "
        "generated layouts, so real and generated street networks can be opened side by side.",
    )
    p.add_argument("--data", required=True, metavar="DATA_DIR", help="a citygen prepare output")
    p.add_argument(
        "--tile",
        required=True,
        action="append",
        metavar="ID",
        help="tile id as in the manifest, e.g. test/0_0 (repeat for several tiles)",
    )
    p.add_argument(
        "--format",
        default="geojson",
        metavar="FORMATS",
        help="comma-separated: geojson, graphml, osm, png, or all (default: geojson)",
    )
    p.add_argument(
        "--center",
        metavar="LAT,LON",
        help="put each tile's centre here, in degrees (default: the tile's real place); "
        "write --center=-33.92,18.42 when the latitude is negative",
    )
    p.add_argument("--out", required=True, metavar="OUT_DIR", help="output directory")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Export the tiles and print the files written."""
    from citygen.errors import UsageError
    from citygen.paths import check_output_dir
    from data_prep.shards import load_dataset
    from export.geo import parse_center
    from export.write import parse_formats, write_layouts

    check_output_dir(args.out, "--out")
    formats = parse_formats(args.format)
    center = parse_center(args.center) if args.center is not None else None
    ds = load_dataset(args.data)
    tiles = {t.id: t for t in ds.tiles()}
    missing = [t for t in args.tile if t not in tiles]
    if missing:
        known = ", ".join(list(tiles)[:5]) + (", ..." if len(tiles) > 5 else "")
        msg = f"no tile {missing[0]!r} in {args.data} (tiles: {known})"
        raise UsageError(msg)
    chosen = [tiles[t] for t in dict.fromkeys(args.tile)]
    paths = write_layouts(
        [t.layout() for t in chosen],
        args.out,
        formats=formats,
        center=center,
        metadata={"source": "real tile", "dataset": str(args.data)},
        names=[t.id.replace("/", "_") for t in chosen],
    )
    print(f"wrote {len(paths)} file(s) to {args.out}:")
    for path in paths:
        print(f"  {path}")
    return 0
