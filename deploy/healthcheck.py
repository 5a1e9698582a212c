"""The container's health check: exit 0 when this container's web process answers /healthz with
200, 1 otherwise (the Dockerfile's HEALTHCHECK and docker-compose.yml run it; the slim image has
no curl). Standard library only, so it starts fast and works without Django.

    python deploy/healthcheck.py [URL]    (default: http://127.0.0.1:$PORT/healthz, PORT 8000)
"""

import os
import sys
import urllib.error
import urllib.request

TIMEOUT_SECONDS = 4


def main(argv: list[str]) -> int:
    url = argv[1] if len(argv) > 1 else f"http://127.0.0.1:{os.environ.get('PORT', '8000')}/healthz"
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_SECONDS) as response:
            body = response.read(200).decode(errors="replace")
            status = response.status
    except urllib.error.HTTPError as error:  # 503: the body names what failed
        body, status = error.read(200).decode(errors="replace"), error.code
    except OSError as error:
        print(f"unhealthy: {url}: {error}", file=sys.stderr)
        return 1
    healthy = status == 200
    print(f"{'healthy' if healthy else 'unhealthy'}: {url} {status} {body}")
    return 0 if healthy else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
