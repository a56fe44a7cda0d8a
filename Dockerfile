# vksnd as a long-running service: the daemon, its database and corpus export under /data.
# Build: docker build -t vksnd .   Run: see docker-compose.yml (health, metrics and feed on :8787).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# An unprivileged user owns /data, so a named volume mounted there starts out writable by it.
RUN useradd --system --uid 10001 --user-group --create-home --home-dir /home/vksnd vksnd \
    && install -d -o vksnd -g vksnd /data

# The package (crawler, parsers, storage and the offline replica in fixtures), then no sources.
COPY . /src
RUN pip install /src && rm -rf /src

USER vksnd
WORKDIR /data
ENV VKSND_DB=/data/vksnd.db
VOLUME ["/data"]
EXPOSE 8787

# No HEALTHCHECK here: /healthz is served only with --http; docker-compose.yml adds both.
CMD ["vksnd", "run"]
