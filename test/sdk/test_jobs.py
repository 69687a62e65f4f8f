"""The four Ray job operations through the SDK's typed models, on real Ray:
jobs on a cluster of the session (one succeeds, one is cancelled, one fails
with Ray's message) and a job with a cluster of its own."""

import re
import time

from alibabacloud_emr_serverless_spark20230808 import models as m

from conftest import wait_until
from test_clusters import wait_state

JOB_TIMEOUT = 240
FINAL = {"Succeeded", "Failed", "Cancelled", "Timeout"}


def get_job(api, job_id):
    return api.filled(api.client.get_ray_job(api.workspace_id, job_id, m.GetRayJobRequest()))


def wait_job(api, job_id, *want):
    def reached():
        j = api.client.get_ray_job(api.workspace_id, job_id, m.GetRayJobRequest()).body
        if j.status in FINAL and j.status not in want:
            raise AssertionError(f"job {job_id} ended {j.status}: {j.message}")
        return j.status in want and j
    wait_until(f"job {job_id} to be {' or '.join(want)}", reached, JOB_TIMEOUT, interval=0.5)
    return get_job(api, job_id)


def submit(api, **fields):
    body = api.filled(api.client.submit_ray_job(api.workspace_id, m.SubmitRayJobRequest(**fields)))
    assert re.fullmatch(r"rj-[a-z0-9]{16}", body.submission_id)
    return body.submission_id


def listed(api, **query):
    body = api.filled(api.client.list_ray_job(api.workspace_id, m.ListRayJobRequest(**query)))
    assert body.total_count == len(body.ray_jobs)
    return body.ray_jobs


def test_jobs_on_a_cluster(api, created_clusters):
    ws = api.workspace_id
    cid = api.filled(api.client.create_ray_cluster(ws, m.CreateRayClusterRequest(
        name="sdk-jobs", head_spec=m.CreateRayClusterRequestHeadSpec(cpu="1", memory="2Gi")))).cluster_id
    created_clusters.add(cid)
    cluster = wait_state(api, cid, "Running")
    before = int(time.time() * 1000) - 1000

    # A trivial job, with what Ray's submission takes.
    hello = submit(api, name="sdk-hello", cluster_id=cid,
                   entrypoint="python -c \"import os; print('hello', os.environ['GREETING'])\"",
                   runtime_env_json='{"env_vars": {"GREETING": "from the SDK"}}', metadata_json='{"resourceName": "test"}',
                   entrypoint_num_cpus="0.5", submission_mode="HTTPMode",
                   tags=[m.SubmitRayJobRequestTags(key="suite", value="sdk")])
    j = wait_job(api, hello, "Succeeded")
    assert (j.submission_id, j.name, j.cluster_state, j.entrypoint_num_cpus, j.submission_mode) == (
        hello, "sdk-hello", "Running", "0.5", "HTTPMode")
    assert "successfully" in j.message
    assert before <= j.submit_time <= j.start_time <= j.end_time and j.duration >= 0 and j.cu_hours > 0
    assert (j.log_bucket_name, j.log_path) == ("rayfleet-logs", f"{ws}/ray/logs/{hello}_default/")
    assert [(t.key, t.value) for t in j.tags] == [("suite", "sdk")]
    assert (j.head_spec.cpu, j.head_spec.memory, j.head_spec.replica) == ("1", "2Gi", 1)
    assert j.dashboard_url.startswith(cluster.dashboard_url)

    # A sleeping job, cancelled.
    sleeper = submit(api, name="sdk-sleeper", cluster_id=cid, entrypoint="python -c \"import time; time.sleep(600)\"")
    wait_job(api, sleeper, "Running")
    cancelled = api.filled(api.client.cancel_ray_job(ws, sleeper, m.CancelRayJobRequest()))
    assert cancelled.success is True
    j = wait_job(api, sleeper, "Cancelled")
    assert j.end_time >= j.start_time > 0

    # A failing job: Failed, with Ray's message.
    failing = submit(api, name="sdk-failing", cluster_id=cid, entrypoint="python -c \"import sys; sys.exit(3)\"")
    j = wait_job(api, failing, "Failed")
    assert "exit code 3" in j.message

    # ListRayJob with a submitTime range, newest first; by name; by id.
    after = int(time.time() * 1000) + 1000
    in_range = listed(api, page_size=100, page_num=1,
                      submit_time=m.ListRayJobRequestSubmitTime(start_time=before, end_time=after))
    ours = [x.submission_id for x in in_range if x.submission_id in (hello, sleeper, failing)]
    assert ours == [failing, sleeper, hello]
    assert listed(api, submit_time=m.ListRayJobRequestSubmitTime(start_time=after)) == []
    (item,) = listed(api, name="sdk-sleeper")
    assert (item.submission_id, item.status, item.cluster_state, item.resource_queue) == (sleeper, "Cancelled", "Running", "root_queue")
    (item,) = listed(api, submission_id=hello)
    assert item.status == "Succeeded" and item.cu_hours > 0 and item.end_time >= item.start_time

    api.filled(api.client.delete_ray_cluster(ws, cid))


def test_job_with_a_cluster_of_its_own(api, created_clusters):
    ws = api.workspace_id
    job = submit(api, name="sdk-own-cluster", entrypoint="python -c \"print('on a cluster of its own')\"",
                 head_spec=m.SubmitRayJobRequestHeadSpec(cpu="1", memory="2Gi", queue_name="root_queue"),
                 ttl_seconds_after_finished=0)
    cid = "ray-" + job[len("rj-"):]
    created_clusters.add(cid)
    # The cluster is the job's, visible as such while it lives.
    def seen():
        clusters = api.client.list_ray_cluster(ws, m.ListRayClusterRequest(page_size=100)).body.ray_clusters
        return [c for c in clusters if c.cluster_id == cid]
    (c,) = wait_until(f"the cluster of {job} in ListRayCluster", seen, JOB_TIMEOUT, interval=0.5)
    assert c.name == f"job-{job}"
    j = wait_job(api, job, "Succeeded")
    assert j.shutdown_after_job_finishes is True and j.ttl_seconds_after_finished == 0
    # Deleted after the job, at once (ttl 0).
    wait_until(f"the cluster of {job} to be deleted", lambda: get_job(api, job).cluster_state == "Deleted", JOB_TIMEOUT, interval=0.5)
    wait_until(f"the cluster of {job} to leave ListRayCluster", lambda: not seen(), JOB_TIMEOUT, interval=0.5)
