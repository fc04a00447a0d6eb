# One image for every service; docker-compose.yml picks the web or worker command.
# The portal's CSS and JS (Pico, htmx) from the npm registry, as `make portal-assets` does.
FROM node:22-slim AS portal-assets
WORKDIR /assets
COPY services/portal/assets/package.json services/portal/assets/package-lock.json ./
RUN npm ci --no-audit --no-fund

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app
# LibreOffice and Times-compatible fonts: scheduling turns its documents into PDF/A.
RUN apt-get update && apt-get install -y --no-install-recommends libreoffice-writer-nogui \
    fonts-liberation2 && rm -rf /var/lib/apt/lists/*
COPY pyproject.toml README.md ./
COPY services ./services
COPY --from=portal-assets /assets/node_modules ./services/portal/assets/node_modules
COPY deploy/gunicorn.conf.py deploy/sinks.py ./deploy/
RUN pip install --no-cache-dir . && useradd --system --uid 10001 app \
    && mkdir -p /tmp/metrics && chown app /tmp/metrics
USER app
ENV PROMETHEUS_MULTIPROC_DIR=/tmp/metrics
EXPOSE 8000
CMD ["gunicorn", "-c", "deploy/gunicorn.conf.py", "--bind", "0.0.0.0:8000", "services.intake.app:app"]
