"""Operators of the sample diagram (tests only; not a permit procedure)."""
from engine.operators import operator

calls = []


@operator("sample.collect", pure=True)
def collect(ctx, subject):
    calls.append(("collect", ctx.instance_id, subject))
    return {"subject": subject, "collected_at": ctx.now().isoformat()}


@operator("sample.score", pure=True)
def score(ctx, value):
    return int(value)


@operator("sample.record")
def record(ctx, decision):
    if ctx.config.get("SAMPLE_RECORD_FAILS"):
        raise RuntimeError("the records office is closed")
    return {"decision": decision}
