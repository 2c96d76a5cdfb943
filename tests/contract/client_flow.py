"""Uses a client generated from rulehost's OpenAPI document as a platform
operator and a brand's engineer would: create a tenant, issue its key,
upload a plugin, set the pipeline, activate the version, store config and
offers, and decide for a customer.

The test (tests/e2e/contract.rs) generates the package `rulehost_client`
with openapi-python-client from the server's /openapi.json, type-checks
this file against it with mypy, then runs it:

    client_flow.py BASE_URL OPERATOR_TOKEN PLUGIN_WASM SAMPLE_DIR NOW

It prints the decision's stage, tags and proposals as JSON and exits 0, or
names the step that failed and exits 1.
"""

import io
import json
import sys
from pathlib import Path
from typing import Any, TypeVar

from rulehost_client import AuthenticatedClient
from rulehost_client.api.config import put_config, put_offers
from rulehost_client.api.decide import decide
from rulehost_client.api.operator import create_key, create_tenant
from rulehost_client.api.pipeline import activate, set_pipeline
from rulehost_client.api.plugins import upload_plugin
from rulehost_client.models import (
    Activation,
    DecideRequest,
    Decision,
    IssuedKey,
    NewKey,
    NewTenant,
    Offer,
    Pipeline,
    PipelineSlots,
    PluginVersion,
    StageVerdict,
    Tenant,
    TenantConfig,
    VersionedTenantConfig,
    VersionedVecOffer,
)
from rulehost_client.types import File

T = TypeVar("T")

TENANT = "generated-client"


def expect(step: str, answer: object, kind: type[T]) -> T:
    """The answer of `step` if it is a `kind`; otherwise the run fails."""
    if isinstance(answer, kind):
        return answer
    raise SystemExit(f"{step}: expected {kind.__name__}, got {answer!r}")


def read_object(path: Path) -> dict[str, Any]:
    """A JSON object from a file."""
    value = json.loads(path.read_text())
    if not isinstance(value, dict):
        raise SystemExit(f"{path}: expected a JSON object")
    return value


def read_objects(path: Path) -> list[dict[str, Any]]:
    """A JSON array of objects from a file."""
    value = json.loads(path.read_text())
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise SystemExit(f"{path}: expected a JSON array of objects")
    return value


def main(base_url: str, operator_token: str, wasm: Path, samples: Path, now: str) -> None:
    operator = AuthenticatedClient(base_url=base_url, token=operator_token, raise_on_unexpected_status=True)
    tenant = expect(
        "create the tenant",
        create_tenant.sync(client=operator, body=NewTenant(id=TENANT, tz_offset_minutes=480)),
        Tenant,
    )
    issued = expect(
        "issue a key",
        create_key.sync(tenant.id, client=operator, body=NewKey(label="generated client")),
        IssuedKey,
    )
    brand = AuthenticatedClient(base_url=base_url, token=issued.key, raise_on_unexpected_status=True)

    expect(
        "store the config",
        put_config.sync(TENANT, client=brand, body=TenantConfig.from_dict(read_object(samples / "config.json"))),
        VersionedTenantConfig,
    )
    offers = [Offer.from_dict(offer) for offer in read_objects(samples / "offers.json")]
    expect("store the offers", put_offers.sync(TENANT, client=brand, body=offers), VersionedVecOffer)

    uploaded = expect(
        "upload the plugin",
        upload_plugin.sync(
            TENANT,
            client=brand,
            body=File(payload=io.BytesIO(wasm.read_bytes()), file_name=wasm.name, mime_type="application/wasm"),
            version="1.0.0",
        ),
        PluginVersion,
    )
    expect(
        "set the pipeline",
        set_pipeline.sync(TENANT, client=brand, body=PipelineSlots(slots=["main"])),
        Pipeline,
    )
    expect(
        "activate the version",
        activate.sync(TENANT, "main", client=brand, body=Activation(name=uploaded.name, version=uploaded.version)),
        Pipeline,
    )

    request = read_object(samples / "decide.json")
    request["now"] = now
    decision = expect(
        "decide",
        decide.sync(TENANT, client=brand, body=DecideRequest.from_dict(request)),
        Decision,
    )
    stage = decision.stage.to_dict() if isinstance(decision.stage, StageVerdict) else None
    print(
        json.dumps(
            {
                "plugins": [f"{p.name}@{p.version}" for p in decision.plugins],
                "stage": stage,
                "tags": [f"{t.group}/{t.name}" for t in decision.tags],
                "proposals": [p.offer_id for p in decision.proposals],
            }
        )
    )


if __name__ == "__main__":
    if len(sys.argv) != 6:
        raise SystemExit(__doc__)
    main(sys.argv[1], sys.argv[2], Path(sys.argv[3]), Path(sys.argv[4]), sys.argv[5])
