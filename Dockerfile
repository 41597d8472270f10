# helpstream's worker image. Stages:
#   wheel    builds the helpstream wheel from the package sources;
#   runtime  the base wheel alone (onnxruntime, no torch or CUDA) serving the default model it carries;
#   export   exports MODEL with torch, once;
#   worker   (the default target) the runtime plus the exported model directory.
# BASE is any image with python3 (3.11+) and its venv module: the official Python image by default, or a Debian
# base built locally where no registry is reachable (tests/image builds one with debootstrap).
ARG BASE=docker.io/library/python:3.11-slim

FROM ${BASE} AS python
# A virtualenv: Debian's own python3 refuses installs into the system (PEP 668); the official image accepts either.
RUN python3 -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
# Each stage that installs declares PIP_CERT: behind a proxy that re-signs TLS, the build passes the path of a CA
# bundle it mounts (`--build-arg PIP_CERT=... --volume ...`); left unset, pip trusts its own bundle.

FROM python AS wheel
ARG PIP_CERT
WORKDIR /src
COPY pyproject.toml README.md ./
COPY streams streams
COPY agents agents
COPY index index
COPY schemas schemas
RUN pip wheel --no-deps --wheel-dir /wheels .

FROM python AS runtime
ARG PIP_CERT
COPY --from=wheel /wheels /wheels
RUN pip install /wheels/helpstream-*.whl
# Not root: a worker writes only its data directory.
RUN useradd --system --uid 10001 --no-create-home helpstream \
 && mkdir /data && chown helpstream /data
USER 10001
WORKDIR /data
ENV HELPSTREAM_DATA_DIR=/data
ENTRYPOINT ["helpstream"]
CMD ["worker"]

FROM python AS export
ARG PIP_CERT
ARG MODEL=minilm-l6
# The CPU build of torch: PyPI's default wheel carries CUDA. TORCH_INDEX names another index where that one is not
# reachable.
ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu
COPY --from=wheel /wheels /wheels
RUN pip install --index-url "$TORCH_INDEX" torch \
 && pip install "$(ls /wheels/helpstream-*.whl)[torch]"
# After the installs, so a new model directory does not download torch again.
COPY models /src/models
WORKDIR /src
RUN HELPSTREAM_DATA_DIR=/tmp/helpstream HELPSTREAM_MODEL_ROOTS=/src/models \
    helpstream model export "$MODEL" --out /export/model

FROM runtime AS worker
COPY --from=export /export/model /opt/helpstream/model
ENV HELPSTREAM_MODEL=/opt/helpstream/model HELPSTREAM_MODEL_ROOTS=/opt/helpstream
