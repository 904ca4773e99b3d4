"""fx._fx without a broker: ids, keys, limits, the codec, decode errors."""
import os
import time

import pytest

import _fxtest
import fx
from fx import _fx


def test_new_id_is_canonical_and_fresh():
    ids = {fx.new_id() for _ in range(1000)}
    assert len(ids) == 1000
    for i in list(ids)[:10]:
        assert len(i) == fx.ID_LEN == 36
        assert fx.id_valid(i)
        assert i == i.lower() and i[14] == "4"
    assert not fx.id_valid("not-an-id")
    assert not fx.id_valid(fx.new_id().upper())
    assert not fx.id_valid(None)


def test_limits_match_the_header():
    assert fx.limits["BATCH_MAX"] == fx.BATCH_MAX == 4096
    assert fx.PAYLOAD_MAX == 10 * 1024 * 1024
    assert fx.limits["IDS_MAX"] == fx.BATCH_MAX
    assert fx.limits["PROTO_VERSION"] == 2
    assert _fx.E_NO_SESSION == 7 and _fx.errname(7) == "FX_E_NO_SESSION"
    assert "HELLO" in _fx.strerror(_fx.E_NO_SESSION)


def test_keypair():
    pub, sec = fx.keypair_new()
    assert len(pub) == len(sec) == fx.KEY_LEN
    assert fx.key_valid(pub) and fx.key_valid(sec) and pub != sec
    assert not fx.key_valid("short")


ALL = {
    "HELLO": {"client_id": fx.new_id(), "client_version": "0.1.0", "python_version": "3.11.2"},
    "WELCOME": {"id": fx.new_id(), "server_version": "0.1.0", "heartbeat_ms": 1000},
    "ERROR": {"code": _fx.E_NOT_FOUND, "text": "no such task"},
    "HEARTBEAT": {},
    "REGISTER_FUNCTION": {"function_id": fx.new_id(), "name": "f", "kind": _fx.FN_PYTHON,
                          "entry": "f", "body": b"def f(): return 1\n"},
    "FUNCTION_REGISTERED": {"function_id": fx.new_id()},
    "REGISTER_ENDPOINT": {"endpoint_id": fx.new_id(), "name": "laptop",
                          "public_key": fx.keypair_new()[0]},
    "ENDPOINT_REGISTERED": {"endpoint_id": fx.new_id()},
    "SUBMITTED": {"accepted": 3},
    "RESULTS_ACK": {"task_ids": [fx.new_id(), fx.new_id()]},
    "STATUS": {"task_ids": [fx.new_id()]},
    "FETCH": {"task_ids": [fx.new_id()]},
    "LIST": {"what": _fx.LIST_TASKS, "limit": 10},
    "CREDIT": {"window": 8},
    "CANCEL": {"task_ids": [fx.new_id(), fx.new_id()], "queued_only": 1},
    "ENDPOINT_STATUS": {"managers": 2, "workers": 8, "free": 3},
}


@pytest.mark.parametrize("type_", sorted(ALL))
def test_roundtrip_simple(type_):
    frames = _fx.encode(type_, 42, ALL[type_])
    t, seq, fields = _fx.decode(frames)
    assert (t, seq) == (type_, 42)
    for key, value in ALL[type_].items():
        assert fields[key] == value, key


def _sample(field, i):
    """A value for one field of the schema: the extremes of its range, its
    full capacity, a present and an absent optional."""
    kind = field["kind"]
    if kind in ("u8", "u16", "u32"):
        return field["max"] if i % 2 else field["min"]
    if kind == "str":
        return "s" * (field["max"] - 1) if i % 2 else ""
    if kind == "id":
        return fx.new_id()
    if kind == "id?":
        return fx.new_id() if i % 2 else ""
    if kind == "key":
        return fx.keypair_new()[0]
    if kind == "text":
        return "t" * 100 if i % 2 else None
    if kind == "frame":
        return bytes([i]) * (i + 3)
    if kind == "u64":
        return 2**64 - 1 - i
    if kind == "oid":
        return ("0123456789abcdef" * 3)[:40] if i % 2 else ""
    if kind == "times":
        return [1_700_000_000_000_000 + j for j in range(i + 2)] + [0, 2**64 - 1]
    record = field["record"]
    if len(record) == 1:                       # a record of one field: its bare value
        return [_sample(record[0], j) for j in range(2)]
    return [{f["name"]: _sample(f, j) for f in record} for j in range(2)]


@pytest.mark.parametrize("type_", range(1, _fx.MSG_TYPE_LAST + 1))
def test_every_field_of_every_message_roundtrips(type_):
    """The codec walks proto/fx_schema.h: whatever fields the schema gives a
    message, they come back as sent, under the SPEC's names."""
    fields = {}
    for f in _fx.schema(type_):
        if f["kind"] == "table":
            fields.update(columns=["a", "b"], rows=[["1", "2"], ["3", ""]])
        else:
            fields[f["name"]] = _sample(f, 1)
    name, seq, got = _fx.decode(_fx.encode(type_, 7, fields))
    assert (name, seq) == (_fx.msg_type_name(type_), 7)
    for key, value in fields.items():
        if isinstance(value, list) and value and isinstance(value[0], dict):
            # records come back with what was sent, plus derived names (error_name)
            assert [{k: r[k] for k in sent} for r, sent in zip(got[key], value)] == value, key
        else:
            assert got[key] == value, key
    assert "ids" not in got


def test_schema_names_are_the_specs():
    names = [f["name"] for f in _fx.schema("CANCEL")]
    assert names == ["task_ids", "queued_only"]
    (batch,) = _fx.schema("RESULTS_ACK")
    assert batch["name"] == "task_ids" and batch["max"] == fx.IDS_MAX
    assert [f["name"] for f in batch["record"]] == ["task_id"]


def test_roundtrip_batches():
    tasks = [{"task_id": fx.new_id(), "endpoint_id": fx.new_id(), "function_id": fx.new_id(),
              "py_version": "3.11.2", "serializer": "pickle", "walltime_ms": i,
              "retries": i % (_fx.RETRIES_MAX + 1), "payload": bytes([i]) * i} for i in range(50)]
    t, seq, fields = _fx.decode(_fx.encode("SUBMIT", 1, {"tasks": tasks}))
    assert t == "SUBMIT" and len(fields["tasks"]) == 50
    for sent, got in zip(tasks, fields["tasks"]):
        for key in sent:
            assert got[key] == sent[key]
    results = [{"task_id": fx.new_id(), "status": _fx.RESULT_EXCEPTION, "error_code": 0,
                "error_text": "ValueError: x", "value": b"v", "output": b"o"},
               {"task_id": fx.new_id(), "status": _fx.RESULT_ERROR,
                "error_code": _fx.E_VERSION_MISMATCH, "error_text": "3.9 vs 3.11",
                "value": b"", "output": b""}]
    t, seq, fields = _fx.decode(_fx.encode("RESULTS", 2, {"results": results}))
    assert fields["results"][0]["error_text"] == "ValueError: x"
    assert fields["results"][1]["error_name"] == "FX_E_VERSION_MISMATCH"
    table = {"columns": ["a", "b"], "rows": [["1", "2"], ["3", "4"]]}
    t, seq, fields = _fx.decode(_fx.encode("LIST_REPLY", 3, table))
    assert fields == table


def test_decode_garbage_raises_protocol_error():
    this, other = _fx.PROTO_VERSION, _fx.PROTO_VERSION + 1
    for frames in ([b"garbage"], [], [bytes([0x94, this, 0x63, 0x05, 0x90])], [bytes([0x94, other, 0x04, 0x05, 0x90])]):
        with pytest.raises(fx.ProtocolError) as info:
            _fx.decode(frames)
        e = info.value
        assert isinstance(e, fx.Error)
        assert e.name.startswith("FX_E_")
        assert str(e).startswith(_fx.strerror(e.code))
    with pytest.raises(fx.ProtocolError) as info:
        _fx.decode([bytes([0x94, _fx.PROTO_VERSION + 1, 0x04, 0x05, 0x90])])   # the next version
    assert info.value.name == "FX_E_VERSION"


def test_encode_refuses_over_limits():
    with pytest.raises(ValueError, match="limit"):
        _fx.encode("HELLO", 1, {"client_id": "x" * 100})
    with pytest.raises(ValueError, match="FX_PAYLOAD_MAX"):
        _fx.encode("REGISTER_FUNCTION", 1, {"body": b"x" * (fx.PAYLOAD_MAX + 1)})
    with pytest.raises(ValueError, match="task_ids.*limit is 4096"):
        _fx.encode("STATUS", 1, {"task_ids": [fx.new_id()] * (fx.IDS_MAX + 1)})
    with pytest.raises(TypeError):
        _fx.encode("CREDIT", 1, {"window": "many"})
    with pytest.raises(ValueError, match="unknown message type"):
        _fx.encode("NOPE", 1, {})
    with pytest.raises(ValueError, match="queued_only"):
        _fx.encode("CANCEL", 1, {"task_ids": [fx.new_id()], "queued_only": 2})
    with pytest.raises(ValueError, match="retries"):
        _fx.encode("SUBMIT", 1, {"tasks": [{"task_id": fx.new_id(), "function_id": fx.new_id(),
                                            "retries": _fx.RETRIES_MAX + 1}]})


def test_new_limits_exposed():
    assert _fx.RETRIES_DEFAULT == 2 and _fx.RETRIES_MAX == 100
    assert _fx.HEARTBEAT_MS_DEFAULT == 1000 and _fx.HEARTBEAT_MISSED_DEFAULT == 3
    assert _fx.E_CANCELLED == 21 and _fx.errname(_fx.E_CANCELLED) == "FX_E_CANCELLED"
    assert fx.limits["RETRIES_DEFAULT"] == 2


def test_connection_checks_keys_and_address():
    pub, sec = fx.keypair_new()
    with pytest.raises(ValueError, match="broker_public_key"):
        _fx.Connection("tcp://127.0.0.1:1", "bad", pub, sec)
    with pytest.raises(fx.Error, match="cannot connect"):
        _fx.Connection("nonsense", pub, pub, sec)


def test_connection_recv_times_out_and_wakes():
    pub, sec = fx.keypair_new()
    conn = _fx.Connection("tcp://127.0.0.1:1", pub, pub, sec)
    t0 = time.monotonic()
    assert conn.recv(200) is None
    assert 0.15 < time.monotonic() - t0 < 5
    r, w = os.pipe()
    os.write(w, b"x")
    t0 = time.monotonic()
    assert conn.recv(5000, r) is None          # woken by the pipe, not the timeout
    assert time.monotonic() - t0 < 2
    # A send with no peer is queued or refused, never blocks.
    assert conn.heartbeat(1) in (True, False)
    with pytest.raises(ValueError, match="FX_BATCH_MAX"):
        conn.submit(2, [])
    with pytest.raises(TypeError, match=r"payload\[, retries\]"):
        conn.submit(2, [("a",)])
    conn.reconnect()
    conn.close()
    assert conn.closed
    with pytest.raises(fx.Error, match="closed"):
        conn.recv(0)


def test_connection_and_server_talk():
    spub, ssec = fx.keypair_new()
    server = _fxtest.TestServer(spub, ssec)
    pub, sec = fx.keypair_new()
    conn = _fx.Connection(server.endpoint, spub, pub, sec)
    cid = fx.new_id()
    assert conn.hello(9, cid, "0.1.0", "3.11.2")
    rid, t, seq, fields, user = server.recv(5000)
    assert (t, seq, fields["client_id"]) == ("HELLO", 9, cid)
    server.send(rid, "WELCOME", 9, {"id": cid, "server_version": "x", "heartbeat_ms": 500})
    assert conn.recv(5000) == ("WELCOME", 9, {"id": cid, "server_version": "x",
                                              "heartbeat_ms": 500})
    task = (fx.new_id(), fx.new_id(), fx.new_id(), "3.11.2", "pickle", 0, b"payload")
    assert conn.submit(10, [task, task[:5] + (2500, b"p2", 7)])
    rid, t, seq, fields, user = server.recv(5000)
    assert t == "SUBMIT" and fields["tasks"][0]["payload"] == b"payload"
    assert fields["tasks"][0]["retries"] == _fx.RETRIES_DEFAULT      # 7-tuple: the default
    assert fields["tasks"][1]["retries"] == 7 and fields["tasks"][1]["walltime_ms"] == 2500
    with pytest.raises(ValueError, match="FX_RETRIES_MAX"):
        conn.submit(10, [task + (_fx.RETRIES_MAX + 1,)])
    ids = [fx.new_id(), fx.new_id()]
    assert conn.cancel(12, ids, True)
    assert server.recv(5000)[1:4] == ("CANCEL", 12, {"task_ids": ids, "queued_only": 1})
    assert conn.cancel(13, ids[:1])
    assert server.recv(5000)[1:4] == ("CANCEL", 13, {"task_ids": ids[:1], "queued_only": 0})
    with pytest.raises(TypeError, match="not one str"):
        conn.cancel(14, ids[0])
    assert conn.list(11, "endpoints", 5)
    assert server.recv(5000)[1:4] == ("LIST", 11, {"what": _fx.LIST_ENDPOINTS, "limit": 5, "state": "",
                                                   "endpoint_id": "", "function": "",
                                                   "since_ms": 0, "before": 0})
    server.send_raw(rid, [b"not msgpack"])
    with pytest.raises(fx.ProtocolError, match="malformed"):
        conn.recv(5000)
    conn.close()
    server.close()


def test_credentials_file(tmp_path):
    pub, sec = fx.keypair_new()
    bpub, _ = fx.keypair_new()
    uid = fx.new_id()
    path = tmp_path / "creds"
    path.write_text(f"# fx credentials\nbroker_client = tcp://127.0.0.1:5000\n"
                    f"broker_endpoint = tcp://127.0.0.1:5001\nbroker_public_key = {bpub}\n"
                    f"user_id = {uid}\npublic_key = {pub}\nsecret_key = {sec}\n")
    creds = fx.load_credentials(str(path))
    assert creds["user_id"] == uid and creds["secret_key"] == sec
    with pytest.raises(fx.Error):
        fx.load_credentials(str(tmp_path / "missing"))


def test_shell_function_local():
    sf = fx.ShellFunction("echo {0} {x}")
    r = sf("a b", x="$(id)")
    assert r.returncode == 0 and r.stdout == "a b $(id)\n"


def test_test_server_is_not_in_the_package():
    """The fake broker is a test-only module: the fx package a user
    installs has no TestServer, and _fxtest lives outside the package."""
    import pathlib
    assert not hasattr(_fx, "TestServer")
    package = pathlib.Path(fx.__file__).resolve().parent
    assert package not in pathlib.Path(_fxtest.__file__).resolve().parents
    assert not list(package.glob("_fxtest*"))
    server = _fxtest.TestServer(*fx.keypair_new())
    with pytest.raises(ValueError, match="task_ids.*limit is 4096"):     # fx._fx's codec checks the limits
        server.send(b"x", "STATUS", 1, {"task_ids": [fx.new_id()] * (fx.IDS_MAX + 1)})
    server.close()
    with pytest.raises(fx.Error, match="closed"):           # and its exceptions
        server.recv(0)


def test_new_ids_in_bulk():
    ids = _fx.new_ids(1000)
    assert len(set(ids)) == 1000
    assert all(fx.id_valid(i) and i[14] == "4" and i[19] in "89ab" for i in ids)
    assert _fx.new_ids(0) == [] and len(_fx.new_ids(1)) == 1
    with pytest.raises(ValueError):
        _fx.new_ids(-1)


def _talking_pair():
    spub, ssec = fx.keypair_new()
    server = _fxtest.TestServer(spub, ssec)
    pub, sec = fx.keypair_new()
    conn = _fx.Connection(server.endpoint, spub, pub, sec)
    assert conn.hello(1, fx.new_id(), "0.1.0", "3.11.2")
    rid = server.recv(5000)[0]
    return server, conn, rid


def test_submit_parts_fills_every_field_of_the_schema():
    server, conn, rid = _talking_pair()
    eid, fid, fid2 = fx.new_id(), fx.new_id(), fx.new_id()
    ids = _fx.new_ids(5)
    payloads = [bytes([i]) * i for i in range(5)]
    assert conn.submit_parts(7, [(eid, fid, "3.11.2", "pickle", ids[:3], payloads[:3],
                                  [0, 1, 2], [2, 1, 0]),
                                 (eid, fid2, "3.9.1", "other", ids[3:], payloads[3:], 2500, 9,
                                  "ab" * 20)])
    _, t, seq, fields, _ = server.recv(5000)
    assert (t, seq) == ("SUBMIT", 7)
    got = fields["tasks"]
    expect = [(ids[i], fid if i < 3 else fid2, "3.11.2" if i < 3 else "3.9.1",
               "pickle" if i < 3 else "other", [0, 1, 2, 2500, 2500][i], [2, 1, 0, 9, 9][i],
               payloads[i]) for i in range(5)]
    assert [(g["task_id"], g["function_id"], g["py_version"], g["serializer"], g["walltime_ms"],
             g["retries"], g["payload"]) for g in got] == expect
    names = {f["name"] for f in _fx.schema("SUBMIT")[0]["record"]}
    assert [g["function_version"] for g in got] == [""] * 3 + ["ab" * 20] * 2
    for g in got:      # what the client does not set is the zero value, the body empty
        assert set(g) == names
        assert (g["endpoint_id"], g["kind"], g["entry"], g["container"], g["attempt"],
                g["body"], g["dill_version"], g["times"]) == (eid, 0, "", "", 0, b"", "", [])
    for bad, what in [((eid, fid, "3", "p", ["nope"], [b""], 0, 0), "task_id"),
                      ((eid, "x", "3", "p", ids[:1], [b""], 0, 0), "function_id"),
                      ((eid, fid, "3", "p", ids[:1], [b""], 0, _fx.RETRIES_MAX + 1), "retries"),
                      ((eid, fid, "3", "p", ids[:1], [b""], -1, 0), "walltime_ms"),
                      ((eid, fid, "3" * 40, "p", ids[:1], [b""], 0, 0), "py_version"),
                      ((eid, fid, "3", "p", ids[:2], [b""], 0, 0), "differ in length"),
                      ((eid, fid, "3", "p", ids[:1], [b"x" * (fx.PAYLOAD_MAX + 1)], 0, 0),
                       "FX_PAYLOAD_MAX"),
                      ((eid, fid, "3", "p", ids[:1], [b""], 0, 0, "v1"), "function_version"),
                      ((eid, fid, "3", "p", ids[:1], [b""], 0, 0, "AB" * 20), "function_version")]:
        with pytest.raises(ValueError, match=what):
            conn.submit_parts(8, [bad])
    with pytest.raises(TypeError, match="bytes"):
        conn.submit_parts(8, [(eid, fid, "3", "p", ids[:1], ["str"], 0, 0)])
    with pytest.raises(ValueError, match="FX_BATCH_MAX"):
        conn.submit_parts(8, [])
    conn.close()
    server.close()


def test_take_wait_interrupt_and_ack_results():
    server, conn, rid = _talking_pair()
    assert conn.wait(50) == 0 and conn.take() is None             # nothing there: time up
    ids = _fx.new_ids(3)
    server.send(rid, "RESULTS", 0, {"results": [
        {"task_id": ids[0], "status": _fx.RESULT_OK, "value": b"v", "output": b"o"},
        {"task_id": ids[1], "status": _fx.RESULT_ERROR, "error_code": _fx.E_CANCELLED,
         "error_text": "cancelled", "value": b"", "output": b""},
        {"task_id": ids[2], "status": _fx.RESULT_EXCEPTION, "error_text": "E: x",
         "value": b"", "output": b""}]})
    server.send(rid, "HEARTBEAT", 0, {})
    assert conn.wait(5000) & 1                                    # the socket
    t, seq, results = conn.take()
    assert (t, seq) == ("RESULTS", 0)
    assert results == [(ids[0], 0, 0, None, b"v", b"o"),
                       (ids[1], 2, _fx.E_CANCELLED, "cancelled", b"", b""),
                       (ids[2], 1, 0, "E: x", b"", b"")]
    assert results[1].error_code == _fx.E_CANCELLED and isinstance(results[0], _fx.Result)
    assert conn.wait(5000) & 1                                    # the HEARTBEAT: it may
    assert conn.take() == ("HEARTBEAT", 0, {})                    # come a little later
    assert conn.ack_results(0, results)
    assert server.recv(5000)[1:4] == ("RESULTS_ACK", 0, {"task_ids": ids})
    conn.interrupt()
    assert conn.wait(5000) == 2                                   # woken, not timed out
    assert conn.wait(0) == 2                                      # until cleared
    conn.clear_interrupt()
    assert conn.wait(0) == 0
    r, w = os.pipe()
    os.write(w, b"x")
    assert conn.wait(5000, r) == 4
    conn.close()
    assert conn.wait(5000) == 2                                   # closed: never blocks
    server.close()
