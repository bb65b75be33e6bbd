# The image every task of a compiled Kubeflow Pipelines spec runs in (`python -m tfgan.pipeline compile
# --image=...`): the project installed with TensorFlow and the pipeline extra (kfp), so each task runs
# `python3 -m kfp.dsl.executor_main`, which calls pipelines.orchestration.kfp_entrypoint.
#
#   docker build -t tfgan:0.1.0 .                               # the tag the spec names by default
#   docker build --build-arg TF_EXTRA=gpu -t tfgan:0.1.0-gpu .  # tensorflow[and-cuda] for GPU nodes
#   docker tag tfgan:0.1.0 REGISTRY/tfgan:0.1.0 && docker push REGISTRY/tfgan:0.1.0   # then --image=REGISTRY/...
FROM python:3.11-slim

ARG TF_EXTRA=cpu
ENV PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    TF_CPP_MIN_LOG_LEVEL=2

WORKDIR /opt/tfgan
COPY setup.py README.md ./
COPY tfgan ./tfgan
COPY pipelines ./pipelines
COPY configs ./configs
RUN pip install ".[${TF_EXTRA},pipeline]" && python -c "import pipelines.orchestration.kfp_entrypoint, tfgan"

# Tasks write under the pipeline root KFP gives them (GCS/MinIO/S3 paths it mounts); nothing is written here.
WORKDIR /tmp
