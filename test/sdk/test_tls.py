"""The official SDK over https: a server serving TLS from a certificate
the test makes, the SDK with protocol https trusting the test's CA."""

import datetime
import ipaddress
import urllib.error
import urllib.request

import pytest
from alibabacloud_emr_serverless_spark20230808 import models as m
from alibabacloud_emr_serverless_spark20230808.client import Client
from alibabacloud_tea_openapi.models import Config
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from conftest import run_server


def make_ca_and_leaf(dirpath):
    """Writes ca.pem, tls.crt and tls.key (for 127.0.0.1) under dirpath."""
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "rayfleet sdk test CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(1)
          .not_valid_before(now - datetime.timedelta(hours=1)).not_valid_after(now + datetime.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(2)
            .not_valid_before(now - datetime.timedelta(hours=1)).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    paths = {name: dirpath / name for name in ("ca.pem", "tls.crt", "tls.key")}
    paths["ca.pem"].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths["tls.crt"].write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    paths["tls.key"].write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                   serialization.NoEncryption()))
    return paths


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory):
    work = tmp_path_factory.mktemp("rayfleet-tls")
    certs = make_ca_and_leaf(work)
    args = ["--tls-cert-file", str(certs["tls.crt"]), "--tls-key-file", str(certs["tls.key"])]
    with run_server(work, args, scheme="https", ca=str(certs["ca.pem"])) as s:
        s["ca"] = str(certs["ca.pem"])
        yield s


def test_sdk_over_https(tls_server):
    cred = tls_server["cred"]
    assert cred["endpoint"] == "https://" + tls_server["address"]
    client = Client(Config(access_key_id=cred["accessKeyId"], access_key_secret=cred["accessKeySecret"],
                           endpoint=tls_server["address"], protocol="https", ca=tls_server["ca"]))
    body = client.list_workspaces(m.ListWorkspacesRequest()).body
    assert cred["workspaceId"] in {w.workspace_id for w in body.workspaces}
    releases = client.list_release_versions(m.ListReleaseVersionsRequest()).body
    assert releases.release_versions


def test_plain_http_gets_no_api(tls_server):
    with pytest.raises((urllib.error.URLError, ConnectionError)) as e:
        with urllib.request.urlopen(f"http://{tls_server['address']}/healthz", timeout=5) as r:
            assert r.status != 200, "the API answered plain HTTP with TLS on"
    if isinstance(e.value, urllib.error.HTTPError):
        assert e.value.code == 400
