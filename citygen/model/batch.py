"""Per-tile step arrays (numpy) and padded batches (torch) for teacher-forced scoring.

For each step ``t`` the window holds the candidates ``j = t - 1 - k`` for ``k < window``.
Arrays are computed once per tile by :func:`tile_arrays` and stacked by :func:`collate`.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from citygen.model.encode import BORDER, CHILD, N_SECTORS, N_TYPES, SPLIT, Encoded


def degree_before(n: int, edges: np.ndarray, removed: np.ndarray | None = None) -> np.ndarray:
    """``deg[t, j]``: degree of node ``j`` counting the edges present before step ``t``.

    An edge ``(i, j)`` with ``i > j`` appears with node ``i``, so it counts from step ``i + 1``;
    a street cut by a split at step ``w`` (``removed``) counts up to step ``w`` (its halves
    count from ``w + 1``). Returns ``(n + 1, n)`` int32.
    """
    inc = np.zeros((n + 2, n), dtype=np.int32)
    if edges.shape[0]:
        np.add.at(inc, (edges[:, 0] + 1, edges[:, 0]), 1)
        np.add.at(inc, (edges[:, 0] + 1, edges[:, 1]), 1)
        if removed is not None:
            cut = removed < n
            r = removed[cut] + 1
            np.add.at(inc, (r, edges[cut, 0]), -1)
            np.add.at(inc, (r, edges[cut, 1]), -1)
    return np.cumsum(inc, axis=0, dtype=np.int32)[: n + 1]


def step_state(
    loose_border: np.ndarray, loose: np.ndarray, queue: np.ndarray, t: np.ndarray, perimeter_left: np.ndarray
) -> np.ndarray:
    """Summary of the graph so far, given to every head at step ``t`` (same in sampling).

    ``loose_border``: border nodes without a street yet; ``loose``: nodes without a street;
    ``queue``: nodes after the current BFS parent (those still to expand); ``t``: the step;
    ``perimeter_left``: ``4 - s`` of the last border node while only border nodes exist, else
    0. Returns ``(..., N_STATE)`` float32 features (``log1p`` of the counts).
    """
    counts = np.stack([loose_border, loose, np.maximum(queue, 0), t], axis=-1).astype(np.float32)
    return np.concatenate([np.log1p(counts), np.asarray(perimeter_left, np.float32)[..., None]], axis=-1)


def sector_histogram(
    p: int, t: int, pos: np.ndarray, ref: float, nbrs: list[list[tuple[int, int, int]]]
) -> np.ndarray:
    """Directions of node ``p``'s streets present before step ``t``, relative to ``ref``.

    ``nbrs[p]`` holds ``(q, created, removed)`` per street: present while ``created < t <=
    removed``. Returns a length-``N_SECTORS`` count vector.
    """
    hist = np.zeros(N_SECTORS, dtype=np.float32)
    for q, made, cut in nbrs[p]:
        if made < t <= cut:
            d = pos[q] - pos[p]
            a = (math.atan2(d[1], d[0]) - ref) % (2 * math.pi)
            hist[min(int(a / (2 * math.pi) * N_SECTORS), N_SECTORS - 1)] += 1.0
    return hist


def split_candidates(e: Encoded, window: int, last_parent: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Streets a split step ``t`` may cut: present before ``t``, both ends in the window, the
    near end not before the last parent. Returns ``(n + 1, K)`` near and far ends, -1 padded."""
    n = e.n
    if e.edges.shape[0] == 0:
        return np.full((n + 1, 1), -1, np.int64), np.full((n + 1, 1), -1, np.int64)
    hi, lo = e.edges[:, 0], e.edges[:, 1]
    T = np.arange(n + 1)[:, None]
    ok = (hi[None] < T) & (T <= e.removed[None]) & (T - 1 - lo[None] < window)
    ok &= lo[None] >= last_parent[:, None]
    K = max(int(ok.sum(1).max()), 1)
    idx = np.argsort(~ok, axis=1, kind="stable")[:, :K]
    valid = np.take_along_axis(ok, idx, 1)
    return np.where(valid, lo[idx], -1), np.where(valid, hi[idx], -1)


def tile_arrays(e: Encoded, window: int, style: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Teacher-forcing arrays of one tile for a candidate window of ``window`` nodes.

    ``style``: the tile's raw style row (:mod:`citygen.style`) for a style model, else None.

    Returns
    -------
    dict
        Node arrays ``(n, ...)``, step arrays ``(n + 1, ...)`` and window arrays
        ``(n + 1, window)``; see the code for names. ``dropped`` counts edges (parent or
        other) that fall outside the window and are therefore not scored.
    """
    n, M = e.n, window
    t_idx = np.arange(n + 1)[:, None]
    j = t_idx - 1 - np.arange(M)[None, :]  # (n+1, M)
    valid = j >= 0
    jc = np.clip(j, 0, max(n - 1, 0))
    types = e.types
    parent = np.append(e.parent, -1)
    last_parent = np.maximum.accumulate(np.concatenate([[-1], e.parent]))[: n + 1]
    deg_full = degree_before(n, e.edges, e.removed)
    deg = deg_full[t_idx, jc] if n else np.zeros((1, M), np.int32)
    is_border_node = np.append(types[:n] == BORDER, False)
    step_border = types == BORDER
    step_child = types == CHILD
    step_split = types == SPLIT
    split_v = np.append(e.split_v, -1)
    cand = valid & (
        (step_border[:, None] & is_border_node[jc])
        | ((step_child | step_split)[:, None] & (j > parent[:, None]) & (j != split_v[:, None]))
    )
    adj = np.zeros((n + 1, max(n, 1)), dtype=np.int8)
    cls = np.full((n + 1, max(n, 1)), -1, dtype=np.int64)
    decided = ~e.implied  # the halves of a cut street come with the split, not as decisions
    if e.edges.shape[0]:
        adj[e.edges[decided, 0], e.edges[decided, 1]] = 1
        cls[e.edges[decided, 0], e.edges[decided, 1]] = e.classes[decided]
    tgt = np.where(valid, adj[t_idx, jc], 0)
    edge_cls = np.where(valid & (tgt > 0), cls[t_idx, jc], -1)
    ptr_k = np.where(step_child, t_idx[:, 0] - 1 - parent, -1)
    in_window = (ptr_k >= 0) & (ptr_k < M)
    dropped = int((step_child & ~in_window).sum())
    n_edges_scored = int((tgt * (cand | (j == parent[:, None]))).sum())
    dropped += int(decided.sum() - n_edges_scored)
    nbrs: list[list[tuple[int, int, int]]] = [[] for _ in range(n)]
    for (a, b), cut in zip(e.edges, e.removed, strict=True):
        nbrs[a].append((int(b), int(a), int(cut)))
        nbrs[b].append((int(a), int(a), int(cut)))
    sectors = np.zeros((n + 1, N_SECTORS), dtype=np.float32)
    for t in np.flatnonzero(step_child):
        p = int(parent[t])
        sectors[t] = sector_histogram(p, int(t), e.pos, float(e.ref_angle[p]), nbrs)
    rel_msg = np.zeros((e.edges.shape[0], 2))
    if e.edges.shape[0]:
        rel_msg = e.pos[e.edges[:, 1]] - e.pos[e.edges[:, 0]]
    sp_u, sp_v = split_candidates(e, M, last_parent)
    hit = (sp_u == parent[:, None]) & (sp_v == split_v[:, None]) & step_split[:, None]
    sp_tgt = np.where(hit.any(1), hit.argmax(1), -1)
    if int((step_split & (sp_tgt < 0)).sum()):
        msg = "a split node's street is not among the split candidates"
        raise AssertionError(msg)
    border_nodes = types[:n] == BORDER
    before = np.arange(n)[None, :] < t_idx  # (n + 1, n): node j exists before step t
    loose = (deg_full == 0) & before
    all_border_before = np.concatenate([[True], np.cumprod(types[:n] == BORDER).astype(bool)])
    s_last = np.concatenate([[0.0], np.cumsum(np.where(border_nodes, e.gap, 0.0))])  # s of last border
    state = step_state(
        (loose & border_nodes[None, :]).sum(1),
        loose.sum(1),
        t_idx[:, 0] - 1 - last_parent,
        t_idx[:, 0],
        np.where(all_border_before, 4.0 - s_last, 0.0),
    )
    return {
        "state": state,
        "pos": e.pos.astype(np.float32),
        "node_type": types[:n],
        "rel": e.rel.astype(np.float32),
        "edge_i": e.edges[:, 0],
        "edge_j": e.edges[:, 1],
        "edge_c": e.classes,
        "edge_rel": rel_msg.astype(np.float32),
        "types": types,
        "all_border_before": all_border_before,
        "gap": np.append(e.gap, 0.0).astype(np.float32),
        "remaining": np.append(e.remaining, 4.0).astype(np.float32),
        "gap_bin": np.append(e.gap_bin, 0),
        "parent": parent,
        "ptr_k": np.where(in_window, ptr_k, -1),
        "angle_bin": np.append(e.angle_bin, 0),
        "dist_bin": np.append(e.dist_bin, 0),
        "log_r": (np.append(np.log(np.maximum(np.hypot(*e.rel.T), 1e-12)), 0.0) if n else np.zeros(1)).astype(np.float32),
        "root_bin": np.append(e.root_bin, 0),
        "xy_bin": np.concatenate([e.xy_bin, np.zeros((1, 2), np.int64)]),
        "pos_step": np.concatenate([e.pos, np.zeros((1, 2))]).astype(np.float32),
        "ref_parent": np.append(e.ref_angle[np.maximum(e.parent, 0)] if n else [], 0.0).astype(np.float32),
        "pos_parent": np.concatenate([e.pos[np.maximum(e.parent, 0)], np.zeros((1, 2))]).astype(np.float32)
        if n
        else np.zeros((1, 2), np.float32),
        "sectors": sectors,
        "parent_class": np.append(e.parent_class, -1),
        "w_valid": valid,
        "w_j": jc,
        "w_last": (j == last_parent[:, None]) & valid,
        "w_ptr_ok": valid & (j >= last_parent[:, None]),
        "w_deg": deg,
        "w_cand": cand,
        "w_tgt": tgt.astype(np.float32),
        "w_cls": edge_cls,
        "w_is_parent": (j == parent[:, None]) & valid & step_child[:, None],
        "sp_u": sp_u,
        "sp_v": sp_v,
        "sp_tgt": sp_tgt,
        "sp_t_bin": np.append(e.split_t_bin, 0),
        "sp_f_bin": np.append(e.split_f_bin, 0),
        "sp_within": np.append(e.split_within, 0.0).astype(np.float32),
        "n": np.array(n),
        "dropped": np.array(dropped),
    } | ({} if style is None else {"style": _style_features(style)})


def _style_features(style: np.ndarray) -> np.ndarray:
    from citygen.style import features

    return features(style)


_NODE_KEYS = ("pos", "node_type", "rel")
_EDGE_KEYS = ("edge_i", "edge_j", "edge_c", "edge_rel")
_SPLIT_KEYS = ("sp_u", "sp_v")  # (steps, split candidates): padded on both axes


def collate(items: list[dict[str, np.ndarray]]) -> dict[str, torch.Tensor]:
    """Pad and stack per-tile arrays into a batch (node, step, window and edge axes)."""
    B = len(items)
    N = max(int(it["n"]) for it in items)
    E = max(it["edge_i"].shape[0] for it in items)
    out: dict[str, torch.Tensor] = {}
    for key, ref in items[0].items():
        if key in ("n", "dropped", "style"):
            out[key] = torch.as_tensor(np.stack([it[key] for it in items]))
            continue
        length = E if key in _EDGE_KEYS else N if key in _NODE_KEYS else N + 1
        shape = (B, max(length, 1), *ref.shape[1:])
        if key in _SPLIT_KEYS:
            shape = (B, N + 1, max(it[key].shape[1] for it in items))
        fill = -1 if key in ("types", "ptr_k", "parent", "w_cls", "parent_class", "node_type", "sp_tgt", *_SPLIT_KEYS) else 0
        arr = np.full(shape, fill, dtype=ref.dtype)
        for b, it in enumerate(items):
            v = it[key]
            arr[(b, slice(0, v.shape[0]), *(slice(0, k) for k in v.shape[1:]))] = v
        out[key] = torch.as_tensor(arr)
    out["node_mask"] = torch.arange(max(N, 1))[None, :] < out["n"][:, None]
    out["step_mask"] = torch.arange(N + 1)[None, :] <= out["n"][:, None]
    out["edge_mask"] = torch.as_tensor(
        np.stack([np.arange(max(E, 1)) < it["edge_i"].shape[0] for it in items])
    )
    assert out["types"].max() <= N_TYPES  # SPLIT (= N_TYPES) in a split model's chains
    return out
