"""Triton's own gRPC client (``tritonclient.grpc``) calling a running server: every v2 call it
makes, its answers printed as one JSON object.

Run as a process of its own (``python -m tests.automl.serve.triton_grpc_client ADDRESS TOKEN
IMAGES.npy MODEL``): Triton's messages and the server's (``open-inference-grpc``) both name their
package ``inference``, and one process's protobuf pool takes only one of them, as a client
and a server on different machines would.
"""

from __future__ import annotations

import json
import sys

import numpy as np
import tritonclient.grpc as grpcclient


def main(address: str, token: str, images_file: str, model_name: str) -> None:
    images = np.load(images_file)
    headers = {"authorization": f"Bearer {token}"}
    client = grpcclient.InferenceServerClient(address)
    server = client.get_server_metadata(headers=headers, as_json=True)
    metadata = client.get_model_metadata(model_name, headers=headers, as_json=True)
    tensor = grpcclient.InferInput("input", list(images.shape), "FP32")
    tensor.set_data_from_numpy(images)
    result = client.infer(
        model_name,
        [tensor],
        outputs=[grpcclient.InferRequestedOutput("probabilities")],
        headers=headers,
    )
    refused = {}
    try:
        client.infer(model_name, [tensor])  # no token
    except grpcclient.InferenceServerException as exc:
        refused = {"status": exc.status(), "message": exc.message()}
    print(
        json.dumps(
            {
                "live": client.is_server_live(),
                "ready": client.is_server_ready(),
                "model_ready": client.is_model_ready(model_name, headers=headers),
                "server": {"name": server["name"], "extensions": server.get("extensions", [])},
                "inputs": metadata["inputs"],
                "outputs": metadata["outputs"],
                "probabilities": result.as_numpy("probabilities").tolist(),
                "id": result.get_response().id,
                "without_token": refused,
            }
        )
    )
    client.close()


if __name__ == "__main__":
    main(*sys.argv[1:5])
