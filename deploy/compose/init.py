"""compose.yaml's first step: the demo's keys (made once) and the dev AS config with their JWKS."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from bff.cli import main as bff


def init(keys: Path, template: Path) -> int:
    """Generate the client and cookie keys unless present; write ``as-config.json`` beside them."""
    if not (keys / "client.jwk").exists() and bff(["keys", "generate", "--out", str(keys)]) != 0:
        return 1
    config = json.loads(template.read_text())
    # the AS needs the client's public keys inline; they exist only once the volume has keys
    jwks = json.loads((keys / "client.public.jwks").read_text())
    for client in config["clients"]:
        client["jwks"] = jwks
    (keys / "as-config.json").write_text(json.dumps(config, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(init(Path(sys.argv[1]), Path(sys.argv[2])))
