"""Training in a child process, for callers that must stay responsive (the window).

Run in a thread of the window's process, training shares Python's interpreter lock with the event
loop: every repaint and every stroke waits for the trainer and the trainer for them (measured:
training 1.5x slower while a person draws, event-loop stalls over 50 ms). In its own process it
runs at the CLI's speed, with the CLI's one BLAS thread (see `blas.py`), and the window keeps
the other core.

The child is a fresh interpreter (`python -P -m mnistpad.train_process`), never a fork of a
process that runs Qt's threads; `-P` keeps the current folder off its import path, so a
`numpy.py` lying where the app was started is never run. It reads one pickle from stdin,
(dataset, config, initial weights or None), writes each training event to stdout as a pickle in a
frame (`MAGIC`, its length), and ends with `Finished` or a message string saying what went wrong.
The frame is checked before the pickle is read: bytes that are not a frame (a sitecustomize or
.pth file that prints at start-up), a length no run sends, or a message that is not an event end
the child at once with a message saying its output was unreadable, instead of a wait for bytes
that never come or a huge allocation for a bogus length.
Afterwards stdin carries requests, one byte each: `PAUSE`, `RESUME`, `STEP` (one step while
paused; train.Pause), and any other byte is a stop request, and so is stdin closing: a child whose
window has gone away stops at its next step, paused or not (a paused child waits on a condition,
using no processor time; a stop wakes it). A child that does not answer a stop request within
`STOP_GRACE_S` (stopped with SIGSTOP, or hung) is terminated, then killed; its answer is the
`Scoring` event, after which it only scores the kept weights (seconds for a CNN; 40 s on a busy
2-core machine) and sends them. A scoring child is ended only when asked (`abandon`) or when it
has stopped using the processor (`is_working`): a frozen child would otherwise score forever.

A dataset that is an entry of the data cache (data.py) travels as the entry's name
(`data.CachedData`), and the child maps the same files, checked again, instead of receiving
220 MB through the pipe: a `fast` run's first progress came 0.14 s after Train instead of 0.28 s
(bench/startup.py), most of it the child's own start, and both processes share one copy of the
data in memory. Other data (fine-tuning data, data in memory) is pickled whole.
"""

from __future__ import annotations

import os
import pickle
import struct
import subprocess
import sys
import threading
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import NoReturn

from .blas import one_blas_thread
from .data import CachedData, DataError, Dataset, cached_data, reopen
from .networks import Model
from .train import ConfigError, Event, Finished, Pause, Scoring, TrainConfig, train
from .weights import MAX_PARAMETERS

# Scheduling priority below the window's: on 2 cores it took the longest event-loop stall while
# training from 25-71 ms to 22-33 ms (bench/gui_latency.py, 3 runs each), at the same speed.
NICENESS = 5
# A healthy child stops within one step (milliseconds, or one per-example block); one that has
# not ended this long after a stop request is ended by force.
STOP_GRACE_S = 2.0
# Each message: MAGIC, then its length (8 bytes, big-endian), then the pickle.
MAGIC = b"MNPD"
FRAME = struct.Struct(">4sQ")
# The largest message is an event carrying a model: a weight file's largest (float32), its history
# of at most 1,000 epochs (80 KB) and its settings.
MAX_MESSAGE_BYTES = 4 * MAX_PARAMETERS + (1 << 20)
# The requests on stdin besides a stop (any other byte).
PAUSE, RESUME, STEP, STOP = b"p", b"r", b"s", b"x"


class TrainingProcessError(RuntimeError):
    """The run could not start or broke off; the message is for the person."""


class TrainingProcess:
    """One run in a child process. Iterate `events()` from one thread; `request_stop()`,
    `abandon()` and `end()` are safe from any other."""

    def __init__(self, dataset: Dataset, config: TrainConfig, initial: Model | None = None) -> None:
        self.dataset, self.config, self.initial = dataset, config, initial
        self._child: subprocess.Popen | None = None
        self._handed_over = False  # the work is written: stdin is free for a stop request
        self._stop_wanted = False
        self._requests = bytearray()  # pause, resume and step asked for before the hand-over
        self._handing_over = threading.Lock()  # held while _handed_over changes
        self._timers: list[threading.Timer] = []  # each ends the child unless it has ended
        self._ended_because = ""  # why the child was ended by force: the run's error message
        self._cpu_seen: float | None = None  # the child's processor time when last looked at
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
            with self._handing_over:
                self._handed_over = True
                self._write(bytes(self._requests))
            if self._stop_wanted:  # asked before the child existed, or during the hand-over
                self._send_stop()
                self._watch()
            while True:
                message = self._receive()
                if isinstance(message, str):
                    raise TrainingProcessError(message)
                if isinstance(message, Scoring):  # the stop, if any, is answered
                    self.scoring = True
                yield message
                if isinstance(message, Finished):
                    return
        finally:
            self.close()

    def _receive(self) -> Event | str:
        """The child's next message. TrainingProcessError when the child has ended, or when it
        wrote something else: then it is ended, as nothing it writes after can be trusted."""
        header = self._read(FRAME.size)
        magic, length = FRAME.unpack(header)
        if magic != MAGIC:
            self._unreadable(f"it begins with {header!r}, not with a message")
        if length > MAX_MESSAGE_BYTES:
            self._unreadable(f"a message of {length:,} bytes, more than a run sends")
        payload = self._read(length)
        try:
            message = pickle.loads(payload)
        except Exception as error:  # garbage fails in any way, MemoryError included
            self._unreadable(f"a message that does not decode: {type(error).__name__}")
        if not isinstance(message, str | Event):
            self._unreadable(f"a message of type {type(message).__name__}")
        return message

    def _read(self, size: int) -> bytes:
        """`size` bytes of the child's output; TrainingProcessError if it ends before."""
        try:
            data = self._child.stdout.read(size)
        except OSError:  # the pipe broke: the child is gone
            data = b""
        if len(data) < size:
            code = self._child.wait()
            raise TrainingProcessError(
                self._ended_because or f"the training process ended unexpectedly (exit code {code})"
            )
        return data

    def _unreadable(self, why: str) -> NoReturn:
        self._child.kill()
        raise TrainingProcessError(
            f"the training process's output was unreadable ({why}), so it was ended and its run"
            " is lost; does a sitecustomize module or .pth file print to standard output?"
        )

    def request_stop(self) -> None:
        """Ask the child to stop after its current step (at once if it has not started)."""
        self._stop_wanted = True
        if self._handed_over:
            self._send_stop()
        if self._child is not None:  # else events() starts the watch once the child exists
            self._watch()

    def pause(self) -> None:
        """Ask the child to wait after its current step (until `resume`, `step` or a stop)."""
        self._request(PAUSE)

    def resume(self) -> None:
        self._request(RESUME)

    def step(self) -> None:
        """Ask a paused child for one more step (one mini-batch, or one example)."""
        self._request(STEP)

    def _request(self, byte: bytes) -> None:
        with self._handing_over:
            if self._handed_over:
                self._write(byte)
            else:
                self._requests += byte

    def abandon(self) -> None:
        """End the child STOP_GRACE_S from now, even while it scores the kept weights: the person
        asked to stop a run that no longer takes steps (a frozen child would score forever)."""
        self.request_stop()
        self._later(
            "the training process was ended while it scored the kept weights, as asked;"
            " the run's weights are lost",
            even_scoring=True,
        )

    def _watch(self) -> None:
        """End the child if it has not ended STOP_GRACE_S after the stop request."""
        if not self._timers:
            self._later(
                f"the training process did not answer the stop request within {STOP_GRACE_S:g} s"
                " and was ended; its run is lost",
                even_scoring=False,
            )

    def _later(self, reason: str, even_scoring: bool) -> None:
        def when_due() -> None:
            if even_scoring or not self.scoring:
                self.end(reason)

        timer = threading.Timer(STOP_GRACE_S, when_due)
        timer.daemon = True
        self._timers.append(timer)
        timer.start()

    def end(self, reason: str) -> None:
        """End the child now (SIGTERM, then SIGKILL); `events()` then raises TrainingProcessError
        with `reason`."""
        child = self._child
        if child is None or child.poll() is not None:
            return
        self._ended_because = self._ended_because or reason
        child.terminate()
        try:
            child.wait(timeout=0.5)
        except subprocess.TimeoutExpired:  # stopped (SIGSTOP) or ignoring SIGTERM
            child.kill()

    def is_working(self) -> bool:
        """Whether the child has used the processor since the last call (True the first time,
        and where the system does not say: Linux's /proc does)."""
        used = _cpu_seconds(self.pid) if self.pid is not None else None
        working = used is None or self._cpu_seen is None or used > self._cpu_seen
        self._cpu_seen = used
        return working

    def _send_stop(self) -> None:
        self._write(STOP)

    def _write(self, requests: bytes) -> None:
        try:
            self._child.stdin.write(requests)
            self._child.stdin.flush()
        except (OSError, ValueError):  # gone already, or its stdin is closed
            pass

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
        for timer in self._timers:
            timer.cancel()
        self._child.stdout.close()


def child_command() -> list[str]:
    """How the child is started: `-P`, so the current folder never shadows a module."""
    return [sys.executable, "-P", "-m", "mnistpad.train_process"]


def _cpu_seconds(pid: int) -> float | None:
    """The processor time a process has used, from /proc (None where there is none)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            fields = stat.read(4096).rpartition(b")")[2].split()  # after the command's name
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime
    except (OSError, ValueError, IndexError):
        return None


def _import_path() -> str:
    """PYTHONPATH for the child: mnistpad's own parent folder first (a checkout that is not
    installed), then the person's own entries."""
    package_parent = str(Path(__file__).resolve().parents[1])
    return os.pathsep.join(filter(None, (package_parent, os.environ.get("PYTHONPATH"))))


def _child_main() -> None:
    """The child's whole life: read the work, train, and send each event or one error message."""
    if hasattr(os, "nice"):  # background work: the window the person uses comes first
        os.nice(NICENESS)
    # The messages get a descriptor of their own, and standard output goes to stderr: a stray
    # print, or a library writing to descriptor 1, must not corrupt the stream of messages.
    output = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    sys.stdout = sys.stderr
    stop, pause = threading.Event(), Pause()
    requests = {PAUSE: pause.pause, RESUME: pause.resume, STEP: pause.step}

    def watch_stdin() -> None:  # any other byte, or the end of the stream, asks for a stop
        while (byte := sys.stdin.buffer.read(1)) in requests:
            requests[byte]()
        stop.set()
        pause.end()  # a paused run wakes up to stop

    def send(message) -> None:
        payload = pickle.dumps(message, protocol=5)
        output.write(FRAME.pack(MAGIC, len(payload)))
        output.write(payload)
        output.flush()

    try:
        dataset, config, initial = pickle.load(sys.stdin.buffer)
        threading.Thread(target=watch_stdin, daemon=True).start()
        if isinstance(dataset, CachedData):
            dataset = reopen(dataset)
        for event in train(dataset, config, stop.is_set, initial, pause):
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
