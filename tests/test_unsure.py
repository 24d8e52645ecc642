"""The unsure rule (mnistpad/unsure.py): its parts on synthetic data where the right answer is
known, then on the bundled MNIST, in the window and in `mnistpad predict`, with real drawings made
through the real canvas and real picture files."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import synthetic_dataset
from gui_support import line
from PySide6.QtGui import QImage

from mnistpad.cli import main
from mnistpad.data import DIGITS, Dataset
from mnistpad.gui.canvas import send_stroke
from mnistpad.model import LinearModel
from mnistpad.unsure import (
    DEV_QUANTILE,
    Cancelled,
    ClassClouds,
    digit_test,
    fit,
    nearest_distances,
    share_as_far,
)
from mnistpad.weights import bundled_models, load_weights

# --- the parts, on synthetic data ---------------------------------------------------------------


def test_nearest_distances_are_the_kth_smallest_euclidean_distances():
    rng = np.random.default_rng(0)
    reference, queries = rng.normal(size=(300, 7)), rng.normal(size=(40, 7))
    every = np.linalg.norm(queries[:, None] - reference[None], axis=2)
    for k in (1, 5):
        expected = np.sort(every, axis=1)[:, k - 1]
        assert np.allclose(nearest_distances(reference, queries, k), expected, atol=1e-6)


def test_shares_count_the_dev_set_at_least_as_far_and_nan_as_furthest():
    dev = np.sort(np.arange(1.0, 100.0))  # 99 distances: 1, 2, ..., 99
    shares = share_as_far(dev, np.array([0.5, 99.0, 1000.0, np.nan]))
    assert shares.tolist() == pytest.approx([100 / 100, 2 / 100, 1 / 100, 1 / 100])


def blobs(n: int, seed: int, centres: np.ndarray, spread: np.ndarray) -> tuple:
    """n images of the classes whose means are `centres` (C, 784) and whose pixels vary along
    `spread` (C, 784) only: a cloud each, in pixels where the right answer is known."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, len(centres), n)
    images = centres[labels] + spread[labels] * rng.normal(size=(n, 1)) * rng.normal(size=(n, 784))
    return images.astype(np.float32), labels.astype(np.uint8)


def test_the_clouds_are_nearest_to_an_images_own_class_and_far_from_other_images():
    rng = np.random.default_rng(2)
    centres = rng.uniform(0.2, 0.8, size=(3, 784))
    spread = rng.uniform(0.0, 0.1, size=(3, 784))
    images, labels = blobs(3000, 3, centres, spread)
    clouds = ClassClouds.fit(images, labels)
    fresh, fresh_labels = blobs(300, 4, centres, spread)
    assert (clouds.class_distances(fresh).argmin(axis=1) == fresh_labels).mean() > 0.99
    between = (centres[0] + centres[1]) / 2  # halfway between two classes: in neither
    far = np.clip(centres[2] + rng.normal(0, 0.5, size=(20, 784)), 0, 1)  # class 2, very shaken
    typical = np.quantile(clouds.distances(fresh), 0.99)
    assert clouds.distances(between[None])[0] > typical
    assert (clouds.distances(far) > typical).all()


def test_too_few_images_of_a_class_cannot_make_a_cloud():
    images = np.zeros((5, 784), np.float32)
    with pytest.raises(ValueError, match="too few"):
        ClassClouds.fit(images, np.array([0, 0, 0, 0, 1]))


def test_the_threshold_flags_the_dev_quantile_and_what_is_unlike_every_class():
    data = synthetic_dataset(n_train=1500, seed=5)
    model = LinearModel.glorot(np.random.default_rng(6))
    rule = fit(model, data, deskews=False)
    dev_flagged = rule.flagged(data.dev_images).mean()
    assert 0 < dev_flagged <= 1 - DEV_QUANTILE + 1 / len(data.dev_images)
    assert rule.flagged(data.test_images).mean() <= 0.05  # fresh images of the same classes
    rng = np.random.default_rng(7)
    unlike = rng.uniform(0, 1, size=(20, 784)).astype(np.float32)  # noise: no blob's shape
    blank_but_a_bar = np.zeros((1, 784), np.float32)
    blank_but_a_bar[0, 14 * 28 + 4 : 14 * 28 + 24] = 1
    assert rule.flagged(unlike).all() and rule.flagged(blank_but_a_bar).all()
    verdict = rule.judge(unlike[0])
    assert verdict.unsure and "unlike the training digits" in verdict.why()
    for image in (*unlike[:2], *data.test_images[:5]):  # one image alone: as in a batch
        assert rule.judge(image).unsure == rule.flagged(image[None])[0]


def test_weights_whose_features_overflow_get_no_rule():
    data = synthetic_dataset(n_train=300, seed=8)
    model = LinearModel.glorot(np.random.default_rng(9))
    model.W[:] = np.finfo(np.float32).max
    with pytest.raises(ValueError, match="overflow"):
        fit(model, data, deskews=False)


def test_a_fit_no_longer_wanted_gives_up_between_chunks_and_keeps_nothing(tmp_path, cache):
    from gui_support import named_idx_folder

    from mnistpad.data import load_dataset

    data = load_dataset(named_idx_folder(tmp_path / "fruit", n_train=10_300, n_test=50))
    model = LinearModel.glorot(np.random.default_rng(0))
    # 300 training images, 10,000 held out: the first look comes before the clouds, the next
    # before each 2,000 images' features, then before each 250 images' distances
    for asked_at in (1, 4, 20):
        looks = []

        def stop(looks=looks, asked_at=asked_at) -> bool:
            looks.append(1)
            return len(looks) >= asked_at

        with pytest.raises(Cancelled):
            fit(model, data, deskews=False, stop=stop)
        assert len(looks) == asked_at  # given up at the first look that said so
    # the clouds, made whole before the features were given up; no entry of features
    assert len(list((cache / "unsure").glob("*.json"))) == 1
    wanted = fit(model, data, deskews=False, stop=lambda: False)
    assert wanted.threshold == fit(model, data, deskews=False).threshold


# --- on the bundled MNIST -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def linear_rule(mnist):
    """The default's rule, as the window and `predict` fit it; its parts are kept in the
    session's data cache, where the window and `predict` below find them."""
    weight_file = load_weights(next(iter(bundled_models())))  # the default, linear and deskewing
    return fit(weight_file.model, mnist, weight_file.deskew, digit_test(mnist))


def test_on_mnist_at_most_two_percent_of_the_test_digits_are_flagged(linear_rule, mnist):
    assert mnist.classes == DIGITS
    assert linear_rule.flagged(mnist.test_images).mean() <= 0.02


# --- in the window and in `mnistpad predict` -----------------------------------------------------


def wait_for_rule(window, qtbot):
    qtbot.waitUntil(lambda: window.unsure.rule is not None, timeout=120_000)


def test_the_window_says_a_dot_and_a_dash_are_not_sure_digits_and_an_mnist_digit_is(
    window, qtbot, mnist, linear_rule
):
    note = window.draw.unsure_note
    angles = np.linspace(0, 2 * np.pi, 12)  # a dot, the pen circled a little
    send_stroke(window.canvas, [(0.6 + 0.02 * np.cos(a), 0.3 + 0.02 * np.sin(a)) for a in angles])
    wait_for_rule(window, qtbot)
    assert note.text() == "Not sure this is a digit"
    assert "unlike the training digits" in note.about and window.draw.prediction.text() != "-"
    confidence = window.draw.confidence.text()  # not "sure" of a dot: the model's number
    assert confidence.startswith("the model: ") and "sure" not in confidence
    window.canvas.clear()
    send_stroke(window.canvas, line((0.3, 0.3), (0.55, 0.35)))  # a dash
    assert note.text() == "Not sure this is a digit"
    window.draw.inspect(mnist.test_images[0], "test image #0")  # a 7 nobody trained on
    assert note.text() == "" and note.isHidden()
    window.canvas.clear()
    send_stroke(window.canvas, line((0.45, 0.2), (0.4, 0.8)))  # a 1
    assert window.draw.prediction.text() == "1" and note.text() == "" and note.isHidden()
    assert window.draw.confidence.text().endswith("% sure")


def test_a_window_closed_while_its_rule_waits_to_be_fitted_leaves_nothing_to_fit(window):
    import threading

    from mnistpad.gui.unsure_rules import FITTER

    busy = threading.Event()
    FITTER.submit(busy.wait, 60)  # the fitting thread at work on something else meanwhile
    send_stroke(window.canvas, line((0.45, 0.2), (0.4, 0.8)))  # a reading asks for the rule
    _, future = window.unsure.under_way
    window.close()
    busy.set()
    assert future.result(timeout=60)[1:] == (None, None)  # given up, no data read, no rule
    assert window.unsure.rule is None and window.unsure.under_way is None


def test_with_the_bundled_cnn_in_use_a_line_across_is_not_sure(window, qtbot):
    path = next(p for p in bundled_models() if p.name == "cnn.npz")
    window.files.open_weights(path)
    send_stroke(window.canvas, line((0.2, 0.5), (0.8, 0.5)))  # read as a 4 by the linear model
    qtbot.waitUntil(lambda: window.unsure.rule is not None, timeout=120_000)
    assert window.unsure.rule.model is window.session.model
    assert window.draw.unsure_note.text() == "Not sure this is a digit"


def picture(path, ink: np.ndarray) -> str:
    """A dark-on-light PNG of `ink` (1 = ink)."""
    grey = np.ascontiguousarray(np.round(255 * (1 - ink)).astype(np.uint8))
    height, width = grey.shape
    assert QImage(grey.tobytes(), width, height, width, QImage.Format.Format_Grayscale8).save(
        str(path)
    )
    return str(path)


def test_predict_json_carries_the_flag_and_plain_predict_says_it(
    tmp_path, capsys, mnist, linear_rule, through_the_data_cache
):
    hash_sign = np.zeros((100, 100))
    hash_sign[15:85, 30:38] = hash_sign[15:85, 62:70] = 1  # two bars down...
    hash_sign[30:38, 15:85] = hash_sign[62:70, 15:85] = 1  # ...and two across: a #
    hash_png = picture(tmp_path / "hash.png", hash_sign)
    seven_png = picture(tmp_path / "seven.png", mnist.test_images[0].reshape(28, 28))
    assert main(["predict", "--json", hash_png, seven_png]) == 0
    hash_out, seven_out = (json.loads(row) for row in capsys.readouterr().out.splitlines())
    assert hash_out["unsure"] is True and "unlike the training digits" in hash_out["why"]
    assert seven_out["unsure"] is False and seven_out["prediction"] == 7
    assert main(["predict", hash_png, seven_png]) == 0
    hash_text, seven_text = capsys.readouterr().out.splitlines()
    assert "not sure this is a digit" in hash_text and "not sure" not in seven_text


def test_predict_with_weights_for_other_classes_says_it_cannot_tell(tmp_path, capsys):
    from mnistpad.weights import build_meta, save_weights

    names = ("a", "b", "c")
    model = LinearModel.glorot(np.random.default_rng(0), n_out=3)
    weights = save_weights(tmp_path / "abc.npz", model, build_meta(list(names)))
    seven = np.zeros((28, 28))
    seven[5:8, 6:22] = seven[8:24, 18:21] = 1
    path = picture(tmp_path / "seven.png", seven)
    assert main(["predict", "--json", str(weights), path]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["unsure"] is None and "other classes" in out["why"]


def test_a_dataset_of_other_classes_gets_no_digit_network():
    from mnistpad.unsure import digit_network

    data = synthetic_dataset(n_train=50)
    other = Dataset(**{**data.__dict__, "classes": ("x",) * 10})
    assert digit_network(data) is not None and digit_network(other) is None


def test_the_fitted_tests_are_kept_in_the_cache_and_a_damaged_entry_is_made_again(tmp_path, cache):
    from gui_support import named_idx_folder

    from mnistpad.data import load_dataset

    data = load_dataset(named_idx_folder(tmp_path / "fruit", n_train=10_300, n_test=50))
    model = LinearModel.glorot(np.random.default_rng(0))
    first = fit(model, data, deskews=True)
    kept = sorted((cache / "unsure").glob("*.npy"))
    assert len(list((cache / "unsure").glob("*.json"))) == 3  # pixels, as seen, features
    again = fit(model, data, deskews=True)
    assert again.threshold == first.threshold
    assert np.array_equal(again.scores(data.test_images), first.scores(data.test_images))
    for path in kept:  # every file cut short: each entry fails its checks and is made again
        path.write_bytes(path.read_bytes()[:-8])
    remade = fit(model, data, deskews=True)
    assert np.array_equal(remade.scores(data.test_images), first.scores(data.test_images))
