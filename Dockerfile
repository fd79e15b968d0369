# syntax=docker/dockerfile:1
# Two images from one recipe: `--target gateway` and `--target backend`. Each installs only its
# own lock file (requirements/<service>.txt: exact versions, checked against their hashes) and
# its own packages, so the gateway image carries no database driver and the backend image no
# JWT library or httptools. Both run as an unprivileged user, write nothing outside /tmp and
# /data, and are configured by the environment (see .env.example). After changing a dependency
# in pyproject.toml, run `make lock` (docs/deployment.md).

FROM python:3.11-slim AS runtime
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/opt/venv/bin:$PATH
RUN useradd --system --uid 10001 --user-group --home-dir /nonexistent --shell /usr/sbin/nologin app \
    && install -d -o app -g app /data
WORKDIR /app
COPY deploy/healthcheck.py ./

# Build stages: the venv is filled here and copied whole into the runtime image, so pip's
# build-time downloads (setuptools for the project itself) never reach a service image.
FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
WORKDIR /src
COPY pyproject.toml README.md ./

FROM build AS gateway-build
COPY requirements/gateway.txt ./requirements/
RUN /opt/venv/bin/pip install --require-hashes --no-deps -r requirements/gateway.txt
COPY service_plumbing ./service_plumbing
COPY gateway ./gateway
RUN /opt/venv/bin/pip install --no-deps .

FROM build AS backend-build
COPY requirements/backend.txt ./requirements/
RUN /opt/venv/bin/pip install --require-hashes --no-deps -r requirements/backend.txt
COPY service_plumbing ./service_plumbing
COPY backend ./backend
RUN /opt/venv/bin/pip install --no-deps .

FROM runtime AS backend
COPY --from=backend-build /opt/venv /opt/venv
ENV BACKEND_HOST=0.0.0.0 \
    BACKEND_PORT=8000 \
    DATABASE_URL=sqlite:////data/todo.db
USER app
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
    CMD ["python", "healthcheck.py", "BACKEND_PORT", "/healthz"]
CMD ["python", "-m", "backend"]

FROM runtime AS gateway
COPY --from=gateway-build /opt/venv /opt/venv
COPY gateway.yaml ./
ENV GATEWAY_PORT=8080
USER app
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
    CMD ["python", "healthcheck.py", "GATEWAY_PORT", "/readyz"]
CMD ["python", "-m", "gateway", "--config", "gateway.yaml"]
