"""Smoke test of the private Slurm (slurm-up/slurm-down, fxslurm.py) and a
record of what the endpoint's slurm provider can rely on here:

- sbatch/squeue/scancel on a single node started by slurm-up;
- sacct without slurmdbd: plain sacct refuses ("accounting storage is
  disabled"); `sacct --completion` reads jobcomp/filetxt and knows every
  finished job, also after squeue has forgotten it;
- srun inside a batch job (one task per node), --nodes=1 --ntasks-per-node=1;
- a job asking for more nodes than exist stays PENDING (PartitionNodeLimit);
- with slurmctld stopped (SIGSTOP), squeue hangs (until MessageTimeout)
  while `sacct --completion` still answers;
- slurm-down leaves no daemon and no job process behind, even after the
  daemons were killed with SIGKILL under a running job; and slurm-up's
  watchdog runs it for a test process killed before its teardown.

Run: /usr/bin/python3 -m pytest -q test/slurm (see README.md there).
"""
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import fxslurm
from fxslurm import FINISHED, SlurmError, job_processes


def test_node_is_idle_after_up(slurm):
    out = slurm.run("sinfo", "--noheader", "--format=%n %T %c").stdout.split()
    assert out[0] == slurm.node and out[1] == "idle", out
    print(f"\nslurm-up took {slurm.up_seconds:.2f}s (node {slurm.node}, {out[2]} CPUs)")


def test_two_line_job_writes_a_file_and_is_seen_in_squeue(slurm):
    # Submitted held, so squeue is sure to see it before it runs.
    job = slurm.sbatch("#!/bin/bash\necho \"job $SLURM_JOB_ID on $(hostname -s)\" > two-line.txt\n", "--hold")
    assert slurm.squeue(job) == {job: "PENDING"}
    slurm.run("scontrol", "release", job)
    assert slurm.wait_state(job, FINISHED) == "COMPLETED"
    with open(os.path.join(slurm.jobs_dir, "two-line.txt")) as f:
        assert f.read() == f"job {job} on {slurm.node}\n"
    # squeue without --states lists active jobs only; --states=all still has it.
    assert job not in slurm.squeue()
    assert slurm.squeue(job, all_states=True) == {job: "COMPLETED"}


def test_turnaround_of_a_short_job(slurm):
    started = time.monotonic()
    job = slurm.sbatch("#!/bin/bash\ntrue\n")
    assert slurm.wait_state(job, FINISHED) == "COMPLETED"
    print(f"\nsubmit to COMPLETED: {time.monotonic() - started:.2f}s")


def test_long_job_is_cancelled_and_its_processes_end(slurm):
    job = slurm.sbatch("#!/bin/bash\nsleep 300\n")
    assert slurm.wait_state(job, "RUNNING") == "RUNNING"
    slurm.wait_for(lambda: job_processes(slurm, job), f"job {job}'s processes")
    started = time.monotonic()
    slurm.scancel(job)
    assert slurm.wait_state(job, FINISHED) == "CANCELLED"
    slurm.wait_for(lambda: not job_processes(slurm, job), f"job {job}'s processes to end")
    print(f"\nscancel to CANCELLED and no process left: {time.monotonic() - started:.2f}s")
    assert "CANCELLED" in slurm.output(job)


def test_sacct_needs_the_completion_log_here(slurm):
    ok = slurm.sbatch("#!/bin/bash\ntrue\n")
    failed = slurm.sbatch("#!/bin/bash\nexit 3\n")
    cancelled = slurm.sbatch("#!/bin/bash\nsleep 300\n", "--hold")
    slurm.scancel(cancelled)
    for job in (ok, failed, cancelled):
        slurm.wait_state(job, FINISHED)
    # No slurmdbd: plain sacct refuses.
    plain = slurm.run("sacct", "--noheader", "--jobs=" + ok, check=False)
    assert plain.returncode != 0 and "accounting storage is disabled" in plain.stderr, plain
    # jobcomp/filetxt: sacct --completion knows each finished job and how it ended.
    assert slurm.sacct(ok, failed, cancelled) == {
        ok: ("COMPLETED", "0:0"), failed: ("FAILED", "3:0"), cancelled: ("CANCELLED", "0:0")}
    # An active job is not in the completion log.
    running = slurm.sbatch("#!/bin/bash\nsleep 300\n", "--hold")
    assert slurm.sacct(running) == {}
    slurm.scancel(running)


def test_sacct_answers_after_squeue_forgot_the_job(slurm):
    # conftest sets MinJobAge=2; slurmctld's purge pass then drops the job
    # within about 10 s and `squeue --jobs=ID` exits 1 (read as {}).
    job = slurm.sbatch("#!/bin/bash\ntrue\n")
    slurm.wait_state(job, FINISHED)
    finished = time.monotonic()
    slurm.wait_for(lambda: slurm.squeue(job, all_states=True) == {}, f"squeue to forget job {job}", timeout=60)
    print(f"\nsqueue forgot job {job} {time.monotonic() - finished:.1f}s after it finished (MinJobAge=2)")
    assert slurm.sacct(job) == {job: ("COMPLETED", "0:0")}
    assert slurm.job_state(job) == "COMPLETED"


def test_srun_inside_a_batch_job_one_task_per_node(slurm):
    script = "\n".join([
        "#!/bin/bash",
        "#SBATCH --nodes=1",
        "#SBATCH --ntasks-per-node=1",
        "echo \"batch nodes=$SLURM_JOB_NUM_NODES ntasks=$SLURM_NTASKS nodelist=$SLURM_JOB_NODELIST\"",
        "srun --ntasks-per-node=1 bash -c 'echo \"task $SLURM_PROCID of $SLURM_NTASKS on $(hostname -s) step $SLURM_STEP_ID probe $FXSLURM_PROBE\"'",
        "echo \"srun exit $?\"",
        ""])
    job = slurm.sbatch(script, "--export=ALL,FXSLURM_PROBE=42")
    assert slurm.wait_state(job, FINISHED) == "COMPLETED", slurm.output(job)
    out = slurm.output(job)
    assert f"batch nodes=1 ntasks=1 nodelist={slurm.node}\n" in out, out
    assert f"task 0 of 1 on {slurm.node} step 0 probe 42\n" in out, out  # --export reaches the step
    assert "srun exit 0\n" in out, out


def test_more_nodes_than_exist_stays_pending(slurm):
    job = slurm.sbatch("#!/bin/bash\ntrue\n", "--nodes=2")
    reason = lambda: slurm.run("squeue", "--noheader", "--format=%T %r", "--jobs=" + job).stdout.strip()
    slurm.wait_for(lambda: reason() == "PENDING PartitionNodeLimit", f"job {job} pending on PartitionNodeLimit")
    slurm.scancel(job)
    assert slurm.wait_state(job, FINISHED) == "CANCELLED"


def test_a_stopped_controller_hangs_squeue_but_not_sacct_completion(slurm):
    # Left alone, squeue gives up after MessageTimeout (10 s, 20 s for
    # squeue --jobs); the provider needs its own bound, as run() has.
    job = slurm.sbatch("#!/bin/bash\ntrue\n")
    slurm.wait_state(job, FINISHED)
    with slurm.controller_paused():
        try:
            slurm.run("squeue", "--noheader", timeout=1)
        except SlurmError as e:
            assert "did not answer within 1" in str(e), e
        else:
            raise AssertionError("squeue answered while slurmctld was stopped")
        assert slurm.sacct(job) == {job: ("COMPLETED", "0:0")}
    assert slurm.squeue() == {}


def _alive(pid):
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[0] not in (b"Z", b"X")
    except (OSError, IndexError):
        return False


def _comm(pid):
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except OSError:
        return None


def test_down_stops_everything_even_after_the_daemons_were_killed():
    # A cluster of its own: its slurmctld and slurmd die by SIGKILL under a
    # running job (as in a test that crashed), and slurm-down must still end
    # the orphaned slurmstepd and the job's processes.
    cluster = fxslurm.Slurm()
    cluster.up()
    try:
        job = cluster.sbatch("#!/bin/bash\nsrun sleep 300 &\nsleep 300\n")
        cluster.wait_state(job, "RUNNING")
        sleeps = lambda: [p for p in job_processes(cluster, job) if _comm(p) == "sleep"]
        cluster.wait_for(lambda: len(sleeps()) == 2, f"job {job}'s two sleeps (batch script and step 0)")
        daemons = cluster.daemon_pids()
        job_pids = job_processes(cluster, job)
        os.kill(daemons["slurmctld"], signal.SIGKILL)
        os.kill(daemons["slurmd"], signal.SIGKILL)
        cluster.wait_for(lambda: not _alive(daemons["slurmd"]), "slurmd to die")
        assert all(_alive(p) for p in sleeps())  # slurmstepd and the job outlive slurmd
        started = time.monotonic()
        cluster.down()
        print(f"\nslurm-down with an orphaned job: {time.monotonic() - started:.2f}s\n{cluster.down_messages}")
        assert [p for p in list(daemons.values()) + job_pids if _alive(p)] == []
        assert not os.path.exists(os.path.join(cluster.root, "pids"))
        cluster.down()  # a second time is harmless
    finally:
        cluster.close()


def test_up_refuses_a_folder_munge_cannot_use():
    # As under pytest's tmp_path (whose base is 0700): munged would refuse its socket.
    parent = tempfile.mkdtemp(prefix="fxslurm-closed.", dir="/tmp")
    try:
        os.chmod(parent, 0o700)
        cluster = fxslurm.Slurm(root=os.path.join(parent, "slurm"))
        try:
            cluster.up()
        except SlurmError as e:
            assert "executable by all" in str(e), e
        else:
            cluster.close()
            raise AssertionError("slurm-up accepted a folder under a 0700 parent")
    finally:
        shutil.rmtree(parent)


def test_watchdog_stops_the_cluster_of_a_killed_test_process():
    # A test runner killed by a timeout never reaches its teardown: the
    # watchdog slurm-up started for it runs slurm-down instead.
    code = "\n".join([
        "import sys, time",
        f"sys.path.insert(0, {os.path.dirname(os.path.abspath(fxslurm.__file__))!r})",
        "import fxslurm",
        "s = fxslurm.Slurm().up()",
        "job = s.sbatch('#!/bin/bash\\nsleep 300\\n')",
        "s.wait_for(lambda: fxslurm.job_processes(s, job), 'the job to run')",
        "print(s.root, flush=True)",
        "time.sleep(600)",
    ])
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        root = child.stdout.readline().strip()
        assert root, "the child's cluster did not start"
        cluster = fxslurm.Slurm(root=root)
        cluster.vars = {"SLURM_CONF": os.path.join(root, "slurm.conf")}
        daemons = cluster.daemon_pids()
        jobs = job_processes(cluster)
        assert jobs
    finally:
        child.kill()
        child.wait()
    cluster.wait_for(lambda: not os.path.exists(os.path.join(root, "pids")), "the watchdog's slurm-down")
    cluster.wait_for(lambda: not [p for p in list(daemons.values()) + jobs if _alive(p)], "every process to end")
    shutil.rmtree(root)
