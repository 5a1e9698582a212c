"""gunicorn's settings for the web process: the Dockerfile, docker-compose.yml and the Procfile
all start `gunicorn --config deploy/gunicorn.conf.py`, from the project's root.

Tuned from what bench/load.py measured: our pages answer in tens of milliseconds and wait on
PostgreSQL, so sync workers (one request each) at about two per core serve 50 signed-in people
with a p95 of 130 ms on two cores. Every value can be changed without a rebuild:

- WEB_CONCURRENCY: worker processes (default 2 × usable cores + 1). In a container with a CPU
  quota, set it: the cores counted here are the host's. Each worker keeps one PostgreSQL
  connection open (CONN_MAX_AGE), so count them into the server's max_connections.
- PORT: the port to listen on, on every interface (default 8000).
- WEB_TIMEOUT: seconds a request may run before its worker is killed and restarted (default 30;
  our slowest page, a year of history, takes under 0.1 s).
"""

import os

# site/ is a plain folder on sys.path (`site` is a stdlib module), as for manage.py.
pythonpath = "site"
wsgi_app = "wsgi:application"

bind = f"0.0.0.0:{os.environ.get('PORT', '8000')}"
workers = int(os.environ.get("WEB_CONCURRENCY", 2 * len(os.sched_getaffinity(0)) + 1))
worker_class = "sync"
timeout = int(os.environ.get("WEB_TIMEOUT", "30"))
# On SIGTERM, requests in flight get this long to finish.
graceful_timeout = 30
# A worker is replaced after about a thousand requests (staggered, so they do not all restart at
# once): memory that a library leaks cannot grow without bound.
max_requests = 1000
max_requests_jitter = 100
# Workers' heartbeat files on a RAM disk where there is one: a container's overlay file system
# can stall them long enough for the master to think a worker hung.
if os.path.isdir("/dev/shm"):
    worker_tmp_dir = "/dev/shm"
# No control socket: a container has no use for it, and its default path is under $HOME.
control_socket_disable = True

# Logs go to standard output and error, where the container runtime or platform collects them.
accesslog = "-"
errorlog = "-"
