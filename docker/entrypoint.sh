#!/bin/sh
# Studio container entrypoint: `web` (migrate, then daphne), `worker`, `beat`, `model`, or any command.
# Keys: SECRET_KEY and STUDIO_FERNET_KEYS from the environment when set; otherwise studio/settings.py
# generates them once into $STUDIO_DATA_DIR (the /data volume, mode 0600) and every service reads them there.
set -eu
export DJANGO_SETTINGS_MODULE="${DJANGO_SETTINGS_MODULE:-studio.settings}"
role="${1:-web}"
[ "$#" -gt 0 ] && shift

wait_for_database() {
  # The database may still be starting (compose's health checks usually cover it): retry for about 60 s.
  tries=0
  until python3 -c 'import django; django.setup(); from django.db import connection; connection.ensure_connection()' 2>/dev/null; do
    tries=$((tries + 1))
    if [ "$tries" -ge 30 ]; then echo "entrypoint: the database does not answer" >&2; return 1; fi
    sleep 2
  done
}

# compose: the database password is generated on first boot (role init-secrets) into a shared volume.
if [ -z "${DATABASE_URL:-}" ] && [ -n "${STUDIO_POSTGRES_PASSWORD_FILE:-}" ] && [ -r "$STUDIO_POSTGRES_PASSWORD_FILE" ]; then
  DATABASE_URL="postgres://${STUDIO_POSTGRES_USER:-studio}:$(cat "$STUDIO_POSTGRES_PASSWORD_FILE")@${STUDIO_POSTGRES_HOST:-postgres}:5432/${STUDIO_POSTGRES_DB:-studio}"
  export DATABASE_URL
fi

case "$role" in
  init-secrets)
    # A random hex password (URL-safe), readable by the postgres container's user; kept across restarts.
    dir="${STUDIO_SECRETS_DIR:-/run/studio-secrets}"
    if [ ! -s "$dir/postgres_password" ]; then
      python3 -c 'import secrets; print(secrets.token_hex(24))' > "$dir/postgres_password.tmp"
      chmod 0644 "$dir/postgres_password.tmp"
      mv "$dir/postgres_password.tmp" "$dir/postgres_password"
      echo "entrypoint: generated $dir/postgres_password"
    fi
    exit 0
    ;;
  web)
    wait_for_database
    python3 manage.py migrate --noinput
    if [ "${STUDIO_SEED_DEMO:-0}" = "1" ]; then python3 manage.py seed_demo; fi
    exec python3 -m daphne -b "${HOST:-0.0.0.0}" -p "${PORT:-8000}" studio.asgi:application "$@"
    ;;
  worker)
    wait_for_database
    exec python3 -m celery -A studio worker -Q "${STUDIO_WORKER_QUEUES:-runs,default}" \
      -c "${STUDIO_WORKER_CONCURRENCY:-2}" -l "${LOG_LEVEL:-INFO}" "$@"
    ;;
  beat)
    wait_for_database
    exec python3 -m celery -A studio beat -l "${LOG_LEVEL:-INFO}" \
      --schedule "${STUDIO_DATA_DIR:-/data}/celerybeat-schedule" "$@"
    ;;
  model)
    if [ "${STUDIO_WITH_LOCAL_MODEL:-0}" != "1" ]; then
      echo "entrypoint: this image was built without the local model (--build-arg WITH_LOCAL_MODEL=1)" >&2
      exit 2
    fi
    exec python3 manage.py serve_model "$@"
    ;;
  migrate)
    exec python3 manage.py migrate --noinput "$@"
    ;;
  manage)
    exec python3 manage.py "$@"
    ;;
  *)
    exec "$role" "$@"
    ;;
esac
