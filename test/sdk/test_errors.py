"""A refused call is the SDK's ClientException carrying the server's error."""

import re

import pytest
from alibabacloud_emr_serverless_spark20230808 import models as m
from alibabacloud_tea_openapi.exceptions import ClientException
from Tea.exceptions import TeaException

from conftest import new_client

REQUEST_ID = re.compile(r"[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}")


def refused(call, code, status, *words):
    with pytest.raises(ClientException) as e:
        call()
    err = e.value
    assert isinstance(err, TeaException)
    assert (err.code, err.status_code) == (code, status), err.message
    assert REQUEST_ID.fullmatch(err.request_id or ""), err.request_id
    for w in words:
        assert w in err.message, err.message
    return err


def small_head():
    return m.CreateRayClusterRequestHeadSpec(cpu="1", memory="2Gi")


def test_invalid_parameter(api):
    refused(lambda: api.client.create_ray_cluster(api.workspace_id, m.CreateRayClusterRequest(name="n" * 65, head_spec=small_head())),
            "InvalidParameter", 400, "name")
    refused(lambda: api.client.create_ray_cluster(api.workspace_id, m.CreateRayClusterRequest(
        name="bad-memory", head_spec=m.CreateRayClusterRequestHeadSpec(cpu="1", memory="lots"))),
        "InvalidParameter", 400, "headSpec.memory")
    refused(lambda: api.client.create_ray_cluster(api.workspace_id, m.CreateRayClusterRequest(
        name="bad-release", display_release_version="ray-0.0.0 (Ray 0.0.0, Python 2.7)", head_spec=small_head())),
        "InvalidParameter", 400, "displayReleaseVersion")
    refused(lambda: api.client.list_ray_cluster(api.workspace_id, m.ListRayClusterRequest(page_size=101)),
            "InvalidParameter", 400, "pageSize")


def test_quota_exceeded(api):
    refused(lambda: api.client.create_ray_cluster(api.workspace_id, m.CreateRayClusterRequest(
        name="too-big", head_spec=m.CreateRayClusterRequestHeadSpec(cpu="100000", memory="2Gi"))),
        "QuotaExceeded", 400, "root_queue")


def test_not_found(api):
    missing = "ray-" + "0" * 16
    refused(lambda: api.client.get_ray_cluster(api.workspace_id, missing), "ResourceNotFound", 404, missing)
    refused(lambda: api.client.start_ray_cluster(api.workspace_id, missing, m.StartRayClusterRequest()), "ResourceNotFound", 404)
    refused(lambda: api.client.delete_ray_cluster(api.workspace_id, missing), "ResourceNotFound", 404)
    refused(lambda: api.client.list_ray_cluster("w-0000000000000000", m.ListRayClusterRequest()), "ResourceNotFound", 404)
    refused(lambda: api.client.list_workspace_queues("w-0000000000000000", m.ListWorkspaceQueuesRequest()), "ResourceNotFound", 404)


def test_bad_credentials(api):
    refused(lambda: new_client(api.cred, secret="not-the-secret").list_workspaces(m.ListWorkspacesRequest()),
            "SignatureDoesNotMatch", 400)
    refused(lambda: new_client(api.cred, key_id="LTAI0000000000000000nope").list_workspaces(m.ListWorkspacesRequest()),
            "InvalidAccessKeyId.NotFound", 404)


def test_replica_bounds_and_paging(api):
    def group(**kw):
        return m.CreateRayClusterRequestWorkerSpec(group_name="g", replica=1, cpu="1", memory="2Gi", **kw)

    refused(lambda: api.client.create_ray_cluster(api.workspace_id, m.CreateRayClusterRequest(
        name="bad-bounds", head_spec=small_head(), worker_spec=[group(min_replica=0, max_replica=1)])),
        "InvalidParameter", 400, "workerSpec[0].minReplica must be at least 1, got 0")
    refused(lambda: api.client.create_ray_cluster(api.workspace_id, m.CreateRayClusterRequest(
        name="bad-bounds", head_spec=small_head(), worker_spec=[group(min_replica=3, max_replica=2)])),
        "InvalidParameter", 400, "minReplica <= maxReplica")
    refused(lambda: api.client.list_ray_cluster(api.workspace_id, m.ListRayClusterRequest(page_size=0)),
            "InvalidParameter", 400, "pageSize must be 1 or more, got 0")
    refused(lambda: api.client.list_ray_cluster(api.workspace_id, m.ListRayClusterRequest(page_num=0)),
            "InvalidParameter", 400, "pageNum must be 1 or more, got 0")
