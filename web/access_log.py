"""gunicorn's access log line, written without building every atom (gunicorn.conf.py's logger_class).

gunicorn formats each request's line from a dictionary of every atom it knows: every request
header, every response header and every WSGI environment variable, each quoted, then applied
to the format. For the default format (the "combined" log: address, user, time, request line,
status, bytes, referrer, user agent) this logger writes the same line from the nine values it
names; about a third of gunicorn's own cost per request went there. Any other
`access_log_format` (GUNICORN_ACCESS_LOG_FORMAT) is gunicorn's own path, unchanged.

The line still goes through the `gunicorn.access` logger, so web/log_masking.py masks it.
"""
from __future__ import annotations

import traceback

from gunicorn.config import AccessLogFormat
from gunicorn.glogging import Logger


class AccessLogger(Logger):
    def access(self, resp, req, environ, request_time):
        if not self.access_log_enabled:
            return
        if self.cfg.access_log_format != AccessLogFormat.default:
            return super().access(resp, req, environ, request_time)
        status = resp.status
        if isinstance(status, str):
            status = status.split(None, 1)[0]
        sent = getattr(resp, "sent", None)
        line = '%s - %s %s "%s %s %s" %s %s "%s" "%s"' % (
            environ.get("REMOTE_ADDR", "-"), _quoted(self._get_user(environ) or "-"), self.now(),
            _quoted(environ["REQUEST_METHOD"]), _quoted(environ["RAW_URI"]), _quoted(environ["SERVER_PROTOCOL"]),
            status, str(sent) if sent is not None else "-",
            _quoted(environ.get("HTTP_REFERER", "-")), _quoted(environ.get("HTTP_USER_AGENT", "-")))
        try:
            self.access_log.info(line)
        except Exception:
            self.error(traceback.format_exc())


def _quoted(value) -> str:
    """As gunicorn's atoms: a double quote escaped, so a header cannot end its field early."""
    return value.replace('"', '\\"') if isinstance(value, str) else value
