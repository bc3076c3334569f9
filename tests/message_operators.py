"""Operators and message starts of the message test diagrams (tests only; not a permit procedure)."""
from engine import messages
from engine.operators import operator

# How many times `msgtest.register` times out before it answers (tests set it).
register_timeouts = {"remaining": 0}
register_calls = []


@operator("msgtest.register", retry_on=(TimeoutError,), max_attempts=3, backoff_seconds=0.001)
def register(ctx, case_id):
    register_calls.append(case_id)
    if register_timeouts["remaining"] > 0:
        register_timeouts["remaining"] -= 1
        raise TimeoutError("the register did not answer in time")
    return {"case_id": case_id, "registered": True}


# An employment contract ended: revoke the permit it carried.
messages.start_on_message(
    "msgtest_contract_terminated", "message_revocation",
    lambda payload: {"permit_no": payload["permit_no"], "reason": "contract terminated"})
