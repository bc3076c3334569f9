"""No log line carries an IIN or a passport number in clear (docs/operations.md "Logs and personal data").

`PersonalDataFilter` rewrites each record's final text with `handlers.identity.mask_personal_data`.
`install(app)` puts it on the loggers that write request lines and errors: werkzeug's (the
development server's access log), gunicorn's access and error logs, the application's logger,
and every handler of the root logger (so records of any other logger that reach them are
masked too). Query strings are masked as well as paths: `?holder_iin=`, `?applicant_iin=`,
`/search?q=` all log "9003******14".
"""
from __future__ import annotations

import logging

from handlers.identity import mask_personal_data

LOGGERS = ("werkzeug", "gunicorn.access", "gunicorn.error")


class PersonalDataFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        try:
            text = record.getMessage()
        except Exception:  # a broken format string: leave it to logging's own error report
            return True
        masked = mask_personal_data(text)
        if masked != text:
            record.msg, record.args = masked, None
        if record.exc_info and not record.exc_text:
            record.exc_text = mask_personal_data(logging.Formatter().formatException(record.exc_info))
        elif record.exc_text:
            record.exc_text = mask_personal_data(record.exc_text)
        return True


_FILTER = PersonalDataFilter()


def install(app) -> None:
    for logger in (*(logging.getLogger(name) for name in LOGGERS), app.logger):
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
    for handler in logging.getLogger().handlers:
        if _FILTER not in handler.filters:
            handler.addFilter(_FILTER)
