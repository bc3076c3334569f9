"""Imports every engine table so the metadata (and Alembic) sees the whole schema."""
from .audit import AuditEvent  # noqa: F401
from .definitions import ProcessDefinition  # noqa: F401
from .instances import ProcessInstance  # noqa: F401
from .tasks import HumanTask  # noqa: F401
