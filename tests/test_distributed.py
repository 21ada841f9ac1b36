"""Gates and TargetRatio under tf.distribute: MirroredStrategy on 2 logical
CPU devices and MultiWorkerMirroredStrategy with 2 local worker processes,
against the same training on one device.

Each run is a subprocess (devices and collectives must be configured before
TensorFlow starts); see distributed_worker.py.
"""

import json
import os
import socket
import subprocess
import sys

import numpy as np
import pytest

from conftest import REPO

WORKER = os.path.join(REPO, "tests", "distributed_worker.py")
RATIO = 0.6


def _env(**extra):
    return dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", **extra)


def _run(mode, out):
    result = subprocess.run([sys.executable, WORKER, mode, str(out)],
                            env=_env(), capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.load(open(out))


@pytest.fixture(scope="module")
def single(tmp_path_factory):
    return _run("single", tmp_path_factory.mktemp("single") / "out.json")


def _check_against_single(run, single):
    assert run["replicas"] == 2
    assert abs(run["removed"] - RATIO) <= 0.005
    assert run["removed"] == single["removed"]
    for name, reference in single["gates"].items():
        masks, scores = run["gates"][name]["mask"], run["gates"][name]["score"]
        # Every replica holds the same masks and scores ...
        for replica in range(1, len(masks)):
            assert masks[replica] == masks[0], name
            assert scores[replica] == scores[0], name
        # ... the ones one device computes (scores up to float rounding).
        assert masks[0] == reference["mask"][0], name
        np.testing.assert_allclose(scores[0], reference["score"][0],
                                   rtol=1e-4, atol=1e-7)
    np.testing.assert_allclose(run["logits"], single["logits"], rtol=1e-4,
                               atol=1e-5)


def test_mirrored_strategy_on_two_devices_matches_one_device(single,
                                                             tmp_path):
    _check_against_single(_run("mirrored", tmp_path / "out.json"), single)


def _free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def test_multi_worker_mirrored_strategy_matches_one_device(single, tmp_path):
    workers = [f"127.0.0.1:{port}" for port in _free_ports(2)]
    processes = []
    for index in range(2):
        config = {"cluster": {"worker": workers},
                  "task": {"type": "worker", "index": index}}
        processes.append(subprocess.Popen(
            [sys.executable, WORKER, "multiworker",
             str(tmp_path / f"worker{index}.json")],
            env=_env(TF_CONFIG=json.dumps(config)),
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True))
    try:
        for process in processes:
            _, stderr = process.communicate(timeout=300)
            assert process.returncode == 0, stderr[-3000:]
    finally:
        for process in processes:
            process.kill()
    runs = [json.load(open(tmp_path / f"worker{i}.json")) for i in range(2)]
    assert runs[0]["gates"] == runs[1]["gates"]  # the same on both workers
    for run in runs:
        _check_against_single(run, single)


# The guide's MirroredStrategy block (docs/distributed-and-resuming.md) runs
# in tests/test_docs.py, with the same checks.
