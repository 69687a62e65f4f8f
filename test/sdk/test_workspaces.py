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


def test_workspace_tags_and_state_filters(api):
    name = "sdk-tags-" + uuid.uuid4().hex[:8]
    created = api.filled(api.client.create_workspace(m.CreateWorkspaceRequest(
        workspace_name=name, resource_spec=m.CreateWorkspaceRequestResourceSpec(cu="4"), region_id=REGION,
        tag=[m.CreateWorkspaceRequestTag(key="suite", value=name), m.CreateWorkspaceRequestTag(key="lang", value="python")])))

    def listed(**kw):
        body = api.filled(api.client.list_workspaces(m.ListWorkspacesRequest(**kw)))
        assert body.total_count == len(body.workspaces)
        return body.workspaces

    # The SDK sends tag as one JSON-text query value.
    (ws,) = listed(tag=[m.ListWorkspacesRequestTag(key="suite", value=name)])
    assert ws.workspace_id == created.workspace_id
    assert [(t.tag_key, t.tag_value) for t in ws.tags] == [("suite", name), ("lang", "python")]
    assert [w.workspace_id for w in listed(tag=[m.ListWorkspacesRequestTag(key="suite", value=name),
                                                m.ListWorkspacesRequestTag(key="lang")], state="Running")] == [created.workspace_id]
    assert listed(tag=[m.ListWorkspacesRequestTag(key="suite", value=name), m.ListWorkspacesRequestTag(key="lang", value="go")]) == []
    assert listed(name=name, state="Stopped") == []
    assert [w.workspace_id for w in listed(name=name, state="RUNNING", region_id=REGION)] == [created.workspace_id]

    with pytest.raises(ClientException) as e:
        api.client.list_workspaces(m.ListWorkspacesRequest(state="Sleeping"))
    assert (e.value.code, e.value.status_code) == ("InvalidParameter", 400)
    with pytest.raises(ClientException) as e:
        api.client.list_workspaces(m.ListWorkspacesRequest(resource_group_id="rg-acfm"))
    assert e.value.code == "InvalidParameter" and "resource groups" in e.value.message
    with pytest.raises(ClientException) as e:
        api.client.list_workspaces(m.ListWorkspacesRequest(max_results=0))
    assert e.value.code == "InvalidParameter" and "maxResults must be 1 or more" in e.value.message
    with pytest.raises(ClientException) as e:
        api.client.list_workspaces(m.ListWorkspacesRequest(region_id="cn-hangzhou"))
    assert e.value.code == "InvalidParameter" and REGION in e.value.message


def test_update_workspace(api):
    name = "sdk-up-" + uuid.uuid4().hex[:8]
    ws = api.filled(api.client.create_workspace(m.CreateWorkspaceRequest(
        workspace_name=name, resource_spec=m.CreateWorkspaceRequestResourceSpec(cu="8")))).workspace_id

    body = api.filled(api.client.update_workspace(m.UpdateWorkspaceRequest(workspace_id=ws, workspace_name=name + "-renamed")))
    assert body.request_id and body.order_id == "" and body.data.order_id == ""
    (w,) = workspaces_named(api, name + "-renamed")
    assert (w.workspace_id, w.resource_spec) == (ws, "8cu")

    # The root queue holds the whole quota: it is lowered first.
    with pytest.raises(ClientException) as e:
        api.client.update_workspace(m.UpdateWorkspaceRequest(workspace_id=ws, cu=4))
    assert (e.value.code, e.value.status_code) == ("OperationDenied", 409) and "EditWorkspaceQueue" in e.value.message
    api.filled(api.client.edit_workspace_queue(m.EditWorkspaceQueueRequest(
        workspace_id=ws, workspace_queue_name="root_queue", resource_spec=m.EditWorkspaceQueueRequestResourceSpec(cu=4))))
    api.filled(api.client.update_workspace(m.UpdateWorkspaceRequest(workspace_id=ws, cu=4, region_id=REGION)))
    (w,) = workspaces_named(api, name + "-renamed")
    assert w.resource_spec == "4cu"

    for req, words in [
        (m.UpdateWorkspaceRequest(workspace_id=ws, ip_white_list=["10.0.0.0/8"]), "acs:SourceIp"),
        (m.UpdateWorkspaceRequest(workspace_id=ws, gpu=1), "gpuSpec"),
        (m.UpdateWorkspaceRequest(workspace_id=ws, subscription=m.UpdateWorkspaceRequestSubscription(duration="1")), "subscription"),
    ]:
        with pytest.raises(ClientException) as e:
            api.client.update_workspace(req)
        assert e.value.code == "InvalidParameter" and words in e.value.message, e.value.message


def test_create_workspace_refuses_what_it_cannot_keep(api):
    for req, words in [
        (m.CreateWorkspaceRequest(workspace_name="sdk-refused", ram_role_name="AliyunEMRSparkJobRunDefaultRole"), "ramRoleName"),
        (m.CreateWorkspaceRequest(workspace_name="sdk-refused", dlf_type="dlf2.0"), "dlfType"),
        (m.CreateWorkspaceRequest(workspace_name="sdk-refused", auto_start_session_cluster=True), "autoStartSessionCluster"),
        (m.CreateWorkspaceRequest(workspace_name="sdk-refused", payment_type="Pre", duration="1", payment_duration_unit="Month"),
         "subscription terms"),
        (m.CreateWorkspaceRequest(workspace_name="sdk-refused", resource_spec=m.CreateWorkspaceRequestResourceSpec(cu="8", gpu=1)),
         "resourceSpec.gpu"),
    ]:
        with pytest.raises(ClientException) as e:
            api.client.create_workspace(req)
        assert (e.value.code, e.value.status_code) == ("InvalidParameter", 400) and words in e.value.message, e.value.message
    assert workspaces_named(api, "sdk-refused") == []


def test_queue_environments_and_payment_type(api):
    name = "sdk-env-" + uuid.uuid4().hex[:8]
    ws = api.filled(api.client.create_workspace(m.CreateWorkspaceRequest(
        workspace_name=name, resource_spec=m.CreateWorkspaceRequestResourceSpec(cu="8")))).workspace_id
    assert queues_of(api, ws)["root_queue"].environments == ["dev", "production"]

    api.filled(api.client.edit_workspace_queue(m.EditWorkspaceQueueRequest(
        workspace_id=ws, workspace_queue_name="root_queue", resource_spec=m.EditWorkspaceQueueRequestResourceSpec(cu=6),
        environments=["production"])))
    api.filled(api.client.create_workspace_queue(m.CreateWorkspaceQueueRequest(
        workspace_id=ws, workspace_queue_name="dev_queue", payment_type="Pre", preheat=False,
        resource_spec=m.CreateWorkspaceQueueRequestResourceSpec(cu=2))))
    # An edit of the environments alone keeps the limit.
    api.filled(api.client.edit_workspace_queue(m.EditWorkspaceQueueRequest(
        workspace_id=ws, workspace_queue_name="dev_queue", environments=["dev"])))

    qs = queues_of(api, ws)
    assert (qs["root_queue"].environments, json.loads(qs["root_queue"].max_resource)) == (["production"], {"cpu": "6", "memory": "24Gi"})
    assert (qs["dev_queue"].environments, qs["dev_queue"].payment_type) == (["dev"], "Pre")
    assert json.loads(qs["dev_queue"].max_resource) == {"cpu": "2", "memory": "8Gi"}
    dev = api.filled(api.client.list_workspace_queues(ws, m.ListWorkspaceQueuesRequest(environment="dev", region_id=REGION)))
    assert [q.queue_name for q in dev.queues] == ["dev_queue"] and dev.total_count == 1

    with pytest.raises(ClientException) as e:
        api.client.list_workspace_queues(ws, m.ListWorkspaceQueuesRequest(environment="staging"))
    assert e.value.code == "InvalidParameter" and "environment" in e.value.message
    for req, words in [
        (m.CreateWorkspaceQueueRequest(workspace_id=ws, workspace_queue_name="warm", preheat=True,
                                       resource_spec=m.CreateWorkspaceQueueRequestResourceSpec(cu=1)), "preheat"),
        (m.CreateWorkspaceQueueRequest(workspace_id=ws, workspace_queue_name="gpu", gpu_spec=["ecs.gn7i-c8g1.2xlarge"],
                                       resource_spec=m.CreateWorkspaceQueueRequestResourceSpec(cu=1, gpu=1)), "gpuSpec"),
        (m.CreateWorkspaceQueueRequest(workspace_id=ws, workspace_queue_name="two",
                                       resource_spec=m.CreateWorkspaceQueueRequestResourceSpec(cu=1, max_cu=2)), "one limit"),
    ]:
        with pytest.raises(ClientException) as e:
            api.client.create_workspace_queue(req)
        assert e.value.code == "InvalidParameter" and words in e.value.message, e.value.message
    assert set(queues_of(api, ws)) == {"root_queue", "dev_queue"}
