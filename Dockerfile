# The operator image: `python -m tds_operator`, as a non-root user on a read-only root filesystem.
#   docker build -t tds-operator:dev .
# Both stages use the same base, by default pinned to an exact Python release (the lock file's
# Python 3.11); append @sha256:... where registry policy asks for digests
# (docker buildx imagetools inspect python:3.11.14-slim-bookworm). BASE_IMAGE names another base
# with a `python` 3.11 that has the venv module (make e2e-kind builds one from Debian, no registry).
# PIP_INSTALL_OPTIONS adds options to the install, e.g. "--no-index --find-links=wheels" to install
# from the wheels in a wheels/ directory of the build context (one is copied when present) where
# no package index can be reached.
# checkov:skip=CKV_DOCKER_7: The base is the build argument BASE_IMAGE, whose default is an exact Python release; checkov reads the FROM line before substituting it.
# checkov:skip=CKV_DOCKER_2: Kubernetes probes the operator's /healthz (the chart's livenessProbe); Docker's HEALTHCHECK is ignored there.

ARG BASE_IMAGE=python:3.11.14-slim-bookworm
FROM ${BASE_IMAGE} AS build
# Marks what a build without BuildKit keeps of this stage, for pruning (make e2e-kind does).
LABEL tds.stage=build
ARG PIP_INSTALL_OPTIONS=""
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
RUN python -m venv /opt/venv
# requirements.lock pins every package (the dev tools too); as constraints, it pins exactly the
# runtime dependencies the package pulls in, and installs nothing else.
COPY requirements.lock pyproject.toml README.md ./
# The wheels directory, if the context has one (README.md only makes the copy never empty).
COPY README.md wheel[s] ./wheels/
COPY operator ./operator
# The operator checks its ledgers with the kubectl plugin's own code (kubectl_tds: the decoding and
# hash-chain rules every party verifies with), so the image installs that package too.
COPY plugin ./plugin
RUN /opt/venv/bin/pip install $PIP_INSTALL_OPTIONS --constraint requirements.lock . ./plugin \
 && /opt/venv/bin/python -m tds_operator --help >/dev/null \
 && /opt/venv/bin/python -c 'import tds_operator.audit.store'

FROM ${BASE_IMAGE}
LABEL org.opencontainers.image.title="tds-operator" \
      org.opencontainers.image.description="Trusted Data Space operator" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
# The same numeric user the Helm chart runs as (runAsUser 65532); no home, no shell login. It has
# a name: kopf names the operator's peering identity after the user (getpass.getuser), which fails
# for a uid without an entry in /etc/passwd and the operator would not start.
RUN echo 'tds-operator:x:65532:65532::/nonexistent:/usr/sbin/nologin' >>/etc/passwd \
 && echo 'tds-operator:x:65532:' >>/etc/group
USER 65532:65532
EXPOSE 9443 9090 8080
ENTRYPOINT ["python", "-m", "tds_operator"]
