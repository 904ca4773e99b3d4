"""The endpoint's slurm provider on a real single-node Slurm (test/slurm's
slurm-up, by pid): pilot jobs submitted on demand (min_blocks 0, max_blocks 2),
managers inside them running the tasks, every result back, the jobs gone after
idle_time; a job scancel'ed from outside loses no task; a hung squeue is cut
off by cmd_timeout while tasks keep flowing. Needs root and Debian's slurmctld,
slurmd, munge and slurm-client (script/lib.sh installs them)."""
import glob
import os
import shutil
import sys

import pytest

import fx
from fxharness import managers_of, wait_for
from test_endpoint_config import start_config_endpoint, stat

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "slurm"))
import fxslurm  # noqa: E402


@pytest.fixture(scope="module")
def slurm(request):
    if os.geteuid() != 0 or not shutil.which("slurmctld") or not shutil.which("sbatch"):
        pytest.skip("a private Slurm needs root and slurmctld, slurmd, munge, slurm-client")
    yield from fxslurm.slurm_cluster(request, conf={"MinJobAge": "2"})


def nap(x, seconds=0.05):
    import time
    time.sleep(seconds)
    return x * 2


def slurm_config(creds, slurm, max_blocks=2, idle="3s", extra=""):
    return (f"credentials: {creds}\n"
            "workers_per_node: 2\n"
            "prefetch: 2\n"
            f"idle_time: {idle}\n"
            "provider:\n"
            "  type: slurm\n"
            f"  partition: {slurm.partition}\n"
            "  walltime: \"00:10:00\"\n"
            "  nodes_per_block: 1\n"
            "  init_blocks: 0\n"
            "  min_blocks: 0\n"
            f"  max_blocks: {max_blocks}\n"
            "  cmd_timeout: 5s\n"
            "  worker_init: [\"echo worker_init ran on $(hostname)\"]\n" + extra)


def our_jobs(slurm):
    """{job id: (name, state)} of the cluster's active jobs named fx-..."""
    out = slurm.run("squeue", "--noheader", "--format=%A %j %T").stdout
    jobs = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[1].startswith("fx-"):
            jobs[parts[0]] = (parts[1], parts[2])
    return jobs


def in_job(pid):
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            return any(e.startswith(b"SLURM_JOB_ID=") for e in f.read().split(b"\0"))
    except OSError:
        return False


def start(fed, slurm, name, config):
    """The endpoint with the cluster's environment (SLURM_CONF), as on a login node."""
    return start_config_endpoint(fed, name, config, env=dict(slurm.env))


def test_pilot_jobs_run_200_tasks_and_end_when_idle(federation, slurm):
    fed = federation
    fed.start_broker()
    creds = fed.add_user("hpc")
    ep = start(fed, slurm, "hpc", slurm_config(creds, slurm))
    assert our_jobs(slurm) == {}, "min_blocks 0, init_blocks 0: no job before tasks"
    seen_jobs, seen_managers = set(), set()
    with fx.Client(credentials=creds) as client:
        fid = client.register_function(nap)
        tids = client.run_batch([((i,), {}) for i in range(200)], endpoint_id=ep.endpoint_id, function_id=fid)

        def both_running():
            jobs = our_jobs(slurm)
            seen_jobs.update(jobs)
            seen_managers.update(p for p in managers_of(fed, "hpc") if in_job(p))
            return sum(1 for _, st in jobs.values() if st == "RUNNING") == 2 and len(seen_managers) >= 2
        wait_for(both_running, 90, "two pilot jobs running, a manager inside each")
        results = [client.get_result(t, timeout=300) for t in tids]
    assert results == [2 * i for i in range(200)]
    assert len(seen_jobs) == 2, f"max_blocks 2, never more jobs: {seen_jobs}"
    wait_for(lambda: our_jobs(slurm) == {}, 60, "the pilot jobs to end after idle_time")
    wait_for(lambda: managers_of(fed, "hpc") == [], 30, "no manager left")
    wait_for(lambda: stat(ep, "blocks_ended") == 2, 10, "the stats file")
    assert stat(ep, "blocks_submitted") == 2 and stat(ep, "blocks_failed") == 0
    assert stat(ep, "held_over_window") == 0
    outputs = glob.glob(os.path.join(fed.root, "endpoint-hpc", "blocks", "*.out"))
    assert len(outputs) == 2 and all("worker_init ran on" in open(p).read() for p in outputs), outputs
    assert "slurm job" in ep.log_text() and "scale in: ending block" in ep.log_text()


def test_scancel_from_outside_loses_no_task(federation, slurm):
    fed = federation
    fed.start_broker()
    creds = fed.add_user("cancel")
    ep = start(fed, slurm, "cancel", slurm_config(creds, slurm))
    with fx.Client(credentials=creds) as client:
        fid = client.register_function(nap)
        tids = client.run_batch([((i, 0.2), {}) for i in range(120)], endpoint_id=ep.endpoint_id,
                                function_id=fid)
        wait_for(lambda: stat(ep, "results_sent") >= 10, 90, "tasks running in the pilot jobs")
        victim = next(j for j, (_, st) in our_jobs(slurm).items() if st == "RUNNING")
        slurm.scancel(victim)
        results = [client.get_result(t, timeout=300) for t in tids]
    assert results == [2 * i for i in range(120)], "every task has its result"
    assert "CANCELLED" in ep.log_text(), "the end of the cancelled job is reported"
    wait_for(lambda: our_jobs(slurm) == {}, 60, "the pilot jobs to end after idle_time")


def test_a_hung_squeue_is_cut_off_and_tasks_keep_flowing(federation, slurm):
    fed = federation
    fed.start_broker()
    creds = fed.add_user("hang")
    ep = start(fed, slurm, "hang", slurm_config(creds, slurm, max_blocks=1, idle="30s"))
    with fx.Client(credentials=creds) as client:
        fid = client.register_function(nap)
        first = client.run_batch([((i,), {}) for i in range(4)], endpoint_id=ep.endpoint_id, function_id=fid)
        assert [client.get_result(t, timeout=120) for t in first] == [0, 2, 4, 6]
        with slurm.controller_paused():
            tids = client.run_batch([((i,), {}) for i in range(20)], endpoint_id=ep.endpoint_id,
                                    function_id=fid)
            assert [client.get_result(t, timeout=60) for t in tids] == [2 * i for i in range(20)], \
                "the running pilot job serves tasks while slurmctld does not answer"
            wait_for(lambda: "did not answer within 5000 ms" in ep.log_text(), 30,
                     "squeue cut off by cmd_timeout")
        wait_for(lambda: "answers again" in ep.log_text(), 30, "squeue answering again")
    assert ep.stop() == 0
    wait_for(lambda: our_jobs(slurm) == {}, 30, "the endpoint's stop to cancel its pilot job")


def test_an_impossible_job_is_reported_and_retried_with_back_off(federation, slurm):
    fed = federation
    fed.start_broker()
    creds = fed.add_user("big")
    config = slurm_config(creds, slurm, max_blocks=1).replace("nodes_per_block: 1", "nodes_per_block: 2")
    ep = start(fed, slurm, "big", config)
    with fx.Client(credentials=creds) as client:
        fid = client.register_function(nap)
        client.run(1, endpoint_id=ep.endpoint_id, function_id=fid)
        wait_for(lambda: "failure 3 in a row" in ep.log_text(), 60, "three failures, backed off")
    log = ep.log_text()
    assert "is held: PENDING (PartitionNodeLimit): it can never start as asked; cancelling it, next block in 1000 ms" in log, log
    assert "next block in 2000 ms (failure 2 in a row)" in log and "next block in 4000 ms" in log
    assert stat(ep, "blocks_submitted") <= 4, "not resubmitted in a loop"
    assert ep.stop() == 0
    wait_for(lambda: our_jobs(slurm) == {}, 30, "no job left")


def test_a_restarted_endpoint_adopts_its_pilot_job(federation, slurm):
    fed = federation
    fed.start_broker()
    creds = fed.add_user("again")
    config = slurm_config(creds, slurm, max_blocks=1, idle="60s").replace("min_blocks: 0", "min_blocks: 1")
    ep = start(fed, slurm, "again", config)
    wait_for(lambda: stat(ep, "blocks_connected") == 1, 60, "the pilot job's manager")
    jobs = our_jobs(slurm)
    assert len(jobs) == 1
    ep.kill9()
    fed.processes.remove(ep)
    fed.endpoints.remove(ep)
    again = start(fed, slurm, "again", config)
    wait_for(lambda: stat(again, "blocks_connected") == 1, 60, "the same manager back")
    assert our_jobs(slurm).keys() == jobs.keys(), "the same job, adopted"
    assert stat(again, "blocks_submitted") == 0, "no new job"
    assert "adopting slurm job" in again.log_text()
    with fx.Client(credentials=creds) as client:
        fid = client.register_function(nap)
        assert client.get_result(client.run(21, endpoint_id=again.endpoint_id, function_id=fid), timeout=60) == 42
    assert again.stop() == 0
    wait_for(lambda: our_jobs(slurm) == {}, 30, "the stop cancels the adopted job")
