FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    NNPLAY_DATA_DIR=/data \
    NNPLAY_WEB_DIR=/app/web

RUN useradd --create-home --uid 1000 nnplay \
    && mkdir -p /data \
    && chown nnplay:nnplay /data

WORKDIR /app
COPY pyproject.toml README.md* ./
COPY engine ./engine
COPY server ./server
COPY web ./web
RUN pip install .

USER nnplay
VOLUME ["/data"]
EXPOSE 8000

HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/api/health', timeout=4)"

CMD ["nnplay", "serve", "--host", "0.0.0.0", "--port", "8000"]
