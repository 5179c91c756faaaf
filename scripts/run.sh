#!/usr/bin/env bash
# Quickstart: the local model server in the background, then the studio (ASGI) in the foreground.
# In queue mode (REDIS_URL set) also a Celery worker and beat.
set -euo pipefail
PY=${PY:-.venv/bin/python}
HOST=${HOST:-127.0.0.1}
PORT=${PORT:-8000}
mkdir -p var/log
pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; }
trap cleanup EXIT INT TERM

if ! curl -sf "http://127.0.0.1:${STUDIO_MODEL_PORT:-8081}/v1/models" >/dev/null 2>&1; then
  "$PY" manage.py serve_model >var/log/model.log 2>&1 &
  pids+=($!)
  echo "model server starting (log: var/log/model.log)"
fi
if [ -n "${REDIS_URL:-}" ]; then
  "$PY" -m celery -A studio worker -Q runs,default -c 2 -l INFO >var/log/worker.log 2>&1 &
  pids+=($!)
  "$PY" -m celery -A studio beat -l INFO --schedule var/celerybeat-schedule >var/log/beat.log 2>&1 &
  pids+=($!)
  echo "celery worker and beat started (logs in var/log/)"
fi
echo
echo "  Studio: http://${HOST}:${PORT}/   (admin console: http://${HOST}:${PORT}/admin/)"
echo
"$PY" -m daphne -b "$HOST" -p "$PORT" studio.asgi:application
