"""Operators of the timer test diagrams (tests only)."""
from engine.operators import operator

notices = []


@operator("timer_test.notify")
def notify(ctx, what):
    if ctx.config.get("TIMER_TEST_NOTIFY_FAILS"):
        raise RuntimeError("the notification gateway is down")
    notices.append((what, ctx.instance_id))
    return {"what": what, "at": ctx.now().isoformat()}
