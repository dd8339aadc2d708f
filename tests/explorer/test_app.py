"""The explorer's JSON API on tiny real runs: every MNIST run answers a drawing as it would alone,
through MNIST's normalisation and its own features; insides, confusion cells and chest X-rays with
Grad-CAM; every bad request a clear 4xx, and the server serving on."""

from __future__ import annotations

import base64
import io
import struct
import zlib

import numpy as np
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from PIL import Image

from shallowdeep.data import load_mnist
from shallowdeep.data.images import read_gray_image
from shallowdeep.evaluation import predict_probabilities
from shallowdeep.explorer.app import BodyLimit
from shallowdeep.explorer.pictures import heatmap_overlay
from shallowdeep.features.digits import normalise_digit
from shallowdeep.models import GradCam
from shallowdeep.predict import predict_images
from shallowdeep.prepare import features_from_images

pytestmark = pytest.mark.slow  # the session's tiny runs are trained first

MNIST_RUNS = ["raw-1", "hog-1", "cnn-1"]


def _png(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def _png_declaring(width: int, height: int) -> bytes:
    """A few hundred bytes of PNG whose header declares ``width x height`` grey pixels."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    rows = zlib.compress(b"\0" * (width + 1) * 4)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", rows) + chunk(b"IEND", b""))


@pytest.fixture(scope="module")
def drawing(real_data_dir) -> bytes:
    """A test digit of MNIST as someone would draw it: dark ink on white, ten times larger, off centre."""
    _, (x_test, _) = load_mnist(real_data_dir, progress=False)
    page = np.full((400, 360), 255, np.uint8)
    page[30:310, 60:340] = 255 - np.asarray(Image.fromarray(x_test[0]).resize((280, 280), Image.Resampling.BILINEAR))
    return _png(page)


def test_the_runs_are_listed_by_opaque_keys_with_what_each_can_show(client, tiny_runs):
    response = client.get("/api/runs")
    listed = {run["key"]: run for run in response.json()}
    assert sorted(listed) == ["cnn-1", "hog-1", "raw-1", "xray-1"]
    assert sorted(key for key, run in listed.items() if run["digits"]) == sorted(MNIST_RUNS)
    assert {key: run["inside"] for key, run in listed.items()} == {
        "raw-1": "mlp", "hog-1": "hog", "cnn-1": "cnn", "xray-1": None}
    assert listed["xray-1"]["xray"] and not listed["cnn-1"]["xray"]
    assert str(tiny_runs) not in response.text  # no filesystem path leaves the server


def test_a_drawn_digit_is_normalised_as_mnist_s_and_every_run_answers_as_it_would_alone(client, explorer_app, drawing):
    answer = client.post("/api/digit", content=drawing, headers={"Content-Type": "image/png"}).json()
    seen = normalise_digit(read_gray_image(drawing))
    assert np.array_equal(np.asarray(answer["image"], np.uint8), seen.image) and answer["inverted"]
    assert [item["run"] for item in answer["answers"]] == [e.key for e in explorer_app.state.explorer.entries
                                                           if e.key in MNIST_RUNS]
    for item, entry in zip(answer["answers"], explorer_app.state.explorer.digits.entries):
        alone = predict_probabilities(entry.run.model, features_from_images(seen.image[None], entry.run.experiment))[0]
        np.testing.assert_allclose(item["probabilities"], alone, atol=1e-4)
        assert sum(item["probabilities"]) == pytest.approx(1.0, abs=1e-4)
        assert item["predicted"] == str(int(np.argmax(alone)))
    assert answer["milliseconds"] > 0


def test_a_blank_drawing_gets_no_answers(client):
    answer = client.post("/api/digit?inside=cnn-1", content=_png(np.zeros((280, 280), np.uint8))).json()
    assert answer["empty"] and answer["answers"] == [] and "inside" not in answer


def _picture(data_url: str) -> np.ndarray:
    assert data_url.startswith("data:image/png;base64,")
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(data_url.split(",", 1)[1]))))


def test_inside_a_network_hog_glyphs_feature_maps_and_first_filters(client, drawing, explorer_app):
    hog = client.post("/api/digit?inside=hog-1", content=drawing).json()["inside"]
    assert hog["kind"] == "hog" and hog["hog"]["orientations"] == 8 and hog["hog"]["pixels_per_cell"] == 4
    assert _picture(hog["hog"]["picture"]).shape == (224, 224, 3)
    cnn = client.post("/api/digit?inside=cnn-1", content=drawing).json()["inside"]
    model = next(e.run.model for e in explorer_app.state.explorer.entries if e.key == "cnn-1")
    convolutions = [layer for layer in model.layers if layer.__class__.__name__ == "Conv2D"]
    assert [maps["layer"] for maps in cnn["feature_maps"]] == [layer.name for layer in convolutions]
    assert [maps["shape"] for maps in cnn["feature_maps"]] == [list(layer.output.shape[1:]) for layer in convolutions]
    assert cnn["filters"]["shape"] == list(convolutions[0].kernel.shape)
    side = 28 * 6 + 5  # 32 maps of 28 x 28: 6 x 6 tiles, one grey pixel between them
    assert _picture(cnn["feature_maps"][0]["picture"]).shape == (side, side, 3)
    assert client.post("/api/digit?inside=raw-1", content=drawing).json()["inside"] == {"run": "raw-1", "kind": "mlp"}


def test_each_confusion_cell_shows_as_many_test_images_as_it_counts(client, explorer_app, real_data_dir):
    matrix = client.get("/api/runs/cnn-1/confusion").json()["matrix"]
    run = next(e.run for e in explorer_app.state.explorer.entries if e.key == "cnn-1")
    assert matrix == run.metrics["test"]["confusion_matrix"]
    _, (x_test, y_test) = load_mnist(real_data_dir, progress=False)
    for true in range(10):
        for predicted in range(10):
            cell = client.get(f"/api/runs/cnn-1/cell?true={true}&predicted={predicted}").json()
            assert cell["count"] == len(cell["items"]) == matrix[true][predicted]
            for item in cell["items"]:
                assert y_test[item["test_index"]] == true and int(np.argmax(item["probabilities"])) == predicted
    item = client.get("/api/runs/cnn-1/cell?true=1&predicted=1").json()["items"][0]
    image = np.asarray(Image.open(io.BytesIO(client.get(item["image"]).content)))
    assert np.array_equal(image, x_test[item["test_index"]])
    confidence = [i["probabilities"][1] for i in client.get("/api/runs/cnn-1/cell?true=1&predicted=1").json()["items"]]
    assert confidence == sorted(confidence, reverse=True)


def test_a_chest_x_ray_gets_p_pneumonia_the_validation_threshold_s_verdict_and_grad_cam(
        client, explorer_app, real_chest_xray):
    path = sorted((real_chest_xray / "test" / "PNEUMONIA").iterdir())[0]
    answer = client.post("/api/xray?run=xray-1", content=path.read_bytes(), headers={"Content-Type": "image/jpeg"}).json()
    run = next(e.run for e in explorer_app.state.explorer.entries if e.key == "xray-1")
    (alone,) = predict_images(run, [path])
    assert answer["probability"] == pytest.approx(alone.probabilities["PNEUMONIA"], abs=1e-4)
    validation = run.metrics["alternative"]["test"]["threshold"]  # xray-1 fixes 0.5; validation chose this one
    assert answer["threshold_source"] == "validation" and answer["threshold"] == pytest.approx(validation)
    verdict = int(answer["probability"] >= validation)
    assert answer["verdict"] == answer["heatmap_class"] == run.experiment.class_names[verdict]
    assert {v["threshold_source"] for v in answer["verdicts"]} == {"validation", "experiment"}
    assert answer["size"] == [64, 64] and answer["original_size"] == list(read_gray_image(path).shape)
    expected = GradCam(run.model)(features_from_images(alone.model_input[None], run.experiment), [verdict]).heatmaps[0]
    np.testing.assert_array_equal(_picture(answer["heatmap"]), heatmap_overlay(expected, (64, 64)))
    uploaded = client.post("/api/xray?run=xray-1", files={"image": (path.name, path.read_bytes(), "image/jpeg")})
    assert uploaded.json()["probability"] == answer["probability"]


def test_a_16_bit_upload_is_scaled_not_clipped(client, drawing, real_chest_xray):
    # Each picture in 8 bits and widened to 16 (v * 257, as an image editor does) gets the same answer.
    digit = np.asarray(Image.open(io.BytesIO(drawing)))
    xray = read_gray_image(sorted((real_chest_xray / "test" / "PNEUMONIA").iterdir())[0])
    for url, pixels in (("/api/digit?inside=cnn-1", digit), ("/api/xray?run=xray-1", xray)):
        wide = _png(pixels.astype(np.uint16) * 257)
        assert Image.open(io.BytesIO(wide)).mode == "I;16"
        eight, sixteen = ({key: value for key, value in client.post(url, content=payload).json().items()
                           if key != "milliseconds"} for payload in (_png(pixels), wide))
        assert sixteen == eight and not sixteen.get("empty"), url  # clipped, the drawing was a blank page


BAD_REQUESTS = [
    ("post", "/api/xray?run=xray-1", b"", 422, "the file is empty (0 bytes)"),
    ("post", "/api/digit", b"a letter, not a digit", 422, "not a readable PNG or JPEG image"),
    ("post", "/api/xray?run=xray-1", b"\x89PNG\r\n\x1a\n broken", 422, "not a readable PNG or JPEG image"),
    ("post", "/api/xray?run=xray-1", _png_declaring(20_000, 20_000), 422, "20,000 x 20,000 pixels (400.0 megapixels)"),
    ("post", "/api/digit", _png_declaring(3_000, 3_000), 422, "9.0 megapixels"),
    ("get", "/api/runs/cnn-9/confusion", b"", 404, "no run 'cnn-9' here; the runs are"),
    ("get", "/api/runs/..%2F..%2Fetc%2Fpasswd/confusion", b"", 404, "nothing at GET '/api/runs/../../etc/passwd/confusion'"),
    ("get", "/api/runs/..%2E/confusion", b"", 404, "no run '...' here"),
    ("post", "/api/xray?run=../xray-1", b"", 404, "no chest X-ray run '../xray-1' here"),
    ("post", "/api/xray?run=cnn-1", b"", 404, "the X-ray runs are xray-1"),
    ("post", "/api/digit?inside=..%2Fcnn-1", b"", 404, "no run '../cnn-1' here"),
    ("post", "/api/digit?inside=xray-1", b"", 422, "does not read digits"),
    ("get", "/api/runs/cnn-1/test-images/..%2Fconfig.toml.png", b"", 404, "nothing at GET '/api/runs/cnn-1/test-images/../con"),
    ("get", "/api/runs/cnn-1/test-images/..config.png", b"", 422, "valid integer"),
    ("get", "/api/runs/cnn-1/test-images/200.png", b"", 404, "test rows 0 to 199, not 200"),
    ("get", "/api/runs/cnn-1/cell?true=10&predicted=0", b"", 422, "true=10 is not a class of run 'cnn-1'"),
    ("get", "/static/../../etc/passwd", b"", 404, "nothing at GET '/etc/passwd'"),
]


@pytest.mark.parametrize("method, url, body, status, message", BAD_REQUESTS, ids=[r[1][:40] + str(r[3]) for r in BAD_REQUESTS])
def test_a_bad_request_gets_a_clear_4xx_and_the_server_keeps_serving(client, method, url, body, status, message):
    response = client.request(method.upper(), url, content=body or None)
    assert response.status_code == status
    assert message in str(response.json()["detail"])
    assert client.get("/api/runs").status_code == 200


def test_a_request_body_over_the_cap_gets_413_whether_announced_or_streamed(explorer_app):
    from fastapi.testclient import TestClient

    from shallowdeep.explorer import MAX_BODY_BYTES

    client = TestClient(explorer_app, base_url="http://127.0.0.1")
    announced = client.post("/api/xray?run=xray-1", content=b"\0" * (MAX_BODY_BYTES + 1))
    streamed = client.post("/api/xray?run=xray-1", content=(b"\0" * 1_048_576 for _ in range(21)))
    for response in (announced, streamed):
        assert response.status_code == 413 and "larger than 20,971,520 bytes" in response.json()["detail"]
    assert client.get("/api/runs").status_code == 200


def test_a_body_past_the_cap_gets_413_even_where_the_application_answers_what_it_was_left_with():
    """The cap cuts the body off by raising inside ``receive``; code that catches that error (a form
    parser, a body parser) and answers for the cut-short body, here a 422, must not decide the answer."""
    from fastapi.testclient import TestClient

    app = FastAPI()
    app.add_middleware(BodyLimit, max_bytes=1_000)

    @app.post("/swallow")
    async def swallow(request: Request):
        try:
            await request.body()
        except Exception:
            pass  # as a parser that takes any error for the end of the body
        return JSONResponse({"detail": "not a readable PNG or JPEG image"}, status_code=422)

    client = TestClient(app)
    response = client.post("/swallow", content=(b"\0" * 100 for _ in range(50)))
    assert response.status_code == 413 and "larger than 1,000 bytes" in response.json()["detail"]
    assert client.post("/swallow", content=b"\0" * 900).status_code == 422  # under the cap: the application answers


def test_the_page_loads_nothing_from_elsewhere_and_only_this_computer_s_names_are_served(client, explorer_app):
    from fastapi.testclient import TestClient

    page = client.get("/")
    policy = page.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "connect-src 'self'" in policy and "script-src 'self'" in policy
    for path in ("/", "/explorer.js", "/explorer.css"):
        text = client.get(path).text
        assert "http://" not in text and "https://" not in text and "//cdn" not in text, path
    elsewhere = TestClient(explorer_app, base_url="http://rebound.example.com").get("/api/runs")
    assert elsewhere.status_code == 400  # a page of another site that points its name at 127.0.0.1


def test_the_api_is_described_by_fastapi_s_openapi_document(client):
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/api/runs", "/api/digit", "/api/xray", "/api/runs/{key}/confusion", "/api/runs/{key}/cell"} <= set(paths)
    assert "image/jpeg" in paths["/api/xray"]["post"]["requestBody"]["content"]
