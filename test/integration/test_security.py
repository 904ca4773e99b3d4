"""Only registered keys get in; a user reaches only their own endpoints."""
import os
import time

import pytest

import fx


def _creds_with_keys_of(base, other, path):
    """base's broker address and key, other's user keys: an unregistered client."""
    def read(p):
        return dict(line.split(" = ", 1) for line in open(p).read().splitlines() if " = " in line)
    b, o = read(base), read(other)
    b["public_key"], b["secret_key"], b["user_id"] = o["public_key"], o["secret_key"], o["user_id"]
    with open(path, "w") as f:
        f.write("".join(f"{k} = {v}\n" for k, v in b.items()))
    os.chmod(path, 0o600)
    return path


def test_unregistered_key_gets_clear_error_not_hang(federation, tmp_path):
    federation.start_broker()
    alice = federation.add_user("alice")
    # A user created in another broker's state: its key is unknown here.
    stranger = str(tmp_path / "stranger.creds")
    from fxharness import run_fx
    run_fx("user", "create", "stranger", "--state", str(tmp_path / "elsewhere"), "--out", stranger,
           "--client-addr", federation.client_addr, "--endpoint-addr", federation.endpoint_addr)
    creds = _creds_with_keys_of(alice, stranger, str(tmp_path / "mixed.creds"))
    start = time.monotonic()
    with pytest.raises(fx.ConnectionError) as info:
        client = fx.Client(credentials=creds, timeout=3)
        client.register_function(len)
    assert time.monotonic() - start < 30
    assert "did not answer" in str(info.value)


def test_user_cannot_submit_to_another_users_endpoint(federation):
    federation.start_broker()
    alice = federation.add_user("alice")
    bob = federation.add_user("bob")
    ep = federation.start_endpoint(alice, "alice-ep", managers=1, workers=1)
    with fx.Client(credentials=bob) as client:
        fid = client.register_function(abs)
        with pytest.raises(fx.FxError) as info:
            client.run(-1, endpoint_id=ep.endpoint_id, function_id=fid)
        assert ep.endpoint_id in str(info.value)
