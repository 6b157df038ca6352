"""slurm/train.sbatch across several hosts: a Slurm cluster whose three nodes are the network-
namespace hosts of scripts/netns-cluster.sh, one slurmd in each (scripts/slurm-cluster.sh with
FEDCYBGD_SLURM_HOSTS=3), slurmctld on this machine reached over the bridge.

1. `sbatch -N 3 --wait` with the batch script's defaults (whole nodes, a rank per CPU plus the
   server) runs ranks on all three hosts, whose interfaces carry the broadcasts, and ends with
   parameters bit-identical to the same job on one rank.

It needs root (namespaces, the daemons) and Debian's slurm-wlm and munge; it skips with the
reason where they are missing. Its cluster has its own folder, ports, host names and subnet, so
it runs beside test_slurm.py's one-node cluster and test_multihost.py's hosts.
"""
import os
import shutil
import subprocess

import h5py
import pytest

from conftest import BINARY, FORTUNES, ROOT, TINY_JOB

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
# The shared tiny job with no output (runs go under the submit folder) and no thread count.
TINY = TINY_JOB.replace('output = "{output}"\n', "").replace("threads = 1\n", "")


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
    return dict(env, SLURM_CONF=f"{SETTINGS['FEDCYBGD_SLURM_DIR']}/slurm.conf", FEDCYBGD_BIN=BINARY,
                FEDCYBGD_ROOT=str(ROOT))


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
    with h5py.File(newest(reference), "r") as one, h5py.File(newest(folder), "r") as seven:
        assert seven.attrs["complete"] == 1
        assert sorted(one["model"]) == sorted(seven["model"])
        for name in one["model"]:
            assert one["model"][name][()].tobytes() == seven["model"][name][()].tobytes(), name
    with h5py.File(folder / "history.h5", "r") as f:
        broadcast = int(f["history"]["bytes_broadcast"][()].sum())
    # Ranks 3-4 and 5-6 are on the second and third host: their copies of every broadcast came
    # over the bridge.
    for host in HOSTS[1:]:
        assert after[host] - before[host] >= 2 * broadcast, (host, after[host] - before[host], broadcast)
