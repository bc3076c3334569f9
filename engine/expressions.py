"""Expressions in diagrams are untrusted input: an AST allowlist at deploy, bounded evaluation at run time.

SpiffWorkflow evaluates gateway conditions, script tasks, timer expressions, service-task
parameters and pre/post scripts with plain `eval`/`exec`. Analysts upload diagrams, so:

* `check_expression` walks the parsed source and refuses anything outside a small allowlist
  (no imports, no dunder names, no private or unknown attributes, calls only to allowlisted
  functions and methods). Deploy runs it on every expression `iter_bpmn_expressions` yields.
* `SafeEnvironment` is the script-engine environment: it re-checks (cached), rewrites the AST so
  `**`, `*`, `+`, `%`, slices, calls and loops go through guards that bound exponent, sizes, steps
  and time (an allowlist cannot stop `9**9**9`), and runs the code with restricted builtins that
  task data cannot override.

Task data comes from JSON in the database, so it never holds callables; a data key starting with
`__` is refused. Defence in depth (an out-of-process runner, RLIMIT_AS) is still advisable.
"""
from __future__ import annotations

import ast
import builtins
import copy
import operator
import re
import time
import types
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Callable, Iterable, Iterator, Mapping

from SpiffWorkflow.bpmn.script_engine.python_environment import TaskDataEnvironment

__all__ = [
    "FORBIDDEN_NAMES",
    "SAFE_BUILTINS",
    "SAFE_FUNCTIONS",
    "SAFE_METHODS",
    "LimitExceeded",
    "SafeEnvironment",
    "UnsafeExpression",
    "EVALUATION_SITES",
    "check_expression",
    "check_evaluated",
    "iter_bpmn_expressions",
    "iter_spec_expressions",
    "literal_type_problem",
]

# Builtin functions an expression may call (host functions are added per environment).
SAFE_FUNCTIONS = frozenset({
    "len", "min", "max", "sum", "abs", "round", "int", "float", "str", "bool",
    "list", "dict", "set", "tuple", "sorted", "any", "all", "range", "enumerate", "zip",
})

# Method names an expression may use, on whatever object (str, list, dict in practice).
# `format`/`format_map` are absent: "{0.__class__}".format(x) reaches attributes by string.
SAFE_METHODS = frozenset({
    # dict
    "get", "keys", "values", "items", "setdefault", "pop", "update",
    # list
    "append", "insert", "remove", "count", "index", "sort", "reverse",
    # str
    "lower", "upper", "strip", "lstrip", "rstrip", "startswith", "endswith", "split", "rsplit",
    "splitlines", "join", "replace", "find", "rfind", "partition", "rpartition", "title",
    "capitalize", "casefold", "isdigit", "isdecimal", "isnumeric", "isalpha", "isalnum",
    "isspace", "islower", "isupper",
})

# Names refused anywhere, even as plain variables (they only exist to escape or to do I/O).
# (Other builtins are simply absent: a name like `id` or `format` can only be task data.)
FORBIDDEN_NAMES = frozenset({
    "exec", "eval", "compile", "open", "getattr", "setattr", "delattr", "hasattr", "globals",
    "locals", "vars", "dir", "type", "object", "super", "__import__", "breakpoint", "input",
    "help", "memoryview", "classmethod", "staticmethod",
})

MAX_SOURCE_CHARS = 100_000
MAX_FORMAT_NUMBER = 1_000
MAX_ROUND_DIGITS = 1_000
MAX_DEPTH = 200  # AST nesting; keeps the recursive check and rewrite far from the recursion limit


class UnsafeExpression(ValueError):
    """An expression refused by the allowlist, or data that would undermine it."""

    def __init__(self, reasons: str | Iterable[str]):
        self.reasons = [reasons] if isinstance(reasons, str) else list(reasons)
        # A string first argument: SpiffWorkflow builds its error text with `":" + err.args[0]`.
        super().__init__("; ".join(self.reasons))


class LimitExceeded(UnsafeExpression):
    """An expression that passed the allowlist but exceeded a run-time bound."""


def check_expression(source: str, mode: str = "eval", functions: Iterable[str] = ()) -> list[str]:
    """Reasons the source is refused (empty: allowed). `mode` is "eval" or "exec";
    `functions` names the host functions the environment provides besides SAFE_FUNCTIONS."""
    if mode not in ("eval", "exec"):
        raise ValueError(f"mode must be 'eval' or 'exec', not {mode!r}")
    return list(_check_cached(_normalise(source, mode), mode, frozenset(functions)))


class SafeEnvironment(TaskDataEnvironment):
    """A SpiffWorkflow script environment that refuses unsafe expressions and bounds the rest.

    Use as `PythonScriptEngine(environment=SafeEnvironment({"add_working_days": f}))`.
    `call_service` is left unimplemented: the application's script engine handles service tasks.
    """

    def __init__(
        self,
        functions: Mapping[str, Callable[..., Any]] | None = None,
        max_power: int = 10_000,
        max_size: int = 100_000,
        *,
        max_steps: int = 1_000_000,
        max_seconds: float = 2.0,
        max_total: int | None = None,
    ):
        super().__init__({})  # `self.globals` stays empty: functions are injected per run, below
        self.functions = dict(functions or {})
        for name in self.functions:
            _validate_function_name(name)
        self.function_names = frozenset(self.functions)
        self.limits = _Limits(
            max_power=max_power,
            max_size=max_size,
            max_steps=max_steps,
            max_seconds=max_seconds,
            max_total=max_total if max_total is not None else 100 * max_size,
        )
        self._builtins = dict(SAFE_BUILTINS, range=_bounded_range(max_size))
        # The builtins whose results are fresh copies: their sizes count against the budget.
        self._copying = frozenset(id(self._builtins[n]) for n in _COPYING_BUILTINS)
        # What every run injects besides its guards, built once.
        self._fixed_injected = {**{_BUILTIN.format(name): self._builtins[name] for name in SAFE_FUNCTIONS},
                                "__builtins__": self._builtins}
        self._code: dict[tuple[str, str], types.CodeType] = {}

    def evaluate(self, expression, context, external_context=None):
        """Evaluate an expression over task data; it cannot change the data (no mutating methods)."""
        code = self.compiled(expression, "eval")
        self._prepare_context(context)
        _refuse_dunder_keys(context, external_context)
        scope = {**(external_context or {}), **context}
        scope.update(self._injected(_Run(self)))  # last, so data cannot override them
        result = eval(code, scope)
        self._check_stored_size(result, "the result")
        return result

    def execute(self, script, context, external_context=None):
        """Run a script that changes `context` (task data) in place, as SpiffWorkflow expects.

        Functions, builtins and guards are removed afterwards, as are any callables, modules or
        iterators the script left behind. If the script fails, task data is restored as it was.
        """
        code = self.compiled(script, "exec")
        self._prepare_context(context)
        _refuse_dunder_keys(context, external_context)
        clashes = sorted(self.function_names.intersection(context))
        if clashes:  # the script runs in the data dict itself, so a clash would lose the data value
            raise UnsafeExpression([f"data key {k!r} would overwrite the function {k!r}" for k in clashes])
        snapshot = copy.deepcopy(context)
        added = {k: v for k, v in (external_context or {}).items() if k not in context}
        added.update(self._injected(_Run(self)))
        context.update(added)
        try:
            exec(code, context)
            for key in added:
                context.pop(key, None)
            for key in [k for k, v in context.items() if _is_not_data(v)]:
                context.pop(key)
            self._check_stored_size(context, "task data")
        except BaseException:
            context.clear()
            context.update(snapshot)
            raise
        return True

    def check(self, source: str, mode: str = "eval") -> list[str]:
        """`check_expression` with this environment's host functions allowed (for deploy)."""
        return check_expression(source, mode, self.function_names)

    def compiled(self, source: str, mode: str) -> types.CodeType:
        """The checked, guard-rewritten code object for a source (cached); raises UnsafeExpression."""
        key = (source, mode)
        code = self._code.get(key)
        if code is None:
            text = _normalise(source, mode)
            reasons = self.check(text, mode)
            if reasons:
                raise UnsafeExpression(reasons)
            tree = _Guarded().visit(ast.parse(text, "<string>", mode))
            # "<string>" is the filename SpiffWorkflow looks for to report the failing line.
            code = compile(ast.fix_missing_locations(tree), "<string>", mode)
            if len(self._code) >= 4096:
                self._code.clear()
            self._code[key] = code
        return code

    def _injected(self, run: _Run) -> dict[str, Any]:
        return {**self.functions, **run.guards(), **self._fixed_injected}

    def _check_stored_size(self, value, what: str) -> None:
        # Shared references ([x]*10 nested ten deep) are tiny in memory but explode in JSON.
        if _logical_size(value, self.limits.max_total) > self.limits.max_total:
            raise LimitExceeded(f"{what} would exceed {self.limits.max_total} items when stored")


def iter_bpmn_expressions(xml_root) -> Iterator[tuple[str, str, str, str]]:
    """Yield (element_id, kind, source, mode) for every Python expression or script in a BPMN tree.

    `xml_root` is an lxml element or tree. `kind` is the XML element's local name (e.g.
    "conditionExpression", "script", "timeDuration", "preScript"), or "parameter:<id>" for a
    service-task parameter; `element_id` is the flow element (task, event, flow) it belongs to.
    """
    root = xml_root.getroot() if hasattr(xml_root, "getroot") else xml_root
    for node in root.iter():
        tag = node.tag
        if not isinstance(tag, str):  # comments and processing instructions
            continue
        if tag in _BPMN_EXPRESSION_TAGS:
            kind, mode = _BPMN_EXPRESSION_TAGS[tag]
            yield _owner_id(node), kind, node.text or "", mode
        elif tag == _SPIFF_PARAMETER and node.get("value") is not None:
            yield _owner_id(node), f"parameter:{node.get('id', '')}", node.get("value"), "eval"


def iter_spec_expressions(process_specs) -> Iterator[tuple[str, str, str, str]]:
    """Yield (element_id, kind, source, mode) for every expression SpiffWorkflow will evaluate,
    read from the specs its parser built (not from the XML), so no site the parser knows is missed.

    `process_specs` are the parsed process specs (the top one and its subprocess specs).
    EVALUATION_SITES lists the places SpiffWorkflow evaluates diagram text; a test compares it
    with SpiffWorkflow's own source, so a new site fails it until it is read here.
    """
    for spec in process_specs:
        if isinstance(getattr(spec, "completion_condition", None), str):
            yield spec.name, "completionCondition", spec.completion_condition, "eval"
        for task_spec in spec.task_specs.values():
            yield from _task_spec_expressions(task_spec)


def literal_type_problem(kind: str, source: str) -> str | None:
    """A constant expression of the wrong type for its site (a list as a loop cardinality or a
    duration): refused at deploy, as it could only fail when run."""
    expected = _EXPECTED_TYPES.get(kind)
    if expected is None:
        return None
    try:
        value = ast.literal_eval(_normalise(source, "eval"))
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return None  # computed at run time: check_evaluated answers then
    return _type_problem(kind, value)


def check_evaluated(task_spec, expression: str, value) -> str | None:
    """Why the value an expression gave cannot be used where SpiffWorkflow uses it (None: it can).

    SpiffWorkflow feeds a loop cardinality to range() and a timer value to its ISO 8601 parser
    outside the script engine's error handling, so a wrong type there escapes as a plain
    TypeError. Called with the task spec whose expression was evaluated, right after evaluating
    it, this names the problem so the caller raises it as the task's error (an incident).
    """
    if expression is None:
        return None
    if getattr(task_spec, "cardinality", None) == expression:
        return _type_problem("loopCardinality", value)
    definitions = [getattr(task_spec, "event_definition", None)]
    definitions += list(getattr(definitions[0], "event_definitions", None) or [])
    for definition in definitions:
        kind = _TIMER_KINDS.get(type(definition).__name__)
        if kind is not None and getattr(definition, "expression", None) == expression:
            return _type_problem(kind, value)
    return None


# Where SpiffWorkflow 3.2.0 (its bpmn and spiff packages) evaluates or executes diagram text:
# (module, the expression it passes) -> what `iter_spec_expressions` reads for it.
EVALUATION_SITES = {
    ("bpmn/specs/bpmn_process_spec.py", "self.completion_condition"): "process spec completion_condition",
    ("bpmn/specs/bpmn_process_spec.py", "cond"): "gateway cond_task_specs, loop condition",
    ("bpmn/specs/bpmn_task_spec.py", "self.args[0]"): "gateway cond_task_specs",
    ("bpmn/specs/event_definitions/conditional.py", "self.expression"): "event_definition.expression",
    ("bpmn/specs/event_definitions/message.py", "prop.retrieval_expression"):
        "event_definition correlation_properties and process_correlations",
    ("bpmn/specs/event_definitions/timer.py", "self.expression"): "event_definition.expression",
    ("bpmn/specs/mixins/multiinstance_task.py", "self.condition"): "task condition",
    ("bpmn/specs/mixins/multiinstance_task.py", "self.cardinality"): "task cardinality",
    ("bpmn/specs/mixins/script_task.py", "self.script"): "task script",
    ("spiff/specs/event_definitions.py", "self.expression"): "event_definition.expression (payloads)",
    ("spiff/specs/mixins/service_task.py", "param['value']"): "task operation_params",
    ("spiff/specs/spiff_task.py", "script"): "task prescript and postscript",
}

_TASK_SPEC_SITES = {  # task spec attribute -> (kind, mode)
    "script": ("script", "exec"),
    "prescript": ("preScript", "exec"),
    "postscript": ("postScript", "exec"),
    "cardinality": ("loopCardinality", "eval"),
    "condition": ("loopCondition", "eval"),
}
_TIMER_KINDS = {"TimeDateEventDefinition": "timeDate", "DurationTimerEventDefinition": "timeDuration",
                "CycleTimerEventDefinition": "timeCycle"}
_EXPECTED_TYPES = {"loopCardinality": "a whole number", "timeDate": "text (ISO 8601)",
                   "timeDuration": "text (ISO 8601)", "timeCycle": "text (ISO 8601)"}


def _task_spec_expressions(task_spec) -> Iterator[tuple[str, str, str, str]]:
    owner = getattr(task_spec, "bpmn_id", None) or task_spec.name
    for attribute, (kind, mode) in _TASK_SPEC_SITES.items():
        source = getattr(task_spec, attribute, None)
        if isinstance(source, str):
            yield owner, kind, source, mode
    for condition, _ in getattr(task_spec, "cond_task_specs", None) or ():
        args = getattr(condition, "args", None) or ()
        if args and isinstance(args[0], str):
            yield owner, "conditionExpression", args[0], "eval"
    for name, param in (getattr(task_spec, "operation_params", None) or {}).items():
        if isinstance(param, dict) and isinstance(param.get("value"), str):
            yield owner, f"parameter:{name}", param["value"], "eval"
    yield from _event_expressions(owner, getattr(task_spec, "event_definition", None))


def _event_expressions(owner: str, definition) -> Iterator[tuple[str, str, str, str]]:
    if definition is None:
        return
    for inner in getattr(definition, "event_definitions", None) or ():
        yield from _event_expressions(owner, inner)
    source = getattr(definition, "expression", None)
    if isinstance(source, str):
        kind = _TIMER_KINDS.get(type(definition).__name__) or f"{type(definition).__name__} expression"
        yield owner, kind, source, "eval"
    for prop in [*(getattr(definition, "correlation_properties", None) or []),
                 *(getattr(definition, "process_correlations", None) or [])]:
        if isinstance(getattr(prop, "retrieval_expression", None), str):
            yield owner, "correlation", prop.retrieval_expression, "eval"


def _type_problem(kind: str, value) -> str | None:
    if kind == "loopCardinality":
        if isinstance(value, bool) or not isinstance(value, int):
            return f"loopCardinality must be a whole number, not {_type_name(value)}"
        if value < 0:
            return f"loopCardinality must be 0 or more, not {value}"
        return None  # the upper bound is ENGINE_MAX_CARDINALITY's (validation, the script engine)
    if kind in ("timeDate", "timeDuration", "timeCycle") and not isinstance(value, str):
        return f"{kind} must give text (ISO 8601), not {_type_name(value)}"
    return None


def _type_name(value) -> str:
    return {list: "a list", dict: "a mapping", tuple: "a tuple", set: "a set", str: "text",
            float: "a decimal number", bool: "true/false", type(None): "nothing (None)"}.get(
        type(value), type(value).__name__)


# ---------------------------------------------------------------- allowlist check

_ALLOWED_NODES = frozenset({
    ast.Expression, ast.Module, ast.Expr, ast.Constant, ast.Name, ast.Load, ast.Store, ast.Del,
    ast.BinOp, ast.UnaryOp, ast.BoolOp, ast.Compare, ast.IfExp, ast.Subscript, ast.Slice,
    ast.Attribute, ast.Call, ast.keyword, ast.List, ast.Tuple, ast.Dict, ast.Set, ast.ListComp,
    ast.SetComp, ast.DictComp, ast.GeneratorExp, ast.comprehension, ast.JoinedStr,
    ast.FormattedValue, ast.NamedExpr,
    ast.Add, ast.Sub, ast.Mult, ast.Div, ast.FloorDiv, ast.Mod, ast.Pow, ast.BitAnd, ast.BitOr,
    ast.BitXor, ast.RShift, ast.And, ast.Or, ast.Not, ast.USub, ast.UAdd, ast.Invert,
    ast.Eq, ast.NotEq, ast.Lt, ast.LtE, ast.Gt, ast.GtE, ast.Is, ast.IsNot, ast.In, ast.NotIn,
})
# Statements: loops are bounded at run time by the step and time limits.
_EXEC_ONLY_NODES = frozenset({
    ast.Assign, ast.AugAssign, ast.If, ast.For, ast.Pass, ast.Break, ast.Continue, ast.Delete,
    ast.Assert,
})

_REFUSED_NAMES = {
    ast.Lambda: "lambda", ast.FunctionDef: "function definition (def)",
    ast.AsyncFunctionDef: "function definition (async def)", ast.ClassDef: "class definition",
    ast.While: "while loop", ast.With: "with statement", ast.AsyncWith: "with statement",
    ast.Try: "try statement", ast.Raise: "raise", ast.Import: "import",
    ast.ImportFrom: "import", ast.Global: "global statement", ast.Nonlocal: "nonlocal statement",
    ast.Yield: "yield", ast.YieldFrom: "yield", ast.Await: "await", ast.Return: "return",
    ast.Starred: "starred expression (*)", ast.AnnAssign: "annotated assignment",
    ast.AsyncFor: "async for", ast.Match: "match statement", ast.LShift: "operator '<<'",
    ast.MatMult: "operator '@'",
}
if hasattr(ast, "TryStar"):
    _REFUSED_NAMES[ast.TryStar] = "try statement"

# Methods whose result can be far larger than their inputs: only direct calls, which are guarded.
_AMPLIFYING_METHODS = frozenset({"join", "replace"})
# Methods that change data: scripts only; conditions, timers and parameters must not.
_MUTATING_METHODS = frozenset({"append", "insert", "pop", "remove", "sort", "reverse", "setdefault", "update"})

_FORMAT_NUMBER = re.compile(r"\d+")


@lru_cache(maxsize=4096)
def _check_cached(source: str, mode: str, functions: frozenset[str]) -> tuple[str, ...]:
    if len(source) > MAX_SOURCE_CHARS:
        return (f"source longer than {MAX_SOURCE_CHARS} characters is not allowed",)
    try:
        tree = ast.parse(source, "<string>", mode)
    except SyntaxError as err:
        return (f"syntax error at line {err.lineno}: {err.msg}",)
    except (RecursionError, MemoryError):  # the parser's own nesting limits
        return ("expression is nested too deeply",)
    except ValueError as err:  # e.g. null bytes
        return (f"source cannot be parsed: {err}",)
    checker = _Checker(mode, SAFE_FUNCTIONS | functions)
    checker.visit(tree)
    return tuple(dict.fromkeys(checker.reasons))  # de-duplicated, in source order


class _Checker(ast.NodeVisitor):
    """Collects a reason for every construct outside the allowlist."""

    def __init__(self, mode: str, functions: frozenset[str]):
        self.allowed = _ALLOWED_NODES | (_EXEC_ONLY_NODES if mode == "exec" else frozenset())
        self.mode = mode
        self.functions = functions
        self.reasons: list[str] = []
        self.line = 1
        self.depth = 0
        self.callable_ok: set[int] = set()  # ids of nodes in a call's function or argument position
        self.slice_ok: set[int] = set()  # ids of Slice nodes directly under a Subscript

    def refuse(self, what: str) -> None:
        self.reasons.append(f"{what} (line {self.line})")

    def visit(self, node):
        self.line = getattr(node, "lineno", self.line)
        if type(node) not in self.allowed:
            name = _REFUSED_NAMES.get(type(node), type(node).__name__)
            self.refuse(f"{name} is not allowed")
            return  # its insides would only add noise
        if self.depth >= MAX_DEPTH:
            self.refuse(f"expression nested more than {MAX_DEPTH} levels deep is not allowed")
            return
        self.depth += 1
        try:
            super().visit(node)
        finally:
            self.depth -= 1

    def visit_Name(self, node: ast.Name):
        if node.id.startswith("__") or node.id in FORBIDDEN_NAMES:
            self.refuse(f"name {node.id!r} is not allowed")
        elif not isinstance(node.ctx, ast.Load) and node.id in self.functions:
            self.refuse(f"assignment to {node.id!r} is not allowed")
        elif node.id in self.functions and id(node) not in self.callable_ok:
            self.refuse(f"function {node.id!r} may only be called or passed to a call")

    def visit_Attribute(self, node: ast.Attribute):
        if node.attr.startswith("_") or node.attr not in SAFE_METHODS:
            self.refuse(f"attribute access to {node.attr!r} is not allowed")
        elif not isinstance(node.ctx, ast.Load):
            self.refuse(f"attribute assignment to {node.attr!r} is not allowed")
        elif id(node) not in self.callable_ok:
            how = "called directly" if node.attr in _AMPLIFYING_METHODS else "called or passed to a call"
            self.refuse(f"method {node.attr!r} may only be {how}")
        elif self.mode == "eval" and node.attr in _MUTATING_METHODS:
            self.refuse(f"method {node.attr!r} changes data and is only allowed in scripts")
        if isinstance(node.value, ast.Name):
            self.callable_ok.add(id(node.value))  # `str.lower`, `dict.get(d, k)`
        self.visit(node.value)

    def visit_Call(self, node: ast.Call):
        func = node.func
        if isinstance(func, ast.Name):
            if func.id in self.functions or func.id.startswith("__"):
                self.callable_ok.add(id(func))
                self.visit(func)  # "name '__import__' is not allowed"
            else:
                self.refuse(f"call to {func.id!r} is not allowed")
        elif isinstance(func, ast.Attribute):
            self.callable_ok.add(id(func))
            self.visit(func)
        else:
            self.refuse("call of a computed value is not allowed")
            self.visit(func)
        for arg in node.args:
            if isinstance(arg, ast.Starred):
                self.refuse("starred argument (*) is not allowed")
                continue
            self._allow_as_argument(arg)
            self.visit(arg)
        for kw in node.keywords:
            if kw.arg is None:
                self.refuse("keyword unpacking (**) is not allowed")
                continue
            if kw.arg.startswith("__"):
                self.refuse(f"keyword argument {kw.arg!r} is not allowed")
            self._allow_as_argument(kw.value)
            self.visit(kw.value)

    def _allow_as_argument(self, arg: ast.AST) -> None:
        # `sorted(x, key=len)` / `max(d, key=d.get)`; amplifying methods must be called directly.
        if isinstance(arg, ast.Name) or (
            isinstance(arg, ast.Attribute) and arg.attr not in _AMPLIFYING_METHODS
        ):
            self.callable_ok.add(id(arg))

    def visit_Subscript(self, node: ast.Subscript):
        if isinstance(node.slice, ast.Slice):
            if not isinstance(node.ctx, ast.Load):
                self.refuse("slice assignment is not allowed")
            self.slice_ok.add(id(node.slice))
        self.generic_visit(node)

    def visit_Slice(self, node: ast.Slice):
        if id(node) not in self.slice_ok:
            self.refuse("multi-dimensional slice is not allowed")
        self.generic_visit(node)

    def visit_Dict(self, node: ast.Dict):
        if any(key is None for key in node.keys):
            self.refuse("dict unpacking (**) is not allowed")
        self.generic_visit(node)

    def visit_Constant(self, node: ast.Constant):
        if isinstance(node.value, bytes):  # bytes.replace/join would dodge the str guards
            self.refuse("bytes literal is not allowed")

    def visit_FormattedValue(self, node: ast.FormattedValue):
        self.visit(node.value)
        spec = node.format_spec
        if spec is None:
            return
        if not all(isinstance(v, ast.Constant) for v in spec.values):
            self.refuse("computed format spec in an f-string is not allowed")
            return
        text = "".join(str(v.value) for v in spec.values)
        if any(int(n) > MAX_FORMAT_NUMBER for n in _FORMAT_NUMBER.findall(text)):
            self.refuse(f"f-string format width or precision above {MAX_FORMAT_NUMBER} is not allowed")

    def visit_comprehension(self, node: ast.comprehension):
        if node.is_async:
            self.refuse("async comprehension is not allowed")
        self.generic_visit(node)


def _normalise(source: str | None, mode: str) -> str:
    # `eval` itself skips leading blanks; BPMN text often carries newlines around a condition.
    source = source or ""
    return source.strip() if mode == "eval" else source


def _validate_function_name(name: str) -> None:
    if not name.isidentifier() or name.startswith("_") or name in FORBIDDEN_NAMES:
        raise ValueError(f"host function name {name!r} is not allowed")
    if name in SAFE_FUNCTIONS:
        raise ValueError(f"host function {name!r} would shadow a safe builtin")


# ---------------------------------------------------------------- guarded rewrite

_BINOP_GUARDS = {ast.Add: "add", ast.Mult: "mul", ast.Pow: "pow", ast.Mod: "mod"}
_AUG_SYMBOLS = {ast.Add: "+", ast.Mult: "*", ast.Pow: "**", ast.Mod: "%"}
_GUARD = "__guard_{}__"  # dunder: user code cannot name, assign or shadow these
_BUILTIN = "__builtin_{}__"
_GUARD_NAMES = tuple((_GUARD.format(name), name)
                     for name in ("tick", "add", "mul", "pow", "mod", "iop", "call", "slice", "format"))


def _guard_call(name: str, args: list[ast.expr], like: ast.AST) -> ast.Call:
    call = ast.Call(func=ast.Name(id=_GUARD.format(name), ctx=ast.Load()), args=args, keywords=[])
    return ast.copy_location(call, like)


class _Guarded(ast.NodeTransformer):
    """Routes size-sensitive operations, calls, slices and loop iterations through `_Run`."""

    def visit_BinOp(self, node: ast.BinOp):
        self.generic_visit(node)
        guard = _BINOP_GUARDS.get(type(node.op))
        return _guard_call(guard, [node.left, node.right], node) if guard else node

    def visit_AugAssign(self, node: ast.AugAssign):
        self.generic_visit(node)
        symbol = _AUG_SYMBOLS.get(type(node.op))
        if symbol is None:
            return node
        # `t op= v` -> `t = iop(op, t, v)`; subexpressions of a subscript target run twice.
        current = copy.deepcopy(node.target)
        current.ctx = ast.Load()
        value = _guard_call("iop", [ast.Constant(symbol), current, node.value], node)
        return ast.copy_location(ast.Assign(targets=[node.target], value=value), node)

    def visit_Call(self, node: ast.Call):
        self.generic_visit(node)
        if isinstance(node.func, ast.Name) and node.func.id in SAFE_FUNCTIONS:
            # `len(x)` is always the builtin, even when task data has a key "len".
            node.func = ast.copy_location(ast.Name(id=_BUILTIN.format(node.func.id), ctx=ast.Load()), node.func)
        call = _guard_call("call", [node.func, *node.args], node)
        call.keywords = node.keywords
        return call

    def visit_Subscript(self, node: ast.Subscript):
        self.generic_visit(node)
        if isinstance(node.ctx, ast.Load) and isinstance(node.slice, ast.Slice):
            s = node.slice
            parts = [p if p is not None else ast.Constant(None) for p in (s.lower, s.upper, s.step)]
            return _guard_call("slice", [node.value, *parts], node)
        return node

    def visit_For(self, node: ast.For):
        self.generic_visit(node)
        node.body.insert(0, ast.copy_location(ast.Expr(_guard_call("tick", [], node)), node))
        return node

    def visit_comprehension(self, node: ast.comprehension):
        self.generic_visit(node)
        node.ifs.insert(0, _guard_call("tick", [], node.iter))  # before the filters: every item counts
        return node

    def visit_FormattedValue(self, node: ast.FormattedValue):
        # Only the value: the format spec must stay a constant JoinedStr.
        node.value = _guard_call("format", [self.visit(node.value)], node)
        return node


# ---------------------------------------------------------------- run-time guards

@dataclass(frozen=True)
class _Limits:
    max_power: int
    max_size: int  # items of a str/list/dict/..., or bits of an int
    max_steps: int
    max_seconds: float
    max_total: int  # items allocated by one evaluation, summed


_SIZED = (str, list, tuple, dict, set, frozenset)
_SEQUENCES = (str, list, tuple)
_COPYING_BUILTINS = ("list", "tuple", "set", "dict", "sorted", "str")
_IN_PLACE = {"+": operator.iadd, "*": operator.imul, "**": operator.ipow, "%": operator.imod}


class _Run:
    """One evaluation's budget, and the guarded operations its rewritten code calls."""

    def __init__(self, env: SafeEnvironment):
        self.limits = env.limits
        self.copying = env._copying
        self.str_ = env._builtins["str"]
        self.steps = 0
        self.allocated = 0
        self.deadline = time.monotonic() + env.limits.max_seconds

    def guards(self) -> dict[str, Callable[..., Any]]:
        return {guard: getattr(self, name) for guard, name in _GUARD_NAMES}

    def tick(self) -> bool:
        self.steps += 1
        if self.steps > self.limits.max_steps:
            raise LimitExceeded(f"more than {self.limits.max_steps} loop iterations")
        if time.monotonic() > self.deadline:
            raise LimitExceeded(f"ran longer than {self.limits.max_seconds} seconds")
        return True

    def add(self, a, b):
        self._check_add(a, b)
        return a + b

    def mul(self, a, b):
        self._check_mul(a, b)
        return a * b

    def pow(self, a, b):
        self._check_pow(a, b)
        return self._check_int(a ** b)

    def mod(self, a, b):
        self._check_mod(a)
        return a % b

    def iop(self, symbol: str, a, b):
        if symbol == "+" and isinstance(a, list):  # list += any iterable, extends in place
            if not hasattr(b, "__len__"):
                b = list(b)  # a generator: its own loop is already bounded by ticks
            self._allocate(len(a) + len(b))
        elif symbol == "+":
            self._check_add(a, b)
        elif symbol == "*":
            self._check_mul(a, b)
        elif symbol == "**":
            self._check_pow(a, b)
        else:
            self._check_mod(a)
        return self._check_int(_IN_PLACE[symbol](a, b))

    def call(self, func, /, *args, **kwargs):
        receiver, rest = _str_receiver(func, args)
        name = getattr(func, "__name__", None)
        if receiver is not None and name == "join" and len(rest) == 1 and not kwargs:
            return self._join(receiver, rest[0])
        if receiver is not None and name == "replace" and 2 <= len(rest) <= 3 and not kwargs:
            return self._replace(receiver, *rest)
        if func is self.str_ and args:
            self.format(args[0])
        result = func(*args, **kwargs)
        if receiver is not None or id(func) in self.copying:
            self.account(result)
        return result

    def slice(self, value, lower, upper, step):
        return self.account(value[lower:upper:step])

    def format(self, value):
        """Before a value is turned into text: its repr counts every shared reference."""
        self._allocate(_logical_size(value, self.limits.max_size))
        return value

    def account(self, value):
        if isinstance(value, _SIZED):
            self._allocate(len(value))
        return value

    def _allocate(self, size: int) -> None:
        if size > self.limits.max_size:
            raise LimitExceeded(f"a value exceeds the size limit of {self.limits.max_size} items")
        self.allocated += size
        if self.allocated > self.limits.max_total:
            raise LimitExceeded(f"more than {self.limits.max_total} items allocated in total")

    def _check_add(self, a, b) -> None:
        if isinstance(a, _SEQUENCES) and isinstance(b, _SEQUENCES):
            self._allocate(len(a) + len(b))

    def _check_mul(self, a, b) -> None:
        if isinstance(a, int) and isinstance(b, int):
            if a.bit_length() + b.bit_length() > self.limits.max_size:
                raise LimitExceeded(f"integer product exceeds {self.limits.max_size} bits")
        elif isinstance(a, _SEQUENCES) and isinstance(b, int):
            self._allocate(len(a) * max(b, 0))
        elif isinstance(a, int) and isinstance(b, _SEQUENCES):
            self._allocate(len(b) * max(a, 0))

    def _check_pow(self, base, exponent) -> None:
        if isinstance(base, int) and isinstance(exponent, int) and exponent > 0:
            if exponent > self.limits.max_power:
                raise LimitExceeded(f"exponent exceeds the limit of {self.limits.max_power}")
            if (abs(base).bit_length() - 1) * exponent > self.limits.max_size:
                raise LimitExceeded(f"power exceeds {self.limits.max_size} bits")

    def _check_int(self, value):
        if isinstance(value, int) and value.bit_length() > self.limits.max_size:
            raise LimitExceeded(f"integer exceeds {self.limits.max_size} bits")
        return value

    @staticmethod
    def _check_mod(a) -> None:
        if isinstance(a, str):  # '%*d' % (10**9, 1): width from data; f-strings are checked instead
            raise UnsafeExpression("string %-formatting is not allowed; use an f-string")

    def _join(self, sep: str, iterable) -> str:
        items = list(iterable)
        if all(isinstance(i, str) for i in items):
            self._allocate(sum(map(len, items)) + len(sep) * max(len(items) - 1, 0))
        return sep.join(items)

    def _replace(self, text: str, old, new, count=-1) -> str:
        if isinstance(old, str) and isinstance(new, str) and isinstance(count, int):
            hits = text.count(old)
            if count >= 0:
                hits = min(hits, count)
            self._allocate(len(text) + hits * max(len(new) - len(old), 0))
        return text.replace(old, new, count)


def _str_receiver(func, args: tuple) -> tuple[str | None, tuple]:
    """The string a str method works on (`s.join(x)` or `str.join(s, x)`), and its other arguments."""
    owner = getattr(func, "__self__", None)
    if isinstance(owner, str):
        return owner, args
    if getattr(func, "__objclass__", None) is str and args and isinstance(args[0], str):
        return args[0], args[1:]
    return None, args


def _bounded_range(max_size: int) -> Callable[..., range]:
    def range_(*args):
        r = range(*args)
        try:
            size = len(r)
        except OverflowError:  # longer than sys.maxsize
            size = max_size + 1
        if size > max_size:
            raise LimitExceeded(f"range of more than {max_size} items")
        return r

    range_.__name__ = "range"
    return range_


def _safe_sum(iterable, /, start=0):
    # sum(lists, []) concatenates quadratically without passing the size guards.
    if not isinstance(start, (int, float, complex)):
        raise TypeError("sum() only adds numbers")
    return sum(iterable, start)


def _safe_round(number, ndigits=None):
    # round(1, -10**9) computes 10**(10**9) internally.
    if isinstance(ndigits, int) and abs(ndigits) > MAX_ROUND_DIGITS:
        raise LimitExceeded(f"round() to more than {MAX_ROUND_DIGITS} digits")
    return round(number) if ndigits is None else round(number, ndigits)


# The only builtins expression code sees (`range` is re-bounded per environment).
SAFE_BUILTINS: Mapping[str, Any] = types.MappingProxyType({
    **{name: getattr(builtins, name) for name in SAFE_FUNCTIONS},
    "range": _bounded_range(100_000),
    "sum": _safe_sum,
    "round": _safe_round,
})


def _refuse_dunder_keys(context: Mapping, external_context: Mapping | None) -> None:
    for data in (context, external_context or {}):
        for key in data:
            if isinstance(key, str) and key.startswith("__"):
                raise UnsafeExpression(f"data key {key!r} is not allowed")


def _logical_size(value, cap: int) -> int:
    """Characters and items in value, counting a shared reference each time it occurs, as JSON
    or repr would; stops once the count passes cap. Each distinct container is walked once (its
    size is remembered), so `[[0] * 100000] * 100000` costs 200,000 steps, not 10**10."""
    sizes: dict[int, int] = {}
    stack: list[tuple[Any, list | None]] = [(value, None)]  # (item, its children once walked)
    while stack:
        item, children = stack.pop()
        if isinstance(item, str):
            sizes[id(item)] = len(item)
            continue
        if not isinstance(item, (dict, list, tuple, set, frozenset)):
            sizes[id(item)] = 1
            continue
        own = 1 + (2 * len(item) if isinstance(item, dict) else len(item))
        if children is not None:  # its insides are measured: add them up
            total = own
            for child in children:
                total += len(child) if isinstance(child, str) else sizes.get(id(child), 1)
                if total > cap:
                    break
            sizes[id(item)] = min(total, cap + 1)
            continue
        if id(item) in sizes:
            continue
        if own > cap:
            sizes[id(item)] = cap + 1
            continue
        sizes[id(item)] = cap + 1  # a container met again while measuring its insides is a cycle
        children = [*item.keys(), *item.values()] if isinstance(item, dict) else list(item)
        stack.append((item, children))
        stack.extend((child, None) for child in children
                     if isinstance(child, (dict, list, tuple, set, frozenset)) and id(child) not in sizes)
    return len(value) if isinstance(value, str) else sizes[id(value)]


def _is_not_data(value) -> bool:
    # What a script may leave behind that is not JSON data: functions, modules, lazy iterators.
    return callable(value) or isinstance(value, types.ModuleType) or hasattr(type(value), "__next__")


# ---------------------------------------------------------------- BPMN walk

_BPMN = "{http://www.omg.org/spec/BPMN/20100524/MODEL}"
_SPIFF = "{http://spiffworkflow.org/bpmn/schema/1.0/core}"
_BPMN_EXPRESSION_TAGS = {
    _BPMN + "conditionExpression": ("conditionExpression", "eval"),
    _BPMN + "script": ("script", "exec"),
    _BPMN + "timeDate": ("timeDate", "eval"),
    _BPMN + "timeDuration": ("timeDuration", "eval"),
    _BPMN + "timeCycle": ("timeCycle", "eval"),
    _BPMN + "condition": ("condition", "eval"),  # conditional events
    _BPMN + "loopCardinality": ("loopCardinality", "eval"),
    _BPMN + "completionCondition": ("completionCondition", "eval"),
    _BPMN + "loopCondition": ("loopCondition", "eval"),
    _BPMN + "messagePath": ("messagePath", "eval"),  # correlation retrieval expressions
    _SPIFF + "preScript": ("preScript", "exec"),
    _SPIFF + "postScript": ("postScript", "exec"),
    _SPIFF + "messagePayload": ("messagePayload", "eval"),
    _SPIFF + "payloadExpression": ("payloadExpression", "eval"),  # signals, errors, escalations
    _SPIFF + "expression": ("correlation", "eval"),  # processVariableCorrelation
    _BPMN + "formalExpression": ("formalExpression", "eval"),
}
_SPIFF_PARAMETER = _SPIFF + "parameter"
_CONTAINERS = frozenset(
    _BPMN + name for name in ("process", "subProcess", "adHocSubProcess", "transaction", "definitions")
)


def _owner_id(node) -> str:
    """The id of the flow element (task, event, flow, ...) that holds an expression node."""
    nearest = None
    current = node.getparent()
    while current is not None:
        if nearest is None and current.get("id"):
            nearest = current.get("id")
        parent = current.getparent()
        if parent is None or parent.tag in _CONTAINERS:
            return current.get("id") or nearest or ""
        current = parent
    return nearest or ""
