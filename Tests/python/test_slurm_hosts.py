"""slurm/train.sbatch across several hosts: a Slurm cluster whose three nodes are the network-
namespace hosts of scripts/netns-cluster.sh, one slurmd in each (scripts/slurm-cluster.sh with
FEDCYBGD_SLURM_HOSTS=3), slurmctld on this machine reached over the bridge.

1. `sbatch -N 3 --wait` with the batch script's defaults (whole nodes, a rank per CPU plus the
   server) runs ranks on all three hosts, whose interfaces carry the broadcasts, and ends with
   parameters bit-identical to the same job on one rank.
2. The ranks on one host freeze mid-run (SIGSTOP; the host's slurmd still answers, so Slurm
   sees no failure): rank 0 ends the step after server.round_timeout with exit 69, the batch
   script requeues the job, which resumes on the same hosts and ends bit-identical.
3. A higher-priority job (partition 'urgent') preempts it mid-run: Slurm sends SIGTERM, the
   run checkpoints after the round in flight and exits 75, Slurm requeues it, and once the
   urgent job is done it resumes and ends bit-identical.
4. A host dies mid-run (every process on it killed, its slurmd too): rank 0 ends the step after
   server.round_timeout naming a rank on that host, the job is requeued (by Slurm, which marks
   the node down, or by the batch script on exit 69), starts again on the two hosts that remain
   (`-N 2-3`), resumes from the newest checkpoint and ends bit-identical to an uninterrupted run.

It needs root (namespaces, the daemons) and Debian's slurm-wlm and munge; it skips with the
reason where they are missing. Its cluster has its own folder, ports, host names and subnet, so
it runs beside test_slurm.py's one-node cluster and test_multihost.py's hosts.
"""
import os
import pathlib
import shutil
import signal
import subprocess
import time

import h5py
import pytest

from conftest import BINARY, FORTUNES, ROOT, assert_same_parameters
from test_slurm import TINY, assert_same_run, history, job_info

CLUSTER = ROOT / "scripts/slurm-cluster.sh"
TRAIN = ROOT / "slurm/train.sbatch"
HOSTS = ["fcs1", "fcs2", "fcs3"]
SETTINGS = {
    "FEDCYBGD_SLURM_HOSTS": str(len(HOSTS)),
    "FEDCYBGD_SLURM_DIR": "/tmp/fedcybgd-slurm-hosts",
    "FEDCYBGD_SLURM_PORT": "16827",
    "FEDCYBGD_NETNS_PREFIX": "fcs",
    "FEDCYBGD_NETNS_NET": "10.79.0",
    "FEDCYBGD_NETNS_DIR": "/tmp/fedcybgd-slurm-netns",
}
TOOLS = ["munged", "slurmctld", "slurmd", "sbatch", "scontrol", "ip", "nsenter", "unshare"]
# Long enough that a host can be killed, or the job preempted, after round 4 and well before
# round 16 (with 8 local steps the whole run once took 3 s, and a preemption arrived too late),
# short enough for a modest test.
LONG = """\
name = "long"
seed = 11

[model]
layers = 2
width = 64
heads = 2

[data]
corpus = "{corpus}"

[train]
rounds = 16
clients_per_round = 2
local_steps = 32
batch = 16
sequence = 128
learning_rate = 3e-3
eval_batches = 2
checkpoint_every = 2

[server]
round_timeout = 8
"""


@pytest.fixture(scope="module")
def hosts(request):
    """Starts the three-host Slurm cluster (clearing a crashed session's leftovers first) and
    returns the environment for sbatch; the cluster and its hosts are removed at the end."""
    if os.geteuid() != 0:
        pytest.skip("the multi-host Slurm cluster needs root (network namespaces, slurmd, munged)")
    missing = [t for t in TOOLS if not shutil.which(t) and not os.path.exists(f"/usr/sbin/{t}")]
    if missing:
        pytest.skip(f"missing {' '.join(missing)}: install slurm-wlm, munge, iproute2 and util-linux (scripts/setup.sh)")
    if not os.access(BINARY, os.X_OK):
        pytest.fail(f"no fedcybgd binary at {BINARY}; run 'make test', which builds it")
    env = dict(os.environ, **SETTINGS)
    request.addfinalizer(lambda: subprocess.run(["bash", str(CLUSTER), "stop"], env=env, timeout=120))
    started = subprocess.run(["bash", str(CLUSTER), "start"], env=env, capture_output=True, text=True, timeout=180)
    if started.returncode != 0 and "Operation not permitted" in started.stderr:
        pytest.skip(f"network namespaces are not allowed here: {started.stderr.strip()}")
    assert started.returncode == 0, f"the cluster did not start:\n{started.stdout}\n{started.stderr}"
    # SWIFT_BACKTRACE=images=all: a rank that crashes inside Open MPI (once, at start-up, in CI) then
    # prints every loaded library's address range, so that its frames can be named afterwards.
    return dict(env, SLURM_CONF=f"{SETTINGS['FEDCYBGD_SLURM_DIR']}/slurm.conf", FEDCYBGD_BIN=BINARY,
                FEDCYBGD_ROOT=str(ROOT), SWIFT_BACKTRACE="images=all")


def received_bytes():
    """Each host's eth0 rx_bytes."""
    return {host: int(subprocess.run(["ip", "netns", "exec", host, "cat", "/sys/class/net/eth0/statistics/rx_bytes"],
                                     capture_output=True, text=True, check=True).stdout) for host in HOSTS}


def newest(folder):
    return sorted(folder.glob("checkpoint-*.h5"))[-1]


def test_sbatch_on_three_hosts_with_the_defaults_ends_bit_identical_to_one_rank(hosts, single_rank_run, tmp_path):
    (tmp_path / "tiny.toml").write_text(TINY.format(corpus=FORTUNES))
    log = tmp_path / "train.out"
    before = received_bytes()
    done = subprocess.run(["sbatch", "--wait", "-N", str(len(HOSTS)), "--time=5", f"--output={log}", str(TRAIN),
                           "tiny.toml"], env=hosts, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    after = received_bytes()
    text = log.read_text() if log.exists() else ""
    assert done.returncode == 0, f"{done.stdout}\n{done.stderr}\n{text}"
    # Whole nodes of 2 CPUs: a rank per CPU plus the server, placed in blocks over the hosts.
    assert "on fcs[1-3]" in text and "--ntasks=7" in text and "7 ranks" in text, text
    folder = tmp_path / "runs" / "tiny"
    reference, _ = single_rank_run
    assert_same_parameters(newest(reference), newest(folder))
    with h5py.File(folder / "history.h5", "r") as f:
        broadcast = int(f["history"]["bytes_broadcast"][()].sum())
    # Ranks 3-4 and 5-6 are on the second and third host: their copies of every broadcast came
    # over the bridge.
    for host in HOSTS[1:]:
        assert after[host] - before[host] >= 2 * broadcast, (host, after[host] - before[host], broadcast)


def start_long(hosts, tmp_path, nodes):
    """Submits LONG on `nodes` hosts and starts its uninterrupted one-rank reference beside it;
    returns the job id, the reference process and the run folder once it has checkpoint 4."""
    (tmp_path / "long.toml").write_text(LONG.format(corpus=FORTUNES))
    reference = subprocess.Popen([BINARY, "train", str(tmp_path / "long.toml"), "--output", str(tmp_path / "reference"),
                                  "--threads", "1"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    log = tmp_path / "long.out"
    folder = tmp_path / "runs" / "long"
    job_id = subprocess.run(["sbatch", "--parsable", "-N", nodes, "--time=10", f"--output={log}", str(TRAIN),
                             "long.toml"], env=hosts, cwd=tmp_path, capture_output=True, text=True,
                            check=True).stdout.strip()
    deadline = time.monotonic() + 120
    while not (folder / "checkpoint-000004.h5").exists():
        assert time.monotonic() < deadline, f"the run never reached round 4:\n{log.read_text() if log.exists() else ''}"
        time.sleep(0.1)
    return job_id, reference, folder


def finish_long(hosts, tmp_path, job_id, reference, folder, host):
    """Waits for the job; checks one requeue (after rank 0 named a rank on `host` as silent, if
    given), one resume, and the same bits and history as the reference. Returns the log and its
    start lines."""
    log = tmp_path / "long.out"
    # Only COMPLETED ends the wait: while Slurm requeues a job after a node failure, scontrol
    # can show it FAILED for a moment (the batch script's own exit) before it is pending again.
    deadline = time.monotonic() + 300
    while (info := job_info(hosts, job_id))["JobState"] != "COMPLETED":
        assert time.monotonic() < deadline, f"{info}\n{log.read_text()[-3000:]}"
        time.sleep(2)
    text = log.read_text()
    assert info["JobState"] == "COMPLETED" and info["Restarts"] == "1", f"{info}\n{text[-3000:]}"
    silent = [line for line in text.splitlines() if line.startswith("error: rank") and "went silent" in line]
    if host:
        assert silent and all(f"on host {host} went silent" in line for line in silent), text
    else:
        assert not silent, text
    resumed = [line for line in text.splitlines() if line.startswith("resumed from")]
    assert len(resumed) == 1 and int(resumed[0].split()[-1]) >= 4, text
    out, _ = reference.communicate(timeout=300)
    assert reference.returncode == 0, out[-3000:]
    assert history(folder, "round").tolist() == list(range(1, 17))
    assert_same_run(tmp_path / "reference" / "long", folder)
    return text, [line for line in text.splitlines() if "] job " in line and " start " in line]


def test_frozen_ranks_end_the_step_with_69_and_the_batch_script_requeues_it(hosts, tmp_path):
    job_id, reference, folder = start_long(hosts, tmp_path, str(len(HOSTS)))
    pids = subprocess.run(["ip", "netns", "pids", HOSTS[1]], capture_output=True, text=True, check=True).stdout.split()
    ranks = [pid for pid in pids if pathlib.Path(f"/proc/{pid}/comm").read_text().strip() == "fedcybgd"]
    assert ranks, "no rank on the second host"
    for pid in ranks:
        os.kill(int(pid), signal.SIGSTOP)
    text, starts = finish_long(hosts, tmp_path, job_id, reference, folder, HOSTS[1])
    assert "fedcybgd exit status 69" in text and "requeueing job" in text, text
    assert "start 0 on fcs[1-3]" in starts[0] and "start 1 on fcs[1-3]" in starts[1], starts


def test_a_job_preempted_by_an_urgent_one_checkpoints_requeues_and_ends_bit_identical(hosts, tmp_path):
    job_id, reference, folder = start_long(hosts, tmp_path, str(len(HOSTS)))
    urgent = subprocess.run(["sbatch", "--parsable", "--partition=urgent", "-N", "1", f"--output={tmp_path / 'urgent.out'}",
                             "--wrap", "hostname; sleep 3"], env=hosts, cwd=tmp_path, capture_output=True, text=True,
                            check=True).stdout.strip()
    text, starts = finish_long(hosts, tmp_path, job_id, reference, folder, None)
    assert "DUE TO PREEMPTION" in text and "stopped on signal after round" in text, text
    assert "fedcybgd exit status 75" in text and "requeueing job" not in text, text  # Slurm requeued it
    assert job_info(hosts, urgent)["JobState"] == "COMPLETED"
    assert "start 1 on fcs[1-3]" in starts[1], starts


def test_a_dead_host_requeues_the_job_which_resumes_on_the_remaining_hosts_bit_identical(hosts, tmp_path):
    """Runs last in this module: the third host stays dead afterwards. Slurm marks it down after
    SlurmdTimeout (20 s on the test cluster) and requeues the job itself (JobRequeue=1), which
    cancels the batch script; the script's own requeue on 69 is the test above."""
    job_id, reference, folder = start_long(hosts, tmp_path, f"2-{len(HOSTS)}")
    subprocess.run(["bash", str(ROOT / "scripts/netns-cluster.sh"), "kill", HOSTS[2]], env=hosts, check=True,
                   capture_output=True)
    _, starts = finish_long(hosts, tmp_path, job_id, reference, folder, HOSTS[2])
    assert "start 0 on fcs[1-3]" in starts[0] and "start 1 on fcs[1-2]" in starts[1], starts
