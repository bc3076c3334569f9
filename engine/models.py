"""Imports every engine table so the metadata (and Alembic) sees the whole schema."""
from .audit import AuditEvent  # noqa: F401
from .audit_archive import AuditArchive  # noqa: F401
from .state_dictionary import StateDictionary  # noqa: F401
from .definitions import ProcessDefinition  # noqa: F401
from .instances import ProcessInstance  # noqa: F401
from .tasks import HumanTask  # noqa: F401
from .timers import Timer  # noqa: F401
from .messages import CorrelationKey, MessageReceipt, MessageSubscription  # noqa: F401
from .calendar import CalendarOverride  # noqa: F401
from .deadlines import compute  # noqa: F401  registers the deadlines.compute operator
from .jobs import Job  # noqa: F401
from .substitutions import Substitution  # noqa: F401
