"""/health latency while one client posts 7.6 MB bodies: parsing and inference on the event loop (as before
issue 25), in worker threads, and in worker processes (lamina.serve.workers; what lamina serve uses), side
by side on one machine.

For each mode a server runs the same digits MLP run in its own process on loopback; one client posts a
7.6 MB body of 4096 digit samples in a loop while another calls GET /health ``--probes`` times (200), 10 ms apart. The
modes alternate for ``--rounds`` rounds so that a burst of load on a shared machine hits both alike.

    .venv/bin/python benchmarks/serve_health.py --rounds 2 --probes 200
"""

from __future__ import annotations

import argparse
import json
import socket
import subprocess
import sys
import tempfile
import threading
import time

import httpx

SERVER = """
import sys, uvicorn
from lamina.serve.app import create_app
from lamina.serve.workers import Workers

class OnTheLoop(Workers):
    async def run(self, function, *args):
        return function(*args)  # what the handler did before: parse and predict on the event loop

workers = {"loop": OnTheLoop, "threads": Workers, "processes": lambda: Workers(processes=True)}[sys.argv[2]]()
uvicorn.run(create_app(sys.argv[1], workers=workers), host="127.0.0.1", port=int(sys.argv[3]), log_level="warning")
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def measure(run: str, mode: str, body: bytes, probes: int) -> tuple[float, float, int]:
    """(p50, p99) of /health in seconds and the number of bodies answered, for one server mode."""
    port = free_port()
    process = subprocess.Popen([sys.executable, "-c", SERVER, run, mode, str(port)])
    url = f"http://127.0.0.1:{port}"
    try:
        while True:
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        done, answered = threading.Event(), []

        def post() -> None:
            with httpx.Client(timeout=120) as client:
                while not done.is_set():
                    answered.append(client.post(f"{url}/predict", content=body,
                                                headers={"content-type": "application/json"}).status_code)

        poster = threading.Thread(target=post)
        poster.start()
        while not answered:
            time.sleep(0.01)
        latencies = []
        with httpx.Client(timeout=30) as client:
            for _ in range(probes):
                started = time.perf_counter()
                client.get(f"{url}/health")
                latencies.append(time.perf_counter() - started)
                time.sleep(0.01)
        done.set()
        poster.join()
        latencies.sort()
        return latencies[len(latencies) // 2], latencies[int(0.99 * len(latencies))], len(answered)
    finally:
        process.terminate()
        process.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--probes", type=int, default=200, help="GET /health calls per mode and round")
    parser.add_argument("--modes", nargs="+", default=["loop", "threads", "processes"],
                        choices=["loop", "threads", "processes"])
    args = parser.parse_args()
    import lamina

    with tempfile.TemporaryDirectory() as root:
        run = lamina.fit({"name": "health", "runs_dir": root, "data": {"dataset": "digits"},
                          "model": {"arch": "mlp", "hidden": [32]},
                          "train": {"epochs": 2, "tensorboard": False}}, progress="none")
        rows = [[float(f"{(i * 64 + j) % 997 / 61:.15f}") for j in range(64)] for i in range(4096)]
        body = json.dumps({"instances": rows}).encode()
        body += b" " * (7_600_000 - len(body))
        for r in range(args.rounds):
            for mode in args.modes:
                p50, p99, n = measure(str(run.folder.root), mode, body, args.probes)
                print(f"round {r} {mode:9s}: /health p50 {p50 * 1000:7.1f} ms  p99 {p99 * 1000:7.1f} ms  "
                      f"({n} bodies answered)", flush=True)


if __name__ == "__main__":
    main()
