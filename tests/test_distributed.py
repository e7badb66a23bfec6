"""tf.distribute: MirroredStrategy on two logical CPUs, two local workers."""

import json
import os
import socket
import subprocess
import sys

import numpy as np
import pytest

SCRIPT = os.path.join(os.path.dirname(__file__), "distributed_run.py")


@pytest.fixture(scope="module")
def data(tiny_synthetic_data):
    return tiny_synthetic_data


def _last_json_line(text):
    return json.loads(text.strip().splitlines()[-1])


def test_mirrored_two_devices_match_one_device(data, tmp_path):
    done = subprocess.run(
        [sys.executable, SCRIPT, "mirrored", str(data), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    losses = _last_json_line(done.stdout)
    # Same global batch, synchronised BatchNorm: the same training up to
    # the order of floating-point sums.
    np.testing.assert_allclose(losses["mirrored"], losses["none"], rtol=2e-3)


def _free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


@pytest.mark.slow
def test_multiworker_two_local_processes(data, tmp_path):
    ports = _free_ports(2)
    cluster = {"worker": [f"127.0.0.1:{port}" for port in ports]}
    out = tmp_path / "run"
    workers = []
    for index in range(2):
        env = dict(os.environ)
        env["TF_CONFIG"] = json.dumps(
            {"cluster": cluster, "task": {"type": "worker", "index": index}}
        )
        workers.append(
            subprocess.Popen(
                [sys.executable, SCRIPT, "multiworker", str(data), str(out)],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    outputs = []
    try:
        for worker in workers:
            outputs.append(worker.communicate(timeout=600))
    finally:
        for worker in workers:
            worker.kill()
    for worker, (_, stderr) in zip(workers, outputs, strict=True):
        assert worker.returncode == 0, stderr[-3000:]
    losses = [_last_json_line(stdout)["multiworker"] for stdout, _ in outputs]
    assert len(losses[0]) == 2 and np.all(np.isfinite(losses[0]))
    # Both workers log the loss averaged over every replica.
    np.testing.assert_allclose(losses[0], losses[1], rtol=1e-5)
    assert losses[0][1] < losses[0][0]
    # Only the chief (worker 0) wrote the run folder.
    results = json.loads((out / "results.json").read_text())
    assert results["config"]["distribute"] == "multiworker"
    assert 0.0 <= results["micro_auc"] <= 1.0
