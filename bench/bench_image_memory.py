"""Memory of `automl serve` under worst-case images: many clients at once, each sending the
largest image the server still decodes, of every costly kind (gradients: they pass the 10 MB
body limit, and decoding costs the same whatever the pixels), and decompression bombs. Reports the server's resident memory before, its peak during
the bursts (sampled every 10 ms) and the answers' statuses.

    .venv/bin/python bench/bench_image_memory.py --model m.onnx [--clients 16 --rounds 3]
"""

from __future__ import annotations

import argparse
import io
import threading
import time
import urllib.error
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from _serving import automl_serve, served_as
from PIL import Image

from automl.serve._model import SERVE_MIN_PIXELS, SERVE_PIXELS_PER_INPUT_PIXEL

MAX_DECODED = 40_000_000


def worst_images(side: int) -> dict[str, bytes]:
    """The largest images a model of ``side`` pixels still decodes, and bombs it refuses."""
    limit = min(MAX_DECODED, max(SERVE_MIN_PIXELS, SERVE_PIXELS_PER_INPUT_PIXEL * side * side))
    edge = int(limit**0.5) - 1
    ramp = np.linspace(0, 1, edge, dtype=np.float32)
    plane = np.add.outer(ramp, ramp) / 2
    rgba = (np.stack([plane, plane.T, 1 - plane, plane], axis=-1) * 255).astype(np.uint8)
    images = {"RGBA PNG": _encode(Image.fromarray(rgba, "RGBA"), "PNG")}
    images["16-bit PNG"] = _encode(Image.fromarray((plane * 65535).astype(np.uint16)), "PNG")
    del rgba
    jpeg_edge = min(8 * edge, 13_000)  # counted at 1/8 per side; Pillow's own limit past that
    photo = Image.fromarray((plane * 255).astype(np.uint8)).resize((jpeg_edge, jpeg_edge))
    images["JPEG"] = _encode(photo.convert("RGB"), "JPEG")
    images["bomb PNG"] = _encode(Image.new("1", (20_000, 20_000)), "PNG")
    print(f"limit {limit:,} pixels: {edge}x{edge} PNGs, a {jpeg_edge}x{jpeg_edge} JPEG; "
          + ", ".join(f"{k} {len(v) / 1e6:.1f} MB" for k, v in images.items()))  # fmt: skip
    return images


def _encode(image: Image.Image, fmt: str) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **({"quality": 95} if fmt == "JPEG" else {"compress_level": 1}))
    return buffer.getvalue()


def post(address: str, name: str, data: bytes) -> int:
    boundary = uuid.uuid4().hex
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="image"; filename="{name}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    request = urllib.request.Request(
        f"{address}/predict", body, {"Content-Type": f"multipart/form-data; boundary={boundary}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=300) as reply:
            return reply.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:  # the server closed the connection: counted as status 0
        return 0


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def burst(
    address: str, pid: int, kind: str, data: bytes, args: argparse.Namespace
) -> tuple[float, list[int], float]:
    """``clients`` requests at once, ``rounds`` times over; the server's peak memory."""
    peak, done = rss_mb(pid), threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, rss_mb(pid))
            time.sleep(0.01)

    sampler = threading.Thread(target=sample)
    sampler.start()
    began = time.perf_counter()
    with ThreadPoolExecutor(args.clients) as pool:
        statuses = list(
            pool.map(lambda _: post(address, kind, data), range(args.clients * args.rounds))
        )
    seconds = time.perf_counter() - began
    done.set()
    sampler.join()
    return peak, statuses, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", type=Path, required=True, help="an exported model file")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    images = worst_images(served_as(args.model)[1][0])
    server, port = automl_serve(args.model, args.model.parent / "predictions.db")
    address = f"http://127.0.0.1:{port}"
    try:
        small = _encode(Image.new("RGB", (64, 64)), "PNG")
        post(address, "warm.png", small)
        before = rss_mb(server.pid)
        for kind, data in images.items():
            peak, statuses, seconds = burst(address, server.pid, kind, data, args)
            counts = {s: statuses.count(s) for s in sorted(set(statuses))}
            print(f"{kind:10s} {args.clients} at once x {args.rounds}: statuses {counts}, "
                  f"{seconds:.1f} s; RSS {before:.0f} MB before, peak {peak:.0f} MB "
                  f"(+{peak - before:.0f} MB)")  # fmt: skip
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
