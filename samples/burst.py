#!/usr/bin/env python3
"""A burst like a production one: N keep-alive connections opened first, then one request sent on every one of
them at the same instant, then every response read. Prints how long the burst took to be answered in full.

Usage: python3 samples/burst.py [--port 5000] [--connections 6000] [--requests 1] [--path /plaintext] [--rounds 3]
Loopback only. Needs 2 fds per connection in total (server + client); raise `ulimit -n` first.
"""
import argparse, selectors, socket, sys, time

p = argparse.ArgumentParser()
p.add_argument("--port", type=int, default=5000)
p.add_argument("--connections", type=int, default=6000)
p.add_argument("--requests", type=int, default=1, help="pipelined requests per connection")
p.add_argument("--path", default="/plaintext")
p.add_argument("--rounds", type=int, default=3)
p.add_argument("--timeout", type=float, default=30.0)
a = p.parse_args()

request = (f"GET {a.path} HTTP/1.1\r\nHost: localhost\r\n\r\n".encode()) * a.requests
socks = []
for _ in range(a.connections):
    s = socket.create_connection(("127.0.0.1", a.port), timeout=a.timeout)
    s.setblocking(False)
    socks.append(s)

def responses_in(data):
    """Complete responses (Content-Length bodies) at the start of data, and the bytes they take."""
    count, pos = 0, 0
    while True:
        end = data.find(b"\r\n\r\n", pos)
        if end < 0:
            return count, pos
        length = 0
        for line in data[pos:end].split(b"\r\n")[1:]:
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":")[1])
        if len(data) < end + 4 + length:
            return count, pos
        count, pos = count + 1, end + 4 + length

for r in range(a.rounds):
    sel = selectors.DefaultSelector()
    buffers = {s.fileno(): b"" for s in socks}
    got = {s.fileno(): 0 for s in socks}
    start = time.perf_counter()
    for s in socks:  # the barrier: every request leaves together
        s.sendall(request)
        sel.register(s, selectors.EVENT_READ)
    pending = len(socks)
    deadline = start + a.timeout
    while pending and time.perf_counter() < deadline:
        for key, _ in sel.select(timeout=1.0):
            s = key.fileobj
            chunk = s.recv(65536)
            if not chunk:
                print("connection closed by the server", file=sys.stderr)
                sys.exit(1)
            buffers[s.fileno()] += chunk
            n, used = responses_in(buffers[s.fileno()])
            got[s.fileno()] += n
            buffers[s.fileno()] = buffers[s.fileno()][used:]
            if got[s.fileno()] >= a.requests:
                sel.unregister(s)
                pending -= 1
    elapsed = time.perf_counter() - start
    sel.close()
    if pending:
        print(f"round {r + 1}: {pending} of {len(socks)} connections unanswered after {a.timeout} s")
        sys.exit(1)
    print(f"round {r + 1}: {len(socks)} connections x {a.requests} request(s) answered in {elapsed * 1000:.0f} ms")
for s in socks:
    s.close()
