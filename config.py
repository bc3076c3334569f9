"""Configuration from the environment, with the documented defaults.

Every setting can be overridden by an environment variable of the same name (JSON for
mappings and lists). Values the law leaves open (docs/law.md "[default]") live here, never
as constants in code; reference data that changes yearly (quotas, MCI, tax rates) is
administered data in the database instead (`flask reference ...`).
"""
import json
import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent


def _env(name, default):
    raw = os.environ.get(name)
    if raw is None:
        return default
    if isinstance(default, bool):
        return raw.strip().lower() in ("1", "true", "yes", "on")
    if isinstance(default, int):
        return int(raw)
    if isinstance(default, float):
        return float(raw)
    if isinstance(default, (dict, list)):
        return json.loads(raw)
    return raw


def _database_url():
    url = os.environ.get("DATABASE_URL") or f"sqlite:///{BASE_DIR / 'instance' / 'permits.db'}"
    # Accept the common short forms and use psycopg 3.
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            url = "postgresql+psycopg://" + url[len(prefix):]
    return url


class Config:
    # --- service ---
    SECRET_KEY = _env("SECRET_KEY", "dev-only-change-me")
    SQLALCHEMY_DATABASE_URI = _database_url()
    # A ping per checkout guards against dropped server connections; SQLite has none to drop.
    SQLALCHEMY_ENGINE_OPTIONS = ({"pool_pre_ping": True} if SQLALCHEMY_DATABASE_URI.startswith("postgresql")
                                 else {})
    PROCESSES_DIR = _env("PROCESSES_DIR", str(BASE_DIR / "processes"))
    FORMS_DIR = _env("FORMS_DIR", str(BASE_DIR / "processes" / "forms"))
    DEPLOY_ON_START = _env("DEPLOY_ON_START", True)
    # Recorded cases every new version must still decide the same way (handlers/scenarios.py).
    SCENARIOS_DIR = _env("SCENARIOS_DIR", str(BASE_DIR / "processes" / "scenarios"))
    # Replay them before a new version goes live and refuse it when one goes another way.
    SCENARIO_GATE = _env("SCENARIO_GATE", True)
    MAX_CONTENT_LENGTH = _env("MAX_CONTENT_LENGTH", 1024 * 1024)
    # GET /metrics answers a bearer token with the scope metrics:read, or a caller from these
    # networks (CIDR, e.g. the Prometheus server's); nobody else.
    METRICS_NETWORKS = _env("METRICS_NETWORKS", [])
    # A worker's own metrics endpoint (its calls to other systems), for workers on hosts with no
    # web process; `flask worker run --metrics-port` sets it too. Bound to WORKER_METRICS_ADDRESS.
    WORKER_METRICS_PORT = _env("WORKER_METRICS_PORT", None)
    WORKER_METRICS_ADDRESS = _env("WORKER_METRICS_ADDRESS", "127.0.0.1")

    # --- engine ---
    # Lane name in a diagram -> role of the people who do its user tasks.
    LANE_ROLES = _env("LANE_ROLES", {
        "Intake and automatic checks": "system",
        "Automated checks": "system",
        "System": "system",
        "Local executive body officer": "officer",
        "Officer": "officer",
        "Supervisor": "supervisor",
    })
    # Key of the instance data that holds the region a case belongs to.
    REGION_DATA_KEY = _env("REGION_DATA_KEY", "region")
    # How long a process remembers which version is newest; a deploy in another process is
    # used for new instances after at most this many seconds.
    DEFINITION_CACHE_SECONDS = _env("DEFINITION_CACHE_SECONDS", 5.0)
    # Live workflows a process keeps after saving them, so the instance's next step skips
    # restoring its state; 0 restores every step from the database. It pays for steps that
    # follow each other within seconds (a start and its first reply); a larger cache mostly
    # holds workflows whose next step lands in another process, and each cached workflow is
    # some 90 objects the garbage collector keeps re-scanning.
    WORKFLOW_CACHE_SIZE = _env("WORKFLOW_CACHE_SIZE", 256)
    # Exempt what start-up loaded from garbage collection (gc.freeze): a service process keeps
    # it for its whole life. Off in tests, which create hundreds of apps in one process.
    GC_FREEZE_ON_START = _env("GC_FREEZE_ON_START", True)
    # The timer sweep inside the web process: "auto" runs it under `flask run` only (the single
    # development server); "true" in every process created, "false" never (then run
    # `flask scheduler run` as its own process, or `flask timers run-due` from cron).
    SCHEDULER_ENABLED = _env("SCHEDULER_ENABLED", "auto")
    SWEEP_INTERVAL_SECONDS = _env("SWEEP_INTERVAL_SECONDS", 5.0)
    SWEEP_LIMIT = _env("SWEEP_LIMIT", 500)  # timers fired by one sweep at most; the rest wait for the next
    TIMER_LEASE_SECONDS = _env("TIMER_LEASE_SECONDS", 60)  # a dead sweeper's timers are retaken after this
    CALENDAR_TIMEZONE = _env("CALENDAR_TIMEZONE", "Asia/Almaty")
    CALENDAR_COUNTRY = _env("CALENDAR_COUNTRY", "KZ")
    # Government day transfers known before they reach the `holidays` package:
    # {"YYYY-MM-DD": false} an extra day off, {"YYYY-MM-DD": true} a working Saturday.
    # Administrators change them with `flask calendar ...` (stored and audited); these seed it.
    CALENDAR_OVERRIDES = _env("CALENDAR_OVERRIDES", {})
    # The budget of one engine run (a start, a completion, a message, a timer, a job): past it the
    # run is rolled back to the last save and the instance is an incident naming the element.
    ENGINE_STEP_MAX_TASKS = _env("ENGINE_STEP_MAX_TASKS", 2000)
    ENGINE_STEP_MAX_SECONDS = _env("ENGINE_STEP_MAX_SECONDS", 10.0)
    # A completed instance keeps its data and the path it took (engine/finished.py) from the
    # transaction that completes it; false: the task tree until retention compacts it.
    ENGINE_COMPACT_ON_FINISH = _env("ENGINE_COMPACT_ON_FINISH", True)
    # The most instances a multi-instance activity may create (checked at deploy for a literal
    # loopCardinality, at run time for an evaluated one).
    ENGINE_MAX_CARDINALITY = _env("ENGINE_MAX_CARDINALITY", 1000)
    # Jobs (engine/jobs.py): external calls run by workers after the step commits.
    JOB_LEASE_SECONDS = _env("JOB_LEASE_SECONDS", 120)   # a dead worker's job is retaken after this
    JOB_MAX_ATTEMPTS = _env("JOB_MAX_ATTEMPTS", 8)       # then the case is an incident
    JOB_BACKOFF_SECONDS = _env("JOB_BACKOFF_SECONDS", 15.0)   # doubled per attempt...
    JOB_BACKOFF_MAX_SECONDS = _env("JOB_BACKOFF_MAX_SECONDS", 900.0)  # ...up to this
    JOB_BATCH_LIMIT = _env("JOB_BATCH_LIMIT", 100)       # jobs one pass of a worker thread runs at most
    JOB_POLL_SECONDS = _env("JOB_POLL_SECONDS", 1.0)     # an idle worker looks for due jobs this often
    WORKER_THREADS = _env("WORKER_THREADS", 2)           # job threads of `flask worker run`
    # Retention (engine/retention.py; `flask retention run`, and the worker every
    # RETENTION_INTERVAL_HOURS): days after which each kind of row of a finished case goes.
    RETENTION_COMPACT_AFTER_DAYS = _env("RETENTION_COMPACT_AFTER_DAYS", 30)  # task tree -> path taken
    RETENTION_NOTIFICATION_DAYS = _env("RETENTION_NOTIFICATION_DAYS", 90)    # delivered notifications
    RETENTION_MESSAGE_RECEIPT_DAYS = _env("RETENTION_MESSAGE_RECEIPT_DAYS", 90)  # duplicate-message memory
    RETENTION_CORRELATION_KEY_DAYS = _env("RETENTION_CORRELATION_KEY_DAYS", 90)  # after the instance finished
    RETENTION_POLICE_REQUEST_DAYS = _env("RETENTION_POLICE_REQUEST_DAYS", 365)  # answered police requests
    RETENTION_BATCH = _env("RETENTION_BATCH", 1000)  # rows per transaction
    RETENTION_AUDIT_ARCHIVE_MONTHS = _env("RETENTION_AUDIT_ARCHIVE_MONTHS", 12)  # audit months kept in the table
    # Where `flask retention archive-audit` writes a month of the audit log (gzip'd JSON lines);
    # each file's SHA-256 and row count are recorded in the audit_archive table.
    AUDIT_ARCHIVE_DIR = _env("AUDIT_ARCHIVE_DIR", str(BASE_DIR / "instance" / "audit-archive"))
    # Where the decision documents' bytes (PDF and HTML, as issued) are kept, each file named by
    # its SHA-256 (engine/blobs.py); the case_document row keeps the hashes. Every web and worker
    # process must see the same directory (a shared volume); back it up with the database.
    DOCUMENT_STORE_DIR = _env("DOCUMENT_STORE_DIR", str(BASE_DIR / "instance" / "documents"))
    RETENTION_INTERVAL_HOURS = _env("RETENTION_INTERVAL_HOURS", 24.0)
    # Expression sandbox bounds.
    EXPRESSION_MAX_POWER = _env("EXPRESSION_MAX_POWER", 10_000)
    EXPRESSION_MAX_SIZE = _env("EXPRESSION_MAX_SIZE", 100_000)

    # --- permit domain defaults (docs/law.md) ---
    DECISION_TERM_WORKING_DAYS = _env("DECISION_TERM_WORKING_DAYS", 2)
    POLICE_ANSWER_WORKING_DAYS = _env("POLICE_ANSWER_WORKING_DAYS", 1)
    EMPLOYER_CONSENT_WORKING_DAYS = _env("EMPLOYER_CONSENT_WORKING_DAYS", 3)
    REMINDER_LOCAL_TIME = _env("REMINDER_LOCAL_TIME", "09:00")
    PERMIT_MIN_MONTHS = _env("PERMIT_MIN_MONTHS", 1)
    PERMIT_MAX_MONTHS = _env("PERMIT_MAX_MONTHS", 12)
    MAX_TOTAL_MONTHS = _env("MAX_TOTAL_MONTHS", 12)
    ELIGIBLE_CITIZENSHIPS = _env("ELIGIBLE_CITIZENSHIPS", ["UZ", "TJ", "AZ", "MD", "GE", "UA"])
    EAEU_CITIZENSHIPS = _env("EAEU_CITIZENSHIPS", ["RU", "KG", "BY", "AM"])
    REGIONS = _env("REGIONS", {
        "ABA": "Abai", "AKM": "Akmola", "AKT": "Aktobe", "ALM": "Almaty region", "ATY": "Atyrau",
        "ZAP": "West Kazakhstan", "ZHA": "Zhambyl", "ZHT": "Zhetysu", "KAR": "Karaganda",
        "KUS": "Kostanay", "KZY": "Kyzylorda", "MAN": "Mangystau", "PAV": "Pavlodar",
        "SEV": "North Kazakhstan", "TUR": "Turkistan", "ULT": "Ulytau", "VOS": "East Kazakhstan",
        "AST": "Astana", "ALA": "Almaty", "SHY": "Shymkent",
    })
    # Documents an application must include (handlers/documents.py LAW_REQUIRED_DOCUMENTS).
    REQUIRED_DOCUMENTS_ISSUE = _env("REQUIRED_DOCUMENTS_ISSUE", [
        "identity_document", "medical_certificate", "medical_insurance", "fingerprint_certificate",
        "tax_receipt"])
    REQUIRED_DOCUMENTS_EXTENSION = _env("REQUIRED_DOCUMENTS_EXTENSION", [
        "tax_receipt", "previous_permit", "employment_contract", "medical_insurance"])
    # Permit number <region>-<year>-<sequence>: digits the sequence is padded to.
    PERMIT_NUMBER_SEQUENCE_DIGITS = _env("PERMIT_NUMBER_SEQUENCE_DIGITS", 6)
    # The procedure (deployed process id) that runs each kind of case started through the API.
    PROCEDURES = _env("PROCEDURES", {"issue": "permit_issue", "extension": "permit_extension",
                                     "revocation": "permit_revocation"})
    # The procedure that watches each issued permit until it expires or is revoked.
    PERMIT_VALIDITY_PROCESS = _env("PERMIT_VALIDITY_PROCESS", "permit_validity")
    # External systems: "simulator" (built in) or "http".
    POLICE_ADAPTER = _env("POLICE_ADAPTER", "simulator")
    POLICE_URL = _env("POLICE_URL", "")
    POLICE_SIMULATOR_DELAY_SECONDS = _env("POLICE_SIMULATOR_DELAY_SECONDS", 0)
    ESUTD_ADAPTER = _env("ESUTD_ADAPTER", "simulator")
    ESUTD_URL = _env("ESUTD_URL", "")
    NOTIFY_ADAPTER = _env("NOTIFY_ADAPTER", "simulator")
    NOTIFY_URL = _env("NOTIFY_URL", "")
    HTTP_TIMEOUT_SECONDS = _env("HTTP_TIMEOUT_SECONDS", 10.0)
    # Notification outbox: channels, retries with exponential back-off, claim lease.
    NOTIFY_CHANNELS = _env("NOTIFY_CHANNELS", ["egov", "sms", "email", "internal", "police"])
    NOTIFY_MAX_ATTEMPTS = _env("NOTIFY_MAX_ATTEMPTS", 8)
    NOTIFY_BACKOFF_SECONDS = _env("NOTIFY_BACKOFF_SECONDS", 60.0)
    NOTIFY_BACKOFF_MAX_SECONDS = _env("NOTIFY_BACKOFF_MAX_SECONDS", 3600.0)
    NOTIFY_CLAIM_SECONDS = _env("NOTIFY_CLAIM_SECONDS", 300.0)

    # --- officers' inbox (web/inbox) ---
    # After this many failed sign-ins for one name from one client address, sign-in for that name
    # from that address pauses for LOGIN_LOCKOUT_MINUTES (web/inbox/throttle.py); never the account.
    LOGIN_MAX_FAILURES = _env("LOGIN_MAX_FAILURES", 5)
    LOGIN_LOCKOUT_MINUTES = _env("LOGIN_LOCKOUT_MINUTES", 15)
    PASSWORD_MIN_LENGTH = _env("PASSWORD_MIN_LENGTH", 10)
    # A signed-in session lasts one working day.
    PERMANENT_SESSION_LIFETIME = _env("PERMANENT_SESSION_LIFETIME", 8 * 3600)
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    # "auto": Secure cookies unless the app runs in debug or testing mode; "true"/"false" force it.
    SESSION_COOKIE_SECURE = _env("SESSION_COOKIE_SECURE", "auto")
    INBOX_PAGE_SIZE = _env("INBOX_PAGE_SIZE", 25)
    SUPERVISION_PAGE_SIZE = _env("SUPERVISION_PAGE_SIZE", 50)  # escalated and overdue tasks per page
    # How often an open inbox page reloads its list (seconds; 0: never). Paused in hidden tabs.
    INBOX_REFRESH_SECONDS = _env("INBOX_REFRESH_SECONDS", 60)
    # The roles whose tasks a supervisor oversees (escalations, overdue tasks, reassignment).
    SUPERVISED_ROLES = _env("SUPERVISED_ROLES", ["officer"])

    # --- access and sign-in hardening (issue 15) ---
    # Processes the service starts itself, never a client (besides PERMIT_VALIDITY_PROCESS).
    INTERNAL_PROCESSES = _env("INTERNAL_PROCESSES", [])
    # Sign-in attempts one client address may make (the `limits` library's syntax), whatever the names.
    LOGIN_RATE_LIMIT = _env("LOGIN_RATE_LIMIT", "10 per minute;60 per hour")
    # Where the sign-in counters are kept (a `limits` storage URI). "memory://" is per process: with several gunicorn
    # workers use a shared store, e.g. "redis://host:6379" (each worker would count apart).
    RATELIMIT_STORAGE_URI = _env("RATELIMIT_STORAGE_URI", "memory://")
    # Origins (scheme://host[:port]) besides the request's own host that may post inbox forms
    # (behind a reverse proxy that rewrites Host, name the public origin here).
    TRUSTED_ORIGINS = _env("TRUSTED_ORIGINS", [])
    # --- languages (issue 16) ---
    # Languages of the inbox and the documents; English is the source text and the fallback.
    LANGUAGES = _env("LANGUAGES", ["kk", "ru", "en"])
    # An officer who has not chosen a language, and a sign-in page whose browser names none we have.
    DEFAULT_LANGUAGE = _env("DEFAULT_LANGUAGE", "ru")
    # problem+json titles and details when the client's Accept-Language names none of LANGUAGES.
    API_DEFAULT_LANGUAGE = _env("API_DEFAULT_LANGUAGE", "en")
    # Notifications to an applicant whose application names no preferred language (kk or ru).
    APPLICANT_DEFAULT_LANGUAGE = _env("APPLICANT_DEFAULT_LANGUAGE", "ru")
    # The languages on every document handed to an applicant, in this order (docs/law.md §12).
    DOCUMENT_LANGUAGES = _env("DOCUMENT_LANGUAGES", ["kk", "ru"])
    # Who signs a document when no officer decided (an automatic refusal, an expiry).
    DOCUMENT_AUTOMATIC_SIGNER = _env("DOCUMENT_AUTOMATIC_SIGNER",
                                     "Information system of the public service \"Permits for labour immigrants\"")
    # The directory of the Flask-Babel catalogues (compiled by `make translations`).
    BABEL_TRANSLATION_DIRECTORIES = _env("BABEL_TRANSLATION_DIRECTORIES", str(BASE_DIR / "translations"))


class TestConfig(Config):
    TESTING = True
    SCENARIO_GATE = False  # most tests deploy many times; the gate's own tests turn it on
    GC_FREEZE_ON_START = False
    DEPLOY_ON_START = False
    SCHEDULER_ENABLED = False
    WTF_CSRF_ENABLED = True
