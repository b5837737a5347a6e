"""Engines: map a block kernel over the blocks of a data set and add up the results.

An engine knows where the blocks are and nothing about what the kernel
computes. ``map_reduce(kernel, **params)`` calls ``kernel(*block, **params)``
on every block and returns the sum of the results (anything with ``+``);
``map_reduce(kernel, other, **params)`` joins block ``i`` of an engine
derived from this one (``derive``), which lies where block ``i`` does.

- :class:`LocalEngine` holds NumPy blocks in this process.
- :class:`DaskEngine` holds blocks persisted on the workers of a Dask
  cluster. One evaluation is one task per worker thread, running the kernel
  over the blocks that worker holds and adding the results there; those sums
  are added up a tree (``split_every`` results per node). Only the sums
  travel; rows stay on the worker that loaded them.
"""

from __future__ import annotations

import functools
import operator
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any

import dask
import numpy as np
from dask.delayed import Delayed, delayed

__all__ = ["DaskEngine", "LocalEngine", "tree_sum"]


class LocalEngine:
    """Blocks held in this process, each a tuple ``(X, y, sample_weight)``."""

    def __init__(self, blocks: Sequence[tuple]):
        self.blocks = list(blocks)

    @property
    def n_blocks(self) -> int:
        return len(self.blocks)

    def map_reduce(self, kernel: Callable, /, *others: LocalEngine, finish: Callable | None = None, **params: Any):
        blocks = _joined(self.blocks, others)
        total = functools.reduce(operator.add, (kernel(*block, **params) for block in blocks))
        return total if finish is None else finish(total)

    def transform(self, fn: Callable, /, **params: Any) -> None:
        """Replace block ``i`` by ``fn(block, partition=i, n_partitions=n, **params)``."""
        self.blocks = self.derive(fn, **params).blocks

    def derive(self, fn: Callable, /, *others: LocalEngine, **params: Any) -> LocalEngine:
        """A new engine whose block ``i`` is ``fn(block_i, *(other's block_i), partition=i, n_partitions=n,
        **params)``; this engine keeps its blocks."""
        n = len(self.blocks)
        return LocalEngine([
            fn(block, *[other.blocks[i] for other in others], partition=i, n_partitions=n, **params)
            for i, block in enumerate(self.blocks)
        ])

    def close(self) -> None:
        self.blocks = []


def _apply(kernel: Callable, block: tuple, params: dict):
    return kernel(*block, **params)


def _check_aligned(blocks: list, others) -> None:
    if any(len(other.blocks) != len(blocks) for other in others):
        raise ValueError(f"map_reduce over engines of {[len(blocks), *[len(o.blocks) for o in others]]} blocks: "
                         "they must hold the same partitions.")


def _joined(blocks: list, others) -> list:
    """Block ``i`` of each engine joined into one tuple (an engine derived from another lies where it does)."""
    if not others:
        return blocks
    _check_aligned(blocks, others)
    return [_concat(parts) for parts in zip(blocks, *[other.blocks for other in others])]


def _concat(parts) -> tuple:
    """One partition's blocks from several engines, as the one tuple the kernel takes."""
    return tuple(part for block in parts for part in block)


def _await_all(futures) -> None:
    """Wait until each of ``futures`` has finished, without fetching its result.

    ``Future.exception`` waits on the future's own client. ``distributed.wait``
    needs a default client, and ``Client.as_current`` sets dask's global
    config while it waits: callers in several threads (the train flow's
    side-by-side tasks) restore it out of order and leave
    ``scheduler='dask.distributed'`` set for the whole process. A future this
    process already knows finished is not asked again: each ask is a round
    trip through the client's event loop, and a fit asks before every pass.
    """
    for future in futures:
        if future.status != "finished":
            future.exception()


def _move_block(block):
    """The block, on this worker. Arrays that arrive unaligned from the network are copied:
    NumPy's BLAS calls refuse unaligned memory and fall back to much slower loops."""
    return tuple(
        np.require(part, requirements="A") if isinstance(part, np.ndarray)
        else part.aligned() if hasattr(part, "aligned") else part  # a block of column runs aligns each run
        for part in block
    )


def _persisted(client, blocks: list) -> list:
    """The futures of ``blocks`` persisted on the cluster in one graph."""
    from distributed import futures_of

    return [futures_of(block)[0] for block in client.persist(blocks)]


def _add_all(*parts):
    return functools.reduce(operator.add, parts)


def tree_sum(layer: list, *, split_every: int):
    """The sum of ``layer`` (Delayed or futures) as one Delayed, added up a tree of ``split_every`` per node.

    The one reduction of the package: the engine's passes and scoring's tallies
    both add this way, so the same parts give the same sum in the same order.
    """
    while len(layer) > 1:
        layer = [delayed(_add_all, pure=True)(*layer[i : i + split_every]) for i in range(0, len(layer), split_every)]
    return layer[0]


def _apply_group(kernel: Callable, params: dict, width: int, *blocks):
    """The kernel over the blocks one worker thread holds, added in the order given; with ``width`` engines, every
    ``width`` consecutive blocks are one partition's, joined into one tuple."""
    joined = [_concat(blocks[i : i + width]) for i in range(0, len(blocks), width)]
    return functools.reduce(operator.add, (kernel(*block, **params) for block in joined))


def _thread_groups(indices: Sequence[int], sizes: Sequence[int], n_threads: int) -> list[list[int]]:
    """One worker's blocks in ``n_threads`` groups of about equal bytes, each in ascending block order."""
    groups: list[list[int]] = [[] for _ in range(max(n_threads, 1))]
    load = [0] * len(groups)
    for index, size in sorted(zip(indices, sizes), key=lambda item: (-item[1], item[0])):  # largest first
        lightest = min(range(len(groups)), key=load.__getitem__)
        groups[lightest].append(index)
        load[lightest] += max(size, 1)  # empty blocks spread too
    return [sorted(group) for group in groups if group]


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
        self._grouped: tuple | None = None  # (block keys, their groups): see _groups()
        self.blocks = _persisted(client, list(blocks)) if persist else list(blocks)

    @classmethod
    def persisted_together(cls, client, *block_lists: Sequence[Delayed], split_every: int = 8) -> list[DaskEngine]:
        """One engine per list of lazy blocks, all persisted in one graph: tasks the lists share (one read
        of a file that yields both a training and a validation block) run once."""
        futures = _persisted(client, [block for blocks in block_lists for block in blocks])
        engines, start = [], 0
        for blocks in block_lists:
            engines.append(cls.of_futures(client, futures[start : start + len(blocks)], split_every=split_every))
            start += len(blocks)
        return engines

    @property
    def n_blocks(self) -> int:
        return len(self.blocks)

    def wait(self) -> None:
        """Wait until every block is loaded; re-raise the first loading error."""
        from distributed import futures_of

        futures = futures_of(self.blocks)
        _await_all(futures)
        for future in futures:
            if future.status in ("error", "cancelled"):
                future.result()  # raises the worker's exception, with its message

    def transform(self, fn: Callable, /, **params: Any) -> None:
        """Replace persisted block ``i`` by ``fn(block, partition=i, n_partitions=n, **params)``, computed where it lies.

        The old blocks are released once the new ones are in memory (the first error re-raised).
        """
        old = self.blocks
        self.blocks = self.derive(fn, **params).blocks
        for future in old:
            future.release()

    def derive(self, fn: Callable, /, *others: DaskEngine, **params: Any) -> DaskEngine:
        """A new engine whose block ``i`` is ``fn(block_i, *(other's block_i), partition=i, n_partitions=n,
        **params)``, computed where block ``i`` lies; this engine keeps its blocks. Waits until every new block
        is in memory (the first error re-raised)."""
        n = len(self.blocks)
        blocks = [
            self.client.submit(fn, block, *[other.blocks[i] for other in others], partition=i, n_partitions=n,
                               pure=False, **params)
            for i, block in enumerate(self.blocks)
        ]
        derived = DaskEngine.of_futures(self.client, blocks, split_every=self.split_every)
        derived.wait()
        return derived

    @classmethod
    def of_futures(cls, client, futures: Sequence, *, split_every: int = 8) -> DaskEngine:
        """An engine over blocks already persisted on the cluster (futures)."""
        engine = cls(client, [], split_every=split_every, persist=False)
        engine.blocks = list(futures)
        return engine

    def balance(self, tolerance: float = 0.05) -> int:
        """Move persisted blocks between workers until each thread holds about the same bytes.

        A pass lasts as long as its busiest worker, and the blocks land where
        their partitions happened to be read (11 and 6 of 17 partitions on two
        workers, say). Only the excess moves, largest gain first, and only
        while a move shortens the busiest worker's share by more than
        ``tolerance``. Returns the number of blocks moved.
        """
        futures = [block for block in self.blocks if hasattr(block, "key")]
        if len(futures) < 2:
            return 0
        threads, sizes, owner, load = self._holdings(futures)
        if len(threads) < 2:
            return 0
        moves: dict[str, str] = {}
        while True:
            heavy = max(load, key=load.get)
            light = min(load, key=load.get)
            gap = load[heavy] - load[light]
            candidates = [key for key, address in owner.items() if address == heavy]
            if not candidates:
                break
            # The block that brings the two closest: as near half the gap as there is.
            key = min(candidates, key=lambda k: abs(sizes[k] / threads[heavy] - gap / 2))
            after = max(load[heavy] - sizes[key] / threads[heavy], load[light] + sizes[key] / threads[light])
            if after > load[heavy] * (1.0 - tolerance):
                break
            load[heavy] -= sizes[key] / threads[heavy]
            load[light] += sizes[key] / threads[light]
            owner[key] = light
            moves[key] = light
        if not moves:
            return 0
        moved = {}
        for index, future in enumerate(self.blocks):
            if getattr(future, "key", None) in moves:
                # A loose restriction: should that worker go, the block is rebuilt anywhere from its lineage.
                moved[index] = self.client.submit(_move_block, future, workers=[moves[future.key]], allow_other_workers=True, pure=False)
        _await_all(list(moved.values()))
        old = [self.blocks[index] for index in moved]
        for index, future in moved.items():
            self.blocks[index] = future
        self._release(old)  # so that the passes start with each block in memory once
        return len(moved)

    def map_reduce(self, kernel: Callable, /, *others: DaskEngine, finish: Callable | None = None, **params: Any):
        """The sum of ``kernel(*block, **params)`` over every block (``finish`` of it, when given); with ``others``
        (engines derived from this one, whose block ``i`` lies with block ``i``), ``kernel(*block, *other's block,
        **params)``.

        ``finish`` runs on the cluster, at the root of the tree: only its result travels to this process (for
        sums as long as the rows, such as the set of ids, of which only the duplicates are wanted).

        Persisted blocks: one task per worker thread runs the kernel over the
        blocks that thread's worker holds and adds their results there, in
        ascending block order; those sums go up the tree. One task per thread,
        not per block, because a fit makes a pass per iteration and the
        scheduling of a task per block dominates a pass (bench/README.md).
        Which blocks are added together follows where they lie, so
        fits whose blocks lie differently may differ in the last bits of a
        sum. Blocks read afresh on every pass are one task each.
        """
        from distributed import Future

        if self.blocks and all(isinstance(block, Future) for block in self.blocks):
            if not all(isinstance(block, Future) for other in others for block in other.blocks):
                raise ValueError("map_reduce over several engines needs every engine's blocks persisted.")
            _check_aligned(self.blocks, others)
            return self._map_reduce_grouped(kernel, params, finish, others)
        if others:
            raise ValueError("map_reduce over several engines needs their blocks persisted.")
        shared = delayed(params, pure=True)  # one task holds the parameters; every map task refers to it
        return self._reduce([delayed(_apply, pure=True)(kernel, block, shared) for block in self.blocks], finish)

    def _map_reduce_grouped(self, kernel: Callable, params: dict, finish: Callable | None = None, others=()):
        self.wait()  # the groups follow where the blocks lie, so they must be there (a loading error is raised here)
        name = getattr(kernel, "__name__", "kernel")
        partials = [
            self.client.submit(
                _apply_group, kernel, params, 1 + len(others),
                *[block for i in indices for block in (self.blocks[i], *[other.blocks[i] for other in others])],
                key=f"{name}-{uuid.uuid4().hex}", pure=False,
                # A loose restriction: should that worker go, the task runs where the blocks are rebuilt.
                workers=None if address is None else [address], allow_other_workers=address is not None,
            )
            for address, indices in self._groups()
        ]
        if len(partials) <= self.split_every and finish is None:  # the tree's root: add the few sums here
            return functools.reduce(operator.add, self.client.gather(partials))
        return self._reduce(partials, finish)

    def _groups(self) -> list[tuple[str | None, list[int]]]:
        """``(worker, block indices)`` per worker thread, from where the blocks lie.

        Asked of the scheduler once per set of blocks (three round trips), and
        kept while the blocks are the same: a worker lost since then leaves its
        group's task to run where its blocks are rebuilt. A block held by
        several workers counts for the least loaded of them; a block no worker
        holds joins the least loaded worker's group.
        """
        keys = tuple(block.key for block in self.blocks)
        if self._grouped is not None and self._grouped[0] == keys:
            return self._grouped[1]
        groups = self._place()
        if groups[0][0] is not None:  # kept only once the workers are known
            self._grouped = (keys, groups)
        return groups

    def _holdings(self, futures) -> tuple[dict, dict, dict, dict]:
        """Where ``futures`` lie: threads per worker, bytes per key, the worker each key counts for, and
        each worker's bytes per thread.

        A block held by several workers (work stealing copies one where a task
        ran) counts for the one least loaded so far: it is there already, and
        moving it would gain nothing. A block no worker holds counts for none.
        """
        threads = {address: info["nthreads"] for address, info in self.client.scheduler_info(n_workers=-1)["workers"].items()}
        sizes = self.client.nbytes([future.key for future in futures], summary=False)
        holders = self.client.who_has(futures)
        load = dict.fromkeys(threads, 0.0)
        owner = {}
        placed = [(future.key, [a for a in holders.get(future.key, ()) if a in load]) for future in futures]
        for key, where in sorted(placed, key=lambda item: len(item[1])):
            if where:
                address = min(where, key=load.get)
                owner[key] = address
                load[address] += sizes[key] / threads[address]
        return threads, sizes, owner, load

    def _place(self) -> list[tuple[str | None, list[int]]]:
        threads, sizes, owner, load = self._holdings(self.blocks)
        if not threads:  # no worker yet: let the scheduler place the one task
            return [(None, list(range(len(self.blocks))))]
        owned: dict[str, list[int]] = {address: [] for address in threads}
        for index, block in enumerate(self.blocks):
            address = owner.get(block.key)
            if address is None:  # lost with its worker: rebuilt where the least loaded worker's task runs
                address = min(load, key=load.get)
                load[address] += sizes.get(block.key, 0) / threads[address]
            owned[address].append(index)
        return [
            (address, group)
            for address, indices in owned.items()
            if indices
            for group in _thread_groups(indices, [sizes.get(self.blocks[i].key, 0) for i in indices], threads[address])
        ]

    def _reduce(self, layer: list, finish: Callable | None = None):
        """Add ``layer`` (Delayed or futures) up a tree of ``split_every`` per node, on the cluster; ``finish`` of
        the total there, when given."""
        total = tree_sum(layer, split_every=self.split_every)
        root = total if finish is None else delayed(finish, pure=True)(total)
        (result,) = dask.compute(root, scheduler=self.client)
        return result

    def close(self) -> None:
        """Release the persisted blocks from the cluster's memory."""
        from distributed import futures_of

        self._release(futures_of(self.blocks))
        self.blocks = []

    def _release(self, futures, timeout: float = 5.0) -> None:
        """Release ``futures`` and wait (at most ``timeout`` s) until the workers have dropped them.

        Workers drop released data asynchronously; waiting keeps a fit's memory
        from overlapping the next one's, and a moved block's old copy from
        lingering beside the new one.
        """
        keys = {future.key for future in futures}
        for future in futures:
            future.release()
        deadline = time.monotonic() + timeout
        while keys and time.monotonic() < deadline and any(
            holders for key, holders in self.client.who_has().items() if key in keys
        ):
            time.sleep(0.02)
