"""Run ``helpers.models.load`` in a fresh process, as a notebook would, and report as JSON.

Used by tests/test_online_loading.py: the process sees ``HF_ENDPOINT``, ``HF_HOME`` and
``TORCH_HOME`` from its environment (huggingface_hub reads them at import), so every download
goes to the loopback hub of tests/hub_server.py and every file lands in a temporary cache.

Usage: python tests/online_client.py '<json spec>'; prints one line ``RESULT {...}``.
The spec: ``calls`` ([library, name] pairs), optional ``pins`` (repo -> commit), ``files``
("repo|file" -> [size, sha256]) and ``torchvision_url`` (where vit_b_16's weights live).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path


def main() -> None:
    spec = json.loads(sys.argv[1])
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    import torch

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
    results = {"network": check_network().reason, "calls": []}
    for library, name in spec["calls"]:
        start = time.perf_counter()
        try:
            loaded = load(library, name, device="cpu")
        except ValueError as err:
            results["calls"].append({"library": library, "error": str(err),
                                     "seconds": time.perf_counter() - start})
            continue
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
        results["calls"].append(call)
    print("RESULT " + json.dumps(results))


if __name__ == "__main__":
    main()
