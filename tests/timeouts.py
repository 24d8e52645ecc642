"""Running a call that might block forever (a read of a named pipe) without blocking the tests."""

from __future__ import annotations

import threading

import pytest


def within(seconds: float, call):
    """call() in a daemon thread: its result, or a failed test when it has not returned in time
    (a read blocked on a named pipe would otherwise stop the whole run)."""
    outcome = {}

    def run():
        try:
            outcome["value"] = call()
        except BaseException as error:
            outcome["error"] = error

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        pytest.fail(f"did not return within {seconds} s")
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("value")
