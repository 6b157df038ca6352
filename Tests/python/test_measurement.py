"""Per-round measurement in history.h5 (bytes per client, peak RSS and time split per rank) and
the run summary, from real runs read with h5py and h5dump."""
import os
import re
import subprocess

import h5py
import numpy as np

from conftest import BINARY, FORTUNES, ROOT, TINY_JOB

ROUNDS, K = 9, 2
CLIENT_COLUMNS = ["client_bytes_down", "client_bytes_up"]
RANK_COLUMNS = {"rank_peak_rss": (np.int64, "bytes"), "rank_compute_seconds": (np.float64, "s"),
                "rank_comm_seconds": (np.float64, "s"), "rank_wait_seconds": (np.float64, "s")}


def history(run):
    with h5py.File(run / "history.h5", "r") as f:
        return {name: ds[()] for name, ds in f["history"].items()}, dict(f["summary"].attrs)


def per_client_bytes(h):
    """Bytes down + up of each client over the run, from the history rows."""
    totals = {}
    for clients, down, up in zip(h["clients"], h["client_bytes_down"], h["client_bytes_up"]):
        for client, d, u in zip(clients, down, up):
            if client >= 0:
                totals[int(client)] = totals.get(int(client), 0) + int(d) + int(u)
    return totals


def test_measure_columns_have_their_shapes_units_and_descriptions(three_rank_run):
    run, _ = three_rank_run
    with h5py.File(run / "history.h5", "r") as f:
        h = f["history"]
        for name in CLIENT_COLUMNS:
            assert h[name].shape == (ROUNDS, K) and h[name].dtype == np.int64, name
            assert h[name].maxshape == (None, K) and h[name].chunks is not None, name
            assert h[name].attrs["units"] == "bytes" and h[name].attrs["description"], name
        for name, (dtype, units) in RANK_COLUMNS.items():
            assert h[name].shape == (ROUNDS, 3) and h[name].dtype == dtype, name
            assert h[name].maxshape[0] is None, name
            assert h[name].attrs["units"] == units and isinstance(h[name].attrs["description"], str), name
    header = subprocess.run(["h5dump", "-H", str(run / "history.h5")], capture_output=True, text=True)
    assert header.returncode == 0, header.stderr
    for name in CLIENT_COLUMNS + list(RANK_COLUMNS):
        assert f'DATASET "{name}"' in header.stdout, name


def test_client_bytes_add_up_to_the_round_totals(three_rank_run):
    h, _ = history(three_rank_run[0])
    assert (h["client_bytes_down"] >= 0).all() and (h["client_bytes_up"] > 0).all()
    np.testing.assert_array_equal(h["client_bytes_down"].sum(axis=1), h["bytes_down"])
    # No upload was rejected, so what arrived from the clients is what bytes_up counts.
    assert (h["rejected_uploads"] == 0).all()
    np.testing.assert_array_equal(h["client_bytes_up"].sum(axis=1), h["bytes_up"])


def test_every_rank_is_measured_and_its_time_split_is_the_round(three_rank_run):
    h, _ = history(three_rank_run[0])
    rss = h["rank_peak_rss"]
    assert ((rss > 5e6) & (rss < 20e9)).all(), rss
    assert (np.diff(rss, axis=0) >= 0).all(), "a peak never goes down"
    parts = [h["rank_compute_seconds"], h["rank_comm_seconds"], h["rank_wait_seconds"]]
    for part in parts:
        assert np.isfinite(part).all() and (part >= 0).all()
    total = sum(parts)
    seconds = h["seconds"][:, None]
    assert (total <= seconds + 1e-6).all(), total - seconds
    np.testing.assert_allclose(total, np.broadcast_to(seconds, total.shape), rtol=1e-9, atol=1e-9)
    assert (h["rank_comm_seconds"][:, 0] > 0).all(), "rank 0 encodes and broadcasts every round"
    assert (h["rank_comm_seconds"][:, 1:] > 0).all(), "every client rank decodes every broadcast"
    assert h["rank_compute_seconds"][:, 1:].sum() > 0, "the client ranks train"


def test_summary_is_consistent_with_the_history_and_the_printed_block(three_rank_run):
    run, stdout = three_rank_run
    h, s = history(run)
    totals = per_client_bytes(h)
    assert len(totals) == ROUNDS * K  # 43 clients, two new ones a round
    assert s["bytes_per_client_max"] == max(totals.values())
    assert abs(s["bytes_per_client_mean"] - sum(totals.values()) / len(totals)) < 1e-6
    assert sum(totals.values()) == s["total_bytes_down"] + s["total_bytes_up"]
    assert s["peak_client_rss"] == h["rank_peak_rss"][:, 1:].max()
    assert s["peak_server_rss"] == h["rank_peak_rss"][:, 0].max()
    for name in ["bytes_per_client_mean", "bytes_per_client_max", "peak_client_rss", "peak_server_rss"]:
        assert s[name + "_units"] == "bytes", name
    assert s["tokens_trained"] > 0 and np.isfinite(s["final_eval_loss"])

    printed = re.search(r"peak RSS\s+client ranks ([\d.]+) MB, server ([\d.]+) MB", stdout)
    assert printed, stdout
    assert abs(float(printed.group(1)) - s["peak_client_rss"] / 1e6) <= 0.005
    assert abs(float(printed.group(2)) - s["peak_server_rss"] / 1e6) <= 0.005
    per_client = re.search(r"per client\s+([\d.]+) MB mean, ([\d.]+) MB max", stdout)
    assert per_client, stdout
    assert abs(float(per_client.group(2)) - s["bytes_per_client_max"] / 1e6) <= 0.005
    assert re.search(r"time\s+server compute [\d.]+ s, comm [\d.]+ s, wait [\d.]+ s; client ranks \(mean\)", stdout)


def test_client_compute_fraction_is_the_client_ranks_compute_over_ranks_times_wall(three_rank_run, single_rank_run):
    """/summary client_compute_fraction = client ranks' compute, summed / (client ranks × wall)."""
    for (run, stdout), client_ranks in ((three_rank_run, slice(1, None)), (single_rank_run, slice(0, 1))):
        h, s = history(run)
        compute = h["rank_compute_seconds"][:, client_ranks]
        assert np.isfinite(compute).all() and compute.sum() > 0
        expected = compute.sum() / (compute.shape[1] * s["wall_seconds"])
        fraction = s["client_compute_fraction"]
        assert 0 < fraction <= 1, fraction
        assert abs(fraction - expected) <= 1e-12, (fraction, expected)
        assert s["client_compute_fraction_units"] == "1"
        assert "wall_seconds" in s["client_compute_fraction_description"]
        printed = re.search(r"client ranks computed ([\d.]+)% of the wall time \(client_compute_fraction ([\d.]+)\)", stdout)
        assert printed, stdout
        assert abs(float(printed.group(2)) - fraction) <= 0.0005 and abs(float(printed.group(1)) - 100 * fraction) <= 0.05
    # Every summary attribute carries its units and a description.
    _, s = history(three_rank_run[0])
    values = [name for name in s if not name.endswith(("_units", "_description")) and name not in ("description", "units", "end_time")]
    for name in values:
        assert isinstance(s[name + "_units"], str) and s[name + "_description"], name


def test_one_rank_run_measures_rank_zero_as_server_and_client(single_rank_run):
    h, s = history(single_rank_run[0])
    for name in RANK_COLUMNS:
        assert h[name].shape == (ROUNDS, 1), name
    total = h["rank_compute_seconds"] + h["rank_comm_seconds"] + h["rank_wait_seconds"]
    np.testing.assert_allclose(total[:, 0], h["seconds"], rtol=1e-9, atol=1e-9)
    assert s["peak_client_rss"] == s["peak_server_rss"] == h["rank_peak_rss"].max()


def test_refused_uploads_keep_the_reports_in_step(tmp_path):
    """Faulty uploads (drained, refused) leave every rank's report of every round in place."""
    job = tmp_path / "faulty.toml"
    job.write_text(TINY_JOB.format(output=tmp_path / "runs", corpus=FORTUNES))
    env = dict(os.environ, FEDCYBGD_FAULTS="1:nan,4:short,7:huge,10:scale1000")
    done = subprocess.run(["bash", str(ROOT / "scripts/mpirun.sh"), "-n", "3", BINARY, "train", str(job)],
                          capture_output=True, text=True, timeout=600, env=env)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    h, s = history(tmp_path / "runs" / "tiny")
    rejected = h["rejected_uploads"] > 0
    assert rejected.sum() == 4
    up = h["client_bytes_up"].sum(axis=1)
    np.testing.assert_array_equal(up[~rejected], h["bytes_up"][~rejected])
    assert (up[rejected] >= h["bytes_up"][rejected]).all()
    assert (h["rank_peak_rss"] > 5e6).all()
    assert np.isfinite(h["rank_wait_seconds"]).all()
    assert s["peak_client_rss"] == h["rank_peak_rss"][:, 1:].max()


def test_a_run_resumed_on_more_ranks_widens_the_rank_columns_and_sums_the_whole_run(tmp_path, three_rank_run):
    """Four rounds on one rank, then the rest under mpirun -n 3: the summary covers all nine."""
    job = tmp_path / "tiny.toml"
    job.write_text(TINY_JOB.format(output=tmp_path / "runs", corpus=FORTUNES))
    for command in ([BINARY, "train", str(job), "--rounds", "4"],
                    ["bash", str(ROOT / "scripts/mpirun.sh"), "-n", "3", BINARY, "train", str(job), "--resume"]):
        done = subprocess.run(command, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    h, s = history(tmp_path / "runs" / "tiny")
    rss = h["rank_peak_rss"]
    assert rss.shape == (ROUNDS, 3)
    assert (rss[:4, 1:] == -1).all() and np.isnan(h["rank_compute_seconds"][:4, 1:]).all(), "one-rank rows padded"
    assert (rss[4:] > 5e6).all() and (rss[:4, 0] > 5e6).all()
    total = h["rank_compute_seconds"] + h["rank_comm_seconds"] + h["rank_wait_seconds"]
    np.testing.assert_allclose(total[:4, 0], h["seconds"][:4], rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(total[4:], np.broadcast_to(h["seconds"][4:, None], (5, 3)), rtol=1e-9, atol=1e-9)
    _, uninterrupted = history(three_rank_run[0])
    assert s["bytes_per_client_max"] == uninterrupted["bytes_per_client_max"]
    assert s["bytes_per_client_mean"] == uninterrupted["bytes_per_client_mean"]
    assert s["peak_server_rss"] == rss[:, 0].max()
    assert s["peak_client_rss"] == max(rss[:4, 0].max(), rss[4:, 1:].max())


def test_inspect_shows_the_measured_summary(three_rank_run):
    run, _ = three_rank_run
    _, s = history(run)
    done = subprocess.run([BINARY, "inspect", str(run)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    shown = re.search(r"peak RSS client ranks ([\d.]+) MB, server ([\d.]+) MB", done.stdout)
    assert shown, done.stdout
    assert abs(float(shown.group(1)) - s["peak_client_rss"] / 1e6) <= 0.005
    assert re.search(r"time over the rounds: server compute [\d.]+ s, .*client ranks \(mean\)", done.stdout), done.stdout


def test_bench_per_step_prints_every_timed_step_and_the_case_line_takes_their_median():
    steps = 5
    done = subprocess.run([str(BINARY), "bench", "--layers", "2", "--width", "64", "--heads", "4", "--vocab", "64",
                           "--sequence", "64", "--batch", "4", "--threads", "1", "--warmup", "1", "--steps", str(steps),
                           "--cases", "full", "--no-sgemm-reference", "--per-step"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    out = done.stdout + done.stderr
    case = re.search(r"^  full\s+tokens/s=\s*(\d+)\s+step_ms=\s*([\d.]+)", out, re.M)
    parts = {m.group(1): [float(x) for x in m.group(2).split()]
             for m in re.finditer(r"^  full (step|dense|attention)_ms:((?: [\d.]+)+)$", out, re.M)}
    assert case and sorted(parts) == ["attention", "dense", "step"], out
    assert all(len(times) == steps for times in parts.values()), parts
    for total, dense, attention in zip(parts["step"], parts["dense"], parts["attention"]):
        assert 0 < dense and 0 < attention and dense + attention <= total + 0.02, parts
    median = sorted(parts["step"])[steps // 2]
    assert abs(float(case.group(2)) - median) <= 0.06, (case.group(0), parts["step"])
    assert abs(int(case.group(1)) - 4 * 64 / (median / 1000)) <= 0.01 * int(case.group(1)) + 1, (case.group(0), median)
