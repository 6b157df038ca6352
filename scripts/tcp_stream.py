"""A plain TCP stream between two hosts, the yardstick for fedcybgd bench-network: the receiver
takes COUNT bytes per repeat and answers with one byte; the sender times each repeat from its
first byte to that answer, as bench-network times its cases, and prints the median in seconds.

  python3 scripts/tcp_stream.py receive ADDRESS PORT              (on one host; serves one sender)
  python3 scripts/tcp_stream.py send ADDRESS PORT BYTES REPEATS   (on another)
"""
import socket
import statistics
import sys
import time


def receive(address, port):
    with socket.create_server((address, port)) as server:
        connection, _ = server.accept()
        with connection:
            buffer = bytearray(1 << 22)
            view = memoryview(buffer)
            while True:
                header = connection.recv(8, socket.MSG_WAITALL)
                if len(header) < 8:
                    return
                left = int.from_bytes(header, "little")
                while left > 0:
                    got = connection.recv_into(view, min(left, len(buffer)))
                    if got == 0:
                        return
                    left -= got
                connection.sendall(b"\x01")


def send(address, port, count, repeats):
    payload = bytes(count)
    for attempt in range(100):  # the receiver may still be starting
        try:
            connection = socket.create_connection((address, port))
            break
        except ConnectionRefusedError:
            time.sleep(0.05)
    else:
        sys.exit(f"tcp_stream: nothing listens on {address}:{port}")
    connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    times = []
    with connection:
        for index in range(repeats + 1):
            start = time.perf_counter()
            connection.sendall(count.to_bytes(8, "little"))
            connection.sendall(payload)
            if connection.recv(1) != b"\x01":
                sys.exit("tcp_stream: the receiver went away")
            if index > 0:  # the first repeat is a warm-up, as in bench-network
                times.append(time.perf_counter() - start)
    median = statistics.median(times)
    print(f"{median:.9f}")


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "receive":
        receive(sys.argv[2], int(sys.argv[3]))
    elif len(sys.argv) == 6 and sys.argv[1] == "send":
        send(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]))
    else:
        sys.exit(__doc__)
