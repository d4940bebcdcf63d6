"""`vcc serve` as an SRE runs it: its own process, TLS, bearer tokens, clean shutdown."""

import asyncio
import os
import re
import signal
import subprocess
import sys

import grpc
import pytest
from grpc_health.v1 import health_pb2

from cluster.client import VccClient
from tests.integration.certificates import make_pki, openssl_available
from vcc.v1 import admin_pb2, common_pb2, routing_pb2

ADMIN_TOKEN = "admin-token-0123456789abcdef"
CRM_TOKEN = "crm-token-0123456789abcdef00"


def start(*arguments):
    process = subprocess.Popen([sys.executable, "-m", "cluster.cli", "serve", "--port", "0",
                                *arguments], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
    try:
        line = process.stdout.readline()          # bounded: the server prints it or exits
        match = re.search(r"listening on port (\d+)", line)
        assert match, (line, process.stderr.read() if process.poll() is not None else "")
        return process, int(match.group(1))
    except BaseException:
        process.kill()
        process.wait(10)
        raise


def stop(process):
    process.send_signal(signal.SIGTERM)
    try:
        return process.wait(20)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)


@pytest.fixture
def pki(tmp_path):
    if not openssl_available():
        if os.environ.get("CI"):
            pytest.fail("the openssl command is needed to make test certificates")
        pytest.skip("the openssl command is needed to make test certificates")
    return make_pki(tmp_path / "pki")


def test_serve_with_tls_and_tokens(tmp_path, pki):
    tokens = tmp_path / "tokens"
    tokens.write_text(f"# test tokens\n{ADMIN_TOKEN} admin\n{CRM_TOKEN} crm\n")
    tokens.chmod(0o600)
    process, port = start("--tls-cert", str(pki.server_cert), "--tls-key", str(pki.server_key),
                          "--token-file", str(tokens))

    async def calls():
        target = f"localhost:{port}"
        async with VccClient(target, token=ADMIN_TOKEN, root_certificates=pki.server_ca) as admin:
            health = await admin.health.Check(health_pb2.HealthCheckRequest(), timeout=10)
            assert health.status == health_pb2.HealthCheckResponse.SERVING
            sites = await admin.admin.ListSites(admin_pb2.ListRequest(), timeout=10)
            assert {site.name for site in sites.sites} == {"east", "west"}
            with pytest.raises(grpc.aio.AioRpcError) as denied:
                await admin.routing.GetEwt(routing_pb2.GetEwtRequest(site="east", skill="billing"),
                                           timeout=10)
            assert denied.value.code() is grpc.StatusCode.PERMISSION_DENIED
        async with VccClient(target, token=CRM_TOKEN, root_certificates=pki.server_ca) as crm:
            ewt = await crm.routing.GetEwt(routing_pb2.GetEwtRequest(
                site="east", skill="billing", priority=common_pb2.PRIORITY_HIGH), timeout=10)
            assert not ewt.ewt_known            # nobody logged in yet: EWT unbounded
        async with VccClient(target, root_certificates=pki.server_ca) as anonymous:
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await anonymous.admin.ListSites(admin_pb2.ListRequest(), timeout=10)
            assert refused.value.code() is grpc.StatusCode.UNAUTHENTICATED
        async with VccClient(target, token=ADMIN_TOKEN) as plaintext:
            with pytest.raises(grpc.aio.AioRpcError) as no_tls:
                await plaintext.admin.ListSites(admin_pb2.ListRequest(), timeout=5)
            assert no_tls.value.code() is grpc.StatusCode.UNAVAILABLE

    try:
        asyncio.run(calls())
    finally:
        assert stop(process) == 0


def test_serve_refuses_bad_flags_with_the_flag_named(tmp_path):
    result = subprocess.run([sys.executable, "-m", "cluster.cli", "serve", "--port", "0",
                             "--token-file", str(tmp_path / "missing")],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "--token-file" in result.stderr and "missing" in result.stderr
    bad_config = tmp_path / "bad.yaml"
    bad_config.write_text("skills:\n  billing: {queueing: lifo}\nsites: {}\n")
    result = subprocess.run([sys.executable, "-m", "cluster.cli", "serve", "--port", "0",
                             "--config", str(bad_config)], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 2
    assert f"{bad_config}:2" in result.stderr and "queueing" in result.stderr
