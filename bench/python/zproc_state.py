"""
The state suite's workloads on ZProc, so `npm run bench -- state` can put ZProc beside zerokit
in the same run (see bench/state.ts, which runs this when ZK_BENCH_PYTHON can import zproc).

    python zproc_state.py probe
    python zproc_state.py seq BURST ROUNDS          -> {"rate": pairs/s, median of the bursts}
    python zproc_state.py many CLIENTS DURATION_MS  -> {"rate": pairs/s of all clients}
    python zproc_state.py watch COUNT [WARMUP]      -> {"p50": us, "p99": us} of COUNT after WARMUP untimed
    python zproc_state.py map ITEMS                 -> {"rate": items/s, cold swarm of 4}
    python zproc_state.py warm ITEMS                -> {"rate": items/s, warm swarm of 4}

Each prints one JSON line. The workloads are the ones bench/state.ts runs on zerokit: set+get
pairs on keys k0..k99, writes paced 1 ms apart timed to the watcher, a map of x*x over 4 workers.
All sockets are on tcp 127.0.0.1, as zerokit's are in that suite.
"""
import collections
import collections.abc
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

# ZProc 0.9 predates Python 3.10 and cloudpickle 2: give it the names it imports.
for _name in ("Callable", "Mapping", "MutableMapping", "Iterable", "Sequence"):
    if not hasattr(collections, _name):
        setattr(collections, _name, getattr(collections.abc, _name))
import cloudpickle  # noqa: E402
import cloudpickle.cloudpickle  # noqa: E402

for _name in ("dumps", "loads"):
    if not hasattr(cloudpickle.cloudpickle, _name):
        setattr(cloudpickle.cloudpickle, _name, getattr(cloudpickle, _name))

import zproc  # noqa: E402
import zproc.util  # noqa: E402


def _bind_loopback(sock):
    # ZProc binds its other sockets on tcp://* (every interface); this suite stays on loopback.
    return "tcp://127.0.0.1:%d" % sock.bind_to_random_port("tcp://127.0.0.1")


zproc.util.bind_to_random_tcp = _bind_loopback


def now_us():
    # CLOCK_MONOTONIC, comparable across processes (bench/state.ts uses the same clock).
    return time.monotonic_ns() / 1000


def out(value):
    sys.stdout.write(json.dumps(value) + "\n")
    sys.stdout.flush()


def context():
    port = _bind_probe_port()
    return zproc.Context("tcp://127.0.0.1:%d" % port)


def _bind_probe_port():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pair(state, i):
    key = "k%d" % (i % 100)
    state[key] = i
    return state[key]


def seq(burst, rounds):
    ctx = context()
    state = ctx.create_state()
    for i in range(500):
        pair(state, i)
    rates = []
    for _ in range(rounds):
        start = time.perf_counter()
        for i in range(burst):
            pair(state, i)
        rates.append(burst / (time.perf_counter() - start))
    out({"rate": statistics.median(rates)})


WARM_PAIRS = 500


def client(address, stop_file):
    state = zproc.State(address)
    for i in range(WARM_PAIRS):
        pair(state, i)
    out({"ready": True})
    times = []
    while len(times) % 20 != 0 or not os.path.exists(stop_file):
        pair(state, len(times))
        times.append(now_us())
    out({"times": times})


def spawn(*args):
    return subprocess.Popen(
        [sys.executable, __file__, *map(str, args)], stdout=subprocess.PIPE, text=True, bufsize=1
    )


def many(clients, duration_ms):
    ctx = context()
    stop_file = os.path.join(tempfile.gettempdir(), "zk-zproc-bench-%d" % os.getpid())
    children = [spawn("client", ctx.server_address, stop_file) for _ in range(clients)]
    try:
        for child in children:
            json.loads(child.stdout.readline())
        start = now_us()
        time.sleep(duration_ms / 1000)
        end = now_us()
        open(stop_file, "w").close()
        count = 0
        for child in children:
            times = json.loads(child.stdout.readline())["times"]
            count += sum(1 for t in times if start <= t <= end)
            child.wait()
        out({"rate": count / (end - start) * 1e6})
    finally:
        if os.path.exists(stop_file):
            os.remove(stop_file)


def reader(address, count, warmup=0):
    state = zproc.State(address)
    state["w"] = 0
    latencies = []
    watcher = state.when_change("w", count=count + warmup)
    out({"ready": True})
    for index, snapshot in enumerate(watcher):
        if index >= warmup:
            latencies.append(now_us() - snapshot["w"])
    latencies.sort()
    out({"p50": latencies[len(latencies) // 2], "p99": latencies[int(len(latencies) * 0.99)]})


def watch(count, warmup=0):
    ctx = context()
    child = spawn("reader", ctx.server_address, count, warmup)
    json.loads(child.stdout.readline())
    state = ctx.create_state()
    for _ in range(count + warmup):
        state["w"] = now_us()
        time.sleep(0.001)
    result = json.loads(child.stdout.readline())
    child.wait()
    out(result)


def square(x):
    return x * x


def cold_map(items):
    ctx = context()
    values = list(range(items))
    start = time.perf_counter()
    swarm = ctx.create_swarm(4)
    result = swarm.map(square, values)
    elapsed = time.perf_counter() - start
    assert len(result) == items
    swarm.stop(force=True)
    out({"rate": items / elapsed})


def warm_map(items):
    ctx = context()
    swarm = ctx.create_swarm(4)
    values = list(range(items))
    swarm.map(square, values)
    rates = []
    for _ in range(5):
        start = time.perf_counter()
        result = swarm.map(square, values)
        rates.append(items / (time.perf_counter() - start))
        assert len(result) == items
    swarm.stop(force=True)
    out({"rate": statistics.median(rates)})


if __name__ == "__main__":
    role, *args = sys.argv[1:]
    if role == "probe":
        out({"zproc": zproc.__version__})
    elif role == "seq":
        seq(int(args[0]), int(args[1]))
    elif role == "many":
        many(int(args[0]), int(args[1]))
    elif role == "client":
        client(args[0], args[1])
    elif role == "watch":
        watch(int(args[0]), int(args[1]) if len(args) > 1 else 0)
    elif role == "reader":
        reader(args[0], int(args[1]), int(args[2]) if len(args) > 2 else 0)
    elif role == "map":
        cold_map(int(args[0]))
    elif role == "warm":
        warm_map(int(args[0]))
    else:
        raise SystemExit("unknown role " + role)
