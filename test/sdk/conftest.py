"""The product's official Python SDK against a real rayfleet server.

One server for the whole session: built from this work tree (or
$RAYFLEET_BIN), started on free ports with a fresh data directory, its own
HOME and CLI profile (the user's are never touched), the local runtime on
the real `ray` of the test environment, and a short temp root for Ray's
directories (Ray's unix socket paths must stay under 107 bytes). At the end
the server is stopped, and so is any Ray node it left behind: local nodes
outlive the server on purpose, so they are found by the marker the local
runtime puts in their environment and the temp root this session gave them.
"""

import contextlib
import json
import os
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest
from alibabacloud_emr_serverless_spark20230808.client import Client
from alibabacloud_tea_openapi.models import Config

from filled import assert_filled

REPO = Path(__file__).resolve().parents[2]
REGION = "sdk-local-1"
NODE_MARKER = "RAYFLEET_LOCAL_NODE"

# The server is on loopback: a proxy in the environment must not carry the
# SDK's calls elsewhere.
for _k in ("NO_PROXY", "no_proxy"):
    os.environ[_k] = ",".join(filter(None, [os.environ.get(_k), "127.0.0.1", "localhost"]))


class ObservedClient(Client):
    """The SDK's client as published; it only remembers the body of the
    last answer as it came off the wire. The typed model cannot tell a list
    field the server left out from an empty one (the SDK fills in []), and
    the test environment's Ray and Python versions are the release
    catalog's extension fields, which the typed model does not carry."""

    last_body = None

    def call_api(self, params, request, runtime):
        self.last_body = None
        resp = super().call_api(params, request, runtime)
        self.last_body = resp.get("body")
        return resp


class Api:
    """What a test needs: the client, the first-start credentials and a
    check of every answer."""

    def __init__(self, client, cred, gateway):
        self.client = client
        self.cred = cred
        self.workspace_id = cred["workspaceId"]
        self.gateway = gateway

    def filled(self, resp):
        """Asserts the call succeeded and every documented field of its
        typed body is filled; returns the typed body."""
        assert resp.status_code == 200, resp.status_code
        assert_filled(resp.body, self.client.last_body)
        return resp.body

    def raw(self):
        """The last answer's body as sent (for extension fields only)."""
        return self.client.last_body


def new_client(cred, secret=None, key_id=None):
    return ObservedClient(
        Config(
            access_key_id=key_id or cred["accessKeyId"],
            access_key_secret=secret or cred["accessKeySecret"],
            endpoint=cred["endpoint"],
            protocol="http",
        )
    )


def wait_until(what, check, timeout, interval=0.2):
    """Polls check() until it returns something true, or fails after
    timeout seconds naming what it waited for and what it saw last."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        last = check()
        if last:
            return last
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}; last saw {last!r}")
        time.sleep(interval)


def ray_executable():
    env = os.environ.get("RAYFLEET_TEST_PYENV")
    prefix = Path(env) if env else Path(sys.prefix)
    ray = prefix / "bin" / "ray"
    if not os.access(ray, os.X_OK):
        pytest.fail(f"no ray executable at {ray}: run the suite with the pytest of scripts/pyenv.sh's environment, or set RAYFLEET_TEST_PYENV")
    return ray


def rayfleet_binary(workdir):
    if os.environ.get("RAYFLEET_BIN"):
        return Path(os.environ["RAYFLEET_BIN"])
    out = workdir / "rayfleet"
    env = dict(os.environ, GOFLAGS=os.environ.get("GOFLAGS", "-buildvcs=false"))
    subprocess.run(["go", "build", "-o", str(out), "./cmd/rayfleet"], cwd=REPO, env=env, check=True)
    return out


def session_nodes(temp_root, clusters):
    """Pids of the Ray node processes this session's server started: those
    carrying the local runtime's marker whose temp dir (TMPDIR, set for the
    server and inherited by every node) is under temp_root, or whose marker
    names a cluster this session created."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as f:
                env = dict(kv.split(b"=", 1) for kv in f.read().split(b"\0") if b"=" in kv)
        except OSError:
            continue
        marker = env.get(NODE_MARKER.encode())
        if marker is None:
            continue
        tmpdir = env.get(b"TMPDIR", b"").decode(errors="replace")
        cluster = marker.decode(errors="replace").split("/", 1)[0]
        if tmpdir == str(temp_root) or tmpdir.startswith(str(temp_root) + "/") or cluster in clusters:
            pids.append(int(entry))
    return pids


def kill_session_nodes(temp_root, clusters):
    deadline = time.monotonic() + 30
    while pids := session_nodes(temp_root, clusters):
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"Ray node processes {pids} did not go")
        time.sleep(0.2)


@contextlib.contextmanager
def run_server(work, extra_args=(), scheme="http", ca=None):
    """Runs a rayfleet server in work with a fresh data directory and HOME,
    on free ports, until the block ends; yields what tests need of it. With
    scheme https the readiness check trusts ca (a PEM file)."""
    # /tmp itself, not pytest's deeper tmp path: Ray nests its sockets
    # about 80 bytes below this root.
    temp_root = Path(tempfile.mkdtemp(prefix="rfs", dir="/tmp"))
    home = work / "home"
    home.mkdir()
    data = work / "data"
    conf = work / "rayfleet.yaml"
    conf.write_text(f"localTempRoot: {temp_root}\n")
    binary = rayfleet_binary(work)
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAYFLEET_")}
    env.update(HOME=str(home), RAYFLEET_CONFIG=str(home / "config.json"), TMPDIR=str(temp_root))
    args = [
        str(binary), "server",
        "--data-dir", str(data),
        "--config", str(conf),
        "--api-addr", "127.0.0.1:0",
        "--gateway-listen", "127.0.0.1:0",
        "--gateway-grpc-listen", "127.0.0.1:0",
        "--ray-path", str(ray_executable()),
        "--region", REGION,
        "--stop-grace", "5s",
        *extra_args,
    ]
    log_path = work / "server.log"
    log = open(log_path, "wb")
    proc = subprocess.Popen(args, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=work)
    clusters = set()
    try:
        cred_path = data / "credentials"

        def started():
            if proc.poll() is not None:
                pytest.fail(f"rayfleet server exited with {proc.returncode}:\n{log_path.read_text()}")
            return cred_path.exists() and cred_path.stat().st_size > 0

        wait_until("the server's credentials file", started, 60)
        cred = json.loads(cred_path.read_text())
        address = cred["endpoint"].split("://", 1)[-1]
        context = ssl.create_default_context(cafile=ca) if scheme == "https" else None

        def ready():
            try:
                with urllib.request.urlopen(f"{scheme}://{address}/readyz", timeout=2, context=context) as r:
                    return r.status == 200
            except OSError:
                return False

        wait_until("the server to be ready", ready, 30)
        yield {"cred": cred, "address": address, "clusters": clusters, "log": log_path, "temp_root": temp_root, "data": data}
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=40)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
        kill_session_nodes(temp_root, clusters)
        shutil.rmtree(temp_root, ignore_errors=True)


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    with run_server(tmp_path_factory.mktemp("rayfleet")) as s:
        yield s


@pytest.fixture(scope="session")
def api(server):
    return Api(new_client(server["cred"]), server["cred"], server)


@pytest.fixture(scope="session")
def created_clusters(server):
    """Cluster ids this session created, so that their nodes are found at
    the end even if the environment marker were all that is left."""
    return server["clusters"]
