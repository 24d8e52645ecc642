"""Training in a child process: the same results as in-process, stop, failures, a killed child."""

from __future__ import annotations

import os
import pickle
import signal
import time
import tracemalloc
from pathlib import Path

import pytest

from mnistpad.blas import one_blas_thread
from mnistpad.data import cached_data
from mnistpad.train import EpochEnd, Finished, Progress, Scoring, preset, train
from mnistpad.train_process import (
    FRAME,
    MAGIC,
    STOP_GRACE_S,
    TrainingProcess,
    TrainingProcessError,
    child_command,
)


def test_the_child_trains_exactly_as_in_process(tiny):
    config = preset("optimized", epochs=2, seed=5)
    remote = list(TrainingProcess(tiny, config).events())
    local = list(train(tiny, config))
    assert [type(e) for e in remote] == [type(e) for e in local]
    assert isinstance(remote[-1], Finished)
    assert remote[-1].model.W.tobytes() == local[-1].model.W.tobytes()
    for theirs, ours in zip(remote[-1].history, local[-1].history, strict=True):
        # the child runs one BLAS thread: sums over the dev set may differ in the last bits
        assert theirs.dev_loss == pytest.approx(ours.dev_loss, rel=1e-6)
        same = {"seconds": 0, "dev_loss": 0}
        assert vars(theirs) | same == vars(ours) | same


def test_the_child_maps_cached_mnist_and_trains_exactly_as_in_process(mnist):
    assert cached_data(mnist) is not None  # handed over by name; the child maps the same files
    config = preset("fast", epochs=1)
    *_, remote = TrainingProcess(mnist, config).events()
    *_, local = train(mnist, config)
    assert remote.model.W.tobytes() == local.model.W.tobytes()
    assert remote.model.b.tobytes() == local.model.b.tobytes()
    assert remote.test_accuracy == local.test_accuracy


def test_a_stop_request_ends_the_run_with_the_policys_parameters(mnist):
    process = TrainingProcess(mnist, preset("naive"))
    events = process.events()
    assert isinstance(next(events), Progress)
    asked = time.monotonic()
    process.request_stop()
    *rest, finished = events
    assert time.monotonic() - asked < 1.0
    assert finished.stopped and not any(isinstance(e, EpochEnd) for e in rest)
    assert process.exitcode == 0


def test_a_stop_requested_before_the_start_gives_an_immediate_result(tiny):
    process = TrainingProcess(tiny, preset("naive", epochs=5))
    process.request_stop()
    scoring, finished = process.events()
    assert isinstance(scoring, Scoring) and process.scoring  # the stop is answered: no step
    assert finished.stopped and finished.kept_epoch == 0


def test_what_the_child_refuses_is_reported_with_its_message(tiny):
    with pytest.raises(TrainingProcessError, match="batch size"):
        list(TrainingProcess(tiny, preset("fast", batch_size=10_000)).events())


def test_a_killed_child_is_reported_not_waited_for(mnist):
    process = TrainingProcess(mnist, preset("naive"))
    events = process.events()
    next(events)
    os.kill(process.pid, signal.SIGKILL)  # as the kernel's out-of-memory killer would
    with pytest.raises(TrainingProcessError, match="ended unexpectedly"):
        list(events)


def test_one_blas_thread_unless_the_person_chose_a_count():
    assert one_blas_thread({})["OPENBLAS_NUM_THREADS"] == "1"
    assert one_blas_thread({"OPENBLAS_NUM_THREADS": "4"})["OPENBLAS_NUM_THREADS"] == "4"


def test_a_child_whose_window_vanishes_mid_hand_over_just_ends(tiny):
    import pickle
    import subprocess

    work = pickle.dumps((tiny, preset("fast"), None), protocol=5)
    child = subprocess.Popen(
        child_command(),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    out, err = child.communicate(work[: len(work) // 2], timeout=30)  # then stdin closes
    assert child.returncode == 0 and out == b"" and b"Traceback" not in err


def test_a_child_that_ignores_the_stop_request_is_ended_and_the_run_reported(mnist):
    process = TrainingProcess(mnist, preset("naive"))
    events = process.events()
    next(events)
    os.kill(process.pid, signal.SIGSTOP)  # frozen: it will never read the stop request
    asked = time.monotonic()
    process.request_stop()
    with pytest.raises(TrainingProcessError, match="did not answer the stop request"):
        list(events)
    assert time.monotonic() - asked < STOP_GRACE_S + 2
    assert process.exitcode is not None


def test_the_child_never_imports_modules_from_the_current_folder(tiny, tmp_path, monkeypatch):
    marker = tmp_path / "ran"
    (tmp_path / "numpy.py").write_text(f"open({str(marker)!r}, 'w').close()\n")
    (tmp_path / "pickle.py").write_text(f"open({str(marker)!r}, 'w').close()\n")
    monkeypatch.chdir(tmp_path)
    *_, finished = TrainingProcess(tiny, preset("fast", epochs=1)).events()
    assert isinstance(finished, Finished)
    assert not marker.exists()


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="processor times from /proc")
def test_a_child_frozen_while_scoring_is_told_from_a_working_one_and_ended_when_asked(mnist):
    process = TrainingProcess(mnist, preset("cnn"))
    process.request_stop()  # at once: the child only scores the initial CNN (10-40 s here)
    events = process.events()
    assert isinstance(next(events), Scoring) and process.scoring
    process.is_working()
    time.sleep(1.0)
    assert process.is_working()  # scoring uses the processor: closing the window waits for it
    os.kill(process.pid, signal.SIGSTOP)  # frozen mid-scoring: its weights will never come
    time.sleep(0.2)
    process.is_working()
    time.sleep(0.5)
    assert not process.is_working()  # closing the window ends it
    process.abandon()  # the person's second Stop
    with pytest.raises(TrainingProcessError, match="ended while it scored the kept weights"):
        list(events)
    assert process.exitcode == -signal.SIGKILL


NOT_AN_EVENT = pickle.dumps({"epoch": 1}, protocol=5)


@pytest.mark.parametrize(
    ("stray", "said"),
    [
        (b"Hello from sitecustomize\n", "it begins with b'Hello from s', not with a message"),
        # a pickle of 4 EiB of bytes: read as the stream's first pickle, "ran out of memory"
        (b"\x80\x05\x8e" + (1 << 62).to_bytes(8, "little"), "not with a message"),
        (FRAME.pack(MAGIC, 1 << 40), "a message of 1,099,511,627,776 bytes"),
        # a pickle of protocol 9: a raw ValueError
        (FRAME.pack(MAGIC, 3) + b"\x80\x09.", "does not decode: ValueError"),
        (FRAME.pack(MAGIC, len(NOT_AN_EVENT)) + NOT_AN_EVENT, "a message of type dict"),
    ],
)
def test_a_child_whose_output_is_not_messages_is_ended_and_said_so(
    mnist, tmp_path, monkeypatch, stray, said
):
    """Whatever a child's start-up writes to standard output (here a sitecustomize module on
    PYTHONPATH) ends the run at once with a message, not a wait, a huge allocation or a crash."""
    (tmp_path / "sitecustomize.py").write_text(f"import os\nos.write(1, {stray!r})\n")
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    process = TrainingProcess(mnist, preset("naive"))  # minutes of steps, were it waited for
    tracemalloc.start()
    try:
        with pytest.raises(TrainingProcessError, match="output was unreadable") as error:
            list(process.events())
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert said in str(error.value)
    assert process.exitcode == -signal.SIGKILL  # ended at once, not after its run
    assert peak < 4 << 20  # nothing allocated for a length the child claims


def test_writes_to_the_childs_standard_output_once_it_runs_do_not_break_the_run(
    tiny, tmp_path, monkeypatch
):
    """Once the child runs, descriptor 1 is no longer its message stream: what a C library or a
    thread writes there goes to standard error, and the run goes on."""
    (tmp_path / "sitecustomize.py").write_text(
        "import os, threading, time\n"
        "def chatter():\n"  # once the child has its work and trains
        "    while not any('watch_stdin' in t.name for t in threading.enumerate()):\n"
        "        time.sleep(0.001)\n"
        "    for _ in range(5):\n"
        "        os.write(1, b'noise from a library\\n')\n"
        "threading.Thread(target=chatter, daemon=True).start()\n"
    )
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    *_, finished = TrainingProcess(tiny, preset("fast", epochs=2)).events()
    assert isinstance(finished, Finished) and len(finished.history) == 2
