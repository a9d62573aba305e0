# The operator image: `python -m tds_operator`, as a non-root user on a read-only root filesystem.
#   docker build -t tds-operator:dev .
# Both stages use the same base, pinned to an exact Python release (the lock file's Python 3.11);
# append @sha256:... where registry policy asks for digests
# (docker buildx imagetools inspect python:3.11.14-slim-bookworm).
# checkov:skip=CKV_DOCKER_2: Kubernetes probes the operator's /healthz (the chart's livenessProbe); Docker's HEALTHCHECK is ignored there.

FROM python:3.11.14-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
RUN python -m venv /opt/venv
# requirements.lock pins every package (the dev tools too); as constraints, it pins exactly the
# runtime dependencies the package pulls in, and installs nothing else.
COPY requirements.lock pyproject.toml README.md ./
COPY operator ./operator
RUN /opt/venv/bin/pip install --constraint requirements.lock . \
 && /opt/venv/bin/python -m tds_operator --help >/dev/null

FROM python:3.11.14-slim-bookworm
LABEL org.opencontainers.image.title="tds-operator" \
      org.opencontainers.image.description="Trusted Data Space operator" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
# The same numeric user the Helm chart runs as (runAsUser 65532); no home, no shell login.
USER 65532:65532
EXPOSE 9443 9090 8080
ENTRYPOINT ["python", "-m", "tds_operator"]
