"""The fit's checkpoint: each iteration's coefficients and history in a JSON file, so a rerun resumes from it.

The file names the problem it belongs to (:func:`_fingerprint`: rows, weights,
features, their means, the penalty and the solver); a checkpoint of another
problem, or one that cannot be read, is ignored with a warning.
"""

from __future__ import annotations

import json
import logging
import os

import numpy as np

from .exceptions import InputError
from .storage import write_file

logger = logging.getLogger("logreg_dist")


def _fingerprint(moments, names, l2, solver, active, penalty=None) -> dict:
    """What identifies the problem a checkpoint belongs to."""
    return {
        "n_rows": int(moments.n_rows),
        "weight_sum": float(moments.weight_sum),
        "y_sum": float(moments.y_sum),
        "features": list(names),
        "active": [bool(a) for a in active],
        "mean": [float(m) for m in moments.mean],
        "l2": float(l2),
        "solver": solver,
        **({} if penalty is None or np.all(penalty == 1.0) else {"penalty": [float(v) for v in penalty]}),
    }


def _same_problem(saved: dict, current: dict) -> bool:
    for key, value in current.items():
        other = saved.get(key)
        if key in ("weight_sum", "y_sum", "mean"):
            if other is None or not np.allclose(other, value, rtol=1e-12, atol=0):
                return False
        elif other != value:
            return False
    return True


class _Checkpoint:
    """The solver's per-iteration callback: keeps the history, saves it with the coefficients, resumes from it."""

    def __init__(self, path: str | None, fingerprint: dict, callback=None):
        self.path, self.fingerprint, self.callback = path, fingerprint, callback
        self.history: list[dict] = []
        self.resumed, self.offset = None, 0
        if path and os.path.exists(path):
            try:
                with open(path) as handle:
                    saved = json.load(handle)
            except (OSError, ValueError) as error:
                logger.warning("ignoring the unreadable checkpoint %s: %s", path, error)
                return
            if not (isinstance(saved, dict) and saved.get("history") and "theta" in saved):
                logger.warning("ignoring the checkpoint %s: it holds no iterate", path)
            elif _same_problem(saved.get("fingerprint", {}), fingerprint):
                self.resumed = np.array(saved["theta"], dtype=np.float64)
                self.history = saved["history"]
                self.offset = self.history[-1]["iteration"]
            else:
                logger.warning("ignoring the checkpoint %s: it belongs to another problem", path)

    def __call__(self, record, theta) -> None:
        entry = record.as_dict()
        if self.offset and entry["iteration"] == 0:
            return  # the resumed point itself, already in the history
        entry["iteration"] += self.offset
        self.history.append(entry)
        if self.path:
            self._save(theta)
        if self.callback is not None:
            self.callback(entry)

    def _save(self, theta) -> None:
        os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)
        document = {"fingerprint": self.fingerprint, "theta": theta.tolist(), "history": self.history}
        write_file(self.path, json.dumps(document))

    def failed(self, error: BaseException) -> None:
        # The checkpoint is there so that a retry or rerun resumes after a crash (SIGKILL, a lost worker, any other
        # failure); an interrupt (a BaseException that is no Exception: KeyboardInterrupt, Prefect's
        # TerminationSignal) or bad input (InputError) is no crash, so it removes the checkpoint.
        if not isinstance(error, Exception) or isinstance(error, InputError):
            self.remove()

    def remove(self) -> None:
        if self.path and os.path.exists(self.path):
            os.remove(self.path)
