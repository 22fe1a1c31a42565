"""Send a (content, style) pair to a TF Serving deployment of tf-nst and write the PNG.

    python tools/serving_client.py --content=photo.jpg --style=painting.jpg --output=out.png \
        --url=http://localhost:8501/v1/models/tf_nst:predict --num_steps=200 --image_size=384

REST by default (base64 JSON through urllib, no extra dependency); ``--grpc=localhost:8500`` uses
``tensorflow-serving-api`` if it is installed. Optional parameters left unset take the defaults
baked into the model at export.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import sys
import urllib.error
import urllib.request

OPTIONAL = {"num_steps": int, "content_weight": float, "style_weight": float, "tv_weight": float,
            "image_size": int, "seed": int}
LOSSES = ("total_loss", "content_loss", "style_loss", "tv_loss")


def build_request(content: bytes, style: bytes, signature: str = "serving_default",
                  **params) -> dict:
    """The REST Predict body (columnar ``inputs`` format; bytes as ``{"b64": ...}``)."""
    inputs = {"content": {"b64": base64.b64encode(content).decode("ascii")},
              "style": {"b64": base64.b64encode(style).decode("ascii")}}
    for name, value in params.items():
        if name not in OPTIONAL:
            raise ValueError(f"unknown parameter {name!r}")
        if value is not None:
            inputs[name] = OPTIONAL[name](value)
    return {"signature_name": signature, "inputs": inputs}


def parse_response(body: dict) -> tuple[bytes, dict]:
    """``(png bytes, losses)`` from a REST Predict response."""
    outputs = body.get("outputs")
    if not isinstance(outputs, dict) or "png_bytes" not in outputs:
        raise ValueError(f"unexpected response: {str(body)[:200]}")
    png = outputs["png_bytes"]
    png = base64.b64decode(png["b64"] if isinstance(png, dict) else png)
    return png, {k: float(outputs[k]) for k in LOSSES if k in outputs}


def predict_rest(url: str, request: dict, timeout: float = 600.0) -> tuple[bytes, dict]:
    data = json.dumps(request).encode("utf-8")
    req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as response:
            body = json.loads(response.read())
    except urllib.error.HTTPError as err:
        detail = err.read().decode("utf-8", "replace")
        try:
            detail = json.loads(detail).get("error", detail)
        except ValueError:
            pass
        raise RuntimeError(f"HTTP {err.code}: {' '.join(str(detail).split())[:300]}") from None
    return parse_response(body)


def predict_grpc(target: str, model: str, content: bytes, style: bytes, timeout: float = 600.0,
                 **params) -> tuple[bytes, dict]:  # pragma: no cover - needs a server
    try:
        import grpc
        import tensorflow as tf
        from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc
    except ImportError as err:
        raise ImportError(f"--grpc needs the TF Serving API ({err}): pip install "
                          "tensorflow-serving-api, or use the REST API (--url)") from None

    request = predict_pb2.PredictRequest()
    request.model_spec.name = model
    request.model_spec.signature_name = "serving_default"
    request.inputs["content"].CopyFrom(tf.make_tensor_proto(content))
    request.inputs["style"].CopyFrom(tf.make_tensor_proto(style))
    dtypes = {"num_steps": tf.int32, "image_size": tf.int32, "seed": tf.int64}
    for name, value in params.items():
        if value is not None:
            request.inputs[name].CopyFrom(tf.make_tensor_proto(value, dtypes.get(name, tf.float32)))
    stub = prediction_service_pb2_grpc.PredictionServiceStub(grpc.insecure_channel(target))
    outputs = stub.Predict(request, timeout).outputs
    return outputs["png_bytes"].string_val[0], {k: outputs[k].float_val[0] for k in LOSSES}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--content", required=True)
    parser.add_argument("--style", required=True)
    parser.add_argument("--output", required=True, help="PNG file to write")
    parser.add_argument("--url", default="http://localhost:8501/v1/models/tf_nst:predict")
    parser.add_argument("--grpc", default=None, help="host:port of the gRPC API instead of REST")
    parser.add_argument("--model_name", default="tf_nst")
    parser.add_argument("--timeout", type=float, default=600.0)
    for name, kind in OPTIONAL.items():
        parser.add_argument(f"--{name}", type=kind, default=None)
    args = parser.parse_args(argv)
    params = {k: getattr(args, k) for k in OPTIONAL}
    try:
        with open(args.content, "rb") as f:
            content = f.read()
        with open(args.style, "rb") as f:
            style = f.read()
        if args.grpc:
            png, losses = predict_grpc(args.grpc, args.model_name, content, style, args.timeout,
                                       **params)
        else:
            png, losses = predict_rest(args.url, build_request(content, style, **params),
                                       args.timeout)
        temp = args.output + ".tmp"
        with open(temp, "wb") as f:
            f.write(png)
        os.replace(temp, args.output)
    except (OSError, RuntimeError, ValueError, ImportError) as err:
        sys.stderr.write(f"serving_client: error: {' '.join(str(err).split())}\n")
        return 1
    print(f"wrote {args.output}; " + " ".join(f"{k}={v:.4g}" for k, v in losses.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
