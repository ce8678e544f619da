"""Benchmark: generating 64 tiles of 1 km2 with the default model, whole process.

Targets (issue 4): under 10 s on 2 CPU cores with the model loaded and files written, peak
memory under 2 GB; on a GPU under 1 s, and the tiles/s curve for batch sizes 1, 8, 64, 512.

    python bench/generate.py [--device cpu|cuda] [--curve]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time

from _util import citygen_cmd, run_timed, save


def in_process_curve(device: str, sizes: list[int]) -> list[dict]:
    """Tiles per second of sampling alone (model already loaded) for several batch sizes."""
    import torch

    from citygen.model.checkpoint import load_model
    from citygen.sampling.loop import sample

    model = load_model(device=device)
    sample(model, 2, seed=0, device=device)  # warm-up
    rows = []
    for bs in sizes:
        n = max(bs, 8)
        if device == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        layouts = sample(model, n, seed=1, device=device, batch_size=bs)
        if device == "cuda":
            torch.cuda.synchronize()
        dt = time.perf_counter() - t0
        nodes = sum(G.number_of_nodes() for G in layouts)
        rows.append({"batch_size": bs, "tiles": n, "seconds": round(dt, 3), "tiles_per_s": round(n / dt, 2), "nodes": nodes})
        print(f"  batch {bs:4d}: {n} tiles in {dt:.2f} s = {n / dt:.1f} tiles/s ({nodes} nodes)")
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--curve", action="store_true", help="also the tiles/s curve over batch sizes")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as out:
        cmd = citygen_cmd("generate", "--n", "64", "--seed", "0", "--device", args.device,
                          "--format", "geojson", "--out", out)
        wall, peak_gb, stdout = run_timed(cmd)
    print(f"citygen generate --n 64 (whole process, {args.device}): {wall:.2f} s, peak RSS {peak_gb:.2f} GB")
    print("  " + stdout.strip())
    record = {"device": args.device, "tiles": 64, "wall_s": round(wall, 2), "peak_rss_gb": round(peak_gb, 3),
              "targets": {"cpu_wall_s": 10, "gpu_wall_s": 1, "peak_rss_gb": 2}, "python": sys.version.split()[0]}
    if args.curve:
        sizes = [1, 8, 64, 512] if args.device == "cuda" else [1, 8, 64]
        record["curve"] = in_process_curve(args.device, sizes)
    path = save(f"generate_{args.device}", record)
    print(f"recorded in {path}")


if __name__ == "__main__":
    main()
