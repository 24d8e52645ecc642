"""The `mnistpad` command's entry point: one BLAS thread (see `blas.py`) before numpy loads."""

from __future__ import annotations

from .blas import one_blas_thread


def main(argv: list[str] | None = None) -> int:
    one_blas_thread()
    from .cli import main as cli_main  # imports numpy, which reads the settings once

    return cli_main(argv)
