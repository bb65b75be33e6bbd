"""Precision policies: what `auto` resolves to, and a GAN step under mixed_bfloat16 keeps float32 where it must."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from helpers import image_batch, tiny_image_gan

from tfgan import distribute, networks
from tfgan.penalties import GradientPenalty


def _cpuinfo(tmp_path, flags):
    path = tmp_path / "cpuinfo"
    path.write_text("".join(f"processor\t: {i}\nflags\t\t: {flags}\n\n" for i in range(2)))
    return str(path)


def test_native_bf16_read_from_cpu_flags(tmp_path):
    assert distribute.cpu_has_native_bf16(_cpuinfo(tmp_path, "fpu sse avx2 avx512f avx512_bf16 avx512_vnni"))
    assert distribute.cpu_has_native_bf16(_cpuinfo(tmp_path, "fpu avx512f amx_tile amx_bf16 amx_int8"))
    assert not distribute.cpu_has_native_bf16(_cpuinfo(tmp_path, "fpu sse avx2 avx512f avx512_vnni"))
    assert not distribute.cpu_has_native_bf16(str(tmp_path / "missing"))


def test_resolve_precision(monkeypatch):
    assert distribute.resolve_precision("none") == "float32"
    assert distribute.resolve_precision("mixed_bfloat16") == "mixed_bfloat16"
    assert distribute.resolve_precision("mixed_float16") == "mixed_float16"
    monkeypatch.setattr(distribute, "cpu_has_native_bf16", lambda: True)
    assert distribute.resolve_precision("auto") == ("float32" if tf.config.list_physical_devices("GPU")
                                                    else "mixed_bfloat16")
    monkeypatch.setattr(distribute, "cpu_has_native_bf16", lambda: False)
    assert distribute.resolve_precision("auto") == "float32"
    with pytest.raises(ValueError, match=r"none, auto, mixed_bfloat16, mixed_float16; got 'fp8'"):
        distribute.resolve_precision("fp8")


@pytest.mark.parametrize("penalties, d_norm", [((), "none"), ((GradientPenalty(10.0),), "none"), ((), "spectral")],
                         ids=["plain", "gradient_penalty", "spectral_norm"])
def test_bfloat16_step_keeps_float32_variables_losses_and_outputs(penalties, d_norm):
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    gan = tiny_image_gan(penalties=penalties, loss="wasserstein" if penalties else "non_saturating", d_norm=d_norm)
    before = [w.numpy() for w in gan.discriminator.trainable_weights]
    logs = gan.train_on_batch(*image_batch(16), return_dict=True)
    for name, value in logs.items():
        assert np.isfinite(value), (name, value)
    assert all(w.dtype == "float32" for w in gan.generator.weights + gan.discriminator.weights)
    assert any(not np.allclose(b, w.numpy()) for b, w in zip(before, gan.discriminator.trainable_weights))
    z = tf.random.normal([4, 8])
    assert gan.generator(z).dtype == tf.float32
    assert gan.discriminator(gan.generator(z)).dtype == tf.float32
    # The generator's layers compute in bfloat16: the policy took effect.
    assert gan.generator.layers[1].compute_dtype == "bfloat16"


def test_dcgan_under_bfloat16_matches_float32_closely():
    """Same weights, both policies: the bf16 generator's images stay within bf16 rounding of float32's."""
    keras.utils.set_random_seed(0)
    g32 = networks.dcgan_generator(latent_dim=16, image_size=28, base_filters=16)
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    g16 = networks.dcgan_generator(latent_dim=16, image_size=28, base_filters=16)
    g16.set_weights(g32.get_weights())
    z = tf.random.normal([8, 16], seed=1)
    a, b = g32(z, training=False).numpy(), g16(z, training=False).numpy()
    assert b.dtype == np.float32
    assert np.abs(a - b).max() < 0.1 and np.abs(a - b).mean() < 0.02
