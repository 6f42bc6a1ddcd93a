# Loopdeck: migrations on start, then the HTTP API on :8502 and the Streamlit app on :8501.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    STREAMLIT_SERVER_HEADLESS=true \
    STREAMLIT_BROWSER_GATHER_USAGE_STATS=false

# Debian's Chromium: kaleido renders the charts' PNG export with it (choreographer finds /usr/bin/chromium on PATH).
RUN apt-get update \
    && apt-get install -y --no-install-recommends chromium \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY requirements.txt constraints.txt ./
RUN pip install -r requirements.txt -c constraints.txt

COPY . .
RUN useradd --create-home loopdeck && mkdir -p data/artifacts && chown -R loopdeck /app/data
USER loopdeck

EXPOSE 8501 8502
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD python -c "import urllib.request, sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8501/_stcore/health', timeout=4).status == 200 else 1)"

# LOOPDECK_DATABASE_URL picks the database (default SQLite in /app/data); set LOOPDECK_DEMO=1 to load the demo on an empty one.
# The API and the worker run beside the UI in the background; the container lives as long as the UI does.
# For several replicas run them as separate containers with the same image (README: Worker and schedules).
CMD ["sh", "-c", "python -m services init-db ${LOOPDECK_DEMO:+--demo} && (python -m services api --host 0.0.0.0 --port 8502 &) && (python -m services worker &) && exec python -m streamlit run server.py --server.port 8501 --server.address 0.0.0.0"]
