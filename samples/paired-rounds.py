#!/usr/bin/env python3
"""Side-by-side throughput of several servers, measured in short alternating rounds while all of them run.

    python3 samples/paired-rounds.py [--rounds 30] [--seconds 3] [--connections 64] [--path /plaintext] \
        NAME=DLL[:TRANSPORT[:ENV=VALUE...]] ...

Why this shape: on a shared VM the machine's speed drifts by 15-25 % within seconds, so two builds measured one
after the other in 15 s rounds differ by more than any change under test. Here every server is started once and
warmed up, then each round runs wrk for a few seconds against each in turn, reversing the order every round
(ABBA), so drift hits every server alike. Each round gives a ratio to the first server; the report is the median
ratio, its quartiles and a bootstrap 95 % interval of the median, and server CPU per request (utime+stime from
/proc, which does not depend on how fast the machine was in that round as much as throughput does).
"""
import argparse
import os
import random
import re
import statistics
import subprocess
import sys
import time
import urllib.request


def parse_run(spec):
    name, _, rest = spec.partition('=')
    parts = rest.split(':')
    env = dict(kv.split('=', 1) for kv in parts[2:])
    return name, parts[0], (parts[1] if len(parts) > 1 and parts[1] else 'ringcore'), env


def wait_ready(port, path):
    for _ in range(300):
        try:
            urllib.request.urlopen(f'http://127.0.0.1:{port}{path}', timeout=1).read()
            return
        except OSError:
            time.sleep(0.1)
    sys.exit(f'the server on port {port} did not answer {path} within 30 s')


def cpu_seconds(pid):
    fields = open(f'/proc/{pid}/stat').read().rsplit(')', 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf('SC_CLK_TCK')


def wrk(port, args):
    out = subprocess.run(['wrk', '-t1', f'-c{args.connections}', f'-d{args.seconds}s', '--latency',
                          f'http://127.0.0.1:{port}{args.path}'], capture_output=True, text=True, check=True).stdout
    return float(re.search(r'Requests/sec:\s+([\d.]+)', out).group(1)), re.search(r'\s99%\s+(\S+)', out).group(1)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--rounds', type=int, default=30)
    parser.add_argument('--seconds', type=int, default=3)
    parser.add_argument('--warmup', type=int, default=10, help='seconds of wrk per server before the rounds')
    parser.add_argument('--connections', type=int, default=64)
    parser.add_argument('--path', default='/plaintext')
    parser.add_argument('--base-port', type=int, default=5100)
    parser.add_argument('runs', nargs='+', help='NAME=DLL[:TRANSPORT[:ENV=VALUE...]]; ratios are to the first')
    args = parser.parse_args()

    runs = [parse_run(spec) for spec in args.runs]
    servers = []
    try:
        for i, (name, dll, transport, env) in enumerate(runs):
            port = args.base_port + i
            process = subprocess.Popen(['dotnet', dll, '--urls', f'http://127.0.0.1:{port}', '--transport', transport],
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, **env})
            servers.append((name, port, process))
        for _, port, _ in servers:
            wait_ready(port, args.path)
        for _, port, _ in servers:  # warm-up: lets tiered JIT settle
            subprocess.run(['wrk', '-t1', f'-c{args.connections}', f'-d{args.warmup}s', f'http://127.0.0.1:{port}{args.path}'],
                           capture_output=True, check=True)

        results = {name: [] for name, _, _ in servers}
        for round_number in range(1, args.rounds + 1):
            for name, port, process in (servers if round_number % 2 else servers[::-1]):
                before = cpu_seconds(process.pid)
                rps, p99 = wrk(port, args)
                cpu_us = (cpu_seconds(process.pid) - before) * 1e6 / (rps * args.seconds)
                results[name].append((rps, p99, cpu_us))
                print(f'{round_number} {name} {rps:.0f} req/s p99 {p99} cpu {cpu_us:.2f} us/req', flush=True)

        base = servers[0][0]
        print(f'\n{args.rounds} rounds of {args.seconds} s, {args.connections} connections, {args.path}:')
        for name, _, _ in servers:
            rows = results[name]
            rates = sorted(r[0] for r in rows)
            line = (f'{name}: median {statistics.median(rates):.0f} req/s ({rates[0]:.0f}-{rates[-1]:.0f}), '
                    f'cpu median {statistics.median(r[2] for r in rows):.2f} us/req')
            if name != base:
                ratios = sorted(r[0] / b[0] for r, b in zip(rows, results[base]))
                cpu_ratios = [r[2] / b[2] for r, b in zip(rows, results[base])]
                medians = sorted(statistics.median(random.choices(ratios, k=len(ratios))) for _ in range(2000))
                line += (f'\n  {name}/{base}: median {statistics.median(ratios):.3f}x '
                         f'(quartiles {ratios[len(ratios) // 4]:.2f}-{ratios[3 * len(ratios) // 4]:.2f}, '
                         f'range {ratios[0]:.2f}-{ratios[-1]:.2f}, 95 % interval of the median '
                         f'{medians[50]:.3f}-{medians[1949]:.3f}); cpu per request {statistics.median(cpu_ratios):.3f}x')
            print(line)
    finally:
        for _, _, process in servers:
            process.terminate()
        for _, _, process in servers:
            process.wait()


if __name__ == '__main__':
    main()
