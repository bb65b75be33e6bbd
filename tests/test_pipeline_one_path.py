"""One code path for each job: the evaluate command and the Evaluator measure alike, the Trainer exports as the
train command does (TFLite included), and the Trainer checks the schema it is given against its model."""

import io
import os

import numpy as np
import pytest
from test_tfx_pipeline import _config, _digits, _write_idx

from pipelines import artifact_io, stages
from pipelines import pipeline as tfx_pipeline
from pipelines.components import evaluator
from pipelines.components.example_gen import ExampleGen
from pipelines.components.trainer import check_schema
from pipelines.orchestration.runner import LocalDagRunner, Pipeline


def _idx(directory, n_train, n_test):
    x, y, tx, ty = _digits(n_train, n_test)
    _write_idx(directory, x, y, "train")
    _write_idx(directory, tx, ty, "test")


def test_the_evaluate_command_and_the_evaluator_give_the_same_fid(tmp_path, capsys):
    import keras

    from tfgan import evaluation, export, networks
    data = tmp_path / "idx"
    _idx(data, 64, 400)
    keras.utils.set_random_seed(0)
    saved_model = export.write_saved_model(networks.dcgan_generator(8, 28, 1, 8),
                                           export.ExportSpec(8, "normal", (-1.0, 1.0)), str(tmp_path / "model"), 1)
    example_gen = ExampleGen(dataset="mnist", data_dir=str(data), image_size=0, channels=0, download=False,
                             eval_percent=10, beam_pipeline_args="")
    result = LocalDagRunner(out=io.StringIO()).run(Pipeline("p", str(tmp_path / "root"), [example_gen]))
    examples = result.outputs["ExampleGen"]["examples"][0]
    # The Evaluator: the snapshot's eval split (the 400 test digits); all of it, so the same real set.
    pipeline_metrics = evaluator.evaluate_model(saved_model, examples, ["fid", "is"], 400, 0, "mnist", "")
    printed = capsys.readouterr().out
    # The evaluate command's path: the source's held-out split.
    config = _config("--dataset=mnist", f"--data_dir={data}", f"--run_dir={tmp_path / 'run'}")
    command = stages.evaluate(config, stages.ingest(config.data), saved_model, ["fid", "is"], 400,
                              stages.load_extractor("image", "mnist"), str(tmp_path / "eval"))
    printed += capsys.readouterr().out
    assert "protocol: 400 generated samples (seed 0) against 400 real examples of the 'eval' split" in printed
    assert "protocol: 400 generated samples (seed 0) against 400 real examples of the 'test' split" in printed
    assert command.metrics["num_real"] == pipeline_metrics["num_real"] == 400
    assert command.metrics["fid"] == pytest.approx(pipeline_metrics["fid"], rel=1e-4)
    assert command.metrics["is"] == pytest.approx(pipeline_metrics["is"], rel=1e-4)
    # The measure is the protocol's, not the snapshot's: against the train digits the FID differs.
    generate, _ = evaluation.saved_model_generator(saved_model)
    other = stages.measure(generate, stages.ingest(config.data).source, ["fid"], stages.EvalProtocol("train", 64, 0),
                           stages.load_extractor("image", "mnist"))
    assert other["fid"] != pytest.approx(command.metrics["fid"], rel=1e-2)
    # --real_data=train (the published MNIST protocol) measures against the training digits, and says so.
    on_train = stages.evaluate(config, stages.ingest(config.data), saved_model, ["fid"], 64,
                               stages.load_extractor("image", "mnist"), str(tmp_path / "eval_train"), real_data="train")
    assert "protocol: 64 generated samples (seed 0) against 64 real examples of the 'train' split" in \
        capsys.readouterr().out
    assert on_train.metrics["fid"] == pytest.approx(other["fid"], rel=1e-6)


SCHEMA = {"kind": "image", "shape": [28, 28, 1], "dtype": "float32", "range": [0.0, 1.0], "num_classes": 10,
          "labels": list(range(10))}


def test_the_trainer_checks_the_schema_against_the_model_it_builds():
    from tfgan.data import DataSpec
    spec = DataSpec("mnist", "image", (28, 28, 1), 10, 100, ("train", "eval"))
    config = _config("--dataset=digits", "--conditional", "--latent_dim=8", "--g_base_filters=8",
                     "--d_base_filters=8")
    check_schema(SCHEMA, config, spec, "schema.json")  # fits
    with pytest.raises(ValueError, match=r"^schema s.json does not fit the model the Trainer builds: shape "
                                         r"\[32, 32, 1\], the generator's output \[28, 28, 1\]$"):
        check_schema(dict(SCHEMA, shape=[32, 32, 1]), config, spec, "s.json")
    with pytest.raises(ValueError, match=r"kind points, the data image"):
        check_schema(dict(SCHEMA, kind="points"), config, spec, "s.json")
    with pytest.raises(ValueError, match=r"12 classes \(labels up to 11\), the conditional model 10"):
        check_schema(dict(SCHEMA, num_classes=12, labels=list(range(12))), config, spec, "s.json")
    unconditional = _config("--dataset=digits", "--latent_dim=8", "--g_base_filters=8",
                            "--d_base_filters=8")
    check_schema(dict(SCHEMA, num_classes=12, labels=list(range(12))), unconditional, spec, "s.json")


def test_the_trainer_exports_tflite_when_asked(tmp_path):
    from tfgan.export import run_tflite
    data = tmp_path / "idx"
    _idx(data, 128, 32)
    args = ("--dataset=mnist", f"--data_dir={data}", "--architecture=mlp", "--g_hidden=16", "--d_hidden=16",
            "--latent_dim=8", "--batch_size=16", "--steps=3", "--log_every=3", "--checkpoint_every=3",
            "--sample_every=3", "--num_samples=4", f"--pipeline_root={tmp_path / 'root'}", "--export_tflite")
    only = ["ExampleGen", "StatisticsGen", "SchemaGen", "ExampleValidator", "Trainer"]
    result = LocalDagRunner(out=io.StringIO()).run(tfx_pipeline.create_pipeline(_config(*args)), only=only)
    model = result.outputs["Trainer"]["model"][0]
    tflite = model.properties["tflite"]
    assert tflite == os.path.join(model.uri, artifact_io.TFLITE_MODEL_DIR, "model.tflite") and os.path.isfile(tflite)
    import tensorflow as tf
    z = np.random.default_rng(0).normal(size=(4, 8)).astype(np.float32)
    outputs = tf.saved_model.load(artifact_io.serving_model_path(model)).signatures["generate_from_latents"](
        latents=tf.constant(z))
    served = next(iter(outputs.values())).numpy()
    np.testing.assert_allclose(run_tflite(tflite, z), served, atol=1e-5)
