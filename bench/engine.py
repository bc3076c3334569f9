"""Engine throughput against bare SpiffWorkflow on the sample diagram (issue 2's benchmark).

Runs the sample diagram to its end N times in one process:
  bare   - SpiffWorkflow in memory: spec parsed once, same diagram, same path, no persistence;
  engine - through the engine with SQLite persistence: start (one transaction), then complete
           the user task as a separate step (a second transaction).
Prints instances/s for both, the ratio engine/bare, and the stored state bytes per finished
instance. Goal: ratio >= 0.7 (issue 18; it was 0.5) and <= 4,000 bytes.

    .venv/bin/python bench/engine.py [N [ROUNDS]]
"""
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench.scratch import scratch_directory  # noqa: E402

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


class Bare:
    """SpiffWorkflow alone: spec parsed once, the same path, nothing stored."""

    def __init__(self):
        parser = SpiffBpmnParser()
        parser.add_bpmn_files([str(SAMPLE)])
        self.spec = parser.get_spec("sample_review")
        self.subprocess_specs = parser.get_subprocess_specs("sample_review")
        self.script_engine = PythonScriptEngine(environment=_BareEnvironment())

    def run(self, n):
        """Seconds to run n instances to their end."""
        started = time.perf_counter()
        for _ in range(n):
            wf = BpmnWorkflow(self.spec, self.subprocess_specs, script_engine=self.script_engine)
            wf.task_tree.data.update(json.loads(json.dumps(DATA)))
            wf.do_engine_steps()
            task = wf.get_tasks(state=TaskState.READY, manual=True)[0]
            task.set_data(review={"decision": "approve"})
            task.run()
            wf.do_engine_steps()
            assert wf.is_completed()
        return time.perf_counter() - started


class Engine:
    """The same through the engine, persisted in a fresh SQLite file: start (one transaction),
    then complete the user task as a separate step (a second transaction)."""

    def __init__(self):
        from app import create_app
        from config import Config
        from engine import definitions
        from flask_migrate import upgrade

        path = scratch_directory("bench-engine-") / "bench.db"
        # The service's own defaults (config.Config), with the sample diagram's forms.
        cfg = type("BenchConfig", (Config,), {"SQLALCHEMY_DATABASE_URI": f"sqlite:///{path}",
                                              "FORMS_DIR": str(FORMS), "SCHEDULER_ENABLED": "false",
                                              "DEPLOY_ON_START": False})
        self.app = create_app(cfg)
        self.context = self.app.app_context()
        self.context.push()
        upgrade()
        definitions.deploy_file(SAMPLE, self.app.config, actor="bench")
        self.ids = []

    def run(self, n):
        from engine import instances
        started = time.perf_counter()
        for _ in range(n):
            row = instances.start("sample_review", json.loads(json.dumps(DATA)), actor="bench")
            with instances.step(row.id, "bench") as (_, wf):
                task = wf.get_tasks(state=TaskState.READY, manual=True)[0]
                task.set_data(review={"decision": "approve"})
                task.run()
            self.ids.append(row.id)
        return time.perf_counter() - started

    def stored_state(self):
        """Mean bytes of state per instance, after checking every one finished."""
        from engine import instances
        from engine.db import db
        rows = [db.session.get(instances.ProcessInstance, i) for i in self.ids]
        assert all(r.status == "completed" for r in rows)
        return statistics.mean(len(r.state) for r in rows)


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    assert sample_ops  # the sample operators are registered on import
    bare, engine = Bare(), Engine()
    bare.run(50), engine.run(50)  # warm-up: imports, caches, first statements compiled
    engine.ids.clear()
    # Alternate batches so that a change in the machine's speed (other load, frequency)
    # falls on both sides alike; the totals give the rates.
    batch = [n // rounds + (1 if i < n % rounds else 0) for i in range(rounds)]
    bare_seconds = engine_seconds = 0.0
    # The process's CPU time of each side too: on a machine shared with other work the wall
    # clock also counts the time this process waited for a core (and the engine's waits for
    # the disk); the CPU ratio says what the engine itself costs.
    bare_cpu = engine_cpu = 0.0
    for size in batch:
        cpu = time.process_time()
        bare_seconds += bare.run(size)
        bare_cpu += time.process_time() - cpu
        cpu = time.process_time()
        engine_seconds += engine.run(size)
        engine_cpu += time.process_time() - cpu
    bare_rate, engine_rate = n / bare_seconds, n / engine_seconds
    print(f"instances: {n} in {rounds} alternating rounds")
    print(f"bare SpiffWorkflow in memory : {bare_rate:8.1f} instances/s")
    print(f"engine with SQLite           : {engine_rate:8.1f} instances/s")
    print(f"ratio engine/bare            : {engine_rate / bare_rate:8.2f}   (goal >= 0.7)")
    print(f"ratio of CPU time bare/engine: {bare_cpu / engine_cpu:8.2f}   "
          f"({bare_cpu / n * 1000:.2f} and {engine_cpu / n * 1000:.2f} ms per instance)")
    print(f"stored state per finished    : {engine.stored_state():8.0f} bytes (goal <= 4000)")


if __name__ == "__main__":
    main()
