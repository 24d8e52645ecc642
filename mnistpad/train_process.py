"""Training in a child process, for callers that must stay responsive (the window).

Run in a thread of the window's process, training shares Python's interpreter lock with the event
loop: every repaint and every stroke waits for the trainer and the trainer for them (measured:
training 1.5x slower while a person draws, event-loop stalls over 50 ms). In its own process it
runs at the CLI's speed, with the CLI's one BLAS thread (see `blas.py`), and the window keeps
the other core.

The child is a fresh interpreter (`python -P -m mnistpad.train_process`), never a fork of a
process that runs Qt's threads; `-P` keeps the current folder off its import path, so a
`numpy.py` lying where the app was started is never run. It reads one pickle from stdin,
(dataset, config, initial weights or None), writes each training event to stdout as a pickle,
and ends with `Finished` or a message string saying what went wrong.
Any byte on stdin afterwards is a stop request, and so is stdin closing: a child whose window has
gone away stops at its next step. A child that does not answer a stop request within
`STOP_GRACE_S` (stopped with SIGSTOP, or hung) is terminated, then killed; its answer is the
`Scoring` event, after which it only scores the kept weights (seconds for a CNN) and sends them.

A dataset that is an entry of the data cache (data.py) travels as the entry's name
(`data.CachedData`), and the child maps the same files, checked again, instead of receiving
220 MB through the pipe: a `fast` run's first progress came 0.14 s after Train instead of 0.28 s
(bench/startup.py), most of it the child's own start, and both processes share one copy of the
data in memory. Other data (fine-tuning data, data in memory) is pickled whole.
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import threading
import traceback
from collections.abc import Iterator
from pathlib import Path

from .blas import one_blas_thread
from .data import CachedData, DataError, Dataset, cached_data, reopen
from .networks import Model
from .train import ConfigError, Event, Finished, Scoring, TrainConfig, train

# Scheduling priority below the window's: on 2 cores it took the longest event-loop stall while
# training from 25-71 ms to 22-33 ms (bench/gui_latency.py, 3 runs each), at the same speed.
NICENESS = 5
# A healthy child stops within one step (milliseconds, or one per-example block); one that has
# not ended this long after a stop request is ended by force.
STOP_GRACE_S = 2.0


class TrainingProcessError(RuntimeError):
    """The run could not start or broke off; the message is for the person."""


class TrainingProcess:
    """One run in a child process. Iterate `events()` from one thread; `request_stop()` and
    `kill()` are safe from any other."""

    def __init__(self, dataset: Dataset, config: TrainConfig, initial: Model | None = None) -> None:
        self.dataset, self.config, self.initial = dataset, config, initial
        self._child: subprocess.Popen | None = None
        self._handed_over = False  # the work is written: stdin is free for a stop request
        self._stop_wanted = False
        self._watchdog: threading.Timer | None = None  # ends a child that ignores a stop
        self._ended_by_force = False
        self.scoring = False  # the child has stopped stepping and scores the kept weights

    @property
    def pid(self) -> int | None:
        return self._child.pid if self._child else None

    @property
    def exitcode(self) -> int | None:
        return self._child.poll() if self._child else None

    def events(self) -> Iterator[Event]:
        """Start the child, hand it the work and yield its events up to and including `Finished`."""
        try:
            self._child = subprocess.Popen(
                child_command(),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                env=one_blas_thread(dict(os.environ)) | {"PYTHONPATH": _import_path()},
            )
        except OSError as error:  # no memory or processes left
            raise TrainingProcessError(f"could not start the training process: {error}") from error
        try:
            try:
                work = (cached_data(self.dataset) or self.dataset, self.config, self.initial)
                pickle.dump(work, self._child.stdin, protocol=5)
                self._child.stdin.flush()
            except OSError:
                pass  # the child is already gone; reading its output says why
            self._handed_over = True
            if self._stop_wanted:  # asked before the child existed, or during the hand-over
                self._send_stop()
                self._watch()
            while True:
                try:
                    message = pickle.load(self._child.stdout)
                except (EOFError, OSError, pickle.UnpicklingError):
                    code = self._child.wait()
                    if self._ended_by_force:
                        raise TrainingProcessError(
                            f"the training process did not answer the stop request within "
                            f"{STOP_GRACE_S:g} s and was ended; its run is lost"
                        ) from None
                    raise TrainingProcessError(
                        f"the training process ended unexpectedly (exit code {code})"
                    ) from None
                if isinstance(message, str):
                    raise TrainingProcessError(message)
                if isinstance(message, Scoring):  # the stop, if any, is answered
                    self.scoring = True
                yield message
                if isinstance(message, Finished):
                    return
        finally:
            self.close()

    def request_stop(self) -> None:
        """Ask the child to stop after its current step (at once if it has not started)."""
        self._stop_wanted = True
        if self._handed_over:
            self._send_stop()
        if self._child is not None:  # else events() starts the watch once the child exists
            self._watch()

    def _watch(self) -> None:
        """End the child if it has not ended STOP_GRACE_S after the stop request."""
        if self._watchdog is None:
            self._watchdog = threading.Timer(STOP_GRACE_S, self._end_if_unanswered)
            self._watchdog.daemon = True
            self._watchdog.start()

    def _end_if_unanswered(self) -> None:
        child = self._child
        if child.poll() is not None or self.scoring:
            return
        self._ended_by_force = True
        child.terminate()
        try:
            child.wait(timeout=0.5)
        except subprocess.TimeoutExpired:  # stopped (SIGSTOP) or ignoring SIGTERM
            child.kill()

    def _send_stop(self) -> None:
        try:
            self._child.stdin.write(b"x")
            self._child.stdin.flush()
        except (OSError, ValueError):  # gone already, or its stdin is closed
            pass

    def kill(self) -> None:
        """End the child now; `events()` then raises TrainingProcessError."""
        if self._child is not None and self._child.poll() is None:
            self._child.kill()

    def close(self) -> None:
        """Stop the child, wait for it briefly (then kill it) and release its pipes."""
        if self._child is None:
            return
        try:
            self._child.stdin.close()  # the child stops at its next step
        except OSError:  # its last buffered bytes could not be written: it is gone
            pass
        try:
            self._child.wait(timeout=STOP_GRACE_S)
        except subprocess.TimeoutExpired:  # stuck, for example swapping: do not wait for it
            self._child.kill()
            self._child.wait()
        if self._watchdog is not None:
            self._watchdog.cancel()
        self._child.stdout.close()


def child_command() -> list[str]:
    """How the child is started: `-P`, so the current folder never shadows a module."""
    return [sys.executable, "-P", "-m", "mnistpad.train_process"]


def _import_path() -> str:
    """PYTHONPATH for the child: mnistpad's own parent folder first (a checkout that is not
    installed), then the person's own entries."""
    package_parent = str(Path(__file__).resolve().parents[1])
    return os.pathsep.join(filter(None, (package_parent, os.environ.get("PYTHONPATH"))))


def _child_main() -> None:
    """The child's whole life: read the work, train, and send each event or one error message."""
    if hasattr(os, "nice"):  # background work: the window the person uses comes first
        os.nice(NICENESS)
    output = sys.stdout.buffer
    sys.stdout = sys.stderr  # a stray print must not corrupt the stream of pickles
    stop = threading.Event()

    def watch_stdin() -> None:  # any byte, or the end of the stream, asks for a stop
        sys.stdin.buffer.read(1)
        stop.set()

    def send(message) -> None:
        pickle.dump(message, output, protocol=5)
        output.flush()

    try:
        dataset, config, initial = pickle.load(sys.stdin.buffer)
        threading.Thread(target=watch_stdin, daemon=True).start()
        if isinstance(dataset, CachedData):
            dataset = reopen(dataset)
        for event in train(dataset, config, should_stop=stop.is_set, initial=initial):
            send(event)
    except (BrokenPipeError, EOFError, pickle.UnpicklingError):
        return  # the window is gone (or went while handing over the work): nobody to tell
    except (ConfigError, DataError) as error:
        send(str(error))
    except MemoryError:
        send("training ran out of memory")
    except Exception as error:  # never end a run without a word
        send(f"training failed unexpectedly: {error!r}")


if __name__ == "__main__":
    status = 0
    try:
        _child_main()
    except BaseException:
        traceback.print_exc()
        status = 1
    sys.stderr.flush()
    # Leave at once: the stdin watcher blocks in a read that holds stdin's lock, and a normal
    # interpreter shutdown would wait a second for that lock and then abort.
    os._exit(status)
