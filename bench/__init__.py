"""The benchmark of logreg-dist against the tools a user would pick instead (bench/README.md is its ledger).

``bench/run.py`` is the entry point; ``bench/scale.py`` times one pass as workers and partitions grow;
``bench/path.py`` times the elastic net, the penalty path and its cross-validation (issue 20).

    problem.py   the problem every peer solves: Spec, the data (generated, categorical), the hashed split,
                 standardization, the reference solution and the coefficient errors against it
    harness.py   a child process per peer, the peak memory of a process tree by phase, timings, idle wait,
                 the machine
    limit.py     the floor NumPy / SciPy BLAS set for one pass, and our fit as a multiple of it
    scoring.py   rescoring with ours against pyarrow's read and write
    tables.py    the markdown tables and the ledger's results block
    peers/       one module per tool and the registry (peers/__init__.py)

Adding a peer or a case
-----------------------
A peer or a case (another solver or option of a tool, on the same data) is one function and one registry line:

1. In ``bench/peers/<tool>.py`` (a new module for a new tool), write
   ``def <case>(spec: Spec, memory: TreeMemory) -> dict``. It runs in its own child process; it fits the
   problem of ``spec`` (``spec.data``, ``spec.l2``, ``spec.valid_fraction``; add a field to
   :class:`bench.problem.Spec` for a new setting), wraps the run from Parquet in ``memory.phase("e2e")`` and
   the fit call in ``memory.phase("fit")``, and returns ``fit_s``, ``e2e_s``, ``auc``, ``iterations``,
   ``n_train``, and ``coef`` (original scale, in ``FEATURE_NAMES`` order) with ``intercept``.
2. Add ``Peer("<name>", <tool>.<case>, what, mapping, needs=(...))`` to ``PEERS`` in
   ``bench/peers/__init__.py``, where its row should appear. ``default=False`` keeps it out of the
   default run (``--peers <name>`` runs it); ``compared=False`` when it does not solve the reference's
   ridge problem (an elastic net, say), so that no coefficient error is reported against it;
   ``data="categorical"`` puts it in the ``--categorical`` run instead.

``--peers`` and the results table pick it up from the registry.
"""
