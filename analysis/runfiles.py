"""Reads a fedcybgd run folder (history.h5 and checkpoints) for the analysis scripts.

Everything is opened read-only and without HDF5 file locking, so a run that is still writing
history.h5 is never blocked. A reader can catch history.h5 in the middle of an append; the
columns are then cut to the shortest one, and a failed open is retried a few times.
docs/RUN-FILES.md describes the files; docs/ANALYSIS.md describes these scripts.
"""
from __future__ import annotations

import os

# Must be set before h5py (and so libhdf5) is imported; locking=False below as well.
os.environ["HDF5_USE_FILE_LOCKING"] = "FALSE"

import dataclasses
import pathlib
import re
import time
import tomllib

import h5py
import numpy as np

FORMAT_VERSION = 2       # the run-file format these readers understand (docs/RUN-FILES.md)


def open_h5(path: pathlib.Path, attempts: int = 5) -> h5py.File:
    """Opens an HDF5 file read-only without locking, retrying while a writer is mid-append."""
    for attempt in range(attempts):
        try:
            return h5py.File(path, "r", locking=False)
        except OSError:
            if attempt == attempts - 1:
                raise
            time.sleep(0.2 * (attempt + 1))
    raise AssertionError("unreachable")


def _attr(obj, name, default=None):
    value = obj.attrs.get(name, default)
    if isinstance(value, bytes):
        value = value.decode()
    if isinstance(value, np.generic):
        value = value.item()
    return value


@dataclasses.dataclass
class Column:
    data: np.ndarray
    units: str
    description: str


@dataclasses.dataclass
class BlockVisits:
    name: str
    index: int
    columns: dict[str, Column]


@dataclasses.dataclass
class Checkpoint:
    path: pathlib.Path
    round: int
    block_params: dict[int, int]          # block index -> parameter count
    state: dict[str, np.ndarray]


@dataclasses.dataclass
class Run:
    folder: pathlib.Path
    attrs: dict
    job: dict                              # the parsed job TOML ({} if it does not parse)
    history: dict[str, Column]             # every column cut to the same length
    blocks: list[BlockVisits]              # sorted by block index
    summary: dict | None                   # /summary attributes, None while running or if stopped
    checkpoint: Checkpoint | None          # the newest complete checkpoint, if any
    tasks: list[str] = dataclasses.field(default_factory=list)  # instruction data: the per-task columns' names

    @property
    def name(self) -> str:
        return self.folder.name

    @property
    def finished(self) -> bool:
        return self.summary is not None

    @property
    def rows(self) -> int:
        return len(self.history["round"].data)

    def col(self, name: str) -> np.ndarray:
        return self.history[name].data

    def units(self, name: str) -> str:
        return self.history[name].units

    @property
    def clients_per_round(self) -> int | None:
        k = self.attrs.get("clients_per_round")
        if k is None:
            k = self.job.get("train", {}).get("clients_per_round")
        return None if k is None else int(k)

    @property
    def local_steps(self) -> int | None:
        e = self.job.get("train", {}).get("local_steps")
        return None if e is None else int(e)

    @property
    def planned_rounds(self) -> int | None:
        train = self.job.get("train", {})
        if "rounds" in train:
            return int(train["rounds"])
        if "cycles" in train and "layers" in self.job.get("model", {}):
            return int(train["cycles"]) * (int(self.job["model"]["layers"]) + 2)
        return None

    def client_count(self) -> tuple[int, bool]:
        """(number of clients, exact?): from /summary or a checkpoint, else the largest id seen + 1."""
        if self.summary and "clients" in self.summary:
            return int(self.summary["clients"]), True
        if self.checkpoint is not None and "client_unit_version" in self.checkpoint.state:
            return len(self.checkpoint.state["client_unit_version"]), True
        clients = self.col("clients")
        seen = clients[clients >= 0]
        return (int(seen.max()) + 1 if seen.size else 0), False

    def round_clients(self, row: int) -> list[int]:
        return [int(c) for c in np.atleast_1d(self.col("clients")[row]) if c >= 0]

    def initial_eval_loss(self) -> float | None:
        if self.summary and "initial_eval_loss" in self.summary:
            return float(self.summary["initial_eval_loss"])
        if self.checkpoint is not None and "initial_eval_loss" in self.checkpoint.state:
            return float(self.checkpoint.state["initial_eval_loss"])
        return None


def _read_columns(group: h5py.Group) -> dict[str, Column]:
    """Every dataset of a per-round table, with the units and description the file gives it."""
    columns = {}
    for name, ds in group.items():
        if isinstance(ds, h5py.Dataset):
            columns[name] = Column(ds[()], str(_attr(ds, "units", "")), str(_attr(ds, "description", "")))
    if columns:
        # A reader may catch an append half done: keep only the rows every column has.
        rows = min(len(c.data) for c in columns.values())
        for c in columns.values():
            c.data = c.data[:rows]
    return columns


def newest_checkpoint(folder: pathlib.Path) -> Checkpoint | None:
    """The newest checkpoint marked complete; unreadable ones (or ones pruned meanwhile) are skipped."""
    for path in sorted(folder.glob("checkpoint-*.h5"), reverse=True):
        try:
            with open_h5(path, attempts=1) as f:
                if int(_attr(f, "complete", 0)) != 1:
                    continue
                params: dict[int, int] = {}
                for ds in f["model"].values():
                    block = int(_attr(ds, "block", -1))
                    params[block] = params.get(block, 0) + int(np.prod(ds.shape))
                state = {name: ds[()] for name, ds in f["state"].items()} if "state" in f else {}
                return Checkpoint(path, int(_attr(f, "round", 0)), params, state)
        except (OSError, KeyError):
            continue
    return None


def load_run(folder: str | os.PathLike) -> Run:
    folder = pathlib.Path(folder)
    path = folder / "history.h5"
    if not path.is_file():
        raise SystemExit(f"{folder}: no history.h5 here; give a run folder such as runs/demo")
    for attempt in range(5):
        try:
            with open_h5(path) as f:
                attrs = {k: _attr(f, k) for k in f.attrs}
                version = int(attrs.get("format_version", 1))
                if version != FORMAT_VERSION:
                    raise SystemExit(f"{path}: run-file format version {version}; these scripts read version "
                                     f"{FORMAT_VERSION} only")
                history = _read_columns(f["history"])
                tasks_text = _attr(f["history"], "tasks")
                tasks = str(tasks_text).split("\n") if tasks_text is not None else []
                blocks = []
                if "blocks" in f:
                    for name, group in f["blocks"].items():
                        if "visits" in group:
                            blocks.append(BlockVisits(name, int(_attr(group, "block", len(blocks))),
                                                      _read_columns(group["visits"])))
                summary = {k: _attr(f["summary"], k) for k in f["summary"].attrs} if "summary" in f else None
            break
        except (OSError, KeyError, RuntimeError):
            if attempt == 4:
                raise
            time.sleep(0.2 * (attempt + 1))
    try:
        job = tomllib.loads(attrs.get("job", "") or "")
    except tomllib.TOMLDecodeError:
        job = {}
    blocks.sort(key=lambda b: b.index)
    return Run(folder, attrs, job, history, blocks, summary, newest_checkpoint(folder), tasks)


# ---- derived quantities -------------------------------------------------------------------

@dataclasses.dataclass
class ClientBytes:
    down: np.ndarray          # bytes each client was charged for its downloads
    up: np.ndarray            # bytes the server received from each client
    visits: np.ndarray        # rounds each client was selected in
    rounds: int               # rounds with clients
    clients_exact: bool       # the client count is known (else: largest id seen + 1)


def bytes_per_client(run: Run) -> ClientBytes:
    """Each client's bytes over the run, from /history/client_bytes_down and client_bytes_up:
    what the server charged each selected client for its download (its own delta sync) and the
    bytes it received from it, a rejected upload included."""
    n, exact = run.client_count()
    down = np.zeros(n, dtype=np.float64)
    up = np.zeros(n, dtype=np.float64)
    visits = np.zeros(n, dtype=np.int64)
    rounds = 0
    for i in range(run.rows):
        clients = run.round_clients(i)
        rounds += bool(clients)
        charged = np.atleast_1d(run.col("client_bytes_down")[i])[:len(clients)]
        received = np.atleast_1d(run.col("client_bytes_up")[i])[:len(clients)]
        for c, d, u in zip(clients, charged, received):
            down[c] += max(int(d), 0)
            up[c] += max(int(u), 0)
            visits[c] += 1
    return ClientBytes(down, up, visits, rounds, exact)


def measured_bytes_per_client(run: Run) -> dict[int, int] | None:
    """Bytes down + up of each client that took part, from /history/client_bytes_down and
    client_bytes_up (what the server charged and received, per client); None when a row lacks
    a value (a round whose client could not be measured)."""
    totals: dict[int, int] = {}
    for i in range(run.rows):
        clients = run.round_clients(i)
        down = np.atleast_1d(run.col("client_bytes_down")[i])[:len(clients)]
        up = np.atleast_1d(run.col("client_bytes_up")[i])[:len(clients)]
        if (down < 0).any() or (up < 0).any():
            return None
        for client, d, u in zip(clients, down, up):
            totals[client] = totals.get(client, 0) + int(d) + int(u)
    return totals


def peak_rss(run: Run) -> tuple[int | None, int | None]:
    """(peak RSS of the client ranks, of rank 0) over the rows, in bytes, from /history/rank_peak_rss.
    In one-rank rounds rank 0 hosts the clients, so it counts for both. None where not measured."""
    if "rank_peak_rss" not in run.history or run.rows == 0:
        return None, None
    rss = np.atleast_2d(run.col("rank_peak_rss"))
    server = rss[:, 0][rss[:, 0] >= 0]
    ranks = (rss >= 0).sum(axis=1)
    clients = np.concatenate([row[1:] if n > 1 else row[:1] for row, n in zip(rss, ranks)])
    clients = clients[clients >= 0]
    return (int(clients.max()) if clients.size else None), (int(server.max()) if server.size else None)


def tokens_trained(run: Run) -> tuple[int | None, str]:
    """(tokens, source): /summary, else a checkpoint of the last row's round, else from the job."""
    if run.summary and "tokens_trained" in run.summary:
        return int(run.summary["tokens_trained"]), "summary"
    last = int(run.col("round")[-1]) if run.rows else 0
    if run.checkpoint is not None and run.checkpoint.round == last and "tokens_trained" in run.checkpoint.state:
        return int(run.checkpoint.state["tokens_trained"]), "checkpoint"
    train = run.job.get("train", {})
    if all(key in train for key in ("local_steps", "batch", "sequence")):
        # Each accepted upload trained local_steps × batch × sequence tokens (FedCyBGD.swift).
        clients = run.col("clients")
        accepted = int((np.atleast_2d(clients.reshape(run.rows, -1)) >= 0).sum() - run.col("rejected_uploads").sum())
        return accepted * int(train["local_steps"]) * int(train["batch"]) * int(train["sequence"]), "job"
    return None, "unknown"


def eval_points(run: Run) -> tuple[np.ndarray, np.ndarray]:
    """(rows, losses) of the rounds that evaluated."""
    loss = run.col("eval_loss").astype(np.float64)
    ok = np.flatnonzero(np.isfinite(loss))
    return ok, loss[ok]


def scale_bytes(values) -> tuple[float, str]:
    """A decimal unit (as the program prints: kB = 1000 bytes) that suits the largest value."""
    peak = float(np.nanmax(np.abs(values))) if np.size(values) else 0.0
    for factor, unit in ((1e12, "TB"), (1e9, "GB"), (1e6, "MB"), (1e3, "kB")):
        if peak >= factor:
            return factor, unit
    return 1.0, "bytes"


def resume_rounds(run: Run) -> list[int]:
    """The checkpoint rounds the run was resumed from, read from the resume_log attribute
    (one line per resume: '<time> resumed from <checkpoint> at round <r>...')."""
    log = str(run.attrs.get("resume_log") or "")
    return [int(m.group(1)) for m in re.finditer(r"at round (\d+)", log)]
