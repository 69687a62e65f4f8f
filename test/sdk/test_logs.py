"""ListRayLogs and GetRayLog through the SDK's typed models.

The job whose logs are read is seeded, not submitted: SubmitRayJob is
another piece of work, and so is the job runner that has the collector copy
a job's logs from its head (the Go end-to-end test,
internal/app/joblogs_test.go, runs a real job through that collector). The
seed is what they leave behind: the job's row in the server's database and
its files in the log store's directory, <data-dir>/logs/rayfleet-logs/<key>.
"""

import json
import secrets
import sqlite3
import time
import urllib.error
import urllib.request

import pytest
from alibabacloud_emr_serverless_spark20230808 import models as m
from alibabacloud_tea_openapi.exceptions import ClientException

BUCKET = "rayfleet-logs"
NODE = "ab" * 28
DRIVER_TEXT = "hello from the driver\nanswer 42\n"


def seed_job(server):
    """Stores a finished job of the default workspace as SubmitRayJob and
    the runner would, with five log files; returns (job id, log path)."""
    cred = server["cred"]
    ws = cred["workspaceId"]
    job_id = "rj-" + "".join(secrets.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(16))
    log_path = f"{ws}/ray/logs/{job_id}_default/"
    files = {
        f"driver/{job_id}_driver.log": DRIVER_TEXT,
        f"head-{NODE}/raylet.out": "raylet\n",
        f"head-{NODE}/raylet.err": "",
        f"head-{NODE}/gcs_server.out": "gcs\n",
        f"head-{NODE}/worker-{'cd' * 28}-02000000-7.out": "from the task\n",
    }
    root = server["data"] / "logs" / BUCKET
    for rel, text in files.items():
        path = root / (log_path + rel)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    now = int(time.time() * 1000)
    spec = {"name": "sdk-logs", "entrypoint": "python -c \"print('hello')\"", "clusterId": "ray-0000000000000000",
            "shutdownAfterJobFinishes": False}
    db = sqlite3.connect(server["data"] / "rayfleet.db", timeout=30)
    try:
        with db:
            db.execute(
                "INSERT INTO jobs (id, account_id, workspace_id, name, task_biz_id, cluster_id, instance_id, status, final, cluster_state,"
                " message, stop, spec, log_bucket, log_path, submit_time, start_time, end_time, creator, creator_name, version)"
                " VALUES (?, ?, ?, ?, '', ?, '', 'Succeeded', 1, 'Deleted', '', '', ?, ?, ?, ?, ?, ?, '', '', 1)",
                (job_id, cred["userId"], ws, spec["name"], spec["clusterId"], json.dumps(spec), BUCKET, log_path, now - 2000, now - 1000, now))
    finally:
        db.close()
    return job_id, log_path


@pytest.fixture(scope="module")
def job(server):
    return seed_job(server)


def listed(api, job_id, **kw):
    body = api.filled(api.client.list_ray_logs(api.workspace_id, job_id, m.ListRayLogsRequest(**kw)))
    assert (body.code, body.message) == ("1000000", "success"), body
    return body.data


def test_list_ray_logs(api, job):
    job_id, log_path = job
    data = listed(api, job_id, bucket_name=BUCKET, prefix="/" + log_path, delimiter="/", max_keys=100)
    assert (data.bucket_name, data.prefix, data.delimiter, data.max_keys, data.is_truncated, data.next_marker) == (
        BUCKET, log_path, "/", 100, False, "")
    assert [(o.name, o.path, o.is_dir) for o in data.object_list] == [
        ("driver", log_path + "driver/", True), (f"head-{NODE}", log_path + f"head-{NODE}/", True)]

    data = listed(api, job_id, prefix=log_path + f"head-{NODE}/")
    assert data.max_keys == 100
    names = [o.name for o in data.object_list]
    assert names == sorted(names) and set(names) == {"raylet.out", "raylet.err", "gcs_server.out", f"worker-{'cd' * 28}-02000000-7.out"}
    for o in data.object_list:
        assert not o.is_dir and abs(o.time_modified - time.time() * 1000) < 600_000, o.to_map()
    assert {o.name: o.size for o in data.object_list}["raylet.out"] == len("raylet\n")

    # One at a time, from marker to marker: the same files, in order.
    walked, marker = [], None
    for _ in range(len(names) + 1):
        page = listed(api, job_id, prefix=log_path + f"head-{NODE}/", max_keys=1, marker=marker)
        walked += [o.name for o in page.object_list]
        if not page.is_truncated:
            break
        marker = page.next_marker
    assert walked == names


def test_get_ray_log(api, job):
    job_id, log_path = job
    body = api.filled(api.client.get_ray_log(api.workspace_id, job_id, m.GetRayLogRequest(
        bucket_name=BUCKET, path=f"/{log_path}driver/{job_id}_driver.log")))
    assert (body.code, body.message) == ("1000000", "success")
    url = body.data.access_url
    assert url.startswith(f"http://{api.cred['endpoint']}/logs/{BUCKET}/{log_path}driver/"), url
    with urllib.request.urlopen(url, timeout=10) as r:  # no credentials: the URL is one
        assert r.headers["Content-Type"].startswith("text/plain")
        assert r.read().decode() == DRIVER_TEXT

    # The URL opens its file only.
    other = url.replace(f"driver/{job_id}_driver.log", f"head-{NODE}/raylet.out")
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(other, timeout=10)
    assert e.value.code == 403
    err = json.loads(e.value.read())
    assert err["Code"] == "Forbidden.UrlSignature" and err["RequestId"], err


def refused(call, code, status, *words):
    with pytest.raises(ClientException) as e:
        call()
    assert (e.value.code, e.value.status_code) == (code, status), e.value.message
    for w in words:
        assert w in e.value.message, e.value.message


def test_log_requests_refused(api, job):
    job_id, log_path = job
    ws = api.workspace_id
    for keys in (0, 1000):
        refused(lambda: api.client.list_ray_logs(ws, job_id, m.ListRayLogsRequest(max_keys=keys)), "InvalidParameter", 400, "maxKeys must be 1 to 999")
    refused(lambda: api.client.list_ray_logs(ws, job_id, m.ListRayLogsRequest(prefix=f"{ws}/ray/logs/")),
            "InvalidParameter", 400, "prefix must begin with the job's logPath " + log_path)
    refused(lambda: api.client.list_ray_logs(ws, job_id, m.ListRayLogsRequest(bucket_name="mybucket")), "InvalidParameter", 400, "bucketName")
    refused(lambda: api.client.get_ray_log(ws, job_id, m.GetRayLogRequest(path=log_path + "driver/none.log")), "ResourceNotFound", 404)
    refused(lambda: api.client.get_ray_log(ws, job_id, m.GetRayLogRequest(path=f"{ws}/ray/logs/rj-other_default/driver/x.log")),
            "InvalidParameter", 400, "under the job's logPath")
    missing = "rj-" + "0" * 16
    refused(lambda: api.client.list_ray_logs(ws, missing, m.ListRayLogsRequest()), "ResourceNotFound", 404, missing)
    refused(lambda: api.client.get_ray_log("w-0000000000000000", job_id, m.GetRayLogRequest(path=log_path)), "ResourceNotFound", 404)
