"""tfgan: GANs as Keras models with one custom train_step, a tf.distribute-ready trainer and a
flag-driven pipeline from data to a served SavedModel."""

from setuptools import find_packages, setup

setup(
    name="tfgan",
    version="0.1.0",
    description="GAN library and training pipeline for TensorFlow 2 and Keras 3",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    packages=find_packages(include=["tfgan", "tfgan.*", "pipelines", "pipelines.*"]),
    package_data={"tfgan": ["data/assets/*.npz", "data/assets/*.md", "assets/*"]},
    include_package_data=True,
    # TensorFlow itself comes from an extra: tensorflow-cpu and tensorflow[and-cuda] cannot be installed together.
    install_requires=[
        "keras>=3.15,<4",
        "tensorflow-datasets>=4.9",
        "tensorboard>=2.21",
        "absl-py>=2.1",
        "numpy>=1.26",
        "scipy>=1.11",
        "pillow>=10",
        "matplotlib>=3.8",
        "importlib_resources",
        "apache-beam>=2.77,<3",   # the pipeline's ExampleGen and StatisticsGen (DirectRunner by default)
    ],
    extras_require={
        "cpu": ["tensorflow-cpu>=2.21,<2.22"],
        "gpu": ["tensorflow[and-cuda]>=2.21,<2.22"],
        "tflite": ["ai-edge-litert>=2.1"],
        # Kubeflow Pipelines: `python -m tfgan.pipeline compile` and --runner=kfp_local (and the Dockerfile's image).
        "pipeline": ["kfp>=2.17,<3"],
        "test": ["pytest>=8", "ai-edge-litert>=2.1", "kfp>=2.17,<3"],
    },
    entry_points={
        "console_scripts": [
            "tfgan-train=pipelines.commands.train:run",
            "tfgan-evaluate=pipelines.commands.evaluate:run",
            "tfgan-sample=pipelines.commands.sample:run",
            "tfgan-pipeline=pipelines.commands.pipeline:run",
        ],
    },
)
