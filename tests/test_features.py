"""Tests of tfgan.features: the shipped MNIST classifier, the extractor interface and Inception preprocessing."""

import os

import numpy as np
import pytest
import tensorflow as tf

from tfgan import features, metrics
from tfgan.data import idx

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DIGITS = os.path.join(REPO, "tfgan", "data", "assets", "digits.npz")


@pytest.fixture(scope="module")
def classifier():
    return features.MnistClassifier()


@pytest.fixture(scope="module")
def digits():
    with np.load(DIGITS) as f:
        return f["images"].astype(np.float32) / 255.0, f["labels"].astype(np.int64)


@pytest.fixture(scope="module")
def digit_outputs(classifier, digits):
    return classifier.features_and_probabilities(digits[0])


def test_shipped_weights_are_small_and_float32():
    assert os.path.isfile(features.MNIST_WEIGHTS)
    assert os.path.getsize(features.MNIST_WEIGHTS) < 2 * 1024 * 1024
    model = features.MnistClassifier().classifier
    assert all(w.dtype == np.float32 for w in model.get_weights())


def test_classifies_embedded_digits(digit_outputs, digits):
    _, probs = digit_outputs
    accuracy = np.mean(np.argmax(probs, 1) == digits[1])
    assert accuracy >= 0.98, accuracy


def test_features_and_probabilities_shapes(digit_outputs, digits):
    feats, probs = digit_outputs
    n = len(digits[0])
    assert feats.shape == (n, features.MNIST_FEATURE_DIM) and feats.dtype == np.float32
    assert probs.shape == (n, 10) and probs.dtype == np.float32
    assert np.all(np.isfinite(feats)) and np.all(feats >= 0)  # ReLU activations
    np.testing.assert_allclose(probs.sum(1), 1.0, atol=1e-5)


def test_batching_and_inputs_do_not_change_results(classifier, digits, digit_outputs):
    images = digits[0][:50]
    feats, probs = digit_outputs[0][:50], digit_outputs[1][:50]
    np.testing.assert_allclose(classifier.features(images, batch_size=7), feats, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(classifier.probabilities(tf.constant(images)), probs, rtol=1e-4, atol=1e-5)
    dataset = tf.data.Dataset.from_tensor_slices({"x": images, "label": digits[1][:50]}).batch(16)
    got_f, got_p = classifier.features_and_probabilities(dataset)
    np.testing.assert_allclose(got_f, feats, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(got_p, probs, rtol=1e-4, atol=1e-5)
    np.testing.assert_array_equal(classifier.predict(iter([images[:20], images[20:]])), np.argmax(probs, 1))
    empty_f, empty_p = classifier.features_and_probabilities(np.zeros((0, 28, 28, 1), np.float32))
    assert empty_f.shape == (0, 128) and empty_p.shape == (0, 10)


def test_resizes_and_converts_rgb(classifier, digits):
    images, labels = digits[0][:200], digits[1][:200]
    rgb32 = tf.image.resize(np.repeat(images, 3, axis=-1), (32, 32)).numpy().clip(0, 1)
    assert features.mnist_preprocess(rgb32).shape == (200, 28, 28, 1)
    accuracy = np.mean(classifier.predict(rgb32) == labels)
    assert accuracy >= 0.95, accuracy


@pytest.mark.parametrize("images, match", [
    (np.zeros((4, 28, 28), np.float32), "4-D"),
    (np.zeros((4, 28, 28, 2), np.float32), "channels"),
    (np.full((4, 28, 28, 1), 255.0, np.float32), r"\[0, 1\]"),
    (np.full((4, 28, 28, 1), -1.0, np.float32), r"\[0, 1\]"),
    (np.full((4, 28, 28, 1), np.nan, np.float32), "finite"),
    ("images.png", "iterable"),
])
def test_bad_images_raise(classifier, images, match):
    with pytest.raises(ValueError, match=match):
        classifier.features(images)


def test_bad_batch_size_raises(classifier):
    with pytest.raises(ValueError, match="batch_size"):
        classifier.features(np.zeros((2, 28, 28, 1), np.float32), batch_size=0)


def test_mnist_fid_self_zero_and_noise_large(digit_outputs, digits, classifier):
    feats = digit_outputs[0]
    assert abs(metrics.frechet_distance_from_activations(feats, feats)) < 1e-3
    # Two class-balanced halves (MNIST FID is sensitive to class proportions: interleaved file-order halves,
    # whose class counts differ by up to 8%, score about 10).
    by_class = feats[np.argsort(digits[1], kind="stable")]
    halves = metrics.frechet_distance_from_activations(by_class[::2], by_class[1::2])
    rng = np.random.default_rng(0)
    noise = classifier.features(rng.uniform(size=(1000, 28, 28, 1)).astype(np.float32))
    to_noise = metrics.frechet_distance_from_activations(feats, noise)
    assert halves < 2.0, halves
    assert to_noise > 100 * max(halves, 0.1), (to_noise, halves)


def test_mnist_inception_score(digit_outputs, digits, classifier):
    probs = digit_outputs[1]
    score, _ = metrics.inception_score(probs, splits=1)
    assert score > 8.0, score
    one_class, _ = metrics.inception_score(probs[digits[1] == 3], splits=1)  # a collapsed "generator"
    assert one_class < 1.5, one_class
    constant = classifier.probabilities(np.full((100, 28, 28, 1), 0.5, np.float32))
    assert metrics.inception_score(constant, splits=1)[0] == pytest.approx(1.0, abs=1e-4)


def test_load_feature_extractor_and_errors(tmp_path):
    assert isinstance(features.load_feature_extractor("mnist"), features.MnistClassifier)
    with pytest.raises(ValueError, match="name must be one of mnist, inception; got 'vgg'"):
        features.load_feature_extractor("vgg")
    with pytest.raises(ValueError, match="weights_path is required"):
        features.load_feature_extractor("inception")
    missing = str(tmp_path / "inception_v3.h5")
    with pytest.raises(FileNotFoundError, match="weights_path=.*inception_v3.h5"):
        features.load_feature_extractor("inception", missing)
    with pytest.raises(FileNotFoundError, match="weights_path"):
        features.MnistClassifier(str(tmp_path / "missing.weights.h5"))
    bad = tmp_path / "bad.weights.h5"
    bad.write_bytes(b"not an h5 file")
    with pytest.raises(ValueError, match="weights_path"):
        features.MnistClassifier(str(bad))


def test_inception_preprocess():
    gray = np.linspace(0.0, 1.0, 2 * 28 * 28, dtype=np.float32).reshape(2, 28, 28, 1)
    x = features.inception_preprocess(gray).numpy()
    assert x.shape == (2, 299, 299, 3) and x.dtype == np.float32
    np.testing.assert_array_equal(x[..., 0], x[..., 1])
    np.testing.assert_array_equal(x[..., 0], x[..., 2])
    assert x.min() >= -1.0 and x.max() <= 1.0
    const = features.inception_preprocess(np.zeros((1, 32, 32, 3), np.float32)).numpy()
    np.testing.assert_allclose(const, -1.0)
    full = features.inception_preprocess(np.ones((1, 299, 299, 3), np.float32)).numpy()
    np.testing.assert_allclose(full, 1.0)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        features.inception_preprocess(gray * 2.0 - 1.0)


@pytest.mark.slow
def test_inception_features_with_fake_weights(tmp_path):
    import keras
    path = str(tmp_path / "fake_inception.weights.h5")
    keras.applications.InceptionV3(include_top=True, weights=None).save_weights(path)
    extractor = features.load_feature_extractor("inception", path)
    feats, probs = extractor.features_and_probabilities(np.random.default_rng(0).uniform(size=(3, 28, 28, 1)))
    assert feats.shape == (3, 2048) and feats.dtype == np.float32
    assert probs.shape == (3, 1000)
    np.testing.assert_allclose(probs.sum(1), 1.0, atol=1e-4)


@pytest.mark.slow
def test_real_mnist_test_accuracy(classifier, mnist_dir):
    images, labels = idx.load_mnist_idx(mnist_dir, "test")
    accuracy = np.mean(classifier.predict(images.astype(np.float32) / 255.0) == labels)
    assert accuracy >= 0.99, accuracy


def test_train_dataset_and_command_errors(digits, tmp_path):
    from tfgan import train_classifier
    images = (digits[0][:64] * 255).round().astype(np.uint8)
    ds = train_classifier.make_train_dataset(images, digits[1][:64], batch_size=32, seed=0, max_shift=2)
    x, y = next(iter(ds))
    assert x.shape == (32, 28, 28, 1) and x.dtype == tf.float32 and y.dtype == tf.int32
    assert 0.0 <= float(tf.reduce_min(x)) and float(tf.reduce_max(x)) <= 1.0
    with pytest.raises(ValueError, match="max_shift must be >= 0; got -1"):
        train_classifier.make_train_dataset(images, digits[1][:64], 32, 0, max_shift=-1)
    assert train_classifier.main(["--mnist_dir", str(tmp_path), "--out", "weights.h5"]) == 2


@pytest.mark.slow
def test_real_data_reference_values(classifier, mnist_dir):
    from tfgan import train_classifier
    values = train_classifier.reference_values(mnist_dir, classifier, num_examples=10_000)
    assert values["test_accuracy"] >= 0.99
    assert 0.0 < values["fid_test_vs_train"] < 2.0, values
    assert abs(values["kid_test_vs_train"][0]) < 0.05, values
    assert values["is_test"][0] > 9.5, values
