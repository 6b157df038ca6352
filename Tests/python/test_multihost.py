"""fedcybgd across several hosts: three network-namespace hosts on one bridge
(scripts/netns-cluster.sh), reached by mpirun through scripts/netns-agent.sh with no sshd, ranks
on different hosts talking TCP (btl tcp,self) over the bridge's subnet.

1. A job on 3 hosts x 2 ranks ends bit-identical to the same job on one rank.
2. The bytes each host's interface moved agree with history.h5's broadcast and upload totals
   for the ranks on that host, within the TCP/IP and MPI headers.
3. A client host that loses its link mid-round: rank 0 ends the job after server.round_timeout
   with one line naming the rank and host, exit 69, and the newest checkpoint intact.

They need root (namespaces, veth pairs, a bridge); they skip where that is not available.
"""
import os
import pathlib
import shutil
import subprocess
import time

import h5py
import pytest

from conftest import BINARY, FORTUNES, ROOT, TINY_JOB, assert_same_parameters

CLUSTER = ROOT / "scripts/netns-cluster.sh"
HOSTS = ["fcb1", "fcb2", "fcb3"]
SLOTS = 2
HEAD = HOSTS[0]
# Linux's headers on each frame the interface counts: Ethernet 14 + IPv4 20 + TCP 20, plus 12 of
# TCP timestamp options on data and ACK segments.
MIN_HEADER, MAX_HEADER = 54, 66
REPORT_BYTES = 40  # RankReport.encodedSize: each client rank's per-round report to rank 0
LENGTH_BYTES = 8   # the broadcast's length message, sent to each rank before the payload

LONG = """\
name = "long"
output = "{output}"
seed = 11

[model]
layers = 2
width = 64
heads = 2

[data]
corpus = "{corpus}"

[train]
rounds = 40
clients_per_round = 2
local_steps = 24
batch = 16
sequence = 128
learning_rate = 3e-3
eval_batches = 2
checkpoint_every = 2
threads = 1

[server]
round_timeout = 8
"""


@pytest.fixture(scope="module")
def cluster(request):
    """Starts the three hosts (cleaning a crashed session's leftovers first) and returns the
    environment for mpirun; the hosts are removed when the module ends."""
    if os.geteuid() != 0:
        pytest.skip("the network-namespace cluster needs root (ip netns, veth pairs, a bridge)")
    missing = [t for t in ("ip", "unshare", "nsenter", "mpirun") if not shutil.which(t)]
    if missing:
        pytest.skip(f"missing {' '.join(missing)}: install iproute2, util-linux and openmpi-bin")
    if not os.access(BINARY, os.X_OK):
        pytest.fail(f"no fedcybgd binary at {BINARY}; run 'make test', which builds it")
    env = dict(os.environ, FEDCYBGD_NETNS_HOSTS=str(len(HOSTS)), FEDCYBGD_NETNS_SLOTS=str(SLOTS))
    request.addfinalizer(lambda: subprocess.run(["bash", str(CLUSTER), "stop"], env=env, timeout=60))
    started = subprocess.run(["bash", str(CLUSTER), "start"], env=env, capture_output=True, text=True, timeout=60)
    if started.returncode != 0 and "Operation not permitted" in started.stderr:
        pytest.skip(f"network namespaces are not allowed here: {started.stderr.strip()}")
    assert started.returncode == 0, f"the cluster did not start:\n{started.stdout}\n{started.stderr}"
    exports = subprocess.run(["bash", str(CLUSTER), "env"], env=env, capture_output=True, text=True, check=True).stdout
    for line in exports.splitlines():
        key, _, value = line.removeprefix("export ").partition("=")
        env[key] = value
    return env


def mpirun(env, ranks, *command):
    """The mpirun command line, run on the head host like on a cluster's first node."""
    return ["bash", str(CLUSTER), "exec", HEAD, "mpirun", "--hostfile", env["FEDCYBGD_NETNS_HOSTFILE"],
            "-n", str(ranks), *map(str, command)]


def counters():
    """Each host's eth0 counters: rx_bytes, tx_bytes, rx_packets, tx_packets."""
    values = {}
    for host in HOSTS:
        out = subprocess.run(["ip", "netns", "exec", host, "sh", "-c",
                              "cd /sys/class/net/eth0/statistics && cat rx_bytes tx_bytes rx_packets tx_packets"],
                             capture_output=True, text=True, check=True).stdout.split()
        values[host] = dict(zip(("rx", "tx", "rx_packets", "tx_packets"), map(int, out)))
    return values


def measured(env, command, timeout=300):
    """Runs `command` under mpirun on the hosts; returns what each host's interface moved."""
    before = counters()
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout)
    after = counters()
    assert done.returncode == 0, f"{' '.join(command)}: exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    return {h: {k: after[h][k] - before[h][k] for k in after[h]} for h in HOSTS}


def newest(folder):
    return sorted(folder.glob("checkpoint-*.h5"))[-1]


def host_of_rank(rank):
    return HOSTS[rank // SLOTS]  # mpirun fills each host's slots in turn


def write_tiny(folder):
    folder.mkdir(parents=True, exist_ok=True)
    job = folder / "tiny.toml"
    job.write_text(TINY_JOB.format(output=folder / "runs", corpus=FORTUNES))
    return job


def test_three_hosts_of_two_ranks_over_tcp_end_bit_identical_to_one_rank(cluster, single_rank_run, tmp_path):
    job = write_tiny(tmp_path)
    moved = measured(cluster, mpirun(cluster, 6, BINARY, "train", job))
    folder = tmp_path / "runs" / "tiny"
    reference, _ = single_rank_run
    assert_same_parameters(newest(reference), newest(folder))
    with h5py.File(folder / "history.h5", "r") as f:
        broadcast = int(f["history"]["bytes_broadcast"][()].sum())
    # The client hosts' copies of the broadcasts really crossed the wire.
    for host in HOSTS[1:]:
        assert moved[host]["rx"] >= SLOTS * broadcast, (host, moved[host], broadcast)


def expected_bytes(folder, rounds):
    """What the ranks' messages in `rounds` (1-based round numbers) put on each host's wire, by
    history.h5: every rank off the head host receives its own copy of each broadcast (and its
    length); each client's upload goes from its rank's host to rank 0's; every client rank
    reports to rank 0 once a round."""
    with h5py.File(folder / "history.h5", "r") as f:
        history = f["history"]
        numbers = history["round"][()].tolist()
        rows = [numbers.index(r) for r in rounds]
        broadcast = [int(history["bytes_broadcast"][i]) for i in rows]
        uploads = [(history["clients"][i].tolist(), history["client_bytes_up"][i].tolist()) for i in rows]
    ranks = len(HOSTS) * SLOTS
    rank_of_client = lambda c: 1 + c % (ranks - 1)  # ClientPlacement
    wire = {h: {"rx": 0, "tx": 0} for h in HOSTS}
    for payload, (clients, ups) in zip(broadcast, uploads):
        for rank in range(1, ranks):
            host = host_of_rank(rank)
            if host == HEAD:
                continue
            wire[HEAD]["tx"] += payload + LENGTH_BYTES
            wire[host]["rx"] += payload + LENGTH_BYTES
            wire[host]["tx"] += REPORT_BYTES
            wire[HEAD]["rx"] += REPORT_BYTES
        for client, up in zip(clients, ups):
            host = host_of_rank(rank_of_client(client))
            if host != HEAD:
                wire[host]["tx"] += up
                wire[HEAD]["rx"] += up
    return wire


def test_interface_counters_agree_with_history_bytes_within_the_headers(cluster, tmp_path):
    job = write_tiny(tmp_path)
    # The same job for 1 round and for all 9: the difference is rounds 2..9 alone, without the
    # launch, MPI's wire-up, the set-up agreement and the final stop, which both runs share.
    first = measured(cluster, mpirun(cluster, 6, BINARY, "train", job, "--rounds", "1"))
    shutil.rmtree(tmp_path / "runs")
    whole = measured(cluster, mpirun(cluster, 6, BINARY, "train", job))
    expected = expected_bytes(tmp_path / "runs" / "tiny", range(2, 10))
    lines = []
    for host in HOSTS:
        for way in ("rx", "tx"):
            wire = whole[host][way] - first[host][way]
            packets = whole[host][f"{way}_packets"] - first[host][f"{way}_packets"]
            payload = expected[host][way]
            if payload == 0:
                continue
            # Every frame carries at least the minimal headers on top of the payload it holds.
            assert wire >= payload + MIN_HEADER * packets, (host, way, wire, payload, packets)
            # What is left after at most MAX_HEADER per frame is MPI's own headers: well under
            # 1 % of the payload plus 1 KiB. A broadcast copy or an upload miscounted in the
            # history (tens of kB each here) would break either bound.
            mpi = wire - payload - MAX_HEADER * packets
            assert mpi <= payload // 100 + 1024, (host, way, wire, payload, packets)
            lines.append(f"{host} {way}: wire {wire} B in {packets} frames, history {payload} B, "
                         f"overhead {wire - payload} B ({100 * (wire - payload) / payload:.2f} %)")
    print("\n".join(["rounds 2-9 of the tiny job on 3 hosts x 2 ranks:"] + lines))


def test_wire_up_of_a_trivial_mpi_job_is_small_and_measured(cluster, tmp_path):
    """The launch and wire-up traffic an empty MPI job puts on each host's wire, for the record
    (docs/PERFORMANCE.md); it is what the 1-round run above shares with the 9-round run."""
    if not shutil.which("mpicc"):
        pytest.skip("no mpicc (libopenmpi-dev) to build the empty MPI program")
    source = tmp_path / "empty.c"
    source.write_text("#include <mpi.h>\nint main(int c, char **v) { MPI_Init(&c, &v); MPI_Barrier(MPI_COMM_WORLD);"
                      " MPI_Finalize(); return 0; }\n")
    subprocess.run(["mpicc", "-o", str(tmp_path / "empty"), str(source)], check=True)
    moved = measured(cluster, mpirun(cluster, 6, tmp_path / "empty"))
    print("an empty MPI job (init, barrier, finalize) on 3 hosts x 2 ranks: "
          + ", ".join(f"{h} rx {moved[h]['rx']} B tx {moved[h]['tx']} B" for h in HOSTS))
    for host in HOSTS[1:]:
        assert 0 < moved[host]["rx"] < 64 << 10 and 0 < moved[host]["tx"] < 64 << 10, moved


def test_a_client_host_that_loses_its_link_mid_round_ends_the_job_naming_it(cluster, tmp_path):
    (tmp_path / "long.toml").write_text(LONG.format(output=tmp_path / "runs", corpus=FORTUNES))
    folder = tmp_path / "runs" / "long"
    dead = HOSTS[2]
    process = subprocess.Popen(mpirun(cluster, 6, BINARY, "train", tmp_path / "long.toml"), env=cluster,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not (folder / "checkpoint-000004.h5").exists():
            assert process.poll() is None and time.monotonic() < deadline, "the run never reached round 4"
            time.sleep(0.05)
        subprocess.run(["ip", "-n", dead, "link", "set", "eth0", "down"], check=True)
        cut = time.monotonic()
        # round_timeout (8 s) plus the teardown: mpirun waits for the dead host's daemon until
        # TCP gives up on it (tcp_retries2 = 6 on the hosts: about 25 s).
        out, err = process.communicate(timeout=120)
        took = time.monotonic() - cut
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
        subprocess.run(["ip", "-n", dead, "link", "set", "eth0", "up"])
        for host in HOSTS:  # the dead host's daemon and ranks never heard the end of the job
            subprocess.run(["bash", str(CLUSTER), "kill", host], env=cluster, capture_output=True)
    assert process.returncode == 69, f"exit {process.returncode}\n{out[-2000:]}\n{err[-3000:]}"
    silent = [line for line in err.splitlines() if "went silent" in line]
    dead_ranks = [r for r in range(len(HOSTS) * SLOTS) if host_of_rank(r) == dead]
    assert len(silent) == 1, err
    assert any(f"rank {r} on host {dead} went silent" in silent[0] for r in dead_ranks), silent[0]
    assert "server.round_timeout = 8 s" in silent[0] and str(folder) in silent[0], silent[0]
    print(f"ended {took:.1f} s after the link went down: {silent[0]}")
    with h5py.File(newest(folder), "r") as f:
        assert f.attrs["complete"] == 1
        assert int(f["state"]["round"][()]) >= 4
        assert sorted(f["model"])


def test_bench_network_times_the_upload_between_two_hosts_and_refuses_one_rank(cluster, tmp_path):
    """The benchmark's run over two hosts (not its figures, which depend on the machine's load):
    it says which hosts the ranks were on, times every case for both sizes, and a run on one
    rank stops with one line saying how to start it."""
    command = ["bash", str(CLUSTER), "exec", HEAD, "mpirun", "--host", f"{HOSTS[0]},{HOSTS[1]}", "-n", "2",
               str(BINARY), "bench-network", "--floats", "100000,1000", "--repeats", "3"]
    done = subprocess.run(command, env=cluster, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    out = done.stdout + done.stderr
    assert f"rank 0 on {HOSTS[0]}, rank 1 on {HOSTS[1]}" in out, out
    for case in ("upload, rank 1 -> 0", "plain MPI_Send -> MPI_Recv", "MPI ping-pong", "broadcast, rank 0 -> 1",
                 "upload leg of an upload-then-plain round trip"):
        assert out.count(case) == 2, (case, out)
    assert out.count("upload bandwidth = ") == 2, out
    alone = subprocess.run([str(BINARY), "bench-network"], capture_output=True, text=True, timeout=60)
    assert alone.returncode != 0
    assert "needs exactly 2 ranks, not 1" in alone.stderr and "mpirun -n 2" in alone.stderr, alone.stderr
