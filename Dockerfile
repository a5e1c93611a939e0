FROM python:3.11-slim-bookworm
RUN apt-get update && apt-get install -y --no-install-recommends espeak-ng fonts-dejavu-core && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY pyproject.toml README.md alembic.ini ./
COPY bots bots
COPY core core
COPY nlu nlu
COPY backends backends
COPY data data
COPY migrations migrations
RUN pip install --no-cache-dir -e . && useradd --system --home /app xaso && mkdir -p /app/var \
    && chown xaso /app/var
USER xaso
EXPOSE 8080
CMD ["xaso", "serve", "--host", "0.0.0.0", "--port", "8080"]
