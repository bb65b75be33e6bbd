"""The training loop: exact resume after an interruption, and the NaN guard keeping the last good checkpoint."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from helpers import image_batch, state_of, tiny_image_gan, weights_of

from tfgan.data import DataSpec, Source, make_dataset
from tfgan.losses import LossPair, bce_discriminator_loss, non_saturating_generator_loss
from tfgan.trainer import Hook, NonFiniteLossError, Trainer


def _data():
    # The same batch over and over: the data order cannot differ between a resumed and an uninterrupted run,
    # so any difference comes from state the checkpoint failed to restore.
    x, _ = image_batch(8)
    return tf.data.Dataset.from_tensors(x).repeat()


@pytest.mark.parametrize("extra", [{}, dict(d_dropout=0.3, d_norm="spectral")], ids=["plain", "dropout_spectral"])
def test_interrupted_run_resumes_to_identical_weights(tmp_path, extra):
    """With dropout and spectral norm too: dropout seed states and power-iteration vectors are restored."""
    reference = tiny_image_gan(**extra)
    Trainer(reference, tf.distribute.get_strategy(), str(tmp_path / "a"), 6, log_every=2,
            checkpoint_every=100).fit(_data())

    def interrupt(step):
        raise KeyboardInterrupt

    first = tiny_image_gan(**extra)
    trainer = Trainer(first, tf.distribute.get_strategy(), str(tmp_path / "b"), 6, log_every=2,
                      checkpoint_every=100, hooks=[Hook(4, interrupt)])
    with pytest.raises(KeyboardInterrupt):
        trainer.fit(_data())
    assert trainer.manager.latest_checkpoint.endswith("ckpt-4")

    # Different initial weights and seed states: everything must come from the checkpoint.
    resumed = tiny_image_gan(init_seed=123, **extra)
    trainer = Trainer(resumed, tf.distribute.get_strategy(), str(tmp_path / "b"), 6, log_every=2,
                      checkpoint_every=100)
    trainer.fit(_data())
    assert int(resumed.step_counter) == 6
    assert int(resumed.d_optimizer.iterations) == 6 and int(resumed.g_optimizer.iterations) == 6
    for a, b in zip(state_of(reference), state_of(resumed)):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)
    # A finished run restarted does nothing and stays at its final step.
    again = tiny_image_gan(**extra)
    assert Trainer(again, tf.distribute.get_strategy(), str(tmp_path / "b"), 6).fit(_data()) == {}
    assert int(again.step_counter) == 6


def _shuffled_source(n=44):
    x, y = image_batch(n, seed=3)
    spec = DataSpec("random", "image", (8, 8, 1), 1, n)
    return Source(spec, lambda split, seed: tf.data.Dataset.from_tensor_slices({"x": (x + 1) / 2, "label": y}))


@pytest.mark.parametrize("cache", [True, False], ids=["in_memory_exact", "uncached_fresh_order"])
def test_resumed_run_continues_the_shuffled_data_stream(tmp_path, cache):
    """44 examples, batches of 8: the interruption at step 9 falls inside the second epoch's reshuffle."""
    def data(start_step):
        return make_dataset(_shuffled_source(), 8, shuffle_buffer=44, seed=5, cache=cache, start_step=start_step)

    reference = tiny_image_gan()
    Trainer(reference, tf.distribute.get_strategy(), str(tmp_path / "a"), 12, log_every=4,
            checkpoint_every=100).fit(data)

    def interrupt(step):
        raise KeyboardInterrupt

    trainer = Trainer(tiny_image_gan(), tf.distribute.get_strategy(), str(tmp_path / "b"), 12, log_every=4,
                      checkpoint_every=100, hooks=[Hook(9, interrupt)])
    with pytest.raises(KeyboardInterrupt):
        trainer.fit(data)
    resumed = tiny_image_gan(init_seed=123)
    keras.utils.set_random_seed(0)  # the global seed the other runs had: tf.data shuffling depends on it
    Trainer(resumed, tf.distribute.get_strategy(), str(tmp_path / "b"), 12, log_every=4,
            checkpoint_every=100).fit(data)
    diff = max(np.abs(a - b).max() for a, b in zip(weights_of(reference), weights_of(resumed)))
    if cache:  # the same batches in the same order: the same weights
        assert diff < 1e-5
    else:  # a fresh order after the resume: a different (equally valid) run
        assert diff > 1e-4


def test_skipped_stream_equals_the_tail_of_the_full_stream():
    full = [b["x"].numpy() for b in make_dataset(_shuffled_source(), 8, shuffle_buffer=44, seed=5).take(20)]
    tail = [b["x"].numpy() for b in make_dataset(_shuffled_source(), 8, shuffle_buffer=44, seed=5,
                                                 start_step=13).take(7)]
    for a, b in zip(full[13:], tail):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(full[0], full[6])  # it does reshuffle: epochs differ


def test_nan_stops_the_run_and_keeps_the_last_good_checkpoint(tmp_path):
    poison = tf.Variable(1.0)  # sqrt(-1) = NaN once the hook flips it

    def generator_loss(fake):
        return non_saturating_generator_loss(fake) * tf.sqrt(poison)

    gan = tiny_image_gan()
    gan.loss_pair = LossPair(generator_loss, bce_discriminator_loss)
    trainer = Trainer(gan, tf.distribute.get_strategy(), str(tmp_path), 20, log_every=1, checkpoint_every=2,
                      hooks=[Hook(5, lambda step: poison.assign(-1.0))])
    with pytest.raises(NonFiniteLossError, match="g_loss became nan at step 6.*ckpt-4"):
        trainer.fit(_data())
    assert trainer.manager.latest_checkpoint.endswith("ckpt-4")
    restored = tiny_image_gan(init_seed=5)
    tf.train.Checkpoint(**restored.checkpoint_items()).restore(trainer.manager.latest_checkpoint)
    assert int(restored.step_counter) == 4
    assert all(np.all(np.isfinite(w)) for w in weights_of(restored))
