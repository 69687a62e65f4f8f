"""The seven Ray cluster operations, on a real cluster of real Ray nodes."""

import json
import re
import subprocess
import urllib.request
import uuid

import pytest
from alibabacloud_emr_serverless_spark20230808 import models as m
from alibabacloud_tea_openapi.exceptions import ClientException

from conftest import ray_executable, wait_until

START_TIMEOUT = 240


def installed_versions():
    """The Ray and Python versions of the environment the server's ray runs in."""
    ray = ray_executable()
    out = subprocess.run([str(ray), "--version"], capture_output=True, text=True, check=True).stdout
    ray_version = re.search(r"version (\S+)", out).group(1)
    py = subprocess.run([str(ray.parent / "python"), "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                        capture_output=True, text=True, check=True).stdout.strip()
    return ray_version, py


def pick_release(api):
    """The release that names the installed Ray and Python, else the newest."""
    body = api.filled(api.client.list_release_versions(m.ListReleaseVersionsRequest()))
    sent = {r["displayReleaseVersion"]: r for r in api.raw()["releaseVersions"]}
    ray_version, py = installed_versions()
    for rv in body.release_versions:
        r = sent[rv.display_release_version]
        if (r["rayVersion"], r["pythonVersion"]) == (ray_version, py):
            return rv.display_release_version
    return max(body.release_versions, key=lambda rv: rv.gmt_create).display_release_version


def get(api, cid):
    return api.filled(api.client.get_ray_cluster(api.workspace_id, cid))


def wait_state(api, cid, want):
    def reached():
        c = api.client.get_ray_cluster(api.workspace_id, cid).body
        if c.state == "Error" and want != "Error":
            pytest.fail(f"cluster {cid} is Error: {c.message}")
        return c.state == want and c
    wait_until(f"cluster {cid} to be {want}", reached, START_TIMEOUT, interval=0.5)
    return get(api, cid)


def ray_version_through_gateway(cluster):
    """Asks the head's Ray itself, through the gateway's job door."""
    req = urllib.request.Request(cluster.job_url + "/api/version", headers={"ray-token": cluster.submit_token})
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.load(r)["ray_version"]


def as_request(model_cls, typed):
    """A typed response part turned into the request model of the same
    shape, as an SDK user sends back what they read."""
    return model_cls().from_map(typed.to_map())


def test_cluster_lifecycle(api, created_clusters):
    ws = api.workspace_id
    release = pick_release(api)
    ray_version, _ = installed_versions()

    # CreateRayCluster starts it.
    created = api.filled(api.client.create_ray_cluster(ws, m.CreateRayClusterRequest(
        name="sdk-lifecycle", description="made by the SDK suite", display_release_version=release,
        network_service_name="vpc", extra_param="{}",
        head_spec=m.CreateRayClusterRequestHeadSpec(queue_name="root_queue", cpu="1", memory="2Gi",
                                                    enable_auto_scaling=False, idle_timeout_seconds=0, env="SDK_SUITE=1"),
        worker_spec=[m.CreateRayClusterRequestWorkerSpec(group_name="group1", worker_type="CPU", replica=1, min_replica=1,
                                                         max_replica=1, queue_name="root_queue", cpu="1", memory="2Gi")])))
    cid = created.cluster_id
    created_clusters.add(cid)
    assert re.fullmatch(r"ray-[a-z0-9]{16}", cid)

    c = wait_state(api, cid, "Running")
    first_instance = c.instance_id
    assert re.fullmatch(re.escape(cid) + r"-[a-z0-9]{8}", first_instance)
    assert (c.cluster_id, c.name, c.description, c.display_release_version, c.network_service_name, c.extra_param) == (
        cid, "sdk-lifecycle", "made by the SDK suite", release, "vpc", "{}")
    assert (c.head_spec.cpu, c.head_spec.memory, c.head_spec.queue_name, c.head_spec.replica, c.head_spec.env) == (
        "1", "2Gi", "root_queue", 1, "SDK_SUITE=1")
    assert c.head_spec.gft_enabled is False
    (w,) = c.worker_spec
    assert (w.group_name, w.worker_type, w.replica, w.min_replica, w.max_replica, w.cpu, w.memory, w.queue_name) == (
        "group1", "CPU", 1, 1, 1, "1", "2Gi", "root_queue")
    assert c.modified is False
    assert c.user_id == api.cred["userId"] and c.creator and c.creator == c.modifier and c.creator_name
    assert 0 < c.create_time <= c.start_time and c.modified_time >= c.create_time
    assert c.submit_token and f"token={c.submit_token}" in c.dashboard_url
    assert c.grpc_endpoint.startswith("ray://") and c.job_url and c.job_url_inner
    assert sorted(i.type for i in c.instances) == ["Head", "Worker"]
    head = next(i for i in c.instances if i.type == "Head")
    assert head.phase == "Running" and head.start_time >= head.create_time > 0
    # Real Ray answers behind the endpoints.
    assert ray_version_through_gateway(c) == ray_version

    # ListRayCluster, a page at a time.
    listed = api.filled(api.client.list_ray_cluster(ws, m.ListRayClusterRequest(page_num=1, page_size=1)))
    (s,) = listed.ray_clusters
    assert (s.cluster_id, s.state, s.instance_id, s.name, s.dashboard_url, s.grpc_endpoint, s.user_id) == (
        cid, "Running", first_instance, "sdk-lifecycle", c.dashboard_url, c.grpc_endpoint, c.user_id)
    assert (s.head_spec.cpu, s.head_spec.memory, s.head_spec.replica) == ("1", "2Gi", 1)
    assert [(g.group_name, g.replica) for g in s.worker_spec] == [("group1", 1)]
    assert api.filled(api.client.list_ray_cluster(ws, m.ListRayClusterRequest(page_num=2, page_size=1))).ray_clusters == []

    # UpdateRayCluster with the spec read back: nothing that needs a
    # restart changed, so the cluster is not marked modified.
    updated = api.filled(api.client.update_ray_cluster(ws, cid, m.UpdateRayClusterRequest(
        description="updated by the SDK suite",
        head_spec=as_request(m.UpdateRayClusterRequestHeadSpec, c.head_spec),
        worker_spec=[as_request(m.UpdateRayClusterRequestWorkerSpec, g) for g in c.worker_spec])))
    assert updated.cluster_id == cid
    c = get(api, cid)
    assert (c.description, c.modified, c.state, c.instance_id) == ("updated by the SDK suite", False, "Running", first_instance)
    assert c.head_spec.env == "SDK_SUITE=1"

    # A new head env waits for the next start.
    head_spec = as_request(m.UpdateRayClusterRequestHeadSpec, c.head_spec)
    head_spec.env = "SDK_SUITE=2"
    api.filled(api.client.update_ray_cluster(ws, cid, m.UpdateRayClusterRequest(head_spec=head_spec)))
    c = get(api, cid)
    assert (c.head_spec.env, c.modified, c.state) == ("SDK_SUITE=2", True, "Running")

    # StopRayCluster names the instance; a stale one is refused.
    with pytest.raises(ClientException) as e:
        api.client.stop_ray_cluster(ws, cid, m.StopRayClusterRequest(instance_id=cid + "-00000000"))
    assert (e.value.code, e.value.status_code) == ("OperationDenied", 409)
    api.filled(api.client.stop_ray_cluster(ws, cid, m.StopRayClusterRequest(instance_id=first_instance)))
    c = wait_state(api, cid, "Stopped")
    assert c.instances == []

    # StartRayCluster: a new instance, the new spec, and the client token
    # makes a retry a replay of the first answer.
    token = str(uuid.uuid4())
    started = api.filled(api.client.start_ray_cluster(ws, cid, m.StartRayClusterRequest(client_token=token)))
    again = api.filled(api.client.start_ray_cluster(ws, cid, m.StartRayClusterRequest(client_token=token)))
    assert again.request_id == started.request_id
    c = wait_state(api, cid, "Running")
    assert c.instance_id != first_instance and c.instance_id.startswith(cid + "-")
    assert (c.modified, c.head_spec.env) == (False, "SDK_SUITE=2")
    assert ray_version_through_gateway(c) == ray_version

    # DeleteRayCluster: gone at once.
    deleted = api.filled(api.client.delete_ray_cluster(ws, cid))
    assert deleted.request_id
    with pytest.raises(ClientException) as e:
        api.client.get_ray_cluster(ws, cid)
    assert (e.value.code, e.value.status_code) == ("ResourceNotFound", 404)
    listed = api.filled(api.client.list_ray_cluster(ws, m.ListRayClusterRequest()))
    assert cid not in [s.cluster_id for s in listed.ray_clusters]
