"""Engines: map a block kernel over the blocks of a data set and add up the results.

An engine knows where the blocks are and nothing about what the kernel
computes. ``map_reduce(kernel, **params)`` calls ``kernel(*block, **params)``
on every block and returns the sum of the results (anything with ``+``).

- :class:`LocalEngine` holds NumPy blocks in this process.
- :class:`DaskEngine` holds blocks persisted on the workers of a Dask
  cluster. One evaluation is one graph: the kernel mapped over the blocks,
  then a tree of sums (``split_every`` results per node). Only the sums travel;
  rows stay on the worker that loaded them.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Callable, Sequence
from typing import Any

import dask
from dask.delayed import Delayed, delayed

__all__ = ["DaskEngine", "LocalEngine"]


class LocalEngine:
    """Blocks held in this process, each a tuple ``(X, y, sample_weight)``."""

    def __init__(self, blocks: Sequence[tuple]):
        self.blocks = list(blocks)

    @property
    def n_blocks(self) -> int:
        return len(self.blocks)

    def map_reduce(self, kernel: Callable, /, **params: Any):
        return functools.reduce(operator.add, (kernel(*block, **params) for block in self.blocks))

    def close(self) -> None:
        self.blocks = []


def _apply(kernel: Callable, block: tuple, params: dict):
    return kernel(*block, **params)


def _add_all(*parts):
    return functools.reduce(operator.add, parts)


class DaskEngine:
    """Blocks persisted on a Dask cluster, each a tuple ``(X, y, sample_weight)``.

    Parameters
    ----------
    client : distributed.Client
        The cluster the blocks live on.
    blocks : list of Delayed
        One lazy block per partition. They are persisted on the workers here,
        once; a lost block is recomputed from its lineage by the scheduler.
    split_every : int
        Fan-in of the tree reduction.
    persist : bool, default=True
        Load the blocks into worker memory once (for many passes). False reads
        them afresh on every pass (for one pass over data too big to keep).
    """

    def __init__(self, client, blocks: Sequence[Delayed], *, split_every: int = 8, persist: bool = True):
        if split_every < 2:
            raise ValueError(f"split_every must be an integer >= 2; got {split_every!r}.")
        self.client = client
        self.split_every = split_every
        self.blocks = client.persist(list(blocks)) if persist else list(blocks)

    @property
    def n_blocks(self) -> int:
        return len(self.blocks)

    def wait(self) -> None:
        """Wait until every block is loaded; re-raise the first loading error."""
        from distributed import futures_of, wait

        futures = futures_of(self.blocks)
        with self.client.as_current():
            wait(futures)
        for future in futures:
            if future.status == "error":
                future.result()  # raises the worker's exception, with its message

    def map_reduce(self, kernel: Callable, /, **params: Any):
        shared = delayed(params, pure=True)  # one task holds the parameters; every map task refers to it
        layer = [delayed(_apply, pure=True)(kernel, block, shared) for block in self.blocks]
        while len(layer) > 1:
            layer = [
                delayed(_add_all, pure=True)(*layer[i : i + self.split_every])
                for i in range(0, len(layer), self.split_every)
            ]
        (result,) = dask.compute(layer[0], scheduler=self.client)
        return result

    def close(self) -> None:
        """Release the persisted blocks from the cluster's memory."""
        from distributed import futures_of

        for future in futures_of(self.blocks):
            future.release()
        self.blocks = []
