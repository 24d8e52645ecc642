"""One BLAS thread for mnistpad's processes, set before numpy is imported.

mnistpad's products are small (64 x 784 by 784 x 10), where a second BLAS thread only waits for
the first, and its spare core does better work: gathering the next shuffled rows (`train.py`) or
keeping the window responsive. Measured with `fast`: 1.31-1.47 s with one BLAS thread and the
gather thread, 1.72-1.88 s with two BLAS threads fighting the gather thread for the second core.
A thread count the person set in the environment is kept. Both the `mnistpad` command
(`launch.py`) and the training child (`train_process.py`) use this; it imports nothing of
mnistpad's, so neither depends on the other.
"""

from __future__ import annotations

import os

ONE_BLAS_THREAD = dict.fromkeys(("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"), "1")


def one_blas_thread(environ: dict | os._Environ = os.environ) -> dict | os._Environ:
    """Set one BLAS thread in `environ` unless it already says otherwise; return it."""
    for name, value in ONE_BLAS_THREAD.items():
        environ.setdefault(name, value)
    return environ
