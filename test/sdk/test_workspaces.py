"""ListWorkspaces, CreateWorkspace and the queue operations."""

import json
import re
import uuid

import pytest
from alibabacloud_emr_serverless_spark20230808 import models as m
from alibabacloud_tea_openapi.exceptions import ClientException

from conftest import REGION


def workspaces_named(api, name):
    body = api.filled(api.client.list_workspaces(m.ListWorkspacesRequest(name=name)))
    return [w for w in body.workspaces if w.workspace_name == name]


def test_list_workspaces(api):
    body = api.filled(api.client.list_workspaces(m.ListWorkspacesRequest()))
    assert body.total_count >= 1 and body.max_results == 20
    first = {w.workspace_id: w for w in body.workspaces}[api.workspace_id]
    assert first.workspace_name == "default"
    assert first.region_id == REGION
    assert first.workspace_status == "RUNNING"
    assert first.payment_type == "PayAsYouGo"
    assert re.fullmatch(r"\d+cu", first.resource_spec)
    assert first.create_time > 0 and first.end_time == 0


def test_create_workspace_and_page(api):
    name = "sdk-" + uuid.uuid4().hex[:8]
    created = api.filled(api.client.create_workspace(m.CreateWorkspaceRequest(
        workspace_name=name, resource_spec=m.CreateWorkspaceRequestResourceSpec(cu="8"),
        payment_type="PayAsYouGo", release_type="pro", client_token=str(uuid.uuid4()))))
    assert re.fullmatch(r"w-[0-9a-f]{16}", created.workspace_id)
    assert created.operation_id

    (ws,) = workspaces_named(api, name)
    assert (ws.workspace_id, ws.resource_spec, ws.workspace_status, ws.region_id) == (created.workspace_id, "8cu", "RUNNING", REGION)

    # Pages of one: every workspace once, the token of the last page empty.
    seen, token = [], None
    while True:
        page = api.filled(api.client.list_workspaces(m.ListWorkspacesRequest(max_results=1, next_token=token)))
        assert len(page.workspaces) <= 1 and page.max_results == 1
        seen += [w.workspace_id for w in page.workspaces]
        if not page.next_token:
            break
        token = page.next_token
    assert len(seen) == len(set(seen)) == page.total_count
    assert {api.workspace_id, created.workspace_id} <= set(seen)


def queues_of(api, ws):
    body = api.filled(api.client.list_workspace_queues(ws, m.ListWorkspaceQueuesRequest()))
    assert body.total_count == len(body.queues)
    return {q.queue_name: q for q in body.queues}


def test_queues(api):
    name = "sdk-q-" + uuid.uuid4().hex[:8]
    ws = api.filled(api.client.create_workspace(m.CreateWorkspaceRequest(
        workspace_name=name, resource_spec=m.CreateWorkspaceRequestResourceSpec(cu="8")))).workspace_id

    root = queues_of(api, ws)["root_queue"]
    assert root.workspace_id == ws and root.region_id == REGION and root.queue_category == "CPU"
    # 1 CU is 1 vCPU and 4 GiB; the root queue starts with the whole quota.
    assert json.loads(root.max_resource) == {"cpu": "8", "memory": "32Gi"}
    assert json.loads(root.used_resource) == {"cpu": "0", "memory": "0Gi"}

    # The root queue holds everything: a new queue does not fit yet.
    with pytest.raises(ClientException) as e:
        api.client.create_workspace_queue(m.CreateWorkspaceQueueRequest(
            workspace_id=ws, workspace_queue_name="team_a", resource_spec=m.CreateWorkspaceQueueRequestResourceSpec(cu=3)))
    assert (e.value.code, e.value.status_code) == ("QuotaExceeded", 400)

    edited = api.filled(api.client.edit_workspace_queue(m.EditWorkspaceQueueRequest(
        workspace_id=ws, workspace_queue_name="root_queue", resource_spec=m.EditWorkspaceQueueRequestResourceSpec(cu=5))))
    assert edited.request_id
    created = api.filled(api.client.create_workspace_queue(m.CreateWorkspaceQueueRequest(
        workspace_id=ws, workspace_queue_name="team_a", description="team A's share", queue_category="CPU",
        resource_spec=m.CreateWorkspaceQueueRequestResourceSpec(cu=3))))
    assert created.request_id

    qs = queues_of(api, ws)
    assert set(qs) == {"root_queue", "team_a"}
    assert json.loads(qs["root_queue"].max_resource) == {"cpu": "5", "memory": "20Gi"}
    assert json.loads(qs["team_a"].max_resource) == {"cpu": "3", "memory": "12Gi"}
    assert qs["team_a"].description == "team A's share"
    assert qs["team_a"].creator == qs["root_queue"].creator != ""

    api.filled(api.client.edit_workspace_queue(m.EditWorkspaceQueueRequest(
        workspace_id=ws, workspace_queue_name="team_a", description="team A, smaller",
        resource_spec=m.EditWorkspaceQueueRequestResourceSpec(cu=2))))
    qs = queues_of(api, ws)
    assert json.loads(qs["team_a"].max_resource) == {"cpu": "2", "memory": "8Gi"}
    assert qs["team_a"].description == "team A, smaller"
    # Every field of the edit is optional: a new description alone keeps the limit.
    api.filled(api.client.edit_workspace_queue(m.EditWorkspaceQueueRequest(
        workspace_id=ws, workspace_queue_name="team_a", description="team A")))
    qs = queues_of(api, ws)
    assert (json.loads(qs["team_a"].max_resource), qs["team_a"].description) == ({"cpu": "2", "memory": "8Gi"}, "team A")

    deleted = api.filled(api.client.delete_workspace_queue(ws, "team_a", m.DeleteWorkspaceQueueRequest()))
    assert deleted.request_id
    assert set(queues_of(api, ws)) == {"root_queue"}

    with pytest.raises(ClientException) as e:
        api.client.delete_workspace_queue(ws, "team_a", m.DeleteWorkspaceQueueRequest())
    assert (e.value.code, e.value.status_code) == ("ResourceNotFound", 404)
