"""Write the README pictures: real and generated tiles at the same scale.

    python bench/figures.py --data DATA_DIR [--out docs/img/real_vs_generated.png] [--seed 0]
    python bench/figures.py --data DATA_DIR --like prague,bogota,auckland [--out docs/img/like.png]

Without ``--like``: 8 validation tiles of DATA_DIR taken round-robin over its regions (rows
1-2), and the first 8 layouts ``citygen generate --seed SEED`` samples from the default model
(rows 3-4). With ``--like``: for each named held-out city, its first 4 tiles in manifest order
(not picked) and the first 4 layouts of the same seed drawn in that city's style (``generate
--like``: styles from the city's own tiles), one row each.
"""

from __future__ import annotations

import argparse
import itertools
from pathlib import Path

from citygen.model.checkpoint import load_model
from citygen.sampling.loop import sample
from data_prep.shards import load_dataset
from export.plot import write_sheet

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True)
    ap.add_argument("--out", default=str(ROOT / "docs" / "img" / "real_vs_generated.png"))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--like", help="comma list of held-out cities: real vs --like rows")
    args = ap.parse_args()
    if args.like:
        like_sheet(args)
        return
    val = load_dataset(args.data).tiles("val")
    regions = sorted({t.region for t in val})
    by_region = [[t for t in val if t.region == r] for r in regions]
    rounds = (group[i] for i in range(max(map(len, by_region))) for group in by_region if i < len(group))
    tiles = list(itertools.islice(rounds, 8))  # round-robin over regions, not cherry-picked
    generated = sample(load_model(), 8, seed=args.seed)
    labels = [f"real {t.id}" for t in tiles] + [f"generated, seed {args.seed} #{i}" for i in range(8)]
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    print(write_sheet([t.layout() for t in tiles] + generated, args.out, labels))


def like_sheet(args: argparse.Namespace) -> None:
    import numpy as np

    from citygen.like import LIKE_CANDIDATES, LikeSource, like_reference, sample_like
    from citygen.sampling.loop import SampleConfig
    from citygen.style import bank_of_sequences

    data = load_dataset(args.data)
    model = load_model()
    layouts, labels = [], []
    for city in args.like.split(","):
        tiles = [t for t in data.tiles() if t.region == city]
        if not tiles:
            raise SystemExit(f"no tiles of {city!r} in {args.data}")
        seqs = [t.sequence for t in tiles]
        bank = tuple(tuple(float(v) for v in r) for r in bank_of_sequences(seqs))
        cfg = SampleConfig(style_bank=bank)
        reference = like_reference(LikeSource(city, np.asarray(bank), seqs))
        if reference is None:
            made = sample(model, 4, seed=args.seed, config=cfg)
        else:  # as generate --like draws them: 4 candidates a layout, the nearest its tile kept
            def draw(m: int, styles: np.ndarray) -> list:
                return sample(model, m, seed=args.seed, config=cfg, style=styles)

            made = sample_like(LIKE_CANDIDATES, reference, 4, args.seed, cfg, draw)[0]
        layouts += [t.layout() for t in tiles[:4]] + made
        labels += [f"real {t.id}" for t in tiles[:4]] + [f"like {city}, seed {args.seed} #{i}" for i in range(4)]
    out = args.out if args.out != str(ROOT / "docs" / "img" / "real_vs_generated.png") else str(ROOT / "docs" / "img" / "like.png")
    print(write_sheet(layouts, out, labels, cols=4))


if __name__ == "__main__":
    main()
