"""Studio settings: one file, driven by the environment.

Quickstart mode (no ``DATABASE_URL`` and no ``REDIS_URL``): SQLite under the
data directory, runs executed in-process, in-memory channel layer. Queue mode
(``REDIS_URL`` set, normally with ``DATABASE_URL``): PostgreSQL, Celery
workers, Redis channel layer and cache.

Secrets are never defaulted: ``SECRET_KEY`` and the Fernet keys come from the
environment or are generated once into the data directory (mode 0600).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import dj_database_url
from csp.constants import NONCE, NONE, SELF

from studio.lib.keys import ensure_private_dir, ensure_private_file, load_or_create_key

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = Path(os.environ.get("STUDIO_DATA_DIR", BASE_DIR / "var"))
# The data folder holds the SQLite database (sessions included) and generated keys: owner only.
DATA_DIR.mkdir(mode=0o700, parents=True, exist_ok=True)
ensure_private_dir(DATA_DIR)


def env_bool(name: str, default: bool = False) -> bool:
    """``True`` for 1/true/yes/on (case-insensitive)."""
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


SECRET_KEY = os.environ.get("SECRET_KEY") or load_or_create_key(DATA_DIR / "secret_key", kind="django")
DEBUG = env_bool("DEBUG", False)
# "testserver" (Django's test client) is added by tests/settings.py only.
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost,[::1]")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", "")

# Fernet keys for secrets at rest: the first encrypts, all decrypt (rotation).
FERNET_KEYS = env_list("STUDIO_FERNET_KEYS") or [
    load_or_create_key(DATA_DIR / "fernet_key", kind="fernet")
]

DATABASE_URL = os.environ.get("DATABASE_URL", "")
REDIS_URL = os.environ.get("REDIS_URL", "")
# "celery" runs steps on workers; "inprocess" runs them in a thread of the web process.
STUDIO_EXECUTOR = os.environ.get("STUDIO_EXECUTOR", "celery" if REDIS_URL else "inprocess")
QUEUE_MODE = STUDIO_EXECUTOR == "celery"

INSTALLED_APPS = [
    "daphne",
    "studio.apps.StudioAdminConfig",  # django.contrib.admin, superusers only, every change audited
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "rest_framework",
    "drf_spectacular",
    "guardian",
    "django_htmx",
    "axes",
    "drf_spectacular_sidecar",
    "studio",
    "traces",
    "prompts",
    "agents",
    "agents.evaluations",
    "agents.deploy",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "axes.middleware.AxesMiddleware",  # last: turns a lockout into a 429 page
]

ROOT_URLCONF = "studio.urls"
ASGI_APPLICATION = "studio.asgi.application"
WSGI_APPLICATION = None

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "agents.observability.context_processors.budget_banner",
            ],
        },
    },
]

if DATABASE_URL:
    DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=60, conn_health_checks=True)}
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": ensure_private_file(DATA_DIR / "studio.sqlite3"),  # 0600; SQLite's journals inherit it
            "OPTIONS": {"timeout": 20, "transaction_mode": "IMMEDIATE"},
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTHENTICATION_BACKENDS = [
    "studio.auth_backends.LoginThrottleBackend",  # first: refuses a locked-out username/IP before any password check
    "django.contrib.auth.backends.ModelBackend",
    "guardian.backends.ObjectPermissionBackend",
]
ANONYMOUS_USER_NAME = None  # guardian: no anonymous user row
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "login"
# Who may create projects in the app: "anyone" (every signed-in user) or "staff".
STUDIO_PROJECT_CREATORS = os.environ.get("STUDIO_PROJECT_CREATORS", "anyone").strip().lower()
if STUDIO_PROJECT_CREATORS not in ("anyone", "staff"):
    raise ValueError("STUDIO_PROJECT_CREATORS must be 'anyone' or 'staff'.")
# Password-reset mail: printed to the console unless an SMTP server is configured.
EMAIL_BACKEND = os.environ.get("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
EMAIL_HOST = os.environ.get("EMAIL_HOST", "localhost")
EMAIL_PORT = int(os.environ.get("EMAIL_PORT", "25"))
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "studio@localhost")
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# OpenID Connect single sign-on (mozilla-django-oidc), on when OIDC_RP_CLIENT_ID is set. Users are
# matched by their verified e-mail; OIDC_CREATE_USER=true also creates an account on first sign-in
# (default: only existing, active accounts). Local passwords keep working. See README "Sign-in".
OIDC_ENABLED = bool(os.environ.get("OIDC_RP_CLIENT_ID", "").strip())
if OIDC_ENABLED:
    OIDC_RP_CLIENT_ID = os.environ["OIDC_RP_CLIENT_ID"].strip()
    OIDC_RP_CLIENT_SECRET = os.environ.get("OIDC_RP_CLIENT_SECRET", "")
    OIDC_OP_AUTHORIZATION_ENDPOINT = os.environ["OIDC_OP_AUTHORIZATION_ENDPOINT"]
    OIDC_OP_TOKEN_ENDPOINT = os.environ["OIDC_OP_TOKEN_ENDPOINT"]
    OIDC_OP_USER_ENDPOINT = os.environ["OIDC_OP_USER_ENDPOINT"]
    OIDC_OP_JWKS_ENDPOINT = os.environ.get("OIDC_OP_JWKS_ENDPOINT") or None
    OIDC_RP_SIGN_ALGO = os.environ.get("OIDC_RP_SIGN_ALGO", "RS256")
    OIDC_RP_SCOPES = os.environ.get("OIDC_RP_SCOPES", "openid email profile")
    OIDC_CREATE_USER = env_bool("OIDC_CREATE_USER", False)
    OIDC_USE_PKCE = env_bool("OIDC_USE_PKCE", True)
    OIDC_TIMEOUT = float(os.environ.get("OIDC_TIMEOUT", "10"))
    OIDC_USERNAME_ALGO = "studio.auth_backends.oidc_username"
    OIDC_PROVIDER_NAME = os.environ.get("OIDC_PROVIDER_NAME", "SSO")
    LOGIN_REDIRECT_URL_FAILURE = "/login/?sso=failed"
    AUTHENTICATION_BACKENDS.append("studio.auth_backends.StudioOIDCBackend")

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = BASE_DIR / "staticfiles"
STATIC_ROOT.mkdir(exist_ok=True)  # whitenoise serves from the finders; an empty root keeps it quiet
WHITENOISE_USE_FINDERS = True

SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = False  # htmx reads the token from the body's hx-headers, not the cookie
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"

# One switch for a deployment served over HTTPS: HSTS, redirect to https, cookies sent over https only.
# Behind a TLS-terminating proxy also set STUDIO_PROXY_SSL_HEADER=1 (trusts X-Forwarded-Proto: https).
STUDIO_HTTPS = env_bool("STUDIO_HTTPS", False)
if STUDIO_HTTPS:
    SECURE_SSL_REDIRECT = True
    SECURE_HSTS_SECONDS = int(os.environ.get("STUDIO_HSTS_SECONDS", str(365 * 24 * 3600)))
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("STUDIO_HSTS_INCLUDE_SUBDOMAINS", True)
    SECURE_HSTS_PRELOAD = env_bool("STUDIO_HSTS_PRELOAD", True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]  # probes talk plain HTTP inside the cluster
if env_bool("STUDIO_PROXY_SSL_HEADER", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# Content-Security-Policy (django-csp): scripts only from our static files (or with the request's nonce);
# inline styles stay allowed (the canvas and htmx set them); no plugins, no framing, forms post to us only.
# 'self' also covers same-origin websockets (CSP level 3).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF, NONCE],
        "style-src": [SELF, "'unsafe-inline'"],
        "img-src": [SELF, "data:"],
        "font-src": [SELF, "data:"],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "frame-ancestors": [NONE],
        "form-action": [SELF],
    },
}

# Login throttling (django-axes): the login page, the admin login and bearer API keys.
# A username is locked after AXES_FAILURE_LIMIT failures from one IP address; bad API keys count per IP.
# Unlock: `python manage.py axes_reset_username <name>`, `axes_reset_ip <ip>`, `axes_reset` (all).
AXES_ENABLED = env_bool("STUDIO_AXES_ENABLED", True)
AXES_FAILURE_LIMIT = int(os.environ.get("STUDIO_LOGIN_FAILURE_LIMIT", "10"))
AXES_COOLOFF_TIME = float(os.environ.get("STUDIO_LOGIN_COOLOFF_HOURS", "1"))  # hours; 0 = until an admin resets
if not AXES_COOLOFF_TIME:
    AXES_COOLOFF_TIME = None
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "studio.views.lockout_response"  # JSON for /api/, a page otherwise
AXES_HTTP_RESPONSE_CODE = 429
AXES_SENSITIVE_PARAMETERS = ["password", "api_key"]

if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {"hosts": [REDIS_URL], "prefix": os.environ.get("STUDIO_CHANNEL_PREFIX", "studio")},
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

# Celery: a message only says "advance run X"; PostgreSQL holds the truth.
CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_DEFAULT_QUEUE = os.environ.get("STUDIO_DEFAULT_QUEUE", "default")
CELERY_TASK_ROUTES = {
    "agents.tasks.execute_run": {"queue": os.environ.get("STUDIO_RUNS_QUEUE", "runs")},
    "agents.tasks.sweep_runs": {"queue": CELERY_TASK_DEFAULT_QUEUE},
    "agents.deploy.tasks.tick_schedules": {"queue": CELERY_TASK_DEFAULT_QUEUE},
    "agents.deploy.tasks.deliver_callback": {"queue": CELERY_TASK_DEFAULT_QUEUE},
}
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_WORKER_HIJACK_ROOT_LOGGER = False

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "studio.api.auth.ApiKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    # JSON bodies: lone surrogates, NaN, overflowing numbers, nesting deeper than studio.lib.documents.MAX_DEPTH
    # are a 400 naming the field, never a RecursionError or a stored value a page cannot show.
    "DEFAULT_PARSER_CLASSES": [
        "studio.api.parsers.StrictJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "studio.api.errors.exception_handler",
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.LimitOffsetPagination",
    "PAGE_SIZE": 50,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Studio API",
    "DESCRIPTION": "Build, run and observe AI agent workflows.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI and ReDoc from drf-spectacular-sidecar's pinned static files: no CDN, works offline.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Named enums for the choice sets several components share (`check --deploy` warns otherwise).
    "ENUM_NAME_OVERRIDES": {
        "RunStatusEnum": "agents.models.RunStatus",
        "StepStatusEnum": "agents.models.StepStatus",
        "RoleEnum": "studio.models.Role",
        "SuiteRunStatusEnum": "agents.evaluations.models.SuiteRunStatus",
        "ProjectVariableTypeEnum": "studio.models.VariableType",
    },
}
# The largest request body read into memory: 5 MiB (workflow imports take up to 4 MiB); larger is a 400.
DATA_UPLOAD_MAX_MEMORY_SIZE = int(os.environ.get("STUDIO_MAX_BODY_BYTES", str(5 * 1024 * 1024)))
# The OTLP/HTTP trace receiver (POST /api/v1/otel/v1/traces): what one request may hold (bytes, after gzip too;
# spans; attributes per span/resource/event; bytes per attribute; seconds a timestamp may lie ahead of now).
STUDIO_OTLP_MAX_BODY_BYTES = min(
    int(os.environ.get("STUDIO_OTLP_MAX_BODY_BYTES", str(4 * 1024 * 1024))), DATA_UPLOAD_MAX_MEMORY_SIZE
)
STUDIO_OTLP_MAX_SPANS = int(os.environ.get("STUDIO_OTLP_MAX_SPANS", "2000"))
STUDIO_OTLP_MAX_ATTRIBUTES = int(os.environ.get("STUDIO_OTLP_MAX_ATTRIBUTES", "128"))
STUDIO_OTLP_MAX_ATTRIBUTE_BYTES = int(os.environ.get("STUDIO_OTLP_MAX_ATTRIBUTE_BYTES", str(64 * 1024)))
STUDIO_OTLP_MAX_FUTURE_SKEW_S = float(os.environ.get("STUDIO_OTLP_MAX_FUTURE_SKEW_S", "300"))
# Prometheus /metrics: served only with this bearer token (unset: the page is a 404).
STUDIO_METRICS_TOKEN = os.environ.get("STUDIO_METRICS_TOKEN", "")
# Deepest JSON nesting accepted in a request body (studio.api.parsers.StrictJSONParser).
STUDIO_JSON_MAX_DEPTH = int(os.environ.get("STUDIO_JSON_MAX_DEPTH", "100"))

# The local OpenAI-compatible model server started by `manage.py serve_model`.
STUDIO_MODEL_HOST = os.environ.get("STUDIO_MODEL_HOST", "127.0.0.1")
STUDIO_MODEL_PORT = int(os.environ.get("STUDIO_MODEL_PORT", "8081"))
STUDIO_LOCAL_MODEL_URL = os.environ.get(
    "STUDIO_LOCAL_MODEL_URL", f"http://{STUDIO_MODEL_HOST}:{STUDIO_MODEL_PORT}/v1"
)
# Sampling parameters the local endpoint pins when it is created (ModelEndpoint.pinned_params), as JSON,
# e.g. '{"temperature": 0, "seed": 42}' for reproducible answers; by default the nodes' own apply.
STUDIO_LOCAL_MODEL_PARAMS: dict[str, object] = json.loads(os.environ.get("STUDIO_LOCAL_MODEL_PARAMS") or "{}")
# Run defaults; every cap is visible here and overridable per workflow/run.
STUDIO_RUN_MAX_CONCURRENCY = int(os.environ.get("STUDIO_RUN_MAX_CONCURRENCY", "4"))
# A running run's lease (renewed every third of it) and how often the sweeper re-dispatches runs whose
# lease expired: a dead worker's run resumes within about lease + sweep seconds (chaos goal: p95 <= 45 s
# on a loaded 2-core machine). Celery beat runs the sweeper in queue mode, the local executor in quickstart.
STUDIO_RUN_LEASE_SECONDS = int(os.environ.get("STUDIO_RUN_LEASE_SECONDS", "20"))
STUDIO_SWEEP_SECONDS = float(os.environ.get("STUDIO_SWEEP_SECONDS", "5"))
# Seconds without an event after which an SSE stream sends a keep-alive comment.
STUDIO_SSE_HEARTBEAT_S = float(os.environ.get("STUDIO_SSE_HEARTBEAT_S", "15"))
STUDIO_RUN_TIMEOUT_S = int(os.environ.get("STUDIO_RUN_TIMEOUT_S", "3600"))
# The invoke API's sync mode: how long a call waits for the run by default, and at most (seconds).
STUDIO_INVOKE_DEFAULT_WAIT_S = float(os.environ.get("STUDIO_INVOKE_DEFAULT_WAIT_S", "30"))
STUDIO_INVOKE_MAX_WAIT_S = float(os.environ.get("STUDIO_INVOKE_MAX_WAIT_S", "300"))
# Outbound run callbacks: attempts, and the first retry's delay in seconds (doubled each time).
STUDIO_CALLBACK_MAX_ATTEMPTS = int(os.environ.get("STUDIO_CALLBACK_MAX_ATTEMPTS", "6"))
STUDIO_CALLBACK_RETRY_BASE_S = float(os.environ.get("STUDIO_CALLBACK_RETRY_BASE_S", "2"))
# Public share links: runs per client address per link per minute; who may embed the page in a frame.
STUDIO_SHARE_RUNS_PER_MINUTE = int(os.environ.get("STUDIO_SHARE_RUNS_PER_MINUTE", "5"))
STUDIO_SHARE_FRAME_ANCESTORS = env_list("STUDIO_SHARE_FRAME_ANCESTORS") or ["*"]
# The most a step may store as outputs (bytes of JSON); more fails the step with output_too_large.
STUDIO_MAX_STEP_OUTPUT_BYTES = int(os.environ.get("STUDIO_MAX_STEP_OUTPUT_BYTES", str(2 * 1024 * 1024)))
# Open websockets re-check access this often (seconds), and at once when a membership changes.
STUDIO_WS_RECHECK_S = float(os.environ.get("STUDIO_WS_RECHECK_S", "30"))
STUDIO_RUNS_QUEUE = CELERY_TASK_ROUTES["agents.tasks.execute_run"]["queue"]
# Prompt label resolution (prompts.cache): Redis keys "<prefix>:<project id>:<slug>:label:<name>", changes
# announced on "<prefix>:invalidate"; in-process and Redis copies expire after this many seconds at the latest
# (invalidation is pushed at once; the TTL is only a safety net).
STUDIO_PROMPT_CACHE_PREFIX = os.environ.get("STUDIO_PROMPT_CACHE_PREFIX", "prompt")
STUDIO_PROMPT_CACHE_TTL_S = float(os.environ.get("STUDIO_PROMPT_CACHE_TTL_S", "300"))

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {
        "LiteLLM": {"level": "WARNING"},
        "httpx": {"level": "WARNING"},
        "daphne": {"level": "WARNING"},
        # These clients log whole requests and responses (headers, bodies: secrets an API echoes) at DEBUG:
        # capped whatever LOG_LEVEL says.
        "httpcore": {"level": "INFO"},
        "openai": {"level": "INFO"},
        "mcp": {"level": "INFO"},
        "axes": {"level": "WARNING"},
    },
}
