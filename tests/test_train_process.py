"""Training in a child process: the same results as in-process, stop, failures, a killed child."""

from __future__ import annotations

import os
import signal
import time

import pytest

from mnistpad.blas import one_blas_thread
from mnistpad.data import cached_data
from mnistpad.train import EpochEnd, Finished, Progress, Scoring, preset, train
from mnistpad.train_process import (
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
    process.kill()
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
