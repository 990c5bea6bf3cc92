"""Run ``helpers.models.load`` in a fresh process, as a notebook would, and report as JSON.

Used by tests/test_online_loading.py: the process sees ``HF_ENDPOINT``, ``HF_HOME`` and
``TORCH_HOME`` from its environment (huggingface_hub reads them at import), so every download
goes to the loopback hub of tests/hub_server.py and every file lands in a temporary cache.

Usage: python tests/online_client.py '<json spec>'; prints one line ``RESULT {...}``.
The spec: ``calls`` ([library, name] pairs), optional ``rounds`` (how many times to make the
calls: before each round after the first the client asks the hub for ``/__round/<n>``, so the
hub's log shows which requests each round made), ``pins`` (repo -> commit), ``files``
("repo|file" -> [size, sha256]) and ``torchvision_url`` (where vit_b_16's weights live).
Each round's results are one list of ``RESULT["rounds"]``; ``RESULT["calls"]`` is the first.
"""

from __future__ import annotations

import json
import os
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path


def main() -> None:
    spec = json.loads(sys.argv[1])
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

    import helpers.models.hub as hub
    from helpers.data.images import sample_images
    from helpers.models import load
    from helpers.setup.network import check_network

    hub.PINNED_REVISIONS.update(spec.get("pins", {}))
    for key, (size, sha256) in spec.get("files", {}).items():
        hub.PINNED_FILES[tuple(key.split("|"))] = (size, sha256)
    if spec.get("torchvision_url"):
        from torchvision.models import ViT_B_16_Weights

        ViT_B_16_Weights.IMAGENET1K_V1.value.url = spec["torchvision_url"]
    photo = sample_images()["chelsea"]
    results = {"network": check_network().reason, "rounds": []}
    for round_number in range(1, spec.get("rounds", 1) + 1):
        if round_number > 1:  # a mark in the hub's log: what follows is this round's
            endpoint = os.environ["HF_ENDPOINT"]
            try:
                urllib.request.urlopen(f"{endpoint}/__round/{round_number}", timeout=10)
            except urllib.error.HTTPError:
                pass  # the hub answers 404; the request is logged all the same
        results["rounds"].append([_call(library, name, photo, load)
                                  for library, name in spec["calls"]])
    results["calls"] = results["rounds"][0]
    print("RESULT " + json.dumps(results))


def _call(library: str, name: str, photo, load) -> dict:
    """Load one model as a notebook would; what came of it, as JSON-ready values."""
    import torch

    start = time.perf_counter()
    try:
        loaded = load(library, name, device="cpu")
    except ValueError as err:
        return {"library": library, "error": str(err), "seconds": time.perf_counter() - start}
    seconds = time.perf_counter() - start
    call = {"library": library, "kind": loaded.kind, "source": loaded.source,
            "seconds": seconds, "top": loaded.predict(photo, k=1)[0][0][0]}
    if library == "torchvision":  # the weights are exactly the cached file's
        from torchvision.models import ViT_B_16_Weights

        weights = ViT_B_16_Weights.IMAGENET1K_V1
        path = Path(torch.hub.get_dir()) / "checkpoints" / Path(weights.url).name
        saved = torch.load(path, map_location="cpu", weights_only=True)
        mine = loaded.model.state_dict()
        call["weights_equal"] = all(torch.equal(mine[k], v) for k, v in saved.items())
    return call


if __name__ == "__main__":
    main()
