"""The page in a real browser (Debian's Chromium through Playwright) against a real uvicorn server
on 127.0.0.1: a stroke drawn on the canvas is answered by every MNIST run, a real test X-ray is
read with its heat map, a confusion cell opens its images, and nothing is asked of anyone else."""

from __future__ import annotations

import os
import shutil
import urllib.error
import urllib.request

import pytest

from shallowdeep.explorer import BackgroundServer

pytestmark = pytest.mark.slow

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]
#: A "2" drawn in one stroke, in the canvas's pixels.
STROKE = [(95, 70), (140, 50), (185, 75), (175, 130), (120, 185), (90, 225), (150, 222), (200, 225)]


@pytest.fixture(scope="module")
def server(explorer_app):
    with BackgroundServer(explorer_app) as running:
        yield running


def _status(url: str, body: bytes) -> int:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, data=body, method="POST"), timeout=30) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def test_a_stroke_on_the_canvas_is_answered_by_every_run_an_x_ray_is_read_and_mistakes_open(server, real_chest_xray):
    if CHROMIUM is None:
        if os.environ.get("CI"):
            pytest.fail("CI must run the explorer in Chromium: .ci/run installs Debian's chromium")
        pytest.skip("no chromium on this machine (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    # A real server shrugs off bad requests, then serves the page.
    assert _status(server.url + "api/digit", b"") == 422
    assert _status(server.url + "api/xray?run=..%2F..%2Fetc%2Fpasswd", b"\xff\xd8 not a jpeg") == 404
    xray = sorted((real_chest_xray / "test" / "NORMAL").iterdir())[0]
    requests, errors = [], []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page()
        page.on("request", lambda request: requests.append(request.url))
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
        page.goto(server.url)
        page.wait_for_selector("#status[data-state='in-sync']")
        cards = page.locator(".answer").count()

        box = page.locator("#pad").bounding_box()
        page.mouse.move(box["x"] + STROKE[0][0], box["y"] + STROKE[0][1])
        page.mouse.down()
        for x, y in STROKE[1:]:
            page.mouse.move(box["x"] + x, box["y"] + y, steps=6)
        page.mouse.up()
        assert page.locator("#status").get_attribute("data-state") in ("updating", "in-sync")
        page.wait_for_function("() => document.querySelector('#status').dataset.state === 'in-sync'"
                               " && document.querySelectorAll('.answer[data-predicted]').length === "
                               "document.querySelectorAll('.answer').length")
        answers = page.eval_on_selector_all(".answer", "cards => cards.map(card => [card.dataset.run, "
                                            "Array.from(card.querySelectorAll('.bar')).map(b => Number(b.dataset.probability))])")
        seen_ink = page.evaluate("() => Array.from(document.querySelector('#seen').getContext('2d')"
                                 ".getImageData(0, 0, 28, 28).data).filter((v, i) => i % 4 === 0 && v > 0).length")
        feature_maps = page.locator("#inside-view figure.feature-maps").count()

        page.locator("#xray-file").set_input_files(str(xray))
        page.wait_for_selector("#xray-result[data-verdict]")
        verdict = page.locator("#xray-result").get_attribute("data-verdict")
        heat_width = page.eval_on_selector("#xray-result img.heat", "image => image.complete && image.naturalWidth")

        page.select_option("#mistakes-run", "cnn-1")
        page.wait_for_selector(".matrix[data-run='cnn-1'] button[data-true='0'][data-predicted='0']")
        biggest = page.eval_on_selector_all(".matrix button", "buttons => buttons.map(b => [Number(b.dataset.count), "
                                            "b.dataset.true, b.dataset.predicted]).filter(c => c[1] !== c[2])"
                                            ".sort((a, b) => b[0] - a[0])[0]")
        page.click(f".matrix button[data-true='{biggest[1]}'][data-predicted='{biggest[2]}']")
        page.wait_for_selector("#cell[data-count]")
        shown = page.locator("#cell figure").count()
        counted = int(page.locator("#cell").get_attribute("data-count"))
        browser.close()

    assert errors == []
    assert [url for url in requests if not url.startswith((server.url, "data:"))] == []
    assert cards == 3 and sorted(run for run, _ in answers) == ["cnn-1", "hog-1", "raw-1"]
    for run, probabilities in answers:
        assert len(probabilities) == 10 and sum(probabilities) == pytest.approx(1.0, abs=1e-4), run
    assert seen_ink > 20  # the 28 x 28 image the models saw is shown
    assert feature_maps == 3  # cnn-1's three convolutions
    assert verdict in ("NORMAL", "PNEUMONIA") and heat_width == 64
    assert biggest[0] > 0 and shown == counted == biggest[0]
