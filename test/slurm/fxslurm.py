"""fxslurm: a private single-node Slurm for tests, and the commands to use it.

    with fxslurm.Slurm(conf={"MinJobAge": "2"}) as slurm:
        job = slurm.sbatch("#!/bin/bash\\necho hi > out.txt\\n")
        slurm.wait_state(job, fxslurm.FINISHED)

Slurm.up() runs test/slurm/slurm-up in a new folder under /tmp (munged wants
every folder above its socket executable by all, which pytest's tmp_path is
not); Slurm.down() runs slurm-down, which stops every daemon and job process
by pid. Every scheduler command runs with a timeout (a hung squeue or sacct
raises SlurmError, never hangs the test) and with slurm.env, which carries
SLURM_CONF. Waits poll the scheduler until a deadline stretched by
FX_TEST_SLOW. slurm_cluster() is the body of a pytest fixture (conftest.py
beside this file has one).
"""
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
from fxharness import wait_for  # noqa: E402  (the suite's one polling loop)
SLOW = max(1.0, float(os.environ.get("FX_TEST_SLOW", "1") or 1))

# Job states (squeue's %T and sacct's State): the ones a job leaves, and the
# ones it ends in.
ACTIVE = ("PENDING", "CONFIGURING", "RUNNING", "COMPLETING", "SUSPENDED",
          "REQUEUED", "RESIZING", "SIGNALING", "STAGE_OUT", "STOPPED")
FINISHED = ("COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL",
            "PREEMPTED", "BOOT_FAIL", "DEADLINE", "OUT_OF_MEMORY")


class SlurmError(RuntimeError):
    """A Slurm command failed, timed out, or the cluster would not start or stop."""


class Slurm:
    """One slurmctld + slurmd + munged in its own folder (see slurm-up)."""

    def __init__(self, root=None, conf=None, command_timeout=30.0):
        self.root = root
        self.conf = dict(conf or {})
        self.command_timeout = command_timeout * SLOW
        self.vars = {}
        self.env = None
        self.up_seconds = None
        self.down_messages = ""
        self._made_root = False
        self._script_count = 0

    # -- lifecycle -------------------------------------------------------

    def up(self):
        """Starts the cluster; returns self once the node is idle."""
        if self.root is None:
            self.root = tempfile.mkdtemp(prefix="fxslurm.", dir="/tmp")
            self._made_root = True
        argv = [os.path.join(HERE, "slurm-up"), self.root]
        argv += [f"{k}={v}" for k, v in self.conf.items()]
        env = _clean_env(os.environ)
        env["FXSLURM_UP_TIMEOUT"] = str(int(30 * SLOW))
        env["FXSLURM_WATCH_PID"] = str(os.getpid())
        started = time.monotonic()
        try:
            proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120 * SLOW)
        except subprocess.TimeoutExpired:
            self.down()  # slurm-up was killed before its own cleanup
            raise SlurmError(f"slurm-up {self.root} did not finish within {120 * SLOW:.0f}s") from None
        self.up_seconds = time.monotonic() - started
        if proc.returncode != 0:
            raise SlurmError(f"slurm-up {self.root} failed (exit {proc.returncode}):\n{proc.stderr}")
        for line in proc.stdout.splitlines():
            key, sep, value = line.partition("=")
            if sep:
                self.vars[key] = value
        env.update(self.vars)
        del env["FXSLURM_WATCH_PID"], env["FXSLURM_UP_TIMEOUT"]
        self.env = env
        return self

    def down(self):
        """Stops every process of this cluster (slurm-down); raises if one survived."""
        if self.root is None or not os.path.isdir(self.root):
            return
        proc = subprocess.run([os.path.join(HERE, "slurm-down"), self.root],
                              capture_output=True, text=True, timeout=120 * SLOW)
        self.down_messages = proc.stderr
        if proc.returncode != 0:
            raise SlurmError(f"slurm-down {self.root} failed (exit {proc.returncode}):\n{proc.stderr}")

    def close(self, keep=False):
        """down(), then removes the folder unless keep (or FXSLURM_KEEP=1)."""
        try:
            self.down()
        finally:
            if self._made_root and not keep and not os.environ.get("FXSLURM_KEEP"):
                shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self):
        return self.up()

    def __exit__(self, exc_type, exc, tb):
        self.close(keep=exc_type is not None)
        return False

    # -- paths -----------------------------------------------------------

    @property
    def conf_path(self):
        return self.vars["SLURM_CONF"]

    @property
    def node(self):
        return self.vars["FXSLURM_NODE"]

    @property
    def partition(self):
        return self.vars["FXSLURM_PARTITION"]

    @property
    def jobs_dir(self):
        """Where sbatch() writes scripts and jobs write their output by default."""
        return os.path.join(self.root, "jobs")

    def output_path(self, job_id):
        return os.path.join(self.jobs_dir, f"{job_id}.out")

    def output(self, job_id):
        """The job's stdout+stderr as written so far ('' if none yet)."""
        try:
            with open(self.output_path(job_id), errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def log_tail(self, lines=30):
        """The last lines of each daemon's log, for a failing test's message."""
        parts = []
        for name in ("slurmctld.log", "slurmd.log", "munged.log"):
            path = os.path.join(self.root, "log", name)
            try:
                with open(path, errors="replace") as f:
                    tail = f.readlines()[-lines:]
            except FileNotFoundError:
                continue
            parts.append(f"--- {path}\n" + "".join(tail))
        return "\n".join(parts)

    # -- commands --------------------------------------------------------

    def run(self, *argv, timeout=None, check=True):
        """Runs a Slurm command with this cluster's env; returns CompletedProcess."""
        if self.env is None:
            raise SlurmError("the cluster is not up")
        try:
            proc = subprocess.run(list(argv), env=self.env, capture_output=True, text=True,
                                  timeout=timeout or self.command_timeout, cwd=self.jobs_dir)
        except subprocess.TimeoutExpired as e:
            raise SlurmError(f"{' '.join(argv)} did not answer within {e.timeout}s") from None
        if check and proc.returncode != 0:
            raise SlurmError(f"{' '.join(argv)} failed (exit {proc.returncode}): {proc.stderr.strip()}")
        return proc

    def sbatch(self, script, *options):
        """Submits script (its text, or a path to it); returns the job id as a string.

        Output goes to jobs_dir/<id>.out and the job runs in jobs_dir unless
        options say otherwise (options come last, so they win)."""
        if os.path.exists(script):
            path = script
        else:
            self._script_count += 1
            path = os.path.join(self.jobs_dir, f"script-{self._script_count}.sh")
            with open(path, "w") as f:
                f.write(script)
        proc = self.run("sbatch", "--parsable", f"--chdir={self.jobs_dir}",
                        f"--output={self.jobs_dir}/%j.out", *options, path)
        return proc.stdout.strip().split(";")[0]

    def squeue(self, *job_ids, all_states=False):
        """{job id: state} from squeue; only jobs it still knows.

        Without all_states squeue lists only active jobs; with it, finished
        ones too until slurmctld purges them (MinJobAge plus its purge pass).
        Asking for one purged id makes squeue exit 1 ("Invalid job id
        specified"): that is read as an empty answer."""
        argv = ["squeue", "--noheader", "--format=%A %T"]
        if all_states:
            argv.append("--states=all")
        if job_ids:
            argv.append("--jobs=" + ",".join(job_ids))
        proc = self.run(*argv, check=False)
        if proc.returncode != 0:
            if "Invalid job id" in proc.stderr:
                return {}
            raise SlurmError(f"squeue failed (exit {proc.returncode}): {proc.stderr.strip()}")
        return dict(line.split(None, 1) for line in proc.stdout.splitlines() if line.strip())

    def scancel(self, *job_ids, signal=None):
        argv = ["scancel"] + ([f"--signal={signal}"] if signal else []) + list(job_ids)
        self.run(*argv)

    def sacct(self, *job_ids):
        """{job id: (state, exit code)} from the job completion log.

        There is no slurmdbd here, so plain sacct says "Slurm accounting
        storage is disabled"; `sacct --completion` reads JobCompLoc
        (jobcomp/filetxt) instead and knows every finished job, purged or not.
        A job appears there only once it has finished."""
        argv = ["sacct", "--completion", "--noheader", "--parsable2",
                "--format=JobID,State,ExitCode"]
        if job_ids:
            argv.append("--jobs=" + ",".join(job_ids))
        proc = self.run(*argv)
        result = {}
        for line in proc.stdout.splitlines():
            fields = line.split("|")
            if len(fields) >= 3:
                result[fields[0]] = (fields[1].split()[0], fields[2])
        return result

    def job_state(self, job_id):
        """The job's state as the provider would find it: squeue first, then
        the completion log for a job squeue has forgotten; None if neither knows it."""
        state = self.squeue(job_id, all_states=True).get(job_id)
        if state is None:
            state = self.sacct(job_id).get(job_id, (None,))[0]
        return state

    @contextlib.contextmanager
    def controller_paused(self):
        """SIGSTOPs slurmctld for the block (SIGCONT after): squeue, sbatch
        and scancel then hang until MessageTimeout (10 s) and fail with
        "Socket timed out", as on a cluster whose controller is overloaded.
        `sacct --completion` still answers (it reads the file itself)."""
        pid = self.daemon_pids()["slurmctld"]
        os.kill(pid, signal.SIGSTOP)
        try:
            yield
        finally:
            os.kill(pid, signal.SIGCONT)

    def daemon_pids(self):
        """{"munged": pid, "slurmctld": pid, "slurmd": pid} from DIR/pids."""
        with open(os.path.join(self.root, "pids")) as f:
            return {name: int(pid) for name, pid in (line.split() for line in f if line.strip())}

    def wait_state(self, job_id, states, timeout=30.0):
        """Polls until the job is in one of states; returns it, or raises on the deadline."""
        if isinstance(states, str):
            states = (states,)
        seen = [None]

        def reached():
            seen[0] = self.job_state(job_id)
            return seen[0] in states
        try:
            wait_for(reached, timeout * SLOW, f"job {job_id} to be {'/'.join(states)}")
        except TimeoutError as e:
            raise SlurmError(f"{e} (last state {seen[0]}); output:\n{self.output(job_id)}\n"
                             f"{self.log_tail(10)}") from None
        return seen[0]

    def wait_for(self, predicate, what, timeout=30.0):
        """Polls predicate() until true before the deadline (stretched by
        FX_TEST_SLOW); returns its value, raises TimeoutError naming `what`."""
        return wait_for(predicate, timeout * SLOW, what)


def slurm_cluster(request, conf=None):
    """For a pytest fixture (`yield from slurm_cluster(request)`): yields a
    started Slurm and stops it after; keeps its folder if a test failed
    meanwhile (request.session.testsfailed grew)."""
    failed_before = request.session.testsfailed
    cluster = Slurm(conf=conf)
    cluster.up()
    try:
        yield cluster
    finally:
        keep = request.session.testsfailed > failed_before
        if keep:
            print(f"\nfxslurm: keeping {cluster.root} (logs in {cluster.root}/log)", file=sys.stderr)
        cluster.close(keep=keep)
        if "SIGKILL" in cluster.down_messages:
            print(f"\nfxslurm: {cluster.down_messages}", file=sys.stderr)


def job_processes(slurm, job_id=None):
    """Pids of live processes that run inside a job of this cluster (their
    environment has its SLURM_CONF and, given job_id, SLURM_JOB_ID=job_id).
    Zombies are not counted."""
    conf = f"SLURM_CONF={slurm.conf_path}".encode()
    want = f"SLURM_JOB_ID={job_id}".encode() if job_id else b"SLURM_JOB_ID="
    pids = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                if f.read().rsplit(b")", 1)[1].split()[0] in (b"Z", b"X"):
                    continue
            with open(f"/proc/{name}/environ", "rb") as f:
                env = f.read().split(b"\0")
        except (OSError, IndexError):
            continue
        if conf in env and any(e == want or (job_id is None and e.startswith(want)) for e in env):
            pids.append(int(name))
    return pids


def _clean_env(environ):
    """The caller's environment without a surrounding Slurm's job variables
    (a test run inside a real job must not talk to that cluster)."""
    return {k: v for k, v in environ.items()
            if not (k.startswith("SLURM_") or k.startswith("SBATCH_") or k.startswith("SQUEUE_")
                    or k.startswith("SRUN_") or k.startswith("SACCT_") or k.startswith("FXSLURM_"))}
