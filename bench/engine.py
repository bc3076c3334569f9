"""Engine throughput against bare SpiffWorkflow on the sample diagram (issue 2's benchmark).

Runs the sample diagram to its end N times in one process:
  bare   - SpiffWorkflow in memory: spec parsed once, same diagram, same path, no persistence;
  engine - through the engine with SQLite persistence: start (one transaction), then complete
           the user task as a separate step (a second transaction).
Prints instances/s for both, the ratio engine/bare, and the stored state bytes per finished
instance. Goal: ratio >= 0.5 and <= 4,000 bytes.

    .venv/bin/python bench/engine.py [N]
"""
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from SpiffWorkflow.bpmn import BpmnWorkflow  # noqa: E402
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine, TaskDataEnvironment  # noqa: E402
from SpiffWorkflow.spiff.parser import SpiffBpmnParser  # noqa: E402
from SpiffWorkflow.util.task import TaskState  # noqa: E402

import tests.sample_operators as sample_ops  # noqa: E402
from engine import operators  # noqa: E402

SAMPLE = ROOT / "tests" / "bpmn" / "sample.bpmn"
FORMS = ROOT / "tests" / "bpmn" / "forms"
DATA = {"subject": "bench", "scores": {"a": 1, "b": 2, "c": 3}, "region": "AST"}


class _BareContext:
    config = {}
    instance_id = None

    @staticmethod
    def now():
        from engine import clock
        return clock.now()


class _BareEnvironment(TaskDataEnvironment):
    def call_service(self, context, operation_name, operation_params):
        kwargs = {k: v["value"] for k, v in operation_params.items()}
        return json.dumps(operators.get(operation_name).func(_BareContext, **kwargs))


def bare(n):
    parser = SpiffBpmnParser()
    parser.add_bpmn_files([str(SAMPLE)])
    spec, subprocess_specs = parser.get_spec("sample_review"), parser.get_subprocess_specs("sample_review")
    script_engine = PythonScriptEngine(environment=_BareEnvironment())
    started = time.perf_counter()
    for _ in range(n):
        wf = BpmnWorkflow(spec, subprocess_specs, script_engine=script_engine)
        wf.task_tree.data.update(json.loads(json.dumps(DATA)))
        wf.do_engine_steps()
        task = wf.get_tasks(state=TaskState.READY, manual=True)[0]
        task.set_data(review={"decision": "approve"})
        task.run()
        wf.do_engine_steps()
        assert wf.is_completed()
    return n / (time.perf_counter() - started)


def engine(n):
    from app import create_app
    from config import TestConfig
    from engine import definitions, instances
    from engine.db import db
    from flask_migrate import upgrade

    path = Path(tempfile.mkdtemp(prefix="bench-")) / "bench.db"
    cfg = type("BenchConfig", (TestConfig,), {"SQLALCHEMY_DATABASE_URI": f"sqlite:///{path}",
                                               "FORMS_DIR": str(FORMS)})
    app = create_app(cfg)
    with app.app_context():
        upgrade()
        definitions.deploy_file(SAMPLE, app.config, actor="bench")
        ids = []
        started = time.perf_counter()
        for _ in range(n):
            row = instances.start("sample_review", json.loads(json.dumps(DATA)), actor="bench")
            with instances.step(row.id, "bench") as (_, wf):
                task = wf.get_tasks(state=TaskState.READY, manual=True)[0]
                task.set_data(review={"decision": "approve"})
                task.run()
            ids.append(row.id)
        rate = n / (time.perf_counter() - started)
        rows = [db.session.get(instances.ProcessInstance, i) for i in ids]
        assert all(r.status == "completed" for r in rows)
        size = statistics.mean(len(r.state) for r in rows)
    return rate, size


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    assert sample_ops  # the sample operators are registered on import
    bare(min(n, 100))  # warm-up
    bare_rate = bare(n)
    engine_rate, size = engine(n)
    print(f"instances: {n}")
    print(f"bare SpiffWorkflow in memory : {bare_rate:8.1f} instances/s")
    print(f"engine with SQLite           : {engine_rate:8.1f} instances/s")
    print(f"ratio engine/bare            : {engine_rate / bare_rate:8.2f}   (goal >= 0.5)")
    print(f"stored state per finished    : {size:8.0f} bytes (goal <= 4000)")


if __name__ == "__main__":
    main()
