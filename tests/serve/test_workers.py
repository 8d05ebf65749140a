"""The worker pool of the service: a bounded number of requests admitted, 503 with Retry-After beyond."""

from __future__ import annotations

import asyncio
import threading

import pytest

import lamina
from lamina.serve.workers import Busy, Workers


def test_workers_run_off_the_calling_thread_and_admit_a_bounded_number() -> None:
    workers = Workers(threads=2, waiting=3)
    for _ in range(3):
        workers.admit()
    with pytest.raises(Busy):
        workers.admit()
    workers.release()
    workers.admit()
    assert asyncio.run(workers.run(threading.get_ident)) != threading.get_ident()
    workers.close()


def test_a_full_queue_answers_503_with_retry_after(tmp_path) -> None:
    from fastapi.testclient import TestClient

    from lamina.serve.app import create_app

    run = lamina.fit({"name": "w", "runs_dir": str(tmp_path), "data": {"dataset": "iris"},
                      "model": {"arch": "mlp", "hidden": [4]},
                      "train": {"epochs": 1, "tensorboard": False, "diagnose": False}}, progress="none")
    workers = Workers(threads=1, waiting=1)
    with TestClient(create_app(run, workers=workers)) as client:
        body = {"instances": [[5.1, 3.5, 1.4, 0.2]]}
        assert client.post("/predict", json=body).status_code == 200
        workers.admit()  # the one slot is taken by a request still being answered
        busy = client.post("/predict", json=body)
        assert busy.status_code == 503 and busy.headers["retry-after"] == "1"
        assert client.get("/health").status_code == 200
        workers.release()
        assert client.post("/predict", json=body).status_code == 200


def test_a_dead_worker_process_is_a_busy_answer_and_the_pool_is_replaced() -> None:
    import os
    import signal

    async def scenario() -> tuple[int, int]:
        workers = Workers(threads=1, processes=True)
        await workers.start()
        first = await workers.run(os.getpid)
        assert first != os.getpid()
        os.kill(first, signal.SIGKILL)
        with pytest.raises(Busy):
            await workers.run(os.getpid)
        await workers.start()  # a fresh pool
        second = await workers.run(os.getpid)
        workers.close()
        return first, second

    first, second = asyncio.run(scenario())
    assert second not in (first, os.getpid())
