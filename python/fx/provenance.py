"""fx.provenance: what made a result (SPEC 12.6), as the broker's
PROVENANCE_REPLY records and as W3C PROV-JSON.

record() turns one provenance record into a dict with the stamps also by
event name (SPEC 12.5). prov_json() maps records onto PROV's three kinds:
entities (the function version, each task's arguments and result),
activities (each task's run), agents (the user, each endpoint), with the
relations between them (used, wasGeneratedBy, wasAssociatedWith,
wasAttributedTo, actedOnBehalfOf).
"""
import datetime

from . import _fx

__all__ = ["TIME_EVENTS", "record", "prov_json"]

# SPEC 12.5's stamps, by index.
TIME_EVENTS = ("client_sent", "broker_received", "broker_written", "broker_durable",
               "broker_dispatched", "ix_received", "ix_dispatched", "manager_received",
               "worker_started", "worker_finished", "manager_sent", "ix_result", "broker_result",
               "broker_result_durable", "broker_pushed", "client_received")

_STATES = {_fx.TASK_UNKNOWN: "UNKNOWN", _fx.TASK_QUEUED: "QUEUED",
           _fx.TASK_DISPATCHED: "DISPATCHED", _fx.TASK_DONE: "DONE",
           _fx.TASK_DELIVERED: "DELIVERED", _fx.TASK_FAILED: "FAILED"}


def record(fields):
    """A PROVENANCE_REPLY record as a dict, with state_name and
    times_named ({event: microseconds} for the stamps that are set)."""
    rec = dict(fields)
    times = list(rec.get("times") or [])
    rec["times"] = times
    rec["state_name"] = _STATES.get(rec.get("state"), "UNKNOWN")
    rec["times_named"] = {TIME_EVENTS[i]: t for i, t in enumerate(times)
                          if t and i < len(TIME_EVENTS)}
    return rec


def _when(us):
    """xsd:dateTime of wall-clock microseconds, or None."""
    if not us:
        return None
    return datetime.datetime.fromtimestamp(us / 1e6, datetime.timezone.utc).isoformat()


def prov_json(records, user_id=""):
    """One PROV-JSON document (https://www.w3.org/Submission/prov-json/)
    for these records (from record())."""
    doc = {"prefix": {"fx": "https://fx.invalid/ns#", "fxtask": "https://fx.invalid/task/",
                      "fxfn": "https://fx.invalid/function/",
                      "fxep": "https://fx.invalid/endpoint/",
                      "fxuser": "https://fx.invalid/user/"},
           "entity": {}, "activity": {}, "agent": {}, "used": {}, "wasGeneratedBy": {},
           "wasAssociatedWith": {}, "wasAttributedTo": {}, "actedOnBehalfOf": {}}
    user = f"fxuser:{user_id or 'unknown'}"
    doc["agent"][user] = {"prov:type": "prov:Person"}
    for n, rec in enumerate(records):
        task = rec["task_id"]
        run, args, result = f"fxtask:{task}", f"fxtask:{task}/arguments", f"fxtask:{task}/result"
        named = rec.get("times_named") or {}
        activity = {"prov:type": "fx:TaskRun", "fx:state": rec.get("state_name", ""),
                    "fx:attempt": rec.get("attempt", 0), "fx:host": rec.get("host", ""),
                    "fx:worker_pid": rec.get("worker_pid", 0),
                    "fx:worker_runtime": rec.get("worker_runtime", ""),
                    "fx:container": rec.get("container", ""),
                    "fx:image_digest": rec.get("image_digest", ""),
                    "fx:serializer": rec.get("serializer", ""),
                    "fx:py_version": rec.get("py_version", "")}
        start, end = _when(named.get("worker_started")), _when(named.get("worker_finished"))
        if start:
            activity["prov:startTime"] = start
        if end:
            activity["prov:endTime"] = end
        doc["activity"][run] = activity
        doc["entity"][args] = {"prov:type": "fx:Arguments"}
        doc["used"][f"_:u{n}a"] = {"prov:activity": run, "prov:entity": args}
        if rec.get("function_id"):
            fn = f"fxfn:{rec['function_id']}@{rec.get('function_version', '')}"
            doc["entity"].setdefault(fn, {
                "prov:type": "fx:FunctionVersion", "fx:function_id": rec["function_id"],
                "fx:version": rec.get("function_version", ""), "fx:commit": rec.get("commit", ""),
                "fx:dill_version": rec.get("dill_version", "")})
            doc["used"][f"_:u{n}f"] = {"prov:activity": run, "prov:entity": fn}
            doc["wasAttributedTo"][f"_:t{n}"] = {"prov:entity": fn, "prov:agent": user}
        if rec.get("state") in (_fx.TASK_DONE, _fx.TASK_DELIVERED, _fx.TASK_FAILED):
            doc["entity"][result] = {"prov:type": "fx:Result"}
            gen = {"prov:entity": result, "prov:activity": run}
            if end:
                gen["prov:time"] = end
            doc["wasGeneratedBy"][f"_:g{n}"] = gen
        doc["wasAssociatedWith"][f"_:w{n}u"] = {"prov:activity": run, "prov:agent": user}
        if rec.get("endpoint_id"):
            ep = f"fxep:{rec['endpoint_id']}"
            doc["agent"].setdefault(ep, {"prov:type": "prov:SoftwareAgent"})
            doc["wasAssociatedWith"][f"_:w{n}e"] = {"prov:activity": run, "prov:agent": ep}
            doc["actedOnBehalfOf"].setdefault(f"_:d{ep}", {"prov:delegate": ep,
                                                           "prov:responsible": user})
    return {k: v for k, v in doc.items() if v}
