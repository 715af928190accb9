"""No phoning home: OpenVINO's model converter and NNCF send usage statistics through `openvino_telemetry`
(a client id under ~/intel, then HTTPS posts to an analytics host). Whatever edgeparse does with them must
attempt no network call and write nothing there.

A fresh interpreter records every socket and urllib audit event (in the forked sender processes too) to a
file, with HOME in a temporary folder and no CI variable (CI=true alone would switch telemetry off).
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("openvino")
pytest.importorskip("nncf")

REPO = Path(__file__).resolve().parents[3]

USE_OPENVINO = """
import os, socket, sys
from pathlib import Path

log_path = os.environ["EDGEPARSE_NET_LOG"]


def record(event, args):
    if event.startswith("socket.") or event == "urllib.Request":
        with open(log_path, "a") as log:
            log.write(f"{os.getpid()} {event} {args!r:.120}\\n")


sys.addaudithook(record)
socket.getaddrinfo("localhost", None)  # proves the recorder works: the one call expected in the log

import numpy as np
from edge.backends import import_library, runner_class
from edge.backends.base import TensorSpec
from targets.base import LowerRequest
from targets.config import DeployCfg
from targets.openvino_cpu import lower

onnx_path, work = Path(sys.argv[1]), Path(sys.argv[2])
size = 32
images = [np.random.default_rng(i).normal(0, 1, (1, 3, size, size)).astype(np.float32) for i in range(4)]
for precision in ("fp32", "int8"):  # ov.convert_model, then NNCF PTQ (nncf.quantize is a tracked function)
    request = LowerRequest("cpu", precision, onnx_path, None, lambda: images, onnx_path, work,
                           f"tiny_cpu_{precision}", DeployCfg(input_size=size))
    xml = lower(request).artifacts[0]
    with runner_class("openvino")(xml, TensorSpec("input", (1, 3, size, size)), threads=1,
                                  inference_precision="f32") as runner:
        runner.infer(images[0])
import_library("openvino").Core().available_devices
"""


def test_openvino_and_nncf_through_edgeparse_attempt_no_network_call(tiny, tmp_path):
    home, log = tmp_path / "home", tmp_path / "net.log"
    home.mkdir()
    quiet = ("CI", "TF_BUILD", "JENKINS_URL", "NNCF_CI", "NNCF_DEV")  # each would switch telemetry off by itself
    env = {k: v for k, v in os.environ.items() if k not in quiet}
    env.update(HOME=str(home), EDGEPARSE_NET_LOG=str(log))
    proc = subprocess.run([sys.executable, "-c", USE_OPENVINO, str(tiny.reference), str(tmp_path)], cwd=REPO,
                          env=env, capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    calls = log.read_text().splitlines()
    assert len(calls) == 1 and "socket.getaddrinfo ('localhost'" in calls[0], calls[:5]
    assert not (home / "intel").exists(), sorted(p.name for p in (home / "intel").rglob("*"))
