# syntax=docker/dockerfile:1
# One image recipe, two targets: `--target gateway` and `--target backend`.
# Both run as an unprivileged user and are configured by the environment (see .env.example).

FROM python:3.11-slim AS base
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY gateway ./gateway
COPY backend ./backend
COPY service_plumbing ./service_plumbing
RUN pip install . \
    && useradd --system --uid 10001 --user-group --home-dir /nonexistent --shell /usr/sbin/nologin app \
    && install -d -o app -g app /data

FROM base AS backend
ENV BACKEND_HOST=0.0.0.0 \
    BACKEND_PORT=8000 \
    DATABASE_URL=sqlite:////data/todo.db
USER app
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2)"]
CMD ["python", "-m", "backend"]

FROM base AS gateway
COPY gateway.yaml ./
ENV GATEWAY_PORT=8080
USER app
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/readyz', timeout=2)"]
CMD ["python", "-m", "gateway", "--config", "gateway.yaml"]
