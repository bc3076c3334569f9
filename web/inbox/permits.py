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
    """The case's permit: from the register when it has it, else as the case data holds it."""
    number = (file.case.permit_no if file.case is not None else None)
    stored = file.data.get("permit") if isinstance(file.data.get("permit"), dict) else None
    number = number or (stored or {}).get("number") or (stored or {}).get("permit_no")
    module = register()
    if number and module is not None:
        permit = module.get_permit(number)
        if permit is not None:
            return permit.as_dict()
    return stored


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
