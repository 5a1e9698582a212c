"""Settings for Product Aggregator, read from the environment (12-factor).

Every setting has a safe default for local use; production sets the variables listed in the
README. `make run` writes a git-ignored `.env` with development values; the tests need none.
"""

import sys
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured
from django.utils.csp import CSP

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"
VAR_DIR.mkdir(exist_ok=True)
# SQLite's test database: a file, so that the processes a test starts see it (DATABASES below).
SQLITE_TEST_DATABASE = VAR_DIR / "test-db.sqlite3"

env = environ.Env()


def _started_by_the_tests() -> bool:
    """pytest runs in this process, or a test started it on the test database (conftest.py:
    `subprocess_env` names it in DATABASE_URL; pytest-django's names start with `test_`)."""
    if "pytest" in sys.modules:
        return True
    url = env.str("DATABASE_URL", default="")
    if not url:
        return False
    name = str(environ.Env.db_url_config(url).get("NAME") or "")
    if url.startswith("sqlite:"):
        return Path(name).resolve() == SQLITE_TEST_DATABASE.resolve()
    return name.startswith("test_")


# Test mode: an insecure default SECRET_KEY, MD5 password hashing, no rate limits, no HTTPS.
# Set by the test run itself (pyproject.toml: pytest-env), and by tests for the processes they
# start (a Huey consumer); anywhere else it is refused, so that it cannot weaken a deployment.
TESTING = env.bool("DJANGO_TESTING", default=False)
if TESTING and not _started_by_the_tests():
    raise ImproperlyConfigured(
        "DJANGO_TESTING is set, but this is not a test run: test mode turns off security "
        "(an insecure SECRET_KEY, fast password hashing, no rate limits, no HTTPS redirect) and "
        "is honoured only under pytest, or in a process the tests start on their test database "
        "(DATABASE_URL naming a `test_` database, or var/test-db.sqlite3). Unset DJANGO_TESTING."
    )

if not TESTING:
    # The development .env written by `make run`; real environment variables win over it.
    # Tests never read it: their settings must not depend on a developer's file.
    environ.Env.read_env(env.str("ENV_FILE", default=str(BASE_DIR / ".env")), overwrite=False)

DEBUG = env.bool("DEBUG", default=False)
SECRET_KEY = env.str("SECRET_KEY", default="")
if not SECRET_KEY:
    if DEBUG or TESTING:
        SECRET_KEY = "insecure-development-key-never-used-in-production"
    else:
        raise ImproperlyConfigured(
            "SECRET_KEY is not set. Set it in the environment (DEBUG is off, so a production "
            "secret is required), or run `make run`, which writes a development .env."
        )

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "allauth",
    "allauth.account",
    # Records the sessions allauth's logins open, so that deactivating a user can end them.
    "allauth.usersessions",
    "django_htmx",
    "huey.contrib.djhuey",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "drf_standardized_errors",
    # Ours, lowest first: dependencies run one way (DESIGN §2).
    "accounts",
    "products",
    "pricing",
    "dashboard",
    "api",
]

MIDDLEWARE = [
    # First: a probe's /healthz is answered before any HTTPS redirect, host check or session.
    "healthz.healthz_middleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "accounts.middleware.UserTimezoneMiddleware",
    "accounts.middleware.HtmxLoginRedirectMiddleware",
]

ROOT_URLCONF = "urls"
WSGI_APPLICATION = "wsgi.application"

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
                "dashboard.context_processors.site",
                "dashboard.context_processors.staff",
            ],
        },
    },
]

# --- Database --------------------------------------------------------------------------------
# SQLite by default; PostgreSQL (or anything dj-database-url understands) from DATABASE_URL.
DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}"),
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL + IMMEDIATE transactions + a busy timeout let web and worker write side by side
    # instead of failing with "database is locked".
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
    # A file, not memory: a Huey consumer started by a test must see the same database.
    DATABASES["default"]["TEST"] = {"NAME": str(SQLITE_TEST_DATABASE)}
else:
    DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=60))
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
        # No JIT: our queries are many index seeks whose estimated cost crosses its threshold,
        # and compiling them took 30 of the 55 ms the overview's 24 h change costs (bench/).
        options = DATABASES["default"].setdefault("OPTIONS", {})
        options["options"] = f"{options.get('options', '')} -c jit=off".strip()
        # An unreachable server fails a request (and /healthz) in seconds, not never.
        options.setdefault("connect_timeout", 5)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis: the queue and the cache when set; SQLite queue and database cache otherwise ------
REDIS_URL = env.str("REDIS_URL", default="")

if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "test" if TESTING else "",
            # An unreachable Redis fails a request (and /healthz) in seconds, not never.
            "OPTIONS": {"socket_connect_timeout": 5, "socket_timeout": 5},
        }
    }
else:
    # Shared by web and worker, unlike the per-process LocMem cache.
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.db.DatabaseCache",
            "LOCATION": "django_cache",
        }
    }

HUEY = {
    # Tests get their own queue name, so a `make run` consumer never takes their tasks.
    "name": "product-aggregator-test" if TESTING else "product-aggregator",
    "huey_class": "huey.RedisHuey" if REDIS_URL else "huey.SqliteHuey",
    # Set explicitly: djhuey defaults it to DEBUG, which would run tasks inside the web process.
    "immediate": env.bool("HUEY_IMMEDIATE", default=False),
    "results": False,
    "utc": True,
    "connection": {"url": REDIS_URL}
    if REDIS_URL
    else {"filename": str(VAR_DIR / ("huey-test.sqlite3" if TESTING else "huey.sqlite3"))},
    "consumer": {
        "workers": env.int("HUEY_WORKERS", default=4),
        "worker_type": "thread",
        "periodic": True,
        "check_worker_health": True,
        # Idle workers poll the SQLite queue ever more slowly (up to 10 s by default), so a new
        # product or "Sync now" could wait that long; Redis blocks on the queue instead.
        "max_delay": 1.0,
    },
}

# --- Accounts ----------------------------------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "dashboard:overview"

ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_USER_MODEL_USERNAME_FIELD = None
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_PRESERVE_USERNAME_CASING = False
# Mandatory unless DEBUG: an account proves it owns its address before it signs in, and only
# then can signup hide which addresses have accounts (the owner is emailed instead). Weakening
# it with DEBUG off is allowed but never silent: accounts.W001 in every `check` and `migrate`.
ACCOUNT_EMAIL_VERIFICATION = env.str(
    "ACCOUNT_EMAIL_VERIFICATION", default="optional" if DEBUG else "mandatory"
)
if ACCOUNT_EMAIL_VERIFICATION not in {"none", "optional", "mandatory"}:
    raise ImproperlyConfigured(
        f"ACCOUNT_EMAIL_VERIFICATION={ACCOUNT_EMAIL_VERIFICATION!r}: use mandatory, optional "
        "or none."
    )
# Following the link in the browser that signed up signs in (allauth does so only while the
# signup is pending in that session, never for a link opened elsewhere).
ACCOUNT_LOGIN_ON_EMAIL_CONFIRMATION = True
# allauth's default, stated: signup and password reset answer alike whether an address has an
# account or not.
ACCOUNT_PREVENT_ENUMERATION = True
ACCOUNT_LOGOUT_ON_PASSWORD_CHANGE = False
ACCOUNT_ADAPTER = "accounts.adapter.AccountAdapter"
if TESTING:
    # allauth keeps its counters in the cache, where they leak from test to test; the tests of
    # the limits turn them back on.
    ACCOUNT_RATE_LIMITS = False
# Behind the TLS proxy, allauth's rate limits count per client address: the last hop the proxy
# added to X-Forwarded-For, as for the API's throttles (NUM_PROXIES below). Without a proxy the
# header is ignored, since a client could otherwise name any address; behind one, without
# this, every visitor would share the proxy's address and its limits.
ALLAUTH_TRUSTED_PROXY_COUNT = 1 if env.bool("BEHIND_TLS_PROXY", default=False) else 0

# --- Mail (Django 6.1 MAILERS) -----------------------------------------------------------------
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Product Aggregator <noreply@localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
_smtp_host = env.str("EMAIL_HOST", default="")
if _smtp_host:
    MAILERS = {
        "default": {
            "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "OPTIONS": {
                "host": _smtp_host,
                "port": env.int("EMAIL_PORT", default=587),
                "username": env.str("EMAIL_HOST_USER", default=""),
                "password": env.str("EMAIL_HOST_PASSWORD", default=""),
                "use_tls": env.bool("EMAIL_USE_TLS", default=True),
                "timeout": 10,
            },
        }
    }
else:
    MAILERS = {"default": {"BACKEND": "django.core.mail.backends.console.EmailBackend"}}

# --- Internationalisation and time -------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

# --- Static files ------------------------------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATICFILES_FINDERS = [
    "django.contrib.staticfiles.finders.FileSystemFinder",
    "django.contrib.staticfiles.finders.AppDirectoriesFinder",
    # plotly.js straight from the installed plotly package: never a CDN, never copied by hand.
    "dashboard.staticfiles.PlotlyJsFinder",
]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        # Plain storage in tests: pytest-django forces DEBUG off and the manifest would be missing.
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if TESTING or DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage",
    },
}

# --- Security (production) ---------------------------------------------------------------------
SESSION_COOKIE_SECURE = env.bool("SECURE_COOKIES", default=not DEBUG and not TESTING)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG and not TESTING)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = SECURE_HSTS_SECONDS > 0
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
if env.bool("BEHIND_TLS_PROXY", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

# --- Content Security Policy -------------------------------------------------------------------
# Django's own CSP, enforced in every mode (DEBUG and tests too, so that a page needing more is
# caught at once; Django's debug error pages send none). e2e/test_csp.py checks every page.
MIDDLEWARE.insert(
    MIDDLEWARE.index("django.middleware.security.SecurityMiddleware") + 1,
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
)
# `csp_nonce` in templates: the admin and {% htmx_script %} put it on their tags, and the
# Swagger UI page (templates/drf_spectacular/) on its inline start-up script and style.
TEMPLATES[0]["OPTIONS"]["context_processors"].append("django.template.context_processors.csp")
SECURE_CSP = {
    "default-src": [CSP.SELF],
    # Our files and the response's nonce: no inline code, no eval (htmx's allowEval is off).
    "script-src": [CSP.SELF, CSP.NONCE],
    # Stylesheets from our origin, <style> elements with the nonce (Swagger UI's page, some
    # admin pages), and two that plotly.js writes itself (no nonce can reach them; without the
    # first, the chart's layers, mode bar and tooltips lose their layout):
    # - the empty <style> to which it adds its rules through the CSSOM (CSP does not govern
    #   the CSSOM): the hash of "" admits empty elements only;
    # - MapLibre's stylesheet, which plotly.js 4.1.1 adds when it loads (we draw no maps; a new
    #   plotly.js may change it, and e2e/test_csp.py then shows the new hash).
    # No 'unsafe-inline': style attributes stay refused (static/js/charts.js keeps the plots'
    # own out of htmx's history snapshots).
    "style-src": [
        CSP.SELF,
        CSP.NONCE,
        "'sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU='",
        "'sha256-ji27qzEtxXZW+7dun6UwjHXJ18e6WAin1VvNtkzIE/o='",
    ],
    # data: for the SVG icons in Swagger UI's stylesheet; blob: for the chart's "Download plot
    # as a PNG" (plotly.js draws the plot's SVG, as a blob, onto a canvas).
    "img-src": [CSP.SELF, "data:", "blob:"],
    "connect-src": [CSP.SELF],
    "object-src": [CSP.NONE],
    "base-uri": [CSP.NONE],
    "frame-ancestors": [CSP.NONE],
    "form-action": [CSP.SELF],
}
# Where browsers report violations (a URL that accepts them), if anywhere.
if CSP_REPORT_URI := env.str("CSP_REPORT_URI", default=""):
    SECURE_CSP["report-uri"] = CSP_REPORT_URI

# --- The Offers service ------------------------------------------------------------------------
OFFERS_BASE_URL = env.str("OFFERS_BASE_URL", default="http://127.0.0.1:8001/api/v1")
OFFERS_REFRESH_TOKEN = env.str("OFFERS_REFRESH_TOKEN", default="")
OFFERS_SYNC_INTERVAL = env.float("OFFERS_SYNC_INTERVAL", default=60.0)
OFFERS_CONNECT_TIMEOUT = env.float("OFFERS_CONNECT_TIMEOUT", default=3.05)
OFFERS_READ_TIMEOUT = env.float("OFFERS_READ_TIMEOUT", default=10.0)
OFFERS_RETRIES = env.int("OFFERS_RETRIES", default=3)
OFFERS_RETRY_BACKOFF = env.float("OFFERS_RETRY_BACKOFF", default=0.5)
OFFERS_TOKEN_TTL = env.float("OFFERS_TOKEN_TTL", default=300.0)
# Limits on one answer of the service: bigger ones are refused, as malformed ones are.
OFFERS_MAX_ANSWER_BYTES = env.int("OFFERS_MAX_ANSWER_BYTES", default=1024 * 1024)
OFFERS_MAX_OFFERS = env.int("OFFERS_MAX_OFFERS", default=1000)
# The periodic sync works in batches (pricing.sync): a task per OFFERS_SYNC_BATCH_SIZE products,
# whose answers are stored in one transaction, fetched OFFERS_SYNC_CONCURRENCY at a time.
OFFERS_SYNC_BATCH_SIZE = env.int("OFFERS_SYNC_BATCH_SIZE", default=100)
OFFERS_SYNC_CONCURRENCY = env.int("OFFERS_SYNC_CONCURRENCY", default=16)
PRICE_CURRENCY = env.str("PRICE_CURRENCY", default="CZK")
# History retention (pricing.retention): raw minute snapshots and offer observations are kept
# HISTORY_RAW_DAYS days (0: for ever); the hourly and daily roll-ups for ever. A periodic task
# deletes older raw rows, HISTORY_PRUNE_CHUNK per transaction and at most HISTORY_PRUNE_MAX_ROWS
# per run, so that it never holds the sync up for long.
HISTORY_RAW_DAYS = env.int("HISTORY_RAW_DAYS", default=30)
HISTORY_PRUNE_CHUNK = env.int("HISTORY_PRUNE_CHUNK", default=5000)
HISTORY_PRUNE_MAX_ROWS = env.int("HISTORY_PRUNE_MAX_ROWS", default=500_000)
# Alerts' webhooks (pricing.alerts): may they post to private and loopback addresses? Off in
# production, so that nobody makes the server call its own network; on in development and tests.
ALERT_WEBHOOKS_ALLOW_PRIVATE = env.bool("ALERT_WEBHOOKS_ALLOW_PRIVATE", default=DEBUG or TESTING)
# Where people reach the app: the links in emails sent by the worker, which has no request.
SITE_URL = env.str("SITE_URL", default="http://127.0.0.1:8000")

# --- API ---------------------------------------------------------------------------------------
REST_FRAMEWORK = {
    # Token first, so an anonymous request gets 401 with WWW-Authenticate, not 403.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    # JSON in, JSON out: no form bodies, no browsable pages (the docs page is Swagger UI).
    "DEFAULT_PARSER_CLASSES": ["api.parsers.BoundedJSONParser"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_SCHEMA_CLASS": "drf_standardized_errors.openapi.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "api.pagination.PagePagination",
    "PAGE_SIZE": 50,
    # One JSON shape for every error (drf-standardized-errors).
    "EXCEPTION_HANDLER": "drf_standardized_errors.handler.exception_handler",
    # Counters live in the default cache, which web processes share (Redis or the database).
    "DEFAULT_THROTTLE_CLASSES": ["api.throttling.AnonThrottle", "api.throttling.UserThrottle"],
    "DEFAULT_THROTTLE_RATES": {
        "anon": env.str("API_THROTTLE_ANON", default="60/minute"),
        "user": env.str("API_THROTTLE_USER", default="600/minute"),
        # Signing up and asking for a token, per client address: guessing passwords is slow.
        "credentials": env.str("API_THROTTLE_CREDENTIALS", default="10/minute"),
    },
    # Behind a proxy the client's address is the last hop it added to X-Forwarded-For.
    # Without one, X-Forwarded-For is ignored: a client could otherwise name any address.
    "NUM_PROXIES": 1 if env.bool("BEHIND_TLS_PROXY", default=False) else 0,
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}
if TESTING:
    # Counters in the shared cache would leak from test to test; the throttling tests set the
    # rates they check.
    REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"] = dict.fromkeys(
        REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "100000/minute"
    )
# The largest JSON body the API reads; a bigger one gets 413 before it is parsed.
API_MAX_BODY_BYTES = env.int("API_MAX_BODY_BYTES", default=64 * 1024)

_ERROR_ENUMS = "drf_standardized_errors.openapi_serializers"
SPECTACULAR_SETTINGS = {
    "TITLE": "Product Aggregator API",
    "DESCRIPTION": (
        "Products, their current offers and price trends, as the dashboard shows them. "
        "Authenticate with `Authorization: Token <key>` (get a key from `POST /api/v1/auth/token/` "
        "or your profile page) or a signed-in session. Prices are whole units of the currency "
        "each answer names; times are ISO 8601 with an offset. Every error has one shape: "
        '`{"type": ..., "errors": [{"code": ..., "detail": ..., "attr": ...}]}`.'
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # No validator badge: it would load an image from validator.swagger.io.
    "SWAGGER_UI_SETTINGS": {
        "persistAuthorization": True,
        "displayOperationId": False,
        "validatorUrl": None,
    },
    "ENUM_NAME_OVERRIDES": {
        "ValidationErrorEnum": f"{_ERROR_ENUMS}.ValidationErrorEnum.choices",
        "ClientErrorEnum": f"{_ERROR_ENUMS}.ClientErrorEnum.choices",
        "ServerErrorEnum": f"{_ERROR_ENUMS}.ServerErrorEnum.choices",
        "ErrorCode401Enum": f"{_ERROR_ENUMS}.ErrorCode401Enum.choices",
        "ErrorCode403Enum": f"{_ERROR_ENUMS}.ErrorCode403Enum.choices",
        "ErrorCode404Enum": f"{_ERROR_ENUMS}.ErrorCode404Enum.choices",
        "ErrorCode405Enum": f"{_ERROR_ENUMS}.ErrorCode405Enum.choices",
        "ErrorCode406Enum": f"{_ERROR_ENUMS}.ErrorCode406Enum.choices",
        "ErrorCode415Enum": f"{_ERROR_ENUMS}.ErrorCode415Enum.choices",
        "ErrorCode429Enum": f"{_ERROR_ENUMS}.ErrorCode429Enum.choices",
        "ErrorCode500Enum": f"{_ERROR_ENUMS}.ErrorCode500Enum.choices",
        "SyncStateEnum": "pricing.selectors.SyncState",
        "RegistrationStateEnum": "pricing.selectors.RegistrationState",
    },
    "POSTPROCESSING_HOOKS": ["drf_standardized_errors.openapi_hooks.postprocess_schema_enums"],
}
DRF_STANDARDIZED_ERRORS = {
    # A 500 is our bug, never an answer the schema promises; 409 and 413 are documented by the
    # views that give them.
    "ALLOWED_ERROR_STATUS_CODES": ["400", "401", "403", "404", "405", "406", "415", "429"],
    # One schema for every 400: the names and codes of bad input are open-ended (unknown
    # fields, query parameters), so no enum of them would be true.
    "ERROR_SCHEMAS": {"400": "api.errors.ErrorResponseSerializer"},
}

# --- Logging -----------------------------------------------------------------------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    # run_huey gives the huey logger a handler of its own: do not print its lines twice.
    "loggers": {"huey": {"level": "INFO", "propagate": False}},
}

# --- Tests -------------------------------------------------------------------------------------
if TESTING:
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# --- Dashboard ---------------------------------------------------------------------------------
# How often the product page refreshes its offers, statistics and chart (seconds).
DASHBOARD_REFRESH_SECONDS = env.int("DASHBOARD_REFRESH_SECONDS", default=30)
# "Sync now" may be asked once per this many seconds per product.
SYNC_NOW_COOLDOWN = env.int("SYNC_NOW_COOLDOWN", default=30)
# And each user may ask for this many syncs and registrations a minute, over all their products
# (page and API; staff's admin actions are not counted).
SYNC_NOW_PER_USER_PER_MINUTE = env.int("SYNC_NOW_PER_USER_PER_MINUTE", default=20)
# The most products one account may have: each costs a registration and a fetch a minute.
PRODUCTS_PER_USER_MAX = env.int("PRODUCTS_PER_USER_MAX", default=1000)
if TESTING:
    # Counters in the shared cache would leak from test to test; the test of the limit sets it.
    SYNC_NOW_PER_USER_PER_MINUTE = 100_000
