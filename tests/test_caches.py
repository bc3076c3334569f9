"""The engine's caches belong to the application: a new one starts empty, clear() empties them."""
from engine import caches, instances
from tests.conftest import deploy_sample, running_app


def test_each_application_keeps_its_own_caches_and_can_empty_them(migrated_database):
    for first in running_app(WORKFLOW_CACHE_SIZE=10):
        deploy_sample(first)
        row = instances.start("sample_review", {"subject": "case", "scores": {"a": 1, "b": 2, "c": 3}},
                              actor="test")
        owned = caches.of(first)
        assert {"definitions.current", "instances.live_workflows"} <= set(owned)
        assert len(owned["instances.live_workflows"]) == 1 and row.id
        for second in running_app():  # another application (its own database state) sees none of them
            assert caches.of(second) == {}
        caches.clear(first)
        assert len(owned["instances.live_workflows"]) == 0 and owned["definitions.current"] == {}
