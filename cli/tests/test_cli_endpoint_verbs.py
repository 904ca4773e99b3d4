"""`fx endpoint configure / start / stop / list / logs` on this machine,
without a broker or against a scripted one (test_cli.Scripted). A running
endpoint is played by a process whose argv[0] is fx-endpoint (a Python that
execs sleep under that name), which is what fx checks before it trusts a
pid; failures of start run the real fx-endpoint beside fx. The whole round
trip with a real broker is test/integration/test_cli_endpoint.py."""
import os
import re
import signal
import stat
import subprocess
import sys
import time

import pytest

import fx
from test_cli import FX, Scripted, _creds_file, run

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "test", "integration"))
from fxharness import wait_for  # noqa: E402

BIN = os.environ.get("FX_BIN_DIR", "")


def fx_env(home, **extra):
    env = dict(os.environ, FX_HOME=str(home))
    env.pop("FX_CREDS", None)
    env.update(extra)
    return env


def fxh(home, *args, timeout=60, **extra):
    return subprocess.run([FX, *args], capture_output=True, text=True, timeout=timeout,
                          env=fx_env(home, **extra))


def alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except OSError:
        return False


class StandIn:
    """A process that fx takes for a running fx-endpoint: argv[0] is
    fx-endpoint. With lock, it holds an flock on DIR/endpoint.lock instead
    as well as (or instead of) being named in the pid file; with
    ignore_term, SIGTERM does not end it."""

    def __init__(self, epdir, lock=False, ignore_term=False, pid_file=True):
        # the lock is taken by this very process (as fx-endpoint takes it),
        # so /proc/locks names its pid; SIG_IGN survives the exec
        code = ("import fcntl, os, signal, sys\n"
                "if sys.argv[2] == '1': signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
                "if sys.argv[3] == '1':\n"
                "    fd = os.open(sys.argv[1] + '/endpoint.lock', os.O_RDWR | os.O_CREAT, 0o600)\n"
                "    fcntl.flock(fd, fcntl.LOCK_EX)\n"
                "    os.set_inheritable(fd, True)\n"
                "os.execv('/bin/sleep', ['fx-endpoint', '120'])\n")
        self.proc = subprocess.Popen(["/usr/bin/python3", "-c", code, str(epdir), str(int(ignore_term)),
                                      str(int(lock))], start_new_session=True)
        self.pid = self.proc.pid
        wait_for(lambda: _argv0(self.pid) == "fx-endpoint", 10, "the stand-in's exec")
        if lock:
            wait_for(lambda: str(self.pid) in open("/proc/locks").read(), 10, "the stand-in's lock")
        if pid_file:
            with open(os.path.join(epdir, "endpoint.pid"), "w") as f:
                f.write(f"{self.pid}\n")

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)


def _argv0(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return os.path.basename(f.read().split(b"\0")[0].decode())
    except OSError:
        return None


@pytest.fixture
def home(tmp_path):
    return tmp_path / "fxhome"


def configure(home, name="laptop", *args, creds=None):
    if creds is None:
        creds = home.parent / "alice.creds"
        if not creds.exists():
            creds.write_text("placeholder\n")
    r = fxh(home, "endpoint", "configure", name, "--creds", str(creds), *args)
    assert r.returncode == 0, r.stderr
    return home / "endpoints" / name


# ---------------------------------------------------------------- configure

def test_configure_writes_a_commented_config(home):
    r = fxh(home, "endpoint", "configure", "laptop")
    assert r.returncode == 0, r.stderr
    epdir = home / "endpoints" / "laptop"
    config = epdir / "config.yaml"
    assert f"wrote {config}" in r.stdout and "fx endpoint start laptop --detach" in r.stdout
    # no credentials yet: said, with the command that makes them
    assert f"{home}/credentials cannot be read yet" in r.stdout and "fx user create" in r.stdout
    for d in (home, home / "endpoints", epdir):
        assert stat.S_IMODE(os.stat(d).st_mode) == 0o700, d
    text = config.read_text()
    assert 'name: "laptop"' in text and f'credentials: "{home}/credentials"' in text
    assert "\nprovider:\n  type: local" in text and "#  type: slurm" in text
    for key in ("address", "workers_per_node", "prefetch", "heartbeat_period", "heartbeat_threshold",
                "idle_time", "stop_grace", "partition", "account", "walltime", "nodes_per_block",
                "init_blocks", "min_blocks", "max_blocks", "launcher", "scheduler_options",
                "worker_init", "cmd_timeout", "containers", "allowed_functions", "queue",
                "cpus_per_node"):
        assert key in text, key


def test_configure_refuses_to_overwrite_without_force(home, tmp_path):
    creds = tmp_path / "c.creds"
    creds.write_text("x\n")
    epdir = configure(home, creds=creds)
    config = epdir / "config.yaml"
    config.write_text(config.read_text() + "# mine\n")
    r = fxh(home, "endpoint", "configure", "laptop")
    assert r.returncode == 1 and "exists already" in r.stderr and "--force" in r.stderr
    assert config.read_text().endswith("# mine\n")
    r = fxh(home, "endpoint", "configure", "laptop", "--force", "--creds", str(creds))
    assert r.returncode == 0, r.stderr
    assert not config.read_text().endswith("# mine\n")
    assert "cannot be read yet" not in r.stdout


def test_configure_dir_creds_env_and_names(home, tmp_path):
    creds = tmp_path / "bob.creds"
    creds.write_text("x\n")
    where = tmp_path / "a" / "b" / "cluster"
    r = fxh(home, "endpoint", "configure", "cluster", "--dir", str(where), FX_CREDS=str(creds))
    assert r.returncode == 0, r.stderr
    assert f'credentials: "{creds}"' in (where / "config.yaml").read_text()
    assert f"fx endpoint start cluster --dir {where} --detach" in r.stdout
    assert not (home / "endpoints").exists()
    # a relative --creds is made absolute
    r = subprocess.run([FX, "endpoint", "configure", "rel", "--creds", "bob.creds"], capture_output=True,
                       text=True, cwd=tmp_path, env=fx_env(home))
    assert r.returncode == 0, r.stderr
    assert f'credentials: "{creds}"' in (home / "endpoints" / "rel" / "config.yaml").read_text()
    for bad in ("../x", ".hidden", "a/b", "-x", "x" * 65, "sp ace"):
        r = fxh(home, "endpoint", "configure", "--", bad)
        assert r.returncode == 2 and "not an endpoint name" in r.stderr, bad


# ---------------------------------------------------------------- start

def test_start_without_config_says_configure(home):
    r = fxh(home, "endpoint", "start", "nope", "--detach")
    assert r.returncode == 1
    assert "no endpoint named nope" in r.stderr and "fx endpoint configure nope" in r.stderr


def test_start_with_a_broken_config_prints_the_line(home):
    epdir = configure(home)
    config = epdir / "config.yaml"
    config.write_text(config.read_text().replace("max_blocks: 1 ", "max_blocks: two "))
    r = fxh(home, "endpoint", "start", "laptop", "--detach")
    assert r.returncode == 1
    assert "did not start: fx-endpoint exited with status 2" in r.stderr
    assert re.search(r"config.yaml:\d+:\d+: provider.max_blocks: expected a whole number", r.stderr), r.stderr
    assert not (epdir / "endpoint.pid").exists()


def test_start_gives_up_on_a_silent_broker(home, tmp_path):
    creds = _creds_file(tmp_path, "tcp://127.0.0.1:9", fx.keypair_new()[0])
    epdir = configure(home, creds=creds)
    t0 = time.monotonic()
    r = fxh(home, "endpoint", "start", "laptop", "--detach", "--wait", "1")
    assert r.returncode == 1
    assert time.monotonic() - t0 < 20
    assert "did not say it was ready within 1 s, so fx stopped it" in r.stderr
    assert "--wait SECONDS waits longer" in r.stderr
    st = fxh(home, "endpoint", "list", "--timeout", "1")
    assert re.search(r"^laptop\s+\S+\s+stopped\s", st.stdout, re.M), st.stdout
    log = (epdir / "endpoint.log").read_text()
    assert "fx endpoint start --detach: starting fx-endpoint" in log


def test_start_refuses_a_running_endpoint(home):
    epdir = configure(home)
    s = StandIn(epdir)
    try:
        r = fxh(home, "endpoint", "start", "laptop")
        assert r.returncode == 1 and f"running already (pid {s.pid})" in r.stderr
        assert "fx endpoint stop laptop" in r.stderr
    finally:
        s.close()


# ---------------------------------------------------------------- stop

def test_stop_sends_sigterm_and_waits(home):
    epdir = configure(home)
    s = StandIn(epdir)
    try:
        r = fxh(home, "endpoint", "stop", "laptop")
        assert r.returncode == 0, r.stderr
        assert f"stopping endpoint laptop (pid {s.pid}): waiting up to 25 s" in r.stdout
        assert "stops its managers" in r.stdout and "endpoint laptop stopped" in r.stdout
        assert s.proc.wait(5) == -signal.SIGTERM
    finally:
        s.close()


def test_stop_finds_the_lock_holder_without_a_pid_file(home):
    epdir = configure(home)
    s = StandIn(epdir, lock=True, pid_file=False)
    try:
        r = fxh(home, "endpoint", "list", "--timeout", "1")
        assert re.search(rf"^laptop\s+-\s+running\s+{s.pid}\s", r.stdout, re.M), r.stdout
        r = fxh(home, "endpoint", "stop", "laptop")
        assert r.returncode == 0 and "endpoint laptop stopped" in r.stdout, r.stderr
    finally:
        s.close()


def test_stop_with_a_deadline_says_what_to_do(home):
    epdir = configure(home)
    s = StandIn(epdir, ignore_term=True)
    try:
        r = fxh(home, "endpoint", "stop", "laptop", "--wait", "1")
        assert r.returncode == 1
        assert f"(pid {s.pid}) is still running after 1 s" in r.stderr
        assert "`fx endpoint stop laptop` again" in r.stderr
        assert alive(s.pid)
    finally:
        s.close()


def test_stop_when_not_running(home):
    epdir = configure(home)
    r = fxh(home, "endpoint", "stop", "laptop")
    assert r.returncode == 0 and "endpoint laptop is not running" in r.stdout
    # after kill -9 the pid file stays, naming a dead pid
    dead = subprocess.Popen(["true"])
    dead.wait()
    (epdir / "endpoint.pid").write_text(f"{dead.pid}\n")
    r = fxh(home, "endpoint", "stop", "laptop")
    assert r.returncode == 0 and f"its last run (pid {dead.pid}) ended without cleaning up" in r.stdout
    # a pid file naming a live process that is not fx-endpoint is not trusted
    (epdir / "endpoint.pid").write_text(f"{os.getpid()}\n")
    r = fxh(home, "endpoint", "stop", "laptop")
    assert r.returncode == 0 and "not running" in r.stdout
    r = fxh(home, "endpoint", "stop", "ghost")
    assert r.returncode == 1 and "no endpoint named ghost" in r.stderr


# ---------------------------------------------------------------- list

def test_list_without_endpoints(home):
    r = fxh(home, "endpoint", "list")
    assert r.returncode == 0 and "no endpoints in" in r.stdout and "fx endpoint configure" in r.stdout


def test_list_shows_local_state_and_the_brokers_view(home, tmp_path):
    on_id, off_id = fx.new_id(), fx.new_id()
    columns = ["id", "name", "status", "last_seen", "queued", "managers", "workers"]
    rows = [[on_id, "gpu", "online", "2026-11-27T10:00:00Z", "4", "2", "16"],
            [off_id, "laptop", "offline", "2026-11-26T09:00:00Z", "0", "0", "0"]]
    broker = Scripted(endpoints=(columns, rows))
    stand_ins = []
    try:
        creds = _creds_file(tmp_path, broker.server.endpoint, broker.pub)
        for name, eid in (("gpu", on_id), ("laptop", off_id), ("old", fx.new_id())):
            epdir = configure(home, name, creds=creds)
            (epdir / "endpoint.conf").write_text(f"endpoint_id = {eid}\nname = {name}\n")
        for name in ("gpu", "laptop"):
            epdir = home / "endpoints" / name
            stand_ins.append(StandIn(epdir))
            (epdir / "endpoint.stats").write_text(
                "blocks_active=1\nblocks_connected=1\nscaling_last=scale out by 1 block(s) to 1: reasons\n")
        configure(home, "fresh", creds=creds)
        r = fxh(home, "endpoint", "list")
        assert r.returncode == 0, r.stderr
        lines = r.stdout.splitlines()
        assert lines[0].split() == ["NAME", "ID", "STATE", "PID", "BROKER", "MANAGERS", "WORKERS",
                                    "QUEUED", "BLOCKS", "LAST_SCALING"]
        by_name = {line.split()[0]: line for line in lines[1:]}
        assert by_name["gpu"].split()[:9] == ["gpu", on_id, "running", str(stand_ins[0].pid), "online", "2",
                                              "16", "4", "1"]
        assert by_name["gpu"].endswith("scale out by 1 block(s) to 1: reasons")
        # running here, but the broker has no session with it
        assert by_name["laptop"].split()[2:5] == ["disconnected", str(stand_ins[1].pid), "offline"]
        assert by_name["old"].split()[2:5] == ["stopped", "-", "not"]      # "not registered"
        assert by_name["fresh"].split()[1:4] == ["-", "never", "started"]
    finally:
        for s in stand_ins:
            s.close()
        broker.close()


def test_list_says_broker_unreachable(home, tmp_path):
    creds = _creds_file(tmp_path, "tcp://127.0.0.1:9", fx.keypair_new()[0])
    epdir = configure(home, creds=creds)
    (epdir / "endpoint.conf").write_text(f"endpoint_id = {fx.new_id()}\nname = laptop\n")
    s = StandIn(epdir)
    try:
        t0 = time.monotonic()
        r = fxh(home, "endpoint", "list", "--timeout", "1")
        assert r.returncode == 0, r.stderr
        assert time.monotonic() - t0 < 10
        assert re.search(rf"^laptop\s+\S+\s+running\s+{s.pid}\s+unreachable\s", r.stdout, re.M), r.stdout
        assert "note: laptop: broker unreachable: broker at tcp://127.0.0.1:9 did not answer" in r.stdout
    finally:
        s.close()


def test_list_notes_a_broken_config(home):
    epdir = configure(home)
    (epdir / "config.yaml").write_text("prefech: 2\n")
    r = fxh(home, "endpoint", "list")
    assert r.returncode == 0
    assert "note: laptop: its config does not load:" in r.stdout and "did you mean prefetch?" in r.stdout


# ---------------------------------------------------------------- logs

def test_logs_prints_and_tails(home):
    epdir = configure(home)
    r = fxh(home, "endpoint", "logs", "laptop")
    assert r.returncode == 1 and "has no log yet" in r.stderr and "--detach" in r.stderr
    (epdir / "endpoint.log").write_text("".join(f"line {i}\n" for i in range(1, 101)))
    r = fxh(home, "endpoint", "logs", "laptop")
    assert r.returncode == 0 and r.stdout.splitlines()[0] == "line 1" and len(r.stdout.splitlines()) == 100
    r = fxh(home, "endpoint", "logs", "laptop", "-n", "3")
    assert r.stdout == "line 98\nline 99\nline 100\n"
    with open(epdir / "endpoint.log", "a") as f:
        f.write("no newline at the end")
    r = fxh(home, "endpoint", "logs", "laptop", "--lines", "2")
    assert r.stdout == "line 100\nno newline at the end"
    r = fxh(home, "endpoint", "logs", "ghost")
    assert r.returncode == 1 and "no endpoint named ghost" in r.stderr


def test_logs_follow_until_interrupted(home):
    epdir = configure(home)
    log = epdir / "endpoint.log"
    log.write_text("first\n")
    p = subprocess.Popen([FX, "endpoint", "logs", "laptop", "-f"], stdout=subprocess.PIPE, text=True,
                         env=fx_env(home))
    try:
        assert p.stdout.readline() == "first\n"
        with open(log, "a") as f:
            f.write("second\n")
        assert p.stdout.readline() == "second\n"
        # replaced (as a rotation does): read from the new file's start
        tmp = epdir / "endpoint.log.new"
        tmp.write_text("rotated\n")
        os.rename(tmp, log)
        assert p.stdout.readline() == "rotated\n"
        p.send_signal(signal.SIGINT)
        assert p.wait(10) == 0
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
