"""`vcc serve` as an SRE runs it: its own process, TLS, bearer tokens, clean shutdown; and
`vcc serve --runtime ray` (the default) with `vcc status` reading the running cluster."""

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import time

import grpc
import pytest
from grpc_health.v1 import health_pb2

from cluster.client import VccClient
from tests.integration.certificates import make_pki, openssl_available
from vcc.v1 import admin_pb2, agent_control_pb2, common_pb2, routing_pb2
from tests.twin_pass import compiled_pass_only

ADMIN_TOKEN = "admin-token-0123456789abcdef"
CRM_TOKEN = "crm-token-0123456789abcdef00"


def start(*arguments, env=None):
    process = subprocess.Popen([sys.executable, "-m", "cluster.cli", "serve", "--port", "0",
                                *arguments], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, env=env)
    try:
        line = process.stdout.readline()          # bounded: the server prints it or exits
        match = re.search(r"listening on port (\d+)", line)
        assert match, (line, process.stderr.read() if process.poll() is not None else "")
        process.first_line = line
        return process, int(match.group(1))
    except BaseException:
        process.kill()
        process.wait(10)
        raise


def stop(process, signum=signal.SIGTERM):
    """Send `signum` (SIGTERM: a clean stop), wait; the exit code. Killed if it hangs."""
    process.send_signal(signum)
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
    # In-process: what is tested here is TLS and tokens; Ray would only add startup time.
    process, port = start("--runtime", "inprocess", "--tls-cert", str(pki.server_cert),
                          "--tls-key", str(pki.server_key), "--token-file", str(tokens))

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
    # The Ray runtime's flags: refused before anything starts, or quickly when nothing
    # listens at --address (ray.init would retry for minutes).
    for flags, code, words in (
            (["--runtime", "inprocess", "--address", "127.0.0.1:1"], 2, "--address"),
            (["--runtime", "ray", "--db", "mysql://127.0.0.1/x"], 2, "unsupported database"),
            (["--address", "127.0.0.1:1"], 1, "nothing answers at '127.0.0.1:1'")):
        result = subprocess.run([sys.executable, "-m", "cluster.cli", "serve", "--port", "0",
                                 *flags], capture_output=True, text=True, timeout=60,
                                env=dict(os.environ, VCC_STATE_DIR=str(tmp_path / "state")))
        assert result.returncode == code and words in result.stderr, (flags, result.stderr)
    assert not (tmp_path / "state" / "cluster.json").exists()


def test_serve_off_loopback_needs_tls_and_authentication_or_insecure(tmp_path, pki):
    """Issue 15 item 11: refused before anything listens (no socket is opened off loopback
    here); an out-of-range port is refused instead of listening elsewhere."""
    tokens = tmp_path / "tokens.txt"
    tokens.write_text(f"{ADMIN_TOKEN} admin\n")
    tokens.chmod(0o600)
    tls = ["--tls-cert", str(pki.server_cert), "--tls-key", str(pki.server_key)]
    for flags, words in ((["--host", "192.0.2.1"], "no TLS"),
                         (["--host", "192.0.2.1", "--token-file", str(tokens)], "no TLS"),
                         (["--host", "192.0.2.1", *tls], "caller authentication"),
                         (["--port", "99999"], "--port: must be 0..65535")):
        result = subprocess.run([sys.executable, "-m", "cluster.cli", "serve", "--runtime",
                                 "inprocess", *flags], capture_output=True, text=True, timeout=60)
        assert result.returncode == 2 and words in result.stderr, (flags, result.stderr)
        assert "Traceback" not in result.stderr


# ---- the Ray runtime --------------------------------------------------------------------------
RAY_CONFIG = """\
skills:
  billing: {sl_threshold_s: 20}
sites:
  east:
    agents:
      - {ids: [e1], skills: {billing: 1}}
  west:
    agents:
      - {ids: [w1], skills: {billing: 1}}
routing: {multisite: bsr}
"""


def _descendants(root: int) -> set:
    children = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    parent = int(stat.read().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            children.setdefault(parent, []).append(int(entry))
    found, todo = set(), [root]
    while todo:
        pid = todo.pop()
        for child in children.get(pid, ()):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def _running(pid: int) -> bool:
    """Alive and not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _command(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
            return cmdline.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def test_serve_on_ray_routes_reports_status_and_stops_clean(tmp_path):
    """`vcc serve --runtime ray`: an embedded Ray instance with one site actor per site; a
    contact routed over gRPC is offered (across sites by BSR); `vcc status` finds the
    cluster through the state file and shows nodes, actors and sites; SIGTERM: exit 0, the
    state file is gone and so is every Ray process the server started."""
    compiled_pass_only("a Ray runtime test (the twin runs serve in-process)")
    config = tmp_path / "cluster.yaml"
    config.write_text(RAY_CONFIG)
    env = dict(os.environ, VCC_STATE_DIR=str(tmp_path / "state"))
    process, port = start("--runtime", "ray", "--config", str(config), env=env)
    try:
        ray_processes = {pid for pid in _descendants(process.pid)
                         if any(name in _command(pid) for name in ("raylet", "gcs_server",
                                                                   "default_worker", "ray"))}
        assert ray_processes, "the server started no Ray process?"

        async def route():
            async with VccClient(f"127.0.0.1:{port}") as client:
                await client.agents.Login(agent_control_pb2.AgentRequest(
                    site="west", agent_id="w1"), timeout=30)
                await client.agents.SetState(agent_control_pb2.SetStateRequest(
                    site="west", agent_id="w1", state=common_pb2.AGENT_STATE_READY), timeout=30)
                return await client.routing.RouteContact(routing_pb2.RouteContactRequest(
                    contact=common_pb2.ContactSpec(contact_id="c1", site="east",
                                                   skill="billing")), timeout=30)

        reply = asyncio.run(route())
        assert reply.WhichOneof("decision") == "offer", reply
        assert (reply.offer.agent_id, reply.offer.site, reply.interflow.to_site) == (
            "w1", "west", "west")

        state_file = tmp_path / "state" / "cluster.json"
        assert oct(state_file.stat().st_mode & 0o777) == "0o600"
        result = subprocess.run([sys.executable, "-m", "cluster.cli", "status", "--json"],
                                capture_output=True, text=True, timeout=120, env=env)
        assert result.returncode == 0, result.stderr
        status = json.loads(result.stdout)
        assert status["leader"] == "in-process (single gateway)"
        assert status["gateway"]["pid"] == process.pid
        [node] = status["nodes"]
        assert node["alive"] and node["address"] == "127.0.0.1" and node["cpus"] >= 1
        assert {(actor["name"], actor["state"]) for actor in status["actors"]} == {
            ("vcc-site:east", "ALIVE"), ("vcc-site:west", "ALIVE")}
        sites = {site["site"]: site for site in status["sites"]}
        assert set(sites) == {"east", "west"}
        assert sites["west"]["logged_in"] == 1 and sites["west"]["contacts"] == 1
        assert sites["east"]["skills"]["billing"]["queued"] == 0
        assert all(site["node_id"] == node["node_id"] for site in sites.values())
        table = subprocess.run([sys.executable, "-m", "cluster.cli", "status"],
                               capture_output=True, text=True, timeout=120, env=env)
        assert table.returncode == 0 and "vcc-site:west" in table.stdout, table.stderr
    finally:
        code = stop(process)
    assert code == 0, process.stderr.read()
    assert not (tmp_path / "state" / "cluster.json").exists()
    deadline = time.monotonic() + 20
    while any(_running(pid) for pid in ray_processes) and time.monotonic() < deadline:
        time.sleep(0.2)
    left = [(pid, _command(pid)) for pid in ray_processes if _running(pid)]
    assert not left, left
    # Nothing to read any more: status says so instead of hanging.
    result = subprocess.run([sys.executable, "-m", "cluster.cli", "status"],
                            capture_output=True, text=True, timeout=60, env=env)
    assert result.returncode == 1 and "no running vcc server" in result.stderr


# A Ray "cluster" on this machine that can grow: head now, a worker node on "add" (stdin).
GROWING_CLUSTER = """\
import sys
from cluster import ray_runtime
cluster = ray_runtime.start_local_cluster(worker_nodes=0, num_cpus_per_node=1)
print(cluster.address, flush=True)
try:
    for line in sys.stdin:
        if line.strip() != "add":
            break
        print(cluster.add_node(), flush=True)
finally:
    ray_runtime.shutdown()
"""


def test_serve_joins_a_cluster_and_rebalance_moves_a_site_to_a_new_node(tmp_path):
    """`vcc serve --address` joins a running Ray cluster (here: a head node on loopback);
    a contact waits at west; a worker node joins; `vcc rebalance` moves west's actor there
    (east stays on the head), and the waiting contact is still there: the agent who logs
    in at west gets it."""
    compiled_pass_only("a Ray runtime test (the twin runs serve in-process)")
    env = dict(os.environ, VCC_STATE_DIR=str(tmp_path / "state"), RAY_AUTH_MODE="disabled",
               PYTHONPATH=os.getcwd())
    config = tmp_path / "cluster.yaml"
    config.write_text(RAY_CONFIG)
    ray = subprocess.Popen([sys.executable, "-c", GROWING_CLUSTER], stdin=subprocess.PIPE,
                           stdout=subprocess.PIPE, text=True, env=env)
    server = None
    try:
        address = ray.stdout.readline().strip()      # bounded: printed, or the process ended
        assert re.fullmatch(r"127\.0\.0\.1:\d+", address), address
        server, port = start("--address", address, "--config", str(config), env=env)

        async def route_c1():
            async with VccClient(f"127.0.0.1:{port}") as client:
                return await client.routing.RouteContact(routing_pb2.RouteContactRequest(
                    contact=common_pb2.ContactSpec(contact_id="c1", site="west",
                                                   skill="billing")), timeout=30)

        assert asyncio.run(route_c1()).WhichOneof("decision") == "queued"
        ray.stdin.write("add\n")
        ray.stdin.flush()
        worker = ray.stdout.readline().strip()
        result = subprocess.run([sys.executable, "-m", "cluster.cli", "rebalance"],
                                capture_output=True, text=True, timeout=180, env=env)
        assert result.returncode == 0, result.stdout + result.stderr
        status = json.loads(subprocess.run(
            [sys.executable, "-m", "cluster.cli", "status", "--json"], capture_output=True,
            text=True, timeout=120, env=env, check=True).stdout)
        nodes = {site["site"]: site["node_id"] for site in status["sites"]}
        head = next(node["node_id"] for node in status["nodes"] if node["head"])
        assert nodes == {"east": head, "west": worker}
        assert {site["site"]: site["contacts"] for site in status["sites"]} == {
            "east": 0, "west": 1}

        async def serve_c1():
            async with VccClient(f"127.0.0.1:{port}") as client:
                await client.agents.Login(agent_control_pb2.AgentRequest(
                    site="west", agent_id="w1"), timeout=30)
                return await client.agents.SetState(agent_control_pb2.SetStateRequest(
                    site="west", agent_id="w1", state=common_pb2.AGENT_STATE_READY), timeout=30)

        reply = asyncio.run(serve_c1())
        assert [offer.contact_id for offer in reply.offers] == ["c1"]
    finally:
        if server is not None:
            assert stop(server) == 0, server.stderr.read()
        try:
            ray.stdin.close()               # the helper shuts its Ray down and exits
            ray.wait(60)
        finally:
            if ray.poll() is None:
                ray.kill()
                ray.wait(10)


def test_vcc_status_finds_an_in_process_server(tmp_path):
    """`vcc status` reads an in-process server's sites over gRPC (no Ray to join); the state
    file goes with the server."""
    import json
    import os

    env = {**os.environ, "VCC_STATE_DIR": str(tmp_path)}
    process, port = start("--runtime", "inprocess", env=env)
    try:
        done = subprocess.run([sys.executable, "-m", "cluster.cli", "status", "--json"],
                              capture_output=True, text=True, timeout=60, env=env)
    finally:
        assert stop(process) == 0
    assert done.returncode == 0, done.stderr
    status = json.loads(done.stdout)
    assert status["gateway"]["grpc_address"].endswith(f":{port}")
    assert {row["site"]: (row["agents"], sorted(row["skills"])) for row in status["sites"]} == {
        "east": (10, ["billing", "sales"]), "west": (10, ["billing", "sales"])}
    assert not (tmp_path / "cluster.json").exists()
    gone = subprocess.run([sys.executable, "-m", "cluster.cli", "status"], capture_output=True,
                          text=True, timeout=60, env=env)
    assert gone.returncode == 1 and "no running vcc server found" in gone.stderr
