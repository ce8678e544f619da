"""Write the README picture: 8 real validation tiles and 8 generated tiles at the same scale.

    python bench/figures.py --data DATA_DIR [--out docs/img/real_vs_generated.png] [--seed 0]

Real tiles are 8 validation tiles of DATA_DIR taken round-robin over its regions (rows 1-2); generated tiles are the first
8 layouts ``citygen generate --seed SEED`` samples from the default model (rows 3-4).
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
    args = ap.parse_args()
    val = load_dataset(args.data).tiles("val")
    regions = sorted({t.region for t in val})
    by_region = [[t for t in val if t.region == r] for r in regions]
    rounds = (group[i] for i in range(max(map(len, by_region))) for group in by_region if i < len(group))
    tiles = list(itertools.islice(rounds, 8))  # round-robin over regions, not cherry-picked
    generated = sample(load_model(), 8, seed=args.seed)
    labels = [f"real {t.id}" for t in tiles] + [f"generated, seed {args.seed} #{i}" for i in range(8)]
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    print(write_sheet([t.layout() for t in tiles] + generated, args.out, labels))


if __name__ == "__main__":
    main()
