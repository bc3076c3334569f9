"""The permit register as the pages need it; the register module may not be deployed yet."""
from __future__ import annotations


def register():
    """handlers.permits, if this build has it; else None (search and case pages skip permits)."""
    try:
        from handlers import permits
    except ImportError:
        return None
    return permits


def permit_of(file) -> dict | None:
    """The case's permit, as the read model has it (handlers.case_view.permit_of)."""
    return file.view.permit


def search(query: str, regions) -> list:
    """Permits with this number or held by this IIN, in the given regions (None: all)."""
    module = register()
    if module is None or not query:
        return []
    found = []
    permit = module.get_permit(query)
    if permit is not None:
        found.append(permit)
    if len(query) == 12 and query.isdigit():
        found.extend(p for p in module.permits_by_holder(query) if p not in found)
    return [p for p in found if regions is None or p.region in regions]
