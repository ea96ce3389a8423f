"""CSV uploads against the real server: parsed on their own threads, the rest of the API stays fast."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import numpy as np
import pytest

pytestmark = pytest.mark.timeout(120)

CSV_HEADERS = {"content-type": "text/csv", "x-requested-with": "nnplay"}


def _big_csv(rows: int = 20_000, columns: int = 30) -> bytes:
    values = np.random.default_rng(0).uniform(-1, 1, (rows, columns))
    lines = [",".join(f"f{j}" for j in range(columns)) + ",y"]
    lines += [",".join(f"{v:.6f}" for v in row) + f",{i % 3}" for i, row in enumerate(values)]
    return ("\n".join(lines) + "\n").encode()


def test_parallel_uploads_leave_the_api_fast_and_get_429_past_the_queue(live_server):
    server = live_server({"NNPLAY_CSV_CONCURRENCY": "1", "NNPLAY_CSV_QUEUE": "2"})
    body = _big_csv()
    assert len(body) > 4_000_000

    def upload() -> httpx.Response:
        return httpx.post(f"{server.url}/api/datasets", content=body, headers=CSV_HEADERS, timeout=60)

    latencies = []
    with httpx.Client(base_url=server.url, timeout=60) as client, ThreadPoolExecutor(6) as pool:
        uploads = [pool.submit(upload) for _ in range(6)]
        while not all(future.done() for future in uploads):
            start = time.perf_counter()
            assert client.get("/api/runs").status_code == 200
            latencies.append(time.perf_counter() - start)
            time.sleep(0.05)
        responses = [future.result() for future in uploads]
    assert len(latencies) >= 3 and max(latencies) < 2.5, latencies
    statuses = sorted(response.status_code for response in responses)
    assert set(statuses) <= {201, 429} and statuses.count(201) >= 3, statuses
    refused = [response for response in responses if response.status_code == 429]
    assert refused, statuses
    assert all(
        response.headers["Retry-After"] == "2" and "NNPLAY_CSV_QUEUE" in response.json()["detail"]
        for response in refused
    )
