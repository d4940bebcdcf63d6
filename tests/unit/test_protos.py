"""The committed gRPC code matches the .proto files (regenerate with `bash scripts/gen_protos`)."""

import pathlib
import subprocess

ROOT = pathlib.Path(__file__).parents[2]
GENERATED = ROOT / "protos" / "vcc" / "v1"


def test_generated_code_is_not_stale(tmp_path):
    subprocess.run(["bash", str(ROOT / "scripts" / "gen_protos"), str(tmp_path)], check=True,
                   cwd=ROOT)
    fresh = {path.name: path.read_bytes() for path in (tmp_path / "vcc" / "v1").iterdir()}
    committed = {path.name: path.read_bytes() for path in GENERATED.iterdir()
                 if path.name.endswith(("_pb2.py", "_pb2.pyi", "_pb2_grpc.py"))}
    assert sorted(fresh) == sorted(committed), "generated files added or removed"
    stale = [name for name in fresh if fresh[name] != committed[name]]
    assert not stale, f"stale generated code, run `bash scripts/gen_protos`: {stale}"
    assert len(fresh) == 3 * len(list(GENERATED.glob("*.proto")))


def test_every_service_is_importable():
    from vcc.v1 import (admin_pb2_grpc, agent_control_pb2_grpc, call_control_pb2_grpc,
                        crm_pb2_grpc, routing_pb2_grpc)

    for module, service in ((admin_pb2_grpc, "Admin"), (agent_control_pb2_grpc, "AgentControl"),
                            (call_control_pb2_grpc, "CallControl"), (routing_pb2_grpc, "Routing"),
                            (crm_pb2_grpc, "Crm"), (crm_pb2_grpc, "Marketing")):
        assert hasattr(module, f"{service}Servicer")
        assert hasattr(module, f"add_{service}Servicer_to_server")
