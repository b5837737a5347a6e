"""When a flow task is worth a second try."""

from logreg_dist import InputError


def io_failure(task, task_run, state) -> bool:
    """Retry what may pass on a second try (I/O, a lost worker), never bad input."""
    return not isinstance(state.result(raise_on_failure=False), InputError)
