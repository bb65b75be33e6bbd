"""PacGAN packing: the layout of a packed example, and a packed GAN's losses and penalties, which are those of
the unpacked GAN on packed examples (checked on a linear discriminator, where they have closed forms)."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfgan import networks
from tfgan.model import GAN
from tfgan.packing import pack, packed_shape
from tfgan.penalties import GradientPenalty
from tfgan.random import StepRandom


def test_pack_concatenates_consecutive_samples_along_the_last_axis():
    x = np.random.default_rng(0).normal(size=(6, 3, 2, 2)).astype(np.float32)
    packed = pack(tf.constant(x), 3).numpy()
    assert packed.shape == (2, 3, 2, 6) == (2, *packed_shape((3, 2, 2), 3))
    for k in range(2):
        np.testing.assert_array_equal(packed[k], np.concatenate([x[3 * k], x[3 * k + 1], x[3 * k + 2]], axis=-1))
    points = np.arange(8, dtype=np.float32).reshape(4, 2)
    np.testing.assert_array_equal(pack(tf.constant(points), 2), [[0, 1, 2, 3], [4, 5, 6, 7]])
    assert pack(tf.constant(points), 1) is not None and np.array_equal(pack(tf.constant(points), 1), points)


def test_pack_rejects_batches_that_do_not_split_into_packs():
    with pytest.raises(ValueError, match="cannot be packed in groups of pack=4"):
        pack(tf.zeros([6, 2]), 4)
    with pytest.raises(ValueError, match="pack must be >= 1"):
        pack(tf.zeros([6, 2]), 0)


def _linear_packed_gan(m, penalties=()):
    """G: z [4] -> Dense -> 4x4x1; D: flatten the packed 4x4xm input -> Dense(1): a logit linear in the pack."""
    keras.utils.set_random_seed(0)
    z = keras.Input((4,))
    g = keras.Model(z, keras.layers.Reshape((4, 4, 1))(keras.layers.Dense(16)(z)))
    x = keras.Input((4, 4, m))
    d = keras.Model(x, keras.layers.Dense(1)(keras.layers.Flatten()(x)))
    gan = GAN(g, d, 4, pack=m, penalties=penalties)
    gan.compile(d_optimizer=keras.optimizers.SGD(0.1), g_optimizer=keras.optimizers.SGD(0.1))
    return gan


def test_packed_losses_and_penalties_are_per_pack():
    """With m = 2 and a batch of 8 the discriminator scores 4 packs: its loss is the mean over packs of
    softplus(-l_real) + softplus(l_fake), and the gradient penalty of a linear critic is
    lambda (||a|| - 1)^2 per pack, ||a|| the norm of its 32 weights (both samples of a pack)."""
    gan = _linear_packed_gan(2, penalties=[GradientPenalty(10.0)])
    kernel, bias = (w.numpy() for w in gan.discriminator.trainable_weights)
    real = np.random.default_rng(1).uniform(-1, 1, (8, 4, 4, 1)).astype(np.float32)
    z = StepRandom(0, tf.constant(0, tf.int64)).latent(8, 4, "normal")  # the D step's noise (first draw)
    fake = gan.generator(z).numpy()
    logs = gan.train_step(tf.constant(real))

    def logits(batch):  # pack by hand: samples 2k and 2k + 1 side by side in the channels
        packed = np.concatenate([batch[0::2], batch[1::2]], axis=-1).reshape(4, -1)
        return (packed @ kernel + bias)[:, 0]

    softplus = lambda v: np.logaddexp(0.0, v)  # noqa: E731
    gp = 10.0 * (np.linalg.norm(kernel) - 1.0) ** 2
    expected = np.mean(softplus(-logits(real)) + softplus(logits(fake))) + gp
    assert float(logs["d_loss"]) == pytest.approx(expected, rel=1e-5)
    assert float(logs["penalty_gp"]) == pytest.approx(gp, rel=1e-5)
    assert float(logs["d_real"]) == pytest.approx(np.mean(1 / (1 + np.exp(-logits(real)))), rel=1e-5)


def test_a_packed_discriminator_must_take_m_times_the_channels():
    g = networks.mlp_generator(4, (2,), (8,), "linear", batch_norm=False)
    with pytest.raises(ValueError, match="with pack=2 the discriminator must take 2 x 2 = 4 input channels"):
        GAN(g, networks.mlp_discriminator((2,), (8,), dropout=0.0), 4, pack=2)
    assert GAN(g, networks.mlp_discriminator(packed_shape((2,), 2), (8,), dropout=0.0), 4, pack=2).pack == 2
    with pytest.raises(ValueError, match="a conditional GAN .* cannot pack"):
        GAN(networks.mlp_generator(4, (2,), (8,), "linear", num_classes=3),
            networks.mlp_discriminator((4,), (8,), num_classes=3), 4, pack=2, num_classes=3)


def test_pack_batch_counts_samples_by_default_or_packs_as_the_reference():
    from tfgan import choices
    assert choices.samples_per_update(64, 4) == choices.samples_per_update(64, 4, "samples") == 64  # 16 packs
    assert choices.samples_per_update(64, 4, "packs") == 256  # 64 packs of 4 (Lin et al.'s code)
    assert choices.samples_per_update(64, 1, "packs") == 64
    with pytest.raises(ValueError, match="pack_batch must be one of samples, packs; got 'pairs'"):
        choices.samples_per_update(64, 2, "pairs")


@pytest.mark.parametrize("pack_batch, rows, packs", [("samples", 6, 2), ("packs", 18, 6)])
def test_pack_batch_flag_sets_the_rows_of_each_discriminator_update(pack_batch, rows, packs, tmp_path, monkeypatch):
    """--pack=3 --batch_size=6: the data stage batches 6 rows (2 packs) by default, 18 rows (6 packs) with
    --pack_batch=packs; the discriminator scores that many packs and the generator makes that many samples."""
    import os

    from absl import flags

    from pipelines import flags as pipeline_flags
    from pipelines import stages

    fv = flags.FlagValues()
    pipeline_flags.define_flags(fv)
    fv(["train", "--dataset=ring8", "--architecture=mlp", "--latent_dim=4", "--g_hidden=8", "--d_hidden=8",
        "--g_batch_norm=false", "--output_activation=linear", "--pack=3", f"--pack_batch={pack_batch}",
        "--batch_size=6", "--steps=1", "--log_every=1", "--sample_every=100", "--checkpoint_every=100",
        f"--run_dir={tmp_path / 'run'}"])
    config = pipeline_flags.config_from_flags(fv)
    seen = {}
    make_dataset = stages.make_dataset

    def spy(source, batch_size, **kwargs):
        seen["rows"] = batch_size
        return make_dataset(source, batch_size, **kwargs)

    monkeypatch.setattr(stages, "make_dataset", spy)
    scored = []
    build_gan = stages.build_gan

    def build(*args, **kwargs):
        gan = build_gan(*args, **kwargs)
        call = gan.discriminator.call
        gan.discriminator.call = lambda x, *a, **k: (scored.append(int(x.shape[0])), call(x, *a, **k))[1]
        return gan

    monkeypatch.setattr(stages, "build_gan", build)
    stages.run(config, out=open(os.devnull, "w"))
    assert seen["rows"] == rows
    assert scored and set(scored) == {packs}
