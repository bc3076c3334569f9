"""Diagram expressions are untrusted: known escapes are refused, bombs are bounded, normal use works."""
import time

import pytest
from lxml import etree
from SpiffWorkflow.bpmn.exceptions import WorkflowTaskException
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.spiff.parser.process import SpiffBpmnParser
from SpiffWorkflow.util.task import TaskState

from engine.expressions import (
    SAFE_BUILTINS,
    SAFE_FUNCTIONS,
    LimitExceeded,
    SafeEnvironment,
    UnsafeExpression,
    check_expression,
    iter_bpmn_expressions,
)


def add_working_days(start, days):
    return f"{start}+{days}wd"


HOST = {"add_working_days": add_working_days}


@pytest.fixture
def env():
    return SafeEnvironment(dict(HOST))


# ---------------------------------------------------------------- escapes refused statically

ESCAPES = [
    # (source, mode, a fragment the reasons must contain)
    ("().__class__.__base__.__subclasses__()", "eval", "attribute access to '__class__' is not allowed"),
    ("__import__('os').getpid()", "eval", "name '__import__' is not allowed"),
    ("getattr(x, '__globals__')", "eval", "call to 'getattr' is not allowed"),
    ('"{0.__class__}".format(x)', "eval", "attribute access to 'format' is not allowed"),
    ('"{0.__class__}".format_map(x)', "eval", "attribute access to 'format_map' is not allowed"),
    ('f"{x.__class__}"', "eval", "attribute access to '__class__' is not allowed"),
    ("(lambda: 1)()", "eval", "lambda is not allowed"),
    ("f = lambda: 1", "exec", "lambda is not allowed"),
    ("import os", "exec", "import is not allowed"),
    ("from os import system", "exec", "import is not allowed"),
    ("open('/etc/passwd')", "eval", "call to 'open' is not allowed"),
    ("exec('1')", "eval", "call to 'exec' is not allowed"),
    ("eval('1')", "eval", "call to 'eval' is not allowed"),
    ("compile('1', '<s>', 'eval')", "eval", "call to 'compile' is not allowed"),
    ("globals()", "eval", "call to 'globals' is not allowed"),
    ("locals()", "eval", "call to 'locals' is not allowed"),
    ("vars()", "eval", "call to 'vars' is not allowed"),
    ("type(1)", "eval", "call to 'type' is not allowed"),
    ("breakpoint()", "eval", "call to 'breakpoint' is not allowed"),
    ("x.__dict__", "eval", "attribute access to '__dict__' is not allowed"),
    ("str.__mro__", "eval", "attribute access to '__mro__' is not allowed"),
    ("x._private", "eval", "attribute access to '_private' is not allowed"),
    ("x.gi_frame", "eval", "attribute access to 'gi_frame' is not allowed"),
    ("sorted(x, key=getattr)", "eval", "name 'getattr' is not allowed"),
    ("__builtins__", "eval", "name '__builtins__' is not allowed"),
    ("d['f']()", "eval", "call of a computed value is not allowed"),
    ("print('x')", "eval", "call to 'print' is not allowed"),
    ("max(*args)", "eval", "starred argument (*) is not allowed"),
    ("dict(**kw)", "eval", "keyword unpacking (**) is not allowed"),
    ("[*a]", "eval", "starred expression (*) is not allowed"),
    ("{**a}", "eval", "dict unpacking (**) is not allowed"),
    ("b'abc'.replace(b'a', b'b')", "eval", "bytes literal is not allowed"),
    ("f'{x:>1000000000}'", "eval", "format width or precision above 1000"),
    ("f'{x:{w}}'", "eval", "computed format spec"),
    ("1 << 100000000", "eval", "operator '<<' is not allowed"),
    ("def f():\n    pass", "exec", "function definition (def) is not allowed"),
    ("class A:\n    pass", "exec", "class definition is not allowed"),
    ("while True:\n    pass", "exec", "while loop is not allowed"),
    ("with x:\n    pass", "exec", "with statement is not allowed"),
    ("try:\n    x = 1\nexcept Exception:\n    pass", "exec", "try statement is not allowed"),
    ("raise ValueError()", "exec", "raise is not allowed"),
    ("global x", "exec", "global statement is not allowed"),
    ("x = len", "exec", "function 'len' may only be called"),
    ("x = d.get", "exec", "method 'get' may only be called"),
    ("sorted(x, key=s.replace)", "eval", "method 'replace' may only be called directly"),
    ("len = 3", "exec", "assignment to 'len' is not allowed"),
    ("add_working_days = 3", "exec", "assignment to 'add_working_days' is not allowed"),
    ("x.append = 1", "exec", "attribute assignment to 'append' is not allowed"),
    ("a[1:2] = b", "exec", "slice assignment is not allowed"),
    ("l.append(1)", "eval", "only allowed in scripts"),
    ("x = 1", "eval", "syntax error at line 1"),
    ("a = 1\nb = (", "exec", "syntax error at line 2"),
]


@pytest.mark.parametrize("source, mode, reason", ESCAPES, ids=[e[0] for e in ESCAPES])
def test_escape_is_refused_by_check(source, mode, reason):
    reasons = check_expression(source, mode, HOST)
    assert any(reason in r for r in reasons), reasons


@pytest.mark.parametrize("source, mode, reason", ESCAPES, ids=[e[0] for e in ESCAPES])
def test_escape_is_refused_at_run_time_without_running(env, source, mode, reason):
    data = {"x": 1, "d": {"f": 1}, "l": [], "s": "s", "a": [1], "b": [2]}
    run = env.evaluate if mode == "eval" else env.execute
    with pytest.raises(UnsafeExpression) as caught:
        run(source, data)
    assert any(reason in r for r in caught.value.reasons)
    assert data == {"x": 1, "d": {"f": 1}, "l": [], "s": "s", "a": [1], "b": [2]}
    assert env.evaluate("x + 1", data) == 2  # the interpreter survives


def test_reasons_name_the_line(env):
    reasons = check_expression("a = 1\nb = x.__class__", "exec")
    assert reasons == ["attribute access to '__class__' is not allowed (line 2)"]


def test_host_functions_must_be_declared_to_the_check():
    assert check_expression("add_working_days(d, 3)") == ["call to 'add_working_days' is not allowed (line 1)"]
    assert check_expression("add_working_days(d, 3)", functions=HOST) == []
    assert SafeEnvironment(HOST).check("add_working_days(d, 3)") == []


# ---------------------------------------------------------------- data that would undermine the check

def test_data_key_builtins_is_refused(env):
    with pytest.raises(UnsafeExpression, match="data key '__builtins__' is not allowed"):
        env.evaluate("1", {"__builtins__": {"open": open}})
    with pytest.raises(UnsafeExpression, match="data key '__builtins__' is not allowed"):
        env.execute("y = 1", {"__builtins__": {}})
    with pytest.raises(UnsafeExpression, match="data key '__import__' is not allowed"):
        env.evaluate("1", {}, external_context={"__import__": __import__})


def test_data_cannot_override_host_functions(env):
    # Task data is JSON from the database, so it never carries callables; a data key may still
    # collide with a host function name: evaluation sees the function, a script refuses to run.
    assert env.evaluate("add_working_days('d', 1)", {"add_working_days": 5}) == "d+1wd"
    data = {"add_working_days": 5}
    with pytest.raises(UnsafeExpression, match="would overwrite the function"):
        env.execute("y = 1", data)
    assert data == {"add_working_days": 5}


def test_only_the_allowlist_is_builtin(env):
    assert set(SAFE_BUILTINS) == set(SAFE_FUNCTIONS)
    for name in ("chr", "format", "print", "id"):  # absent builtins: such a name can only be data
        with pytest.raises(NameError):
            env.evaluate(name, {})
    assert env.evaluate("id", {"id": 7}) == 7


# ---------------------------------------------------------------- bombs bounded at run time

BOMBS = [
    "9**9**9",
    "2**100000",
    "'a' * 10**10",
    "[0] * 10**10",
    "10**9 * 'a'",
    "[x for x in range(10**12)]",
    "list(range(10**30))",
    "[1 for a in range(10**5) for b in range(10**5)]",
    "[[0] * 100000 for _ in range(1000)]",
    "('a' * 1000).replace('a', 'a' * 1000)",
    "('a' * 1000).join(['x'] * 1000)",
    "str.join('a' * 1000, ['x'] * 1000)",
    "'%*d' % (10**9, 1)",
    "round(1, -10**9)",
    "10**10000 * 10**10000 * 10**10000 * 10**10000",
    "str([['a' * 1000] * 1000] * 1000)",
    "f'{[s] * 100000}'",
    "s[:] + s[:]",
]


@pytest.mark.parametrize("source", BOMBS)
def test_bomb_is_refused_quickly(env, source):
    started = time.monotonic()
    with pytest.raises(UnsafeExpression):
        env.evaluate(source, {"s": "a" * 60_000})
    assert time.monotonic() - started < 1.0
    assert env.evaluate("1 + 1", {}) == 2


def test_sum_refuses_concatenation(env):
    with pytest.raises(TypeError, match="only adds numbers"):
        env.evaluate("sum([[1]] * 10, [])", {})


SCRIPT_BOMBS = [
    "s = 'a' * 1000\nfor i in range(100):\n    s += s",
    "s = 'a' * 1000\nfor i in range(100):\n    s = s + s",
    "n = 3\nfor i in range(100):\n    n = n * n",
    "n = 3\nfor i in range(100):\n    n **= 2",
    "l = [0]\nfor x in l:\n    l.append(x)",
    "for i in range(100000):\n    for j in range(100000):\n        pass",
    "l = [1]\nfor i in range(60):\n    l = [l, l]",  # tiny in memory, 2**60 items as JSON
]


@pytest.mark.parametrize("script", SCRIPT_BOMBS)
def test_script_bomb_is_refused_and_data_restored(env, script):
    data = {"keep": [1, 2]}
    started = time.monotonic()
    with pytest.raises(LimitExceeded):
        env.execute(script, data)
    assert time.monotonic() - started < 3.0
    assert data == {"keep": [1, 2]}


def test_time_limit():
    slow = SafeEnvironment(max_seconds=0.05)
    started = time.monotonic()
    with pytest.raises(LimitExceeded, match="ran longer than"):
        slow.execute("for i in range(100000):\n    x = -1 in d", {"d": list(range(5000))})
    assert time.monotonic() - started < 1.0


def test_limits_are_configurable():
    small = SafeEnvironment(max_power=8, max_size=10)
    assert small.evaluate("2 ** 8", {}) == 256
    with pytest.raises(LimitExceeded):
        small.evaluate("2 ** 9", {})
    with pytest.raises(LimitExceeded):
        small.evaluate("'ab' * 6", {})
    with pytest.raises(LimitExceeded):
        small.evaluate("range(11)", {})


# ---------------------------------------------------------------- normal use

@pytest.mark.parametrize("source, data, expected", [
    ("decide['decision'] == 'issue'", {"decide": {"decision": "issue"}}, True),
    ("score_a + score_b < 0", {"score_a": 1, "score_b": -3}, True),
    ("len(grounds) > 0 and not police_reply.get('verdict') == 'object'",
     {"grounds": ["late"], "police_reply": {}}, True),
    ("\n   amount >= 1000\n", {"amount": 1500}, True),  # BPMN text carries whitespace
    ("[g.upper() for g in grounds if g]", {"grounds": ["a", "", "b"]}, ["A", "B"]),
    ("{k: v * 2 for k, v in d.items()}", {"d": {"a": 1}}, {"a": 2}),
    ("max(d, key=d.get)", {"d": {"a": 1, "b": 3}}, "b"),
    ("sorted(names, key=str.lower)", {"names": ["b", "A"]}, ["A", "b"]),
    ("', '.join(sorted(set(tags)))", {"tags": ["y", "x", "y"]}, "x, y"),
    ("f'{name}: {amount:,.2f}'", {"name": "fee", "amount": 1234.5}, "fee: 1,234.50"),
    ("add_working_days(start, 3)", {"start": "2024-01-01"}, "2024-01-01+3wd"),
    ("'PT' + str(hours) + 'H'", {"hours": 24}, "PT24H"),
    ("2 ** 10 + 7 % 3 + len(s[1:3]) + round(2.567, 2)", {"s": "abcd"}, 1024 + 1 + 2 + 2.57),
    ("x if (y := x * 2) > 3 else y", {"x": 1}, 2),
    ("any(v > 2 for v in values) and all(v > 0 for v in values)", {"values": [1, 3]}, True),
    ("iin.isdigit() and len(iin) == 12", {"iin": "123456789012"}, True),
])
def test_expression_allowed_and_evaluated(env, source, data, expected):
    assert env.check(source) == []
    assert env.evaluate(source, data) == expected


def test_script_mutates_task_data_in_place(env):
    data = {"grounds": ["late"], "counts": {"a": 1}, "drop_me": 1}
    same = data
    env.execute(
        "total = 0\n"
        "for i, g in enumerate(grounds):\n"
        "    total += i + len(g)\n"
        "grounds.append('missing')\n"
        "counts['a'] += 1\n"
        "due = add_working_days('2024-01-01', 2)\n"
        "pairs = zip(grounds, grounds)\n"  # an iterator: not data, removed
        "del drop_me\n"
        "if total > 3:\n"
        "    big = True\n"
        "else:\n"
        "    big = False\n",
        data,
    )
    assert data is same
    assert data == {
        "grounds": ["late", "missing"], "counts": {"a": 2}, "total": 4, "i": 0, "g": "late",
        "due": "2024-01-01+2wd", "big": True,
    }


def test_script_failure_leaves_data_unchanged(env):
    data = {"l": [1]}
    with pytest.raises(ZeroDivisionError):
        env.execute("l.append(2)\nx = 1\ny = 1 / 0", data)
    assert data == {"l": [1]}


def test_external_context_visible_but_not_stored(env):
    data = {"a": 1}
    env.execute("b = a + obj", data, external_context={"obj": 2})
    assert data == {"a": 1, "b": 3}
    assert env.evaluate("a + obj", data, external_context={"obj": 2, "a": 100}) == 3  # data wins


def test_host_function_names_are_validated():
    for bad in ("__evil__", "_hidden", "getattr", "len", "not-an-identifier"):
        with pytest.raises(ValueError):
            SafeEnvironment({bad: print})


def test_compiled_code_is_cached(env):
    assert env.compiled("a + 1", "eval") is env.compiled("a + 1", "eval")


def test_call_service_is_left_to_the_application(env):
    with pytest.raises(NotImplementedError):
        env.call_service({}, operation_name="x", operation_params={})


# ---------------------------------------------------------------- inside SpiffWorkflow

BPMN = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core"
    id="Definitions_1" targetNamespace="http://bpmn.io/schema/bpmn">
  <bpmn:process id="proc" isExecutable="true">
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:scriptTask id="compute">
      <bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
      <bpmn:script>{script}</bpmn:script>
    </bpmn:scriptTask>
    <bpmn:exclusiveGateway id="gw"><bpmn:incoming>f2</bpmn:incoming>
      <bpmn:outgoing>high</bpmn:outgoing><bpmn:outgoing>low</bpmn:outgoing></bpmn:exclusiveGateway>
    <bpmn:endEvent id="end_high"><bpmn:incoming>high</bpmn:incoming></bpmn:endEvent>
    <bpmn:endEvent id="end_low"><bpmn:incoming>low</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="compute" />
    <bpmn:sequenceFlow id="f2" sourceRef="compute" targetRef="gw" />
    <bpmn:sequenceFlow id="high" sourceRef="gw" targetRef="end_high">
      <bpmn:conditionExpression>
        {condition}
      </bpmn:conditionExpression>
    </bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="low" sourceRef="gw" targetRef="end_low">
      <bpmn:conditionExpression>total &lt;= 5</bpmn:conditionExpression>
    </bpmn:sequenceFlow>
  </bpmn:process>
</bpmn:definitions>
"""


def _workflow(script, condition="total &gt; 5 and len(flags) == 1"):
    parser = SpiffBpmnParser()
    xml = BPMN.replace("{script}", script).replace("{condition}", condition)
    parser.add_bpmn_str(xml.encode(), "test.bpmn")
    engine = PythonScriptEngine(environment=SafeEnvironment(dict(HOST)))
    return BpmnWorkflow(parser.get_spec("proc"), script_engine=engine)


def _reached(workflow):
    return {t.task_spec.bpmn_id for t in workflow.get_tasks(state=TaskState.COMPLETED)}


@pytest.mark.parametrize("a, end", [(4, "end_high"), (1, "end_low")])
def test_spiffworkflow_runs_a_safe_script_and_gateway(a, end):
    workflow = _workflow(
        f"total = {a} + 2\nflags = [f for f in ['x', 'y'] if f != 'y']\n"
        "due = add_working_days('2024-01-01', total)"
    )
    workflow.do_engine_steps()
    assert workflow.is_completed()
    assert end in _reached(workflow)
    assert workflow.data["due"] == f"2024-01-01+{a + 2}wd"
    assert "__builtins__" not in workflow.data and "add_working_days" not in workflow.data


def test_spiffworkflow_unsafe_script_fails_the_task_without_running(tmp_path):
    marker = tmp_path / "pwned"
    workflow = _workflow(f"ran = 1\n__import__('os').system('touch {marker}')")
    with pytest.raises(WorkflowTaskException) as caught:
        workflow.do_engine_steps()
    assert "name '__import__' is not allowed" in str(caught.value)
    assert not marker.exists()
    task = workflow.get_next_task(spec_name="compute", state=TaskState.ERROR)
    assert task is not None and "ran" not in task.data


def test_spiffworkflow_unsafe_condition_fails():
    workflow = _workflow("total = 9\nflags = [1]", condition="().__class__.__base__.__subclasses__()")
    with pytest.raises(WorkflowTaskException) as caught:
        workflow.do_engine_steps()
    assert caught.value.error_type == "UnsafeExpression"
    # SpiffWorkflow keeps only the type for expressions; the reasons travel on the chained exception.
    assert "attribute access to '__class__' is not allowed" in str(caught.value.__context__)
    assert not workflow.is_completed()


# ---------------------------------------------------------------- every expression in a diagram

FULL_BPMN = b"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core" id="defs">
  <bpmn:process id="proc" isExecutable="true">
    <bpmn:scriptTask id="script_task">
      <bpmn:script>x = 1</bpmn:script>
    </bpmn:scriptTask>
    <bpmn:serviceTask id="service_task">
      <bpmn:extensionElements>
        <spiffworkflow:serviceTaskOperator id="police.request_check" resultVariable="r">
          <spiffworkflow:parameters>
            <spiffworkflow:parameter id="iin" type="str" value="applicant['iin']" />
            <spiffworkflow:parameter id="evil" type="str" value="__import__('os')" />
          </spiffworkflow:parameters>
        </spiffworkflow:serviceTaskOperator>
        <spiffworkflow:preScript>y = 2</spiffworkflow:preScript>
        <spiffworkflow:postScript>z = getattr(y, 'real')</spiffworkflow:postScript>
      </bpmn:extensionElements>
      <bpmn:multiInstanceLoopCharacteristics>
        <bpmn:loopCardinality>3</bpmn:loopCardinality>
      </bpmn:multiInstanceLoopCharacteristics>
    </bpmn:serviceTask>
    <bpmn:intermediateCatchEvent id="wait">
      <bpmn:timerEventDefinition id="TimerDef_1">
        <bpmn:timeDuration>"PT" + str(days * 24) + "H"</bpmn:timeDuration>
      </bpmn:timerEventDefinition>
    </bpmn:intermediateCatchEvent>
    <bpmn:boundaryEvent id="deadline" attachedToRef="service_task">
      <bpmn:timerEventDefinition><bpmn:timeDate>deadline_due(x)</bpmn:timeDate></bpmn:timerEventDefinition>
    </bpmn:boundaryEvent>
    <bpmn:sequenceFlow id="flow_ok" sourceRef="script_task" targetRef="service_task">
      <bpmn:conditionExpression>x == 1</bpmn:conditionExpression>
    </bpmn:sequenceFlow>
    <bpmn:subProcess id="sub">
      <bpmn:sequenceFlow id="inner_flow" sourceRef="a" targetRef="b">
        <bpmn:conditionExpression>y.__class__</bpmn:conditionExpression>
      </bpmn:sequenceFlow>
    </bpmn:subProcess>
  </bpmn:process>
</bpmn:definitions>
"""


def test_iter_bpmn_expressions_finds_every_kind():
    found = list(iter_bpmn_expressions(etree.fromstring(FULL_BPMN)))
    assert found == [
        ("script_task", "script", "x = 1", "exec"),
        ("service_task", "parameter:iin", "applicant['iin']", "eval"),
        ("service_task", "parameter:evil", "__import__('os')", "eval"),
        ("service_task", "preScript", "y = 2", "exec"),
        ("service_task", "postScript", "z = getattr(y, 'real')", "exec"),
        ("service_task", "loopCardinality", "3", "eval"),
        ("wait", "timeDuration", '"PT" + str(days * 24) + "H"', "eval"),
        ("deadline", "timeDate", "deadline_due(x)", "eval"),
        ("flow_ok", "conditionExpression", "x == 1", "eval"),
        ("inner_flow", "conditionExpression", "y.__class__", "eval"),
    ]


def test_deploy_style_check_of_a_diagram():
    tree = etree.ElementTree(etree.fromstring(FULL_BPMN))
    refused = {
        (element_id, kind): reasons
        for element_id, kind, source, mode in iter_bpmn_expressions(tree)
        if (reasons := check_expression(source, mode, ["deadline_due"]))
    }
    assert set(refused) == {
        ("service_task", "parameter:evil"),
        ("service_task", "postScript"),
        ("inner_flow", "conditionExpression"),
    }
    assert refused[("service_task", "postScript")] == ["call to 'getattr' is not allowed (line 1)"]
