"""Benchmark: realism on each held-out city, unconditioned and ``--like`` that city.

For every city that the data set holds out of training (``citygen prepare
--holdout-regions``), the same seeds are sampled twice: unconditioned (styles drawn from the
model's training tiles) and in the style of the city (styles drawn from the city's own tiles,
as ``citygen generate --like`` does), and each set is measured against the city's tiles with
the report's realism score (floor: the training tiles against the city's tiles, so 1.0 is as
close as the training data itself). Targets (issue 12): unconditioned at most 1.1x the floor
on the held-out cities together; ``--like`` at most 0.7 on each city. Novelty against the
city's tiles (no near copy of a ``--like`` source tile) is reported too.

``--like`` is measured as ``generate --like`` runs it: ``--like-candidates`` candidates per
layout (default 4) sharing the layout's style row, the one nearest the tile that row came from
kept (:func:`citygen.like.sample_like`); "style only" is ``--like-candidates 1``. Since the
city's tiles then both pick and judge, cities with enough tiles are also measured split in
two: styles and picks from the even tiles, realism against the odd tiles only.

    python bench/like.py --data DATA_DIR [--model RUN_DIR] [--n 200] [--seed 0] [--like-candidates 4]
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch

from _util import save


def restricted(ref, keep: list[int]):  # noqa: ANN001, ANN201
    """A copy of a :class:`RealSets` measuring against reference tiles ``keep`` only."""
    import copy

    from citygen.metrics.report import distances, profile

    out = copy.copy(ref)
    out.test = [ref.test[i] for i in keep]
    out.test_arrays = [ref.test_arrays[i] for i in keep]
    out.test_profile = profile(out.test_arrays, None)
    out.floor = distances(ref.train_profile, out.test_profile)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True, help="a prepared data set with held-out cities")
    ap.add_argument("--model", help="model directory (default: the shipped model)")
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--like-candidates", type=int, default=None, help="candidates per layout (default: generate's)")
    ap.add_argument("--record", default="like", help="results file name (bench/results/NAME.json)")
    args = ap.parse_args()
    torch.set_num_threads(1)

    from citygen.like import LIKE_CANDIDATES, LikeSource, like_reference, sample_like
    from citygen.metrics.novelty import novelty
    from citygen.metrics.report import RealSets
    from citygen.metrics.stats import arrays
    from citygen.model.checkpoint import load_model
    from citygen.sampling.loop import SampleConfig, sample
    from citygen.style import bank_of_sequences
    from data_prep.shards import load_dataset

    K = args.like_candidates or LIKE_CANDIDATES
    data = load_dataset(args.data)
    if not data.holdout_regions:
        raise SystemExit(f"{args.data} holds no city out of training (prepare --holdout-regions)")
    model = load_model(args.model)
    real = RealSets(data)
    t0 = time.perf_counter()
    plain = sample(model, args.n, seed=args.seed, batch_size=256)
    plain_s = time.perf_counter() - t0
    held = RealSets(data, reference="holdout", train_from=real)
    rows = {"all held-out cities": {"tiles": len(held.test), "unconditioned": held.row("u", plain, check_novelty=False).realism}}
    print(f"model {args.model or 'default'}; n={args.n}, seed {args.seed}; sampling {plain_s:.1f} s")
    print(f"{'city':<22}{'tiles':>6}{'unconditioned':>15}{'style only':>12}{'--like city':>13}{'novel vs city':>15}{'split check':>13}")
    print(f"{'all held-out cities':<22}{len(held.test):>6}{rows['all held-out cities']['unconditioned']:>15.2f}")
    for city in data.holdout_regions:
        tiles = [t.sequence for t in data.tiles("holdout") if t.region == city]
        if not tiles:
            continue
        ref = RealSets(data, reference=f"region:{city}", train_from=real)
        row: dict = {"tiles": len(tiles), "unconditioned": ref.row("u", plain, check_novelty=False).realism}
        if model.config.style_dim:
            def liked_by(part: list):  # noqa: ANN202 - styles and picks from part
                bank = tuple(tuple(float(v) for v in r) for r in bank_of_sequences(part))
                cfg = SampleConfig(style_bank=bank)
                plain = sample(model, args.n, seed=args.seed, config=cfg, batch_size=256)
                reference = like_reference(LikeSource(city, np.asarray(bank), part)) if K > 1 else None
                if reference is None:
                    return plain, plain, 1

                def draw(m: int, styles: np.ndarray) -> list:
                    return sample(model, m, seed=args.seed, config=cfg, style=styles, batch_size=256)

                return plain, sample_like(K, reference, args.n, args.seed, cfg, draw)[0], K

            plain_like, liked, k_used = liked_by(tiles)
            row["style_only"] = ref.row("s", plain_like, check_novelty=False).realism
            row["like"] = ref.row("l", liked, check_novelty=False).realism
            row["like_candidates"] = k_used
            row["like_novelty"] = novelty([arrays(G) for G in liked], ref.test_arrays)
            if len(tiles) >= 24 and K > 1:  # styles and picks from half the tiles, judged by the rest
                odd = restricted(ref, list(range(1, len(tiles), 2)))
                s_half, l_half, _ = liked_by(tiles[::2])
                row["split_check"] = {"style_only": odd.row("s", s_half, check_novelty=False).realism,
                                      "like": odd.row("l", l_half, check_novelty=False).realism}
        rows[city] = row
        if "like" in row:
            split = f"{row['split_check']['style_only']:.2f}->{row['split_check']['like']:.2f}" if "split_check" in row else "-"
            like = f"{row['style_only']:>12.2f}{row['like']:>13.2f}{row['like_novelty']:>15.1%}{split:>13}"
        else:
            like = f"{'-':>12}{'-':>13}{'-':>15}"
        print(f"{city:<22}{len(tiles):>6}{row['unconditioned']:>15.2f}{like}", flush=True)
    if model.config.style_dim:
        likes = [r["like"] for k, r in rows.items() if "like" in r]
        print(f"mean --like realism over cities {np.mean(likes):.2f}; target <= 0.7 on each")
    path = save(args.record, {"model": args.model or "default", "n": args.n, "seed": args.seed, "cities": rows,
                              "like_candidates": K, "targets": {"unconditioned_all": 1.1, "like_each": 0.7}})
    print(f"recorded in {path}")
    json.dumps(rows)


if __name__ == "__main__":
    main()
