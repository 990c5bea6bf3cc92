"""Benchmark notebook 04's attention explorer: redraw time per slider move, in a kernel.

Starts a Jupyter kernel (as the notebook would run), builds the explorer once, then moves
the sliders 50 times (layer, head and query patch in turn, the way ``observe`` fires in a
browser session) and times each move from the slider assignment until the new frame is in
the ``Image`` widget and the status text is written. Prints a Markdown table of medians.

Cases: the model ``helpers.models.load("timm")`` gives here (the offline stand-in when
``VIT_NOTEBOOKS_WEIGHTS`` is set) on a real photo, and a ViT-B-sized attention stack
(12 layers x 12 heads x 197 tokens), the largest the series shows.

Usage: python scripts/bench_explorer_attention.py [--moves 50]
Target: median <= 50 ms per move on a 2-core CPU.
"""

from __future__ import annotations

import argparse
import json
import queue
from pathlib import Path

from jupyter_client.manager import start_new_kernel

ROOT = Path(__file__).resolve().parent.parent
TARGET_MS = 50.0

KERNEL_CODE = r'''
import json, os, statistics, sys, time
sys.path.insert(0, {root!r})
os.environ.setdefault("VIT_NOTEBOOKS_OFFLINE", "1")
import numpy as np
import torch

from helpers.maps.capture import capture_attention
from helpers.explorers.attention import AttentionExplorer
from helpers.data.images import sample_images
from helpers.models import load
from helpers.data.preprocessing import pixels_to_image


def time_moves(explorer, moves):
    explorer.use_cls.value = False
    layers, heads, queries = explorer.layer.max + 1, explorer.head.max + 1, explorer.query.max + 1
    times = []
    for i in range(moves):
        slider, value = [(explorer.layer, (i * 5) % layers), (explorer.head, (i * 7) % heads),
                         (explorer.query, (i * 37) % queries)][i % 3]
        if slider.value == value:
            value = (value + 1) % (slider.max + 1)
        start = time.perf_counter()
        slider.value = value                     # observe -> redraw -> image -> status
        times.append((time.perf_counter() - start) * 1000)
        assert "drawn in" in explorer.status, explorer.status
    return times


torch.manual_seed(0)
loaded = load("timm")
photo = sample_images()["chelsea"]
pixels = loaded.batch([photo])
with torch.inference_mode(), capture_attention(loaded) as attentions:
    loaded.logits(pixels)
image = pixels_to_image(pixels[0], loaded.preprocess)
rows = []
start = time.perf_counter()
explorer = AttentionExplorer.from_attentions(image, attentions)
build_ms = (time.perf_counter() - start) * 1000
shape = tuple(attentions[0].shape)
rows.append((f"{{loaded.kind}} {{len(attentions)}} layers x {{shape[1]}} heads", build_ms,
             time_moves(explorer, {moves}), len(explorer.image.value)))

big = [torch.rand(1, 12, 197, 197).softmax(-1) for _ in range(12)]   # ViT-B-sized stack
start = time.perf_counter()
explorer = AttentionExplorer.from_attentions(image, big)
build_ms = (time.perf_counter() - start) * 1000
rows.append(("ViT-B size, 12 layers x 12 heads", build_ms, time_moves(explorer, {moves}),
             len(explorer.image.value)))
print("RESULT " + json.dumps([(name, b, t, size) for name, b, t, size in rows]))
'''


def run_in_kernel(code: str, timeout: float = 600.0) -> str:
    """Execute ``code`` in a fresh python3 kernel and return its stdout."""
    manager, client = start_new_kernel(kernel_name="python3", cwd=str(ROOT / "notebooks"))
    try:
        msg_id = client.execute(code)
        chunks, error = [], None
        while True:
            try:
                msg = client.get_iopub_msg(timeout=timeout)
            except queue.Empty:
                raise TimeoutError(f"the kernel gave no output for {timeout:.0f} s") from None
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            kind, content = msg["msg_type"], msg["content"]
            if kind == "stream" and content["name"] == "stdout":
                chunks.append(content["text"])
            elif kind == "error":
                error = "\n".join(content["traceback"])
            elif kind == "status" and content["execution_state"] == "idle":
                break
        if error:
            raise RuntimeError(f"benchmark failed in the kernel:\n{error}")
        return "".join(chunks)
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--moves", type=int, default=50, help="slider moves per case")
    args = parser.parse_args()
    output = run_in_kernel(KERNEL_CODE.format(root=str(ROOT), moves=args.moves))
    line = next(line for line in output.splitlines() if line.startswith("RESULT "))
    rows = json.loads(line[len("RESULT "):])

    import statistics

    print(f"Attention explorer (notebook 04): redraw per slider move, {args.moves} moves, "
          "timed in a Jupyter kernel\n")
    print("| case | build (ms) | median (ms) | p90 (ms) | max (ms) | frame (KB) | target ≤ 50 ms |")
    print("|---|---|---|---|---|---|---|")
    for name, build_ms, times, size in rows:
        times = sorted(times)
        median = statistics.median(times)
        p90 = times[int(0.9 * (len(times) - 1))]
        verdict = "yes" if median <= TARGET_MS else "NO"
        print(f"| {name} | {build_ms:.0f} | {median:.1f} | {p90:.1f} | {times[-1]:.1f} | "
              f"{size / 1024:.0f} | {verdict} |")


if __name__ == "__main__":
    main()
