"""A bare WSGI answer, served by gunicorn with the service's settings (for bench/http_layer.py):
what a request costs the worker before any of the service's code runs."""

BODY = b'{"status": "ok"}'


def app(environ, start_response):
    environ["wsgi.input"].read()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(BODY)))])
    return [BODY]
