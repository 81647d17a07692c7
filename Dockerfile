# logflux-agent container image.
#
#   docker build -t logflux-agent .
#   docker run --read-only --tmpfs /tmp -e LOGFLUX_API_KEY=eu-lf_... \
#     -v /var/log:/var/log:ro -v logflux-state:/var/lib/logflux-agent logflux-agent
#
# The default config (packaging/docker/agent.yaml) tails ${LOGFLUX_LOG_PATHS:-/var/log/*.log};
# mount your own at /etc/logflux-agent/agent.yaml to change anything else. Files and stdin only:
# the image has no journalctl (docs/operations.md, "Containers").
# Without a Docker engine: packaging/docker/build-image.sh (buildah; tests/e2e/test_image.py).

ARG PYTHON_IMAGE=python:3.11.13-slim-bookworm

FROM ${PYTHON_IMAGE} AS builder
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY agent/ ./agent/
# The wheel first (no deps), then a venv at the path it keeps in the final image.
RUN pip wheel . --no-deps --wheel-dir /wheels \
 && python -m venv /opt/logflux-agent \
 && /opt/logflux-agent/bin/pip install "$(echo /wheels/logflux_agent-*.whl)[fast]" \
 && /opt/logflux-agent/bin/pip uninstall --yes pip setuptools \
 && /opt/logflux-agent/bin/python -m compileall -q /opt/logflux-agent/lib

FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="logflux-agent" \
      org.opencontainers.image.description="Ships logs from files and stdin to LogFlux, encrypted." \
      org.opencontainers.image.licenses="Apache-2.0"
# A fixed uid/gid so volumes and Kubernetes securityContext can name them.
RUN groupadd --system --gid 10001 logflux-agent \
 && useradd --system --uid 10001 --gid logflux-agent --home-dir /var/lib/logflux-agent \
      --no-create-home --shell /usr/sbin/nologin logflux-agent \
 && install -d -m 0750 -o logflux-agent -g logflux-agent /var/lib/logflux-agent \
 && install -d -m 0755 /etc/logflux-agent
COPY --from=builder /opt/logflux-agent /opt/logflux-agent
COPY packaging/docker/agent.yaml /etc/logflux-agent/agent.yaml
ENV PATH=/opt/logflux-agent/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    LOGFLUX_LOG_PATHS=/var/log/*.log \
    LOGFLUX_METRICS_LISTEN=0.0.0.0:9102
USER 10001:10001
VOLUME ["/var/lib/logflux-agent"]
EXPOSE 9102
# Runs inside the container, so loopback reaches the metrics listener whatever it binds.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["/opt/logflux-agent/bin/python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('LOGFLUX_METRICS_LISTEN', ':9102').rpartition(':')[2] + '/health', timeout=4)"]
# The agent is PID 1: it handles SIGTERM itself (drain, checkpoint, exit 0) and reaps nothing
# but its own children (its encode workers).
STOPSIGNAL SIGTERM
ENTRYPOINT ["/opt/logflux-agent/bin/logflux-agent"]
CMD ["run", "--config", "/etc/logflux-agent/agent.yaml"]
