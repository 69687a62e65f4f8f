"""ListReleaseVersions, ListNetworkServices and CreateNetworkService."""

import re

import pytest
from alibabacloud_emr_serverless_spark20230808 import models as m
from alibabacloud_tea_openapi.exceptions import ClientException

from conftest import REGION


def test_list_release_versions(api):
    body = api.filled(api.client.list_release_versions(m.ListReleaseVersionsRequest()))
    raw = api.raw()["releaseVersions"]
    assert body.request_id and body.total_count == len(body.release_versions) > 0
    assert body.next_token == ""
    for rv, sent in zip(body.release_versions, raw):
        # rayVersion and pythonVersion are rayfleet's extensions; what the
        # SDK reads must agree with them.
        assert rv.community_version == "Ray " + sent["rayVersion"]
        assert rv.display_release_version == f"{rv.release_version} (Ray {sent['rayVersion']}, Python {sent['pythonVersion']})"
        assert rv.state == "ONLINE"
        assert rv.type in ("stable", "beta")
        assert rv.cpu_architectures and rv.gmt_create > 0

    newest = max(body.release_versions, key=lambda rv: rv.gmt_create)
    one = api.filled(api.client.list_release_versions(m.ListReleaseVersionsRequest(release_version=newest.release_version)))
    assert [rv.display_release_version for rv in one.release_versions] == [newest.display_release_version]
    assert one.total_count == 1

    offline = api.filled(api.client.list_release_versions(m.ListReleaseVersionsRequest(release_version_status="OFFLINE")))
    assert offline.release_versions == [] and offline.total_count == 0


def test_network_services(api):
    ws = api.workspace_id
    before = api.filled(api.client.list_network_services(ws, m.ListNetworkServicesRequest()))
    by_name = {ns.name: ns for ns in before.network_services}
    # Every workspace starts with the network service clusters use by default.
    assert "vpc" in by_name
    assert by_name["vpc"].workspace_id == ws and by_name["vpc"].state == "running"
    assert before.total_count == len(before.network_services)

    created = api.filled(api.client.create_network_service(ws, m.CreateNetworkServiceRequest(
        name="sdk-net", vpc_id="vpc-sdk0001", vswitch_ids=["vsw-a", "vsw-b"], security_group_id="sg-sdk", type="NetworkService")))
    assert created.request_id and created.operation_id

    after = api.filled(api.client.list_network_services(ws, m.ListNetworkServicesRequest()))
    ns = {n.name: n for n in after.network_services}["sdk-net"]
    assert re.fullmatch(r"ns-[0-9a-f]+", ns.network_service_id)
    assert (ns.vpc_id, ns.vswitch_ids, ns.type, ns.workspace_id) == ("vpc-sdk0001", ["vsw-a", "vsw-b"], "NetworkService", ws)
    assert after.total_count == before.total_count + 1


def test_release_version_filters(api):
    every = api.filled(api.client.list_release_versions(m.ListReleaseVersionsRequest())).release_versions
    stable = api.filled(api.client.list_release_versions(m.ListReleaseVersionsRequest(
        release_type="stable", service_filter="ray", workspace_id=api.workspace_id, region_id=REGION)))
    assert [rv.release_version for rv in stable.release_versions] == [rv.release_version for rv in every if rv.type == "stable"]
    beta = api.filled(api.client.list_release_versions(m.ListReleaseVersionsRequest(release_type="beta")))
    assert [rv.release_version for rv in beta.release_versions] == [rv.release_version for rv in every if rv.type == "beta"]

    for req, code, words in [
        (m.ListReleaseVersionsRequest(release_type="nightly"), "InvalidParameter", "releaseType"),
        (m.ListReleaseVersionsRequest(service_filter="spark"), "InvalidParameter", "Ray engines"),
        (m.ListReleaseVersionsRequest(workspace_id="w-0000000000000000"), "ResourceNotFound", "w-0000000000000000"),
    ]:
        with pytest.raises(ClientException) as e:
            api.client.list_release_versions(req)
        assert e.value.code == code and words in e.value.message, e.value.message


def test_network_services_second_list(api):
    body = api.filled(api.client.list_network_services(api.workspace_id, m.ListNetworkServicesRequest(region_id=REGION)))
    # The model's deprecated queues list carries the same network services.
    assert [q.to_map() for q in body.queues] == [n.to_map() for n in body.network_services] != []
