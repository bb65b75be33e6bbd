"""The training loop: exact resume after an interruption, several steps per call equal to one, and the NaN guard
keeping the last good (all-finite) checkpoint."""

import io
import os

import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import mirrored_two_cpus
from helpers import image_batch, state_of, tiny_image_gan, weights_of

from tfgan.data import DataSpec, Source, make_dataset
from tfgan.losses import LossPair, bce_discriminator_loss, non_saturating_generator_loss
from tfgan.penalties import GradientPenalty
from tfgan.trainer import Hook, NonFiniteLossError, Trainer, make_train_function


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


# --- several steps per tf.function call ------------------------------------------------------------------------

def _stream(n=64, seed=1):
    x, _ = image_batch(n, seed=seed)
    return tf.data.Dataset.from_tensor_slices(x).batch(8, drop_remainder=True).repeat()


def _wgan_gp(**kwargs):
    return tiny_image_gan(critic_steps=2, loss="wasserstein", penalties=[GradientPenalty()], **kwargs)


@pytest.mark.parametrize("replicas", [1, 2], ids=["one_device", "two_replicas"])
def test_several_steps_per_call_equal_one_step_per_call(replicas):
    """The same steps, chunked differently: bit-identical per-step metrics and weights. The in-graph loop runs
    the same ops on the same values in the same order as separate calls, so no tolerance is needed."""
    strategy = mirrored_two_cpus() if replicas == 2 else tf.distribute.get_strategy()
    runs = []
    for chunks in ([1] * 7, [3, 4], [7]):
        with strategy.scope():
            gan = _wgan_gp(sync_batch_norm=replicas == 2)
        iterator = iter(strategy.experimental_distribute_dataset(_stream()))
        train = make_train_function(gan, strategy)
        per_step = [train(iterator, n) for n in chunks]
        assert [len(p["d_loss"]) for p in per_step] == chunks
        metrics = {k: np.concatenate([p[k].numpy() for p in per_step]) for k in per_step[0]}
        runs.append((metrics, weights_of(gan), int(gan.step_counter.numpy())))
    (m1, w1, s1), others = runs[0], runs[1:]
    assert s1 == 7 and len(m1["d_loss"]) == 7 and len(set(m1["d_loss"])) == 7
    for metrics, weights, steps in others:
        assert steps == 7
        for k in m1:
            np.testing.assert_array_equal(metrics[k], m1[k], err_msg=k)
        for a, b in zip(w1, weights):
            np.testing.assert_array_equal(a, b)


def _step_summaries(log_dir, tag="step/d_loss"):
    from tensorboard.backend.event_processing import event_accumulator
    acc = event_accumulator.EventAccumulator(log_dir, size_guidance={event_accumulator.TENSORS: 0})
    acc.Reload()
    return [(e.step, float(tf.make_ndarray(e.tensor_proto))) for e in acc.Tensors(tag)]


@pytest.mark.parametrize("steps_per_execution", [5, 0], ids=["five", "auto"])
def test_chunked_trainer_keeps_every_boundary_and_result(tmp_path, steps_per_execution):
    """log every 3, checkpoint every 4, a hook every 5, 11 steps: calls end at each of those steps, and
    progress, hooks, checkpoints, per-step summaries and weights equal those of one step per call."""
    def run(name, spe):
        gan, out, calls, hooked = tiny_image_gan(), io.StringIO(), [], []
        trainer = Trainer(gan, tf.distribute.get_strategy(), str(tmp_path / name), 11, log_every=3,
                          checkpoint_every=4, hooks=[Hook(5, hooked.append)], out=out,
                          steps_per_execution=spe)
        train = trainer._make_train_fn()

        def spy(iterator, n):
            calls.append(n)
            return train(iterator, n)

        trainer._train_fn = spy
        logs = trainer.fit(_data())
        lines = [[p for p in line.split(" | ") if "steps/s" not in p and "ETA" not in p]  # timings differ
                 for line in out.getvalue().splitlines() if not line.startswith("first ")]
        trainer.writer.flush()
        return dict(logs={k: v for k, v in logs.items() if "per_sec" not in k}, lines=lines, hooked=hooked,
                    checkpoints=[os.path.basename(p) for p in trainer.manager.checkpoints],
                    summaries=_step_summaries(str(tmp_path / name / "tensorboard" / "train")),
                    weights=weights_of(gan), calls=calls)

    one, chunked = run("one", 1), run("chunked", steps_per_execution)
    assert one["calls"] == [1] * 11
    if steps_per_execution == 5:
        assert chunked["calls"] == [3, 1, 1, 1, 2, 1, 1, 1]  # stops at 3, 4, 5, 6, 8, 9, 10, 11
    assert sum(chunked["calls"]) == 11
    assert chunked["hooked"] == one["hooked"] == [5, 10, 11]
    assert chunked["checkpoints"] == one["checkpoints"] == ["ckpt-4", "ckpt-8", "ckpt-11"]
    assert [s for s, _ in one["summaries"]] == list(range(1, 12))
    assert chunked["summaries"] == one["summaries"]
    assert chunked["lines"] == one["lines"] and len(one["lines"]) == 4  # steps 3, 6, 9, 11
    assert chunked["logs"] == one["logs"]
    for a, b in zip(one["weights"], chunked["weights"]):
        np.testing.assert_array_equal(a, b)


def test_auto_steps_per_execution_grows_on_small_steps(tmp_path):
    gan, calls = tiny_image_gan(), []
    trainer = Trainer(gan, tf.distribute.get_strategy(), str(tmp_path), 400, log_every=400, checkpoint_every=400,
                      out=io.StringIO())
    train = trainer._make_train_fn()
    trainer._train_fn = lambda iterator, n: (calls.append(n), train(iterator, n))[1]
    trainer.fit(_data())
    assert calls[0] == 1 and max(calls) > 10 and sum(calls) == 400


def test_negative_steps_per_execution_is_named(tmp_path):
    with pytest.raises(ValueError, match=r"steps_per_execution must be >= 0 \(0: auto\), got -1"):
        Trainer(tiny_image_gan(), tf.distribute.get_strategy(), str(tmp_path), 5, steps_per_execution=-1)


@pytest.mark.parametrize("steps_per_execution", [3, 0], ids=["three", "auto"])
def test_chunked_run_resumed_equals_uninterrupted(tmp_path, steps_per_execution):
    def data(start_step):
        return make_dataset(_shuffled_source(), 8, shuffle_buffer=44, seed=5, cache=True, start_step=start_step)

    def trainer(gan, name, **kwargs):
        return Trainer(gan, tf.distribute.get_strategy(), str(tmp_path / name), 14, log_every=7,
                       checkpoint_every=100, steps_per_execution=steps_per_execution, out=io.StringIO(), **kwargs)

    reference = tiny_image_gan()
    trainer(reference, "a").fit(data)

    def interrupt(step):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        trainer(tiny_image_gan(), "b", hooks=[Hook(9, interrupt)]).fit(data)
    resumed = tiny_image_gan(init_seed=123)
    keras.utils.set_random_seed(0)
    trainer(resumed, "b").fit(data)
    assert int(resumed.step_counter) == 14
    for a, b in zip(weights_of(reference), weights_of(resumed)):
        np.testing.assert_array_equal(a, b)


def test_nan_inside_a_chunk_is_reported_at_its_step(tmp_path):
    """The loss turns NaN at step 7, inside the call that runs steps 5-8: the in-graph loop stops there."""
    gan = tiny_image_gan()

    def generator_loss(fake):  # step_counter counts completed steps: 6 during step 7
        poison = tf.where(gan.step_counter >= 6, -1.0, 1.0)
        return non_saturating_generator_loss(fake) * tf.sqrt(poison)

    gan.loss_pair = LossPair(generator_loss, bce_discriminator_loss)
    trainer = Trainer(gan, tf.distribute.get_strategy(), str(tmp_path), 20, log_every=100, checkpoint_every=4,
                      steps_per_execution=10, out=io.StringIO())
    with pytest.raises(NonFiniteLossError, match="g_loss became nan at step 7.*ckpt-4") as error:
        trainer.fit(_data())
    assert error.value.step == 7 and error.value.last_good.endswith("ckpt-4")
    assert int(gan.step_counter) == 7  # stopped after step 7, not at the end of the call (8)
    assert [os.path.basename(p) for p in trainer.manager.checkpoints] == ["ckpt-4"]
    restored = tiny_image_gan(init_seed=5)
    tf.train.Checkpoint(**restored.checkpoint_items()).restore(trainer.manager.latest_checkpoint)
    assert int(restored.step_counter) == 4
    assert all(np.all(np.isfinite(w)) for w in weights_of(restored))


# --- only finite states are checkpointed ------------------------------------------------------------------------

def _checkpoint_tensors(path):
    reader = tf.train.load_checkpoint(path)
    return {n: reader.get_tensor(n) for n, d in reader.get_variable_to_dtype_map().items() if d.is_floating}


def test_optimizer_slots_going_non_finite_are_not_saved(tmp_path):
    """Finite losses but an Inf optimizer moment (what a huge learning rate does to Adam's second moment): the
    checkpoint at that step is refused, the error names the optimizer and the step, and the kept checkpoint is
    all finite, slots included."""
    gan = tiny_image_gan()
    slot = gan.d_optimizer.variables[-1]

    def poison(step):
        slot.assign(tf.fill(tf.shape(slot), float("inf")))

    # Hooks run before the checkpoint of their step: the moment goes Inf just before the save at step 4.
    trainer = Trainer(gan, tf.distribute.get_strategy(), str(tmp_path), 20, log_every=100, checkpoint_every=2,
                      hooks=[Hook(4, poison)], out=io.StringIO())
    with pytest.raises(NonFiniteLossError, match=r"non-finite values at step 4 in d_optimizer \(.*velocity") as error:
        trainer.fit(_data())
    assert error.value.step == 4 and error.value.parts == ("d_optimizer",)
    assert [os.path.basename(p) for p in trainer.manager.checkpoints] == ["ckpt-2"]
    tensors = _checkpoint_tensors(trainer.manager.latest_checkpoint)
    assert any("optimizer" in n and "_variables" in n for n in tensors)  # the slots are in the check
    assert all(np.all(np.isfinite(t)) for t in tensors.values())


def test_interrupt_does_not_save_a_non_finite_state(tmp_path):
    gan = tiny_image_gan()

    def poison_and_stop(step):
        gan.g_optimizer.variables[-1].assign(tf.fill(tf.shape(gan.g_optimizer.variables[-1]), float("nan")))
        raise KeyboardInterrupt

    out = io.StringIO()
    trainer = Trainer(gan, tf.distribute.get_strategy(), str(tmp_path), 20, checkpoint_every=2,
                      hooks=[Hook(3, poison_and_stop)], out=out)
    with pytest.raises(KeyboardInterrupt):
        trainer.fit(_data())
    assert "not saved: non-finite values in g_optimizer" in out.getvalue()
    assert [os.path.basename(p) for p in trainer.manager.checkpoints] == ["ckpt-2"]


def test_non_finite_latest_checkpoint_names_the_good_ones_and_resume_from_picks_one(tmp_path):
    """A run directory whose latest checkpoint holds an Inf (as older versions could write): resuming it is
    refused with the finite checkpoints named; resume_from (a step, or a path) continues from one of them."""
    gan = tiny_image_gan()
    trainer = Trainer(gan, tf.distribute.get_strategy(), str(tmp_path), 4, checkpoint_every=2, out=io.StringIO())
    trainer.fit(_data())
    slot = gan.d_optimizer.variables[-1]
    slot.assign(tf.fill(tf.shape(slot), float("inf")))
    gan.step_counter.assign(5)
    trainer.manager.save(checkpoint_number=5)  # bypasses the guard, like an old version

    with pytest.raises(NonFiniteLossError, match=r"ckpt-5 \(step 5\) holds non-finite values \(d_optimizer .*"
                                                 r"Finite checkpoints: .*ckpt-2, .*ckpt-4; resume from one"):
        Trainer(tiny_image_gan(), tf.distribute.get_strategy(), str(tmp_path), 8, out=io.StringIO()).fit(_data())

    for resume_from in (4, str(tmp_path / "checkpoints" / "ckpt-4")):
        resumed = tiny_image_gan(init_seed=7)
        out = io.StringIO()
        Trainer(resumed, tf.distribute.get_strategy(), str(tmp_path), 8, checkpoint_every=2, out=out,
                keep_checkpoints=10, resume_from=resume_from).fit(_data())
        assert "ckpt-4 at step 4" in out.getvalue()
        assert int(resumed.step_counter) == 8
        assert all(np.all(np.isfinite(w)) for w in weights_of(resumed))
    with pytest.raises(ValueError, match=r"resume_from=3: no checkpoint .*ckpt-3 \(checkpoints in .*: "
                                         r"ckpt-2, ckpt-4, ckpt-5, ckpt-6, ckpt-8\)"):
        Trainer(tiny_image_gan(), tf.distribute.get_strategy(), str(tmp_path), 8, resume_from=3).fit(_data())


def test_resume_from_another_run_keeps_the_configured_learning_rate(tmp_path):
    Trainer(tiny_image_gan(lr=1e-3), tf.distribute.get_strategy(), str(tmp_path / "a"), 2,
            out=io.StringIO()).fit(_data())
    gan = tiny_image_gan(lr=1e-5)
    Trainer(gan, tf.distribute.get_strategy(), str(tmp_path / "b"), 3, out=io.StringIO(),
            resume_from=str(tmp_path / "a" / "checkpoints" / "ckpt-2")).fit(_data())
    assert int(gan.step_counter) == 3 and int(gan.d_optimizer.iterations) == 3
    assert float(gan.d_optimizer.learning_rate.numpy()) == pytest.approx(1e-5)
    assert float(gan.g_optimizer.learning_rate.numpy()) == pytest.approx(1e-5)
