"""fx-endpoint run from a config.yaml, as a user would: broken files fail with
the file, line and key; --log-file and --pid-file; allowed_functions; the local
provider replaces a manager killed with kill -9; min/max/idle scaling with
local blocks, through the real broker and Python client."""
import os
import signal
import subprocess
import time

import pytest

import fx
from fxharness import FX_BIN, Process, endpoint_dir, managers_of, wait_for

ENDPOINT = os.path.join(FX_BIN, "fx-endpoint")


def nap(x, seconds=0.5):
    import time
    time.sleep(seconds)
    return x


def other(x):
    return -x


# ---------------------------------------------------------------- helpers

def start_config_endpoint(fed, name, config, extra=(), epdir=None, env=None):
    """fx-endpoint --dir DIR, DIR/config.yaml holding config; or, with epdir,
    --config ROOT/NAME.yaml --dir epdir (made by fx-endpoint). The federation
    stops it like the others. Returns the Process with endpoint_id, stats_path."""
    if epdir is None:
        epdir = endpoint_dir(fed, name)
        os.makedirs(epdir, mode=0o700, exist_ok=True)
        path = os.path.join(epdir, "config.yaml")
        args = ["--dir", epdir]
    else:
        path = os.path.join(fed.root, f"{name}.yaml")
        args = ["--config", path, "--dir", epdir]
    with open(path, "w") as f:
        f.write(config)
    stats = os.path.join(fed.root, f"endpoint-{name}.stats")
    proc = Process(f"endpoint-{name}", [ENDPOINT, *args, "--heartbeat-ms", "200",
                                        "--stats-file", stats, *extra], fed.root, env=env)
    fed.processes.append(proc)
    m = proc.wait_ready(r"fx-endpoint: ready endpoint_id=([0-9a-f-]{36})", timeout=60)
    proc.endpoint_id = m.group(1)
    proc.stats_path = stats
    fed.endpoints.append(proc)
    return proc


def stats(proc):
    try:
        return fed_stats(proc.stats_path)
    except FileNotFoundError:
        return {}


def fed_stats(path):
    out = {}
    with open(path) as f:
        for line in f:
            if "=" in line and not line.startswith("#"):
                k, v = line.rstrip("\n").split("=", 1)
                out[k] = v
    return out


def stat(proc, key):
    return int(stats(proc).get(key, -1))


# ---------------------------------------------------------------- broken files

BROKEN = [
    ("bad YAML", "name: a\nprovider:\n  type: local\n   max_blocks: 2\n", "config.yaml:4:", "not valid YAML"),
    ("unknown key", "name: a\nprefech: 2\n", "config.yaml:2:1: prefech:", "unknown key; did you mean prefetch?"),
    ("wrong type", "provider:\n  type: local\n  max_blocks: two\n", "config.yaml:3:15: provider.max_blocks:",
     'expected a whole number from 0 to 1024, got "two"'),
    ("missing credentials file", "credentials: /nonexistent/alice.creds\n", "config.yaml:1:14: credentials:",
     "cannot read /nonexistent/alice.creds"),
    ("address no interface has", "address: 203.0.113.77\n", "config.yaml:1:10: address:",
     "no network interface of this machine has the address 203.0.113.77"),
    ("nested mistake", "containers:\n  torch:\n    runtime: apptainer\n    image: /x.sif\n    tempate: x\n",
     "config.yaml:5:5: containers.torch.tempate:", "did you mean template?"),
    ("missing provider type", "provider:\n  max_blocks: 2\n", "config.yaml:2:3: provider.type:", "missing"),
    ("option of another provider", "provider:\n  type: local\n  partition: debug\n",
     "config.yaml:3:3: provider.partition:", "not an option of provider local"),
    ("no credentials at all", "name: a\n", "config.yaml: credentials:", "missing"),
]


@pytest.mark.parametrize("what,text,where,says", BROKEN, ids=[b[0] for b in BROKEN])
def test_broken_config_names_file_line_and_key(tmp_path, what, text, where, says):
    path = tmp_path / "config.yaml"
    path.write_text(text)
    res = subprocess.run([ENDPOINT, "--config", str(path)], capture_output=True, text=True, timeout=30)
    assert res.returncode == 2, f"{what}: exit {res.returncode}: {res.stderr}"
    assert where in res.stderr and says in res.stderr, f"{what}: {res.stderr}"
    assert not os.path.exists(tmp_path / "endpoint.conf"), "nothing was started"


def test_help_says_flags_override_the_file():
    res = subprocess.run([ENDPOINT, "--help"], capture_output=True, text=True, timeout=30)
    assert res.returncode == 0
    assert "overrides the value the file gives" in res.stdout and "--log-file" in res.stdout


# ---------------------------------------------------------------- running from a config

def test_log_file_pid_file_and_parents_created(federation):
    fed = federation
    fed.start_broker()
    creds = fed.add_user("logs")
    log = os.path.join(fed.root, "logs", "endpoint.log")
    os.makedirs(os.path.dirname(log))
    pidfile = os.path.join(fed.root, "endpoint.pid")
    nested = os.path.join(fed.root, "home", "alice", ".fx", "endpoints", "logs")
    ep = start_config_endpoint(fed, "logs", f"credentials: {creds}\nworkers_per_node: 1\n",
                               extra=("--log-file", log, "--pid-file", pidfile), epdir=nested)
    assert os.stat(nested).st_mode & 0o777 == 0o700, "--dir and its missing parents are made, 0700"
    assert os.path.exists(os.path.join(nested, "endpoint.conf"))
    with open(pidfile) as f:
        assert int(f.read()) == ep.pid
    with fx.Client(credentials=creds) as client:
        fid = client.register_function(nap)
        assert client.get_result(client.run(3, 0, endpoint_id=ep.endpoint_id, function_id=fid), timeout=60) == 3
    text = open(log).read()
    assert "fx-endpoint[" in text and "configuration from" in text, text[-2000:]
    assert "fx-manager[" in text, "the managers' lines go to the log file too"
    assert ep.log_text().strip() == "", f"nothing on stderr: {ep.log_text()}"
    assert ep.stop() == 0
    assert not os.path.exists(pidfile), "the pid file is removed on exit"


def test_allowed_functions_refuse_another_function(federation):
    fed = federation
    fed.start_broker()
    creds = fed.add_user("allow")
    with fx.Client(credentials=creds) as client:
        good = client.register_function(nap)
        bad = client.register_function(other)
        ep = start_config_endpoint(fed, "allow", f"credentials: {creds}\nallowed_functions: [{good}]\n")
        assert client.get_result(client.run(5, 0, endpoint_id=ep.endpoint_id, function_id=good), timeout=60) == 5
        # The broker knows the list from the endpoint's hello: it refuses the
        # SUBMIT itself (SPEC 5.18), naming the function and the endpoint.
        with pytest.raises(fx.RequestError) as info:
            client.run(5, endpoint_id=ep.endpoint_id, function_id=bad)
        assert info.value.name == "FX_E_FORBIDDEN" and bad in str(info.value), str(info.value)
        assert ep.endpoint_id in str(info.value), str(info.value)


def test_local_provider_replaces_a_manager_killed_with_kill_9(federation):
    fed = federation
    fed.start_broker()
    creds = fed.add_user("kill")
    ep = start_config_endpoint(fed, "kill", f"credentials: {creds}\nworkers_per_node: 2\nprefetch: 0\n"
                               "provider: {type: local, init_blocks: 1, min_blocks: 1, max_blocks: 1}\n")
    first = wait_for(lambda: managers_of(fed, "kill"), 30, "the first manager")
    with fx.Client(credentials=creds) as client:
        fid = client.register_function(nap)
        tids = [client.run(i, 1.0, endpoint_id=ep.endpoint_id, function_id=fid) for i in range(6)]
        wait_for(lambda: stat(ep, "tasks_dispatched") >= 2, 30, "tasks at the manager")
        os.kill(first[0], signal.SIGKILL)
        replaced = wait_for(lambda: [p for p in managers_of(fed, "kill") if p not in first], 30,
                            "a new manager")
        assert [client.get_result(t, timeout=120) for t in tids] == list(range(6))
    assert len(replaced) == 1
    wait_for(lambda: stat(ep, "blocks_failed") == 1, 10, "the failed block in the stats file")
    assert stat(ep, "blocks_submitted") == 2
    assert "was killed by signal 9" in ep.log_text() and "failed: fx-manager pid" in ep.log_text()


def test_local_blocks_scale_out_and_in(federation):
    fed = federation
    fed.start_broker()
    creds = fed.add_user("scale")
    ep = start_config_endpoint(fed, "scale", f"credentials: {creds}\nworkers_per_node: 1\nprefetch: 0\n"
                               "idle_time: 2s\nprovider:\n  type: local\n  init_blocks: 0\n"
                               "  min_blocks: 0\n  max_blocks: 2\n")
    wait_for(lambda: stat(ep, "window_potential") == 2, 30, "the stats file")
    assert managers_of(fed, "scale") == [], "min_blocks 0, init_blocks 0: no block before tasks"
    seen = set()
    with fx.Client(credentials=creds) as client:
        fid = client.register_function(nap)
        tids = [client.run(i, 0.5, endpoint_id=ep.endpoint_id, function_id=fid) for i in range(10)]
        wait_for(lambda: seen.update(managers_of(fed, "scale")) or len(seen) >= 2, 60, "two blocks")
        assert [client.get_result(t, timeout=120) for t in tids] == list(range(10))
    assert len(managers_of(fed, "scale")) <= 2
    wait_for(lambda: managers_of(fed, "scale") == [], 30, "the blocks to end after idle_time")
    wait_for(lambda: stat(ep, "blocks_ended") == 2, 10, "both ends in the stats file (written every second)")
    s = stats(ep)
    assert int(s["blocks_submitted"]) == 2, s
    assert int(s["blocks_cancelled"]) == 2 and int(s["blocks_failed"]) == 0, s
    assert int(s["held_over_window"]) == 0 and int(s["max_held"]) <= int(s["window_at_max_held"]), s
    assert "scale out by 2 block(s) to 2" in ep.log_text() and "scale in: ending block" in ep.log_text()
