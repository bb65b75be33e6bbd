"""The training loop: exact resume after an interruption, and the NaN guard keeping the last good checkpoint."""

import numpy as np
import pytest
import tensorflow as tf
from helpers import image_batch, tiny_image_gan, weights_of

from tfgan.losses import LossPair, bce_discriminator_loss, non_saturating_generator_loss
from tfgan.trainer import Hook, NonFiniteLossError, Trainer


def _data():
    # The same batch over and over: the data order cannot differ between a resumed and an uninterrupted run,
    # so any difference comes from state the checkpoint failed to restore.
    x, _ = image_batch(8)
    return tf.data.Dataset.from_tensors(x).repeat()


def test_interrupted_run_resumes_to_identical_weights(tmp_path):
    reference = tiny_image_gan()
    Trainer(reference, tf.distribute.get_strategy(), str(tmp_path / "a"), 6, log_every=2,
            checkpoint_every=100).fit(_data())

    def interrupt(step):
        raise KeyboardInterrupt

    first = tiny_image_gan()
    trainer = Trainer(first, tf.distribute.get_strategy(), str(tmp_path / "b"), 6, log_every=2,
                      checkpoint_every=100, hooks=[Hook(4, interrupt)])
    with pytest.raises(KeyboardInterrupt):
        trainer.fit(_data())
    assert trainer.manager.latest_checkpoint.endswith("ckpt-4")

    resumed = tiny_image_gan(init_seed=123)  # different initial weights: everything must come from the checkpoint
    trainer = Trainer(resumed, tf.distribute.get_strategy(), str(tmp_path / "b"), 6, log_every=2,
                      checkpoint_every=100)
    trainer.fit(_data())
    assert int(resumed.step_counter) == 6
    assert int(resumed.d_optimizer.iterations) == 6 and int(resumed.g_optimizer.iterations) == 6
    for a, b in zip(weights_of(reference), weights_of(resumed)):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)
    # A finished run restarted does nothing and stays at its final step.
    again = tiny_image_gan()
    assert Trainer(again, tf.distribute.get_strategy(), str(tmp_path / "b"), 6).fit(_data()) == {}
    assert int(again.step_counter) == 6


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
