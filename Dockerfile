# The BFF as a container image: `bff run` as an unprivileged user, runtime dependencies only.
# The configuration and the keys are mounted at run time, never baked in:
#   /etc/bff/config/bff.toml   (a ConfigMap, or compose's deploy/compose/bff.toml)
#   /etc/bff/keys/             (a Secret, or compose's keys volume; written by `bff keys generate`)
# The listening port is BFF_SERVER__PORT (8000), which also tells the health check where to look.

# Pinned to an exact tag; pin the digest too when you build for production
# (`docker buildx imagetools inspect python:3.11.11-slim-bookworm`).
FROM python:3.11.11-slim-bookworm AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_INPUT=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/bff
ENV PATH=/opt/bff/bin:$PATH
WORKDIR /src
COPY pyproject.toml README.md LICENSE ./
COPY bff ./bff
# the same install command as README.md's deployment section: the package and its runtime
# dependencies, no test or development extras
# (then the installers go: nothing needs them at run time)
RUN python -m pip install --no-cache-dir . \
 && python -m pip uninstall --yes pip setuptools

FROM python:3.11.11-slim-bookworm
# a fixed numeric uid, so Kubernetes' runAsNonRoot can verify it without a passwd lookup
RUN groupadd --system --gid 10001 bff \
 && useradd --system --uid 10001 --gid bff --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin bff \
 && install -d -o bff -g bff -m 0755 /etc/bff/config /etc/bff/keys
COPY --from=build /opt/bff /opt/bff
ENV PATH=/opt/bff/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    BFF_SERVER__PORT=8000
USER 10001:10001
WORKDIR /etc/bff
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --start-period=15s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('BFF_SERVER__PORT', '8000') + '/healthz', timeout=2)"]
CMD ["bff", "run", "--config", "/etc/bff/config/bff.toml", "--host", "0.0.0.0"]
