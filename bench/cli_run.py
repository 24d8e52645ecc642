"""What the benchmarks time for mnistpad itself: the `mnistpad train` command, as a person runs it
(one BLAS thread and the gather thread, see mnistpad/blas.py), by its own training clock."""

from __future__ import annotations

import json
import subprocess
import sys


def cli_train(name: str, seed: int = 0, *options: str) -> dict:
    """Run `mnistpad train --preset name --seed seed --json [options]`; its JSON summary (seconds
    exclude reading the data)."""
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "mnistpad",
            "train",
            "--preset",
            name,
            "--seed",
            str(seed),
            "--json",
            *options,
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout)
