"""`shallowdeep lab --quick`: every experiment, one report answering the four questions and which
networks read digits from outside MNIST, in two languages, reusing finished runs, surviving a failure,
and opening in a real browser offline."""

from __future__ import annotations

import os
import re
import shutil

import pytest

from shallowdeep.cli import main
from shallowdeep.data.info import DATASETS
from shallowdeep.experiments import load_experiment, quick_overrides, suite_members
from shallowdeep.lab import run_lab, training_order
from shallowdeep.reporting import write_report
from shallowdeep.outcomes import Outcome

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def quick_lab(quick_seed_lab):
    return quick_seed_lab


def test_the_seed_suite_is_the_reference_report_s_ten_experiments():
    assert suite_members("seed") == ["raw-1", "raw-2", "raw-3", "hog-1", "hog-2", "hog-3",
                                     "cnn-1", "cnn-2", "cnn-3", "xray-1"]
    assert suite_members("handout") == ["handout-raw", "handout-hog", "handout-cnn"]
    assert suite_members("best") == ["mnist-fast", "mnist-best", "mnist-robust", "xray-best", "pneumoniamnist-best"]
    assert len(suite_members("all")) == 21 and "xray-best-v1" not in suite_members("all")  # kept, named only


@pytest.mark.slow
@pytest.mark.parametrize("suite", ["seed", "best"])
def test_every_preset_of_the_lab_s_suites_trained_evaluated_and_saved_its_run(suite, request, check_run_folder):
    _, result = request.getfixturevalue(f"quick_{suite}_lab")
    assert [record.name for record in result.records] == suite_members(suite)
    for record in result.records:
        experiment = record.experiment
        test_size = DATASETS[experiment.dataset].n_samples["test"]
        evaluated_elsewhere = frozenset({"evaluations"}) if experiment.dataset == "mnist" else frozenset()
        check_run_folder(record.run, experiment, test_samples=min(quick_overrides(experiment.dataset)["dataset.test_limit"],
                                                                  test_size),
                         epochs=1, extra=evaluated_elsewhere)


def test_the_chest_xray_cnn_trains_first_and_the_report_keeps_its_order():
    order = training_order([load_experiment(name) for name in suite_members("seed")])
    assert [experiment.name for experiment in order] == ["xray-1", "raw-1", "raw-2", "raw-3", "hog-1", "hog-2",
                                                         "hog-3", "cnn-1", "cnn-2", "cnn-3"]


@pytest.mark.slow
def test_a_quick_lab_trains_everything_and_answers_the_four_questions(quick_lab):
    out, result = quick_lab
    assert [record.outcome for record in result.records] == [Outcome.TRAINED] * 10
    assert [record.name for record in result.records] == suite_members("seed")
    markdown = (out / "report.md").read_text()
    assert "QUICK RUN" in markdown.splitlines()[2]
    for heading in ("## Q1.", "## Q2.", "## Q3.", "## Q4.", "## Reproducing this report"):
        assert heading in markdown
    # Q1 reads the optimizers back from the models.
    assert "**RMSprop** with learning_rate = 0.001, rho = 0.9, momentum = 0, epsilon = 1e-07" in markdown
    assert "**Adam** with learning_rate = 0.001" in markdown and "w ← w − η·g / √(v + ε)" in markdown
    # Q2: every MNIST model with its weights and the comparison with the reference report.
    assert "784*512 + 512 = 401,920" in markdown and "Total: 832 + 25,632 + 25,632 + 802,944 + 1,290 = 856,330" in markdown
    assert re.search(r"\| cnn-3 \| trained \| 856,330 \| 1 \| [\d.]+ \| [\d.]+ \| [\d.]+ \| [\d.]+ \| 0\.0264 \| 0\.9921 \|", markdown)
    # Q3: a worked example with the arithmetic; Q4: the X-ray scores on validation and test.
    assert "conv_2     Conv2D 5x5, 32 -> 32       5*5*32*32 + 32 = 25,632" in markdown
    assert re.search(r"\| test \| 0\.500 \| [\d.]+ \| [\d.]+ \| [\d.]+ \| [\d.]+ \| [\d.]+ \|", markdown)
    assert "](images/xray-1-grad-cam.png)" in markdown and "Grad-CAM (Selvaraju et al. 2017)" in markdown
    # Q5: every MNIST run was evaluated on synthdigits after training, and the report reads it.
    assert "## Q5. Which networks read digits they were not trained on?" in markdown
    for record in result.records[:9]:
        assert record.run.evaluation("synthdigits").metrics["samples"] == 2000
        assert re.search(rf"\| {record.name} \| [^|]+ \| [\d.]+ \| [\d.]+ \| [\d.]+ \| -?[\d.]+ \|", markdown)
    assert "images/q5-mistakes.png" in markdown
    for link in re.findall(r"\]\((images/[^)]+)\)", markdown):
        assert (out / link).is_file(), link


@pytest.mark.slow
def test_running_again_reuses_every_run_and_can_write_french(quick_lab, real_data_dir):
    out, _ = quick_lab
    result = run_lab("seed", out, quick=True, lang="fr", data_dir=real_data_dir, progress=False)
    assert {record.outcome for record in result.records} == {Outcome.REUSED}
    markdown = (out / "report.md").read_text()
    assert "EXÉCUTION RAPIDE" in markdown and "## Q4. Radiographies thoraciques" in markdown
    assert "| modèle | état | paramètres |" in markdown and "856\u202f330" in markdown
    assert "Total : 832 + 25\u202f632" in markdown
    assert "## Q5. Quels réseaux lisent des chiffres" in markdown and "| modèle | entrée | test MNIST | plein cadre |" in markdown


@pytest.mark.slow
def test_a_failing_experiment_is_reported_and_the_others_are_kept(real_data_dir, tmp_path):
    broken = tmp_path / "xray-elsewhere.toml"
    broken.write_text('[dataset]\nname = "chest_xray"\nimage_size = [32, 32]\npath = "/nowhere/chest_xray"\n'
                      '[features]\nkind = "image"\n[model]\nbuilder = "cnn"\n'
                      '[training]\nloss = "binary_crossentropy"\noptimizer = "adam"\n')
    result = run_lab(out=tmp_path / "out", experiments=["handout-raw", str(broken), "handout-cnn"], quick=True,
                     data_dir=real_data_dir, progress=False)
    assert [record.outcome for record in result.records] == [Outcome.TRAINED, Outcome.FAILED, Outcome.TRAINED]
    markdown = (tmp_path / "out" / "report.md").read_text()
    assert "**xray-elsewhere** failed: DataError: " in markdown and "/nowhere/chest_xray" in markdown
    assert "/nowhere/chest_xray" in (tmp_path / "out" / "logs" / "xray-elsewhere.log").read_text()
    assert "| handout-cnn | trained | 114 |" in markdown


@pytest.mark.slow
def test_the_lab_forecasts_its_time_then_says_elapsed_and_left(real_data_dir, tmp_path, capsys):
    result = run_lab(out=tmp_path, experiments=["handout-raw", "handout-cnn"], quick=True, estimate=True,
                     data_dir=real_data_dir, progress=False)
    assert set(result.phase_seconds) == {"forecast", "training", "outside_digits", "adaptation", "report"}
    assert all(result.phase_seconds[phase] > 0 for phase in ("forecast", "training", "outside_digits", "report"))
    assert result.phase_seconds["adaptation"] < 0.5  # no chest X-ray run of the best suite to adapt
    assert sum(result.phase_seconds.values()) <= result.seconds
    printed = capsys.readouterr().out.splitlines()
    assert printed[0].startswith("estimate for this machine (") and "total about" in printed[0]
    assert "handout-raw" in printed[0] and "handout-cnn" in printed[0]
    done = [line for line in printed if ": done in " in line]
    assert len(done) == 2 and all("elapsed" in line and "left" in line for line in done)


@pytest.mark.slow
def test_without_the_chest_xray_folder_the_rest_of_the_lab_runs(quick_lab, real_data_dir, tmp_path, capsys):
    lab_out, _ = quick_lab
    out = tmp_path / "out"
    shutil.copytree(lab_out / "runs-quick", out / "runs-quick")  # the MNIST runs are reused, not retrained
    data = tmp_path / "data"
    data.mkdir()
    (data / "mnist").symlink_to(real_data_dir / "mnist")
    code = main(["lab", "--quick", "--suite", "seed", "--out", str(out), "--data-dir", str(data), "--no-progress"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "xray-1: skipped (no chest X-ray folder in the data directory)" in printed
    assert printed.count(": reusing ") == 9
    markdown = (out / "report.md").read_text()
    assert "No chest X-ray folder was available" in markdown and "data.mendeley.com" in markdown
    assert "| cnn-3 | reused |" in markdown and "| xray-1 | skipped |" in markdown


@pytest.mark.slow
def test_the_best_suite_is_reported_beside_the_lab_s_models_and_published_figures(quick_best_lab):
    tmp_path, result = quick_best_lab
    assert [record.outcome for record in result.records] == [Outcome.TRAINED] * 5
    markdown = (tmp_path / "report.md").read_text()
    assert "## Beyond the lab: the best suite" in markdown and "## Q1." not in markdown
    assert re.search(r"\| mnist-best \| mnist \| trained \| 288,618 \| 1 \| [\d.]+ \| [\d.]+ \| – \| – \| – \|", markdown)
    # The lab's own model for the same data, from the reference report when it did not run here.
    assert "| cnn-3: 0.9921 (report) | acc 0.997 |" in markdown  # mnist-best
    assert "| cnn-3: 0.9921 (report) | acc 0.9921 |" in markdown  # mnist-fast: figures as published
    assert "| xray-1: 0.7997 (report) | acc 0.928, sens 0.932, spec 0.901, AUC 0.968 |" in markdown
    assert "augmentation: rotation ±10°, zoom ±0.1, shift ±0.1 of the side. Training" in markdown  # mnist-best
    assert "augmentation: rotation ±10°, zoom ±0.1, shift ±0.1 of the side, shear ±20°, stroke thickness ±1 pixel" in markdown
    assert "## Q5. Which networks read digits" in markdown and "| mnist-robust | image 28x28 |" in markdown
    assert "cosine (warm-up 0 epochs)" in markdown  # --quick: one epoch, no warm-up
    # xray-best adapted on each half of the test folder's images and measured on the other's labels.
    new_site = markdown[markdown.index("### xray-best at a new hospital: adapted from its images alone"):]
    assert "| as trained, half a |" in new_site and "| adapted on half b, half a |" in new_site
    assert "| adapted, mean of the halves |" in new_site and "](images/xray-best-new-site-roc.png)" in new_site
    assert len(list((tmp_path / "runs-quick" / "xray-best-adapted").iterdir())) == 2
    for link in re.findall(r"\]\((images/[^)]+)\)", markdown):
        assert (tmp_path / link).is_file(), link


def test_q4_sets_the_best_chest_xray_model_beside_the_lab_s_cnn(quick_seed_lab, quick_best_lab, tmp_path):
    """A report of both suites ends Q4 with one table and one ROC figure: the lab's CNN, the reference
    report's figure for it, the stronger model and Kermany et al., each at its own threshold."""
    (_, seed), (_, best) = quick_seed_lab, quick_best_lab
    write_report([*seed.records, *best.records], tmp_path, suite="all", quick=True)
    markdown = (tmp_path / "report.md").read_text()
    q4 = markdown[markdown.index("## Q4."):markdown.index("## Q5.")]
    assert "### xray-1 beside xray-best" in q4
    xray_1, xray_best = (next(r for r in records if r.name == name).run.metrics["test"]
                         for records, name in ((seed.records, "xray-1"), (best.records, "xray-best")))
    for name, test in (("xray-1", xray_1), ("xray-best", xray_best)):
        assert (f"| {name} | {test['threshold']:.3f} | {test['accuracy']:.4f} | {test['sensitivity']:.4f} "
                f"| {test['specificity']:.4f} | {test['roc_auc']:.4f} |") in q4
    assert "| xray-1 in the reference report | – | 0.7997 | – | – | – |" in q4
    assert "| Kermany et al. 2018 (ImageNet transfer) | – | 0.9280 | 0.9320 | 0.9010 | 0.9680 |" in q4
    assert "](images/chest-xray-roc-side-by-side.png)" in q4
    assert (tmp_path / "images" / "chest-xray-roc-side-by-side.png").is_file()


def test_lab_help_teaches_with_examples(capsys):
    with pytest.raises(SystemExit):
        main(["lab", "--help"])
    out = capsys.readouterr().out
    assert "examples:" in out and "--quick" in out and "--lang" in out


@pytest.mark.slow
def test_the_html_report_opens_offline_in_a_real_browser(quick_lab):
    if CHROMIUM is None:
        if os.environ.get("CI"):
            pytest.fail("CI must open the report in Chromium: .ci/run installs Debian's chromium")
        pytest.skip("no chromium on this machine (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    out, _ = quick_lab
    report = (out / "report.html").resolve()
    requests, errors = [], []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--no-first-run", "--disable-quic"],
        )
        page = browser.new_page()
        page.on("request", lambda request: requests.append(request.url))
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
        page.goto(report.as_uri(), wait_until="load")
        sizes = page.evaluate("Array.from(document.images).map(i => [i.complete, i.naturalWidth, i.naturalHeight])")
        title = page.title()
        # The table of contents stays in view at the bottom of the page, and takes the reader to a part.
        page.evaluate("window.scrollTo(0, document.body.scrollHeight)")
        toc_top, toc_bottom = page.evaluate("(() => { const r = document.querySelector('nav.toc').getBoundingClientRect();"
                                            " return [r.top, r.bottom]; })()")
        links = page.eval_on_selector_all("nav.toc a", "links => links.map(a => a.textContent)")
        page.click("nav.toc a[href^='#q2']")
        q2_top = page.evaluate("document.querySelector('h2[id^=\"q2\"]').getBoundingClientRect().top")
        browser.close()
    assert errors == []
    assert [url for url in requests if not url.startswith(("data:", report.as_uri()))] == []
    assert len(sizes) >= 20
    assert all(complete and width > 0 and height > 0 for complete, width, height in sizes)
    assert -1 <= toc_top < 50 and toc_bottom > 200  # sticky (to the pixel: the page ends mid-pixel)
    assert any(link.startswith("cnn-3") for link in links) and any(link.startswith("Q4") for link in links)
    assert 0 <= q2_top < 100
    # The French test may have rewritten the report in place; either language is the same page.
    assert title in ("Shallow versus deep neural networks: lab report",
                     "Réseaux de neurones peu profonds et profonds : compte rendu de TP")
