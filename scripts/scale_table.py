"""The table of scripts/scale-bench.sh: per run (clients N, hosts x ranks) rank 0's per-round
compute and CPU seconds and the bytes broadcast per round (medians over rounds 2.., so the first
round's whole-model broadcast is left out), and each rank's peak RSS at the end; then how they
grow from the fewest to the most clients, and with the hosts.

    python3 scripts/scale_table.py RUNS PARTITION K "64 256 1024" "1x4 2x2 4x1" [EXTRA_K]
"""
import os
import statistics
import sys

import h5py

MB = 1e6


def measure(folder):
    """The figures of one run folder."""
    with h5py.File(f"{folder}/history.h5", "r") as f:
        h = f["history"]
        later = slice(1, None)  # rounds 2..R
        rss = h["rank_peak_rss"][-1]
        figures = {
            "params": int(f.attrs["parameter_count"]),
            "rounds": len(h["round"]),
            "compute": statistics.median(h["rank_compute_seconds"][later, 0]),
            "cpu": statistics.median(h["server_cpu_seconds"][later]),
            "comm": statistics.median(h["rank_comm_seconds"][later, 0]),
            "wall": statistics.median(h["seconds"][later]),
            "broadcast": statistics.median(h["bytes_broadcast"][later]),
            "up": statistics.median(h["bytes_up"][later]),
            "first_broadcast": int(h["bytes_broadcast"][0]),
            "first_up": int(h["bytes_up"][0]),
            "server_rss": int(rss[0]),
            "client_rss": int(rss[1:].max()),
            "ranks_rss": [int(r) for r in rss],
        }
    with open(f"{folder}/checkpoint-bytes") as f:  # the newest checkpoint's size (scale-bench.sh)
        figures["checkpoint_bytes"] = int(f.read())
    figures["partition_bytes"] = os.path.getsize(f"{folder}/partition.h5")
    with h5py.File(f"{folder}/partition.h5", "r") as f:
        tokens = f["client_tokens"][()]
        figures["clients"] = len(tokens)
        figures["min_tokens"] = int(tokens.min())
    return figures


def ratio(a, b):
    return f"{b / a:.2f}x" if a else "n/a"


def main():
    runs, partition, k, clients_text, layouts_text = sys.argv[1:6]
    extra_k = sys.argv[6] if len(sys.argv) > 6 else ""
    clients = [int(n) for n in clients_text.split()]
    layouts = layouts_text.split()
    table = {(n, lay): measure(f"{runs}/scale-{n}-{lay}") for lay in layouts for n in clients}
    first = table[(clients[0], layouts[0])]
    print(f"FedCyBGD, GPT-2-small shape (12 x 768, 12 heads, vocab 50257: {first['params']:,} parameters), "
          f"data.partition = \"{partition}\" on fortunes, k = {k} clients per round, 1 local step of batch 2 x 64, "
          f"{first['rounds']} rounds (round 1 trains the embeddings, rounds 2.. layers h.0, h.1, ...), 4 ranks "
          f"(rank 0 server, ranks 1-3 client hosts); one run per row")
    print("per round: medians over rounds 2..R (the last round includes the final evaluation); peak RSS: VmHWM "
          "at the end of the run (set in round 1, the whole-model broadcast and the embedding round)")
    print("hosts x ranks: 1x4 = one host, mpirun -n 4 over shared memory (vader); 2x2, 4x1 = namespace hosts, "
          "btl tcp over a bridge")
    head = (f"{'clients':>7s} {'hosts':>7s} {'min tokens':>10s} {'server compute':>14s} {'server CPU':>10s} "
            f"{'server comm':>11s} {'round wall':>10s} {'broadcast':>11s} {'uploads':>10s} "
            f"{'server RSS':>10s} {'max client RSS':>14s}  each rank's peak RSS (MB)")
    print(head)
    for lay in layouts:
        for n in clients:
            m = table[(n, lay)]
            print(f"{m['clients']:7d} {lay:>7s} {m['min_tokens']:10d} {m['compute']:12.3f} s {m['cpu']:8.3f} s "
                  f"{m['comm']:9.3f} s {m['wall']:8.2f} s {m['broadcast'] / MB:8.1f} MB {m['up'] / MB:7.1f} MB "
                  f"{m['server_rss'] / MB:7.0f} MB {m['client_rss'] / MB:11.0f} MB  "
                  + " ".join(f"{r / MB:.0f}" for r in m["ranks_rss"]))
    low, high = clients[0], clients[-1]
    for lay in layouts:
        a, b = table[(low, lay)], table[(high, lay)]
        print(f"growth {low} -> {high} clients on {lay}: server compute {ratio(a['compute'], b['compute'])}, "
              f"server CPU {ratio(a['cpu'], b['cpu'])}, broadcast {ratio(a['broadcast'], b['broadcast'])}, "
              f"uploads {ratio(a['up'], b['up'])}, server peak RSS {ratio(a['server_rss'], b['server_rss'])} "
              f"({(b['server_rss'] - a['server_rss']) / MB:+.0f} MB), max client peak RSS "
              f"{ratio(a['client_rss'], b['client_rss'])} ({(b['client_rss'] - a['client_rss']) / MB:+.0f} MB)")
    a, b = table[(low, layouts[0])], table[(high, layouts[0])]
    print(f"files {low} -> {high} clients: checkpoint {a['checkpoint_bytes']:,} -> {b['checkpoint_bytes']:,} bytes "
          f"({b['checkpoint_bytes'] - a['checkpoint_bytes']:+,}: the per-client download state), partition.h5 "
          f"{a['partition_bytes']:,} -> {b['partition_bytes']:,} bytes")
    base = layouts[0]
    for lay in layouts[1:]:
        a, b = table[(high, base)], table[(high, lay)]
        print(f"hosts {base} -> {lay} at {high} clients: server comm {ratio(a['comm'], b['comm'])}, "
              f"round wall {ratio(a['wall'], b['wall'])}, server compute {ratio(a['compute'], b['compute'])}, "
              f"broadcast {ratio(a['broadcast'], b['broadcast'])}, server peak RSS "
              f"{ratio(a['server_rss'], b['server_rss'])}, max client peak RSS {ratio(a['client_rss'], b['client_rss'])}")
    if extra_k:
        a, b = table[(high, base)], measure(f"{runs}/scale-{high}-{base}-k{extra_k}")
        print(f"k {k} -> {extra_k} at {high} clients on {base}: server compute {ratio(a['compute'], b['compute'])} "
              f"({b['compute']:.3f} s), server CPU {ratio(a['cpu'], b['cpu'])} ({b['cpu']:.3f} s), "
              f"uploads {ratio(a['up'], b['up'])} ({b['up'] / MB:.1f} MB), broadcast {ratio(a['broadcast'], b['broadcast'])}, "
              f"server peak RSS {ratio(a['server_rss'], b['server_rss'])} ({b['server_rss'] / MB:.0f} MB)")
    block = first["up"] / int(k)
    print(f"k x block: the median round uploads {first['up'] / MB:.1f} MB = {k} x {block / MB:.1f} MB (one layer "
          f"block, header included); round 1 broadcast the whole model, {first['first_broadcast'] / MB:.1f} MB, and "
          f"uploaded {first['first_up'] / MB:.1f} MB = {k} x {first['first_up'] / int(k) / MB:.1f} MB (the embeddings)")


if __name__ == "__main__":
    main()
