"""Test settings: the real services (PostgreSQL, Redis) unless the environment says otherwise."""

import os
import uuid

os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/studio")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/0")
# One test session must never see another's messages on the shared Redis: its own
# Celery queues and channel-layer prefix (inherited by the workers it starts).
_token = os.environ.setdefault("STUDIO_TEST_TOKEN", uuid.uuid4().hex[:8])
os.environ.setdefault("STUDIO_RUNS_QUEUE", f"runs-{_token}")
os.environ.setdefault("STUDIO_DEFAULT_QUEUE", f"default-{_token}")
os.environ.setdefault("STUDIO_CHANNEL_PREFIX", f"test-{_token}")
os.environ.setdefault("STUDIO_PROMPT_CACHE_PREFIX", f"test-{_token}:prompt")
# Model-backed tests are deterministic: the local endpoint pins greedy decoding and a seed
# (llama.cpp honours both), so a test cannot fail on one unlucky sample.
os.environ.setdefault("STUDIO_LOCAL_MODEL_PARAMS", '{"temperature": 0, "seed": 1234}')

from studio.settings import *  # noqa: E402,F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast logins in tests only

ALLOWED_HOSTS = [*ALLOWED_HOSTS, "testserver"]  # Django's test client; never outside tests  # noqa: F405
