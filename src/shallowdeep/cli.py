"""The ``shallowdeep`` command: a thin layer over the Python API.

Each subcommand is one function taking the parsed arguments and returning an exit code. Errors
raised on purpose (:class:`ShallowDeepError`) are printed as one message, never as a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
import textwrap
import warnings
from pathlib import Path

from shallowdeep import api
from shallowdeep.api import LAB_SUITES, PRECISIONS, __version__
from shallowdeep.errors import ShallowDeepError

_DATA_HELP = """\
Show, for each dataset and file, where it is looked for and whether it is verified (official
checksum), missing or corrupt, and how to fix what is not. Exits with 0 only when every requested
dataset is verified.

The data directory is --data-dir, else $SHALLOWDEEP_DATA, else your cache folder. MNIST and
PneumoniaMNIST are downloaded from their official URLs when missing (checksum-verified, written
atomically); the chest X-ray folder is a manual download (the message says from where).

examples:
  shallowdeep data                              # every dataset, default data directory
  shallowdeep data --data-dir ~/datasets        # look in another folder
  shallowdeep data mnist --download             # fetch what is missing now, not on first use
"""


def _add_data_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", metavar="DIR",
                        help="the data directory (default: $SHALLOWDEEP_DATA or the cache folder)")


def _add_no_progress(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def _add_data_parser(commands) -> None:
    parser = commands.add_parser(
        "data",
        help="where the datasets are looked for, and whether they are verified",
        description=_DATA_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "datasets", nargs="*", metavar="DATASET",
        help="mnist, pneumoniamnist, chest_xray or synthdigits (default: all four)",
    )
    _add_data_dir(parser)
    parser.add_argument("--download", action="store_true", help="download missing files now")
    _add_no_progress(parser)
    parser.set_defaults(handler=_run_data)


def _run_data(args: argparse.Namespace) -> int:
    status = api.check_data(args.datasets, args.data_dir, download=args.download, progress=not args.no_progress)
    checks = status.checks
    print(f"data directory:  {status.data_dir} ({status.data_dir_source})")
    print(f"cache directory: {status.cache_dir} (decoded images and features; $SHALLOWDEEP_CACHE)")
    shown = None
    for check in checks:
        if check.dataset != shown:
            info = status.info(check.dataset)
            print(f"\n{info.name}: {info.title} ({info.license})")
            shown = check.dataset
        print(f"  {check.state:<10} {check.path}")
        if check.detail:
            print(textwrap.indent(check.detail, " " * 13))
        if check.fix:
            print(textwrap.indent(f"fix: {check.fix}", " " * 13))
    failed = [check for check in checks if not check.ok]
    if failed:
        print(f"\n{len(failed)} of {len(checks)} checked item(s) not verified.")
        return 1
    print("\nAll requested data is present and verified.")
    return 0


_LIST_HELP = """\
List the experiments shipped with shallowdeep: the reference report's nine MNIST models and its
chest X-ray CNN (suite "seed"), the course's starting points ("handout"), the CNNs with a pool
after each convolution ("pooled") and the stronger models of "best", with their dataset, input,
parameter count and epochs.

examples:
  shallowdeep list
  shallowdeep list --json | python -m json.tool
"""


def _add_list_parser(commands) -> None:
    parser = commands.add_parser(
        "list", help="the experiments shipped as presets, with their parameter counts",
        description=_LIST_HELP, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--json", action="store_true", help="print a JSON array instead of a table")
    parser.set_defaults(handler=_run_list)


def _run_list(args: argparse.Namespace) -> int:
    import json

    rows = api.preset_summaries()
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    columns = ("name", "suite", "dataset", "features")
    widths = [max(len(column), *(len(row[column]) for row in rows)) for column in columns]

    def line(texts, params, epochs, description):
        return " ".join(f"{text:<{width}}" for text, width in zip(texts, widths)) + f" {params:>9} {epochs:>6}  {description}"

    print(line(("name", "suite", "dataset", "input"), "params", "epochs", "description"))
    for row in rows:
        print(line([row[column] for column in columns], f"{row['params']:,}", row["epochs"], row["description"]))
    print("\nTrain one with `shallowdeep train NAME`; see its settings with `shallowdeep train NAME --dry-run`.")
    return 0


_TRAIN_HELP = """\
Train one experiment (a preset name or a .toml file), evaluate it on its test set and write a run
folder: resolved config, environment, history.csv, metrics.json, model.keras, the weight table
and plots (history, confusion matrix, ROC for binary tasks).

A checkpoint is written after every epoch. If training is interrupted (Ctrl-C, crash, kill),
run the same command with --resume to continue from the last completed epoch.

examples:
  shallowdeep train cnn-3
  shallowdeep train cnn-3 --precision fp32                 # full precision even where auto picks bf16
  shallowdeep train raw-1 --set training.epochs=2 --set training.batch_size=64
  shallowdeep train my-experiment.toml --dry-run           # show every setting, train nothing
  shallowdeep train cnn-3 --resume                         # continue an interrupted run
"""


def _add_train_parser(commands) -> None:
    parser = commands.add_parser(
        "train", help="train one experiment and write its run folder",
        description=_TRAIN_HELP, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("experiment", metavar="NAME|FILE", help="a preset (see `shallowdeep list`) or a .toml file")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="overrides",
                        help="override a setting, e.g. training.epochs=2 (repeatable)")
    parser.add_argument("--precision", choices=PRECISIONS,
                        help="auto (the default): mixed bfloat16 where the CPU or GPU computes it natively, "
                             "mixed float16 on older GPUs, else fp32; same as --set training.precision=...")
    parser.add_argument("--resume", action="store_true", help="continue the newest interrupted run of this experiment")
    parser.add_argument("--runs-dir", default="runs", metavar="DIR", help="where run folders go (default: ./runs)")
    _add_data_dir(parser)
    parser.add_argument("--dry-run", action="store_true", help="print the resolved experiment and its weight table, then stop")
    _add_no_progress(parser)
    parser.set_defaults(handler=_run_train)


def _run_train(args: argparse.Namespace) -> int:
    overrides = list(args.overrides) + ([f'training.precision="{args.precision}"'] if args.precision else [])
    experiment = api.experiment(args.experiment, overrides=overrides)

    if args.dry_run:
        print(api.dry_run(experiment))
        return 0
    training = experiment["training"]
    print(f"{experiment.name}: {experiment['description']}")
    print(f"  {experiment.dataset}, {experiment.describe_input()}, {experiment['model']['builder']}, "
          f"{training['optimizer']}, {training['epochs']} epochs of batch {training['batch_size']}, {training['precision']}")
    try:
        run = api.train(experiment, runs_dir=args.runs_dir, data_dir=args.data_dir, resume=args.resume,
                    progress=not args.no_progress)
    except KeyboardInterrupt:
        again = " ".join(["shallowdeep", "train", args.experiment, *(f"--set {o}" for o in args.overrides),
                          *(["--precision", args.precision] if args.precision else []), "--resume"])
        print(f"\ninterrupted: the completed epochs are kept under {Path(args.runs_dir) / experiment.name}; "
              f"continue with `{again}`", file=sys.stderr)
        return 130
    test, reference = run.metrics["test"], experiment["reference"]
    line = f"test: loss {test['loss']:.4f}, accuracy {test['accuracy']:.4f}"
    if "roc_auc" in test:
        line += (f", F1 {test['f1']:.4f}, sensitivity {test['sensitivity']:.4f}, specificity "
                 f"{test['specificity']:.4f}, ROC AUC {test['roc_auc']:.4f} (threshold {test['threshold']:.3f})")
    print(line)
    if "test_accuracy" in reference:
        print(f"{reference.get('source', 'reference report')}: accuracy {reference['test_accuracy']:.4f}"
              + (f", loss {reference['test_loss']:.4f}" if "test_loss" in reference else ""))
    seconds = run.metrics["seconds_per_epoch"]
    print(f"{len(seconds)} epochs, {sum(seconds):.1f} s ({sum(seconds) / max(len(seconds), 1):.1f} s per epoch)")
    print(f"run folder: {run.path}")
    return 0


_PREDICT_HELP = """\
Class probabilities for image files (PNG or JPEG, any size, colour or gray) from a trained run,
through exactly the preprocessing the model was trained with (scaling, HOG). For the MNIST models
a digit is first normalised as MNIST's digits were: light on dark (a dark digit on light paper is
inverted), cut to its ink, scaled so that its longer side is 20 pixels, centred by its centre of
mass in 28 x 28; the output says so. Chest X-rays are resized to the run's image size. Images over
50 megapixels are refused with how to shrink them.

examples:
  shallowdeep predict runs/cnn-3/20260101-120000-abcd1234 my-digit.png
  shallowdeep predict runs/cnn-3/20260101-120000-abcd1234 *.png --save-input seen/   # the 28x28 the model saw
  shallowdeep predict runs/xray-1/20260101-120000-abcd1234/model.keras scan1.jpeg scan2.jpeg --json
"""


def _add_predict_parser(commands) -> None:
    parser = commands.add_parser(
        "predict", help="class probabilities for image files from a trained run",
        description=_PREDICT_HELP, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("run", metavar="RUN|MODEL", help="a run folder, or the model.keras inside one")
    parser.add_argument("images", nargs="+", metavar="IMAGE", help="PNG or JPEG files")
    parser.add_argument("--json", action="store_true",
                        help="print JSON (with model_input: the image the model saw, rows of grey levels)")
    parser.add_argument("--save-input", metavar="DIR", help="write the image the model saw as DIR/<name>.png")
    parser.set_defaults(handler=_run_predict)


def _run_predict(args: argparse.Namespace) -> int:
    import json

    predictions = api.predict_images(args.run, args.images)
    if args.save_input:
        from PIL import Image

        folder = Path(args.save_input)
        folder.mkdir(parents=True, exist_ok=True)
        for index, prediction in enumerate(predictions):
            Image.fromarray(prediction.model_input).save(folder / f"{index:03d}-{prediction.path.stem}.png")
    if args.json:
        print(json.dumps([{"image": str(p.path), "predicted": p.predicted, "probabilities": p.probabilities,
                           "note": p.note, "model_input": p.model_input.tolist()} for p in predictions], indent=2))
        return 0
    for prediction in predictions:
        ranked = sorted(prediction.probabilities.items(), key=lambda item: -item[1])
        shown = ", ".join(f"{name}: {p:.3f}" for name, p in ranked[:3])
        note = f"  [{prediction.note}]" if prediction.note else ""
        print(f"{prediction.path}: {prediction.predicted}  ({shown}){note}")
    if args.save_input:
        print(f"the images the model saw: {args.save_input}")
    return 0


_SWEEP_HELP = """\
Try many variants of one experiment and keep the best, chosen on validation only: a grid, random or
Bayesian (TPE) search by Optuna over the axes of a sweep file, each trial an ordinary run folder.
The folder (--out, default sweeps/NAME) gets results.csv and results.md (one row per trial; the trial
chosen on validation, with its test score: the one honest figure), figures/ and runs/.

Trials run in worker processes on this machine (--workers N, default one per core, each with
cores/N threads), or as tasks on an existing Ray cluster (--address HOST:PORT, after
pip install -e ".[ray]"; the cluster must use token authentication, see README). Interrupted
(Ctrl-C, kill -9) and started again with the same command, a sweep keeps every finished trial and
sends the interrupted ones again.

examples:
  shallowdeep sweep --list
  shallowdeep sweep raw --quick                          # 1 epoch on small slices: a first look
  shallowdeep sweep raw                                  # the report's search for part 1, 27 trials
  shallowdeep sweep hog --set training.epochs=10 --workers 2
  shallowdeep sweep my-sweep.toml --trials 20 --minutes 30
  shallowdeep sweep cnn --address 10.0.0.5:6379          # on a Ray cluster (RAY_AUTH_MODE=token and its token)
  shallowdeep lab --sweeps sweeps/raw sweeps/hog sweeps/cnn   # the report, with the sweeps and Q3 measured
"""


def _add_sweep_parser(commands) -> None:
    parser = commands.add_parser(
        "sweep", help="search over settings (grid, random, TPE), choose on validation, locally or on Ray",
        description=_SWEEP_HELP, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("sweep", nargs="?", metavar="NAME|FILE", help="a shipped sweep (see --list) or a .toml file")
    parser.add_argument("--list", action="store_true", help="list the shipped sweeps")
    parser.add_argument("--workers", type=int, metavar="N",
                        help="worker processes on this machine (default: one per core, at most 8; 0: this process)")
    parser.add_argument("--threads", type=int, metavar="T", help="threads per trial (default: cores / workers)")
    parser.add_argument("--address", metavar="HOST:PORT", help="run the trials on this Ray cluster instead")
    parser.add_argument("--out", metavar="DIR", help="the sweep folder (default: sweeps/NAME, sweeps/NAME-quick)")
    parser.add_argument("--quick", action="store_true", help="1 epoch on small slices, to check the pipeline")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="overrides",
                        help="a setting for every trial, e.g. training.epochs=2 (repeatable)")
    parser.add_argument("--trials", type=int, metavar="N", help="replace the budget: at most N trials")
    parser.add_argument("--minutes", type=float, metavar="M", help="replace the budget: ask for no trial after M minutes")
    _add_data_dir(parser)
    parser.add_argument("--no-progress", action="store_true", help="no progress lines")
    parser.set_defaults(handler=_run_sweep)


def _list_sweeps() -> int:
    print(f"{'name':<6} {'base':<8} {'sampler':<7} {'trials':>6}  axes")
    for row in api.sweep_presets():
        axes = " x ".join(f"{short} ({values})" for short, values in row["axes"].items())
        print(f"{row['name']:<6} {row['base']:<8} {row['sampler']:<7} {row['trials'] or '-':>6}  {axes}")
    print("\nRun one with `shallowdeep sweep NAME` (`--quick` for a first look); a sweep file of your own takes "
          "the same keys (see README).")
    return 0


def _run_sweep(args: argparse.Namespace) -> int:
    if args.list:
        return _list_sweeps()
    if not args.sweep:
        raise ShallowDeepError("name a sweep (shallowdeep sweep --list shows the shipped ones) or a sweep file")
    out = Path(args.out) if args.out else api.sweep_folder(args.sweep, quick=args.quick)
    try:
        result = api.sweep(args.sweep, out=out, workers=args.workers, threads=args.threads, address=args.address,
                           quick=args.quick, trials=args.trials, minutes=args.minutes, data_dir=args.data_dir,
                           progress=not args.no_progress, overrides=args.overrides)
    except KeyboardInterrupt:
        print(f"\ninterrupted: finished trials are kept in {out}; run the same command again to continue",
              file=sys.stderr)
        return 130
    print(f"\n{api.sweep_summary(result)}")
    print(f"results: {result.markdown_path}\n         {result.csv_path}")
    for figure in result.figure_paths():
        print(f"figure:  {figure}")
    return 0


_EVALUATE_HELP = """\
Evaluate a trained MNIST run on digits it was not trained on: synthdigits, 2,000 digits that are
not MNIST's (pen strokes scripted per digit and style, handwriting fonts, typefaces, with random
thickness, slant, blur and low resolution; made by shallowdeep, never trained on). Each
digit is shown as `shallowdeep predict` shows an image file, normalised as MNIST's digits were, in
two renderings: filling its frame (as a drawing or a photo does) and saved already normalised.
The result is stored in the run (evaluations/synthdigits.json and .npz) for the report.

examples:
  shallowdeep evaluate runs/cnn-3/20260101-120000-abcd1234
  shallowdeep evaluate runs/mnist-robust/20260101-120000-abcd1234 --dataset synthdigits --json
"""


def _add_evaluate_parser(commands) -> None:
    parser = commands.add_parser(
        "evaluate", help="a trained MNIST run on digits from outside MNIST (synthdigits), stored in the run",
        description=_EVALUATE_HELP, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("run", metavar="RUN", help="a run folder, or the model.keras inside one")
    parser.add_argument("--dataset", default="synthdigits", choices=("synthdigits",),
                        help="the evaluation-only set of digits (default: synthdigits)")
    parser.add_argument("--json", action="store_true", help="print the stored metrics as JSON")
    parser.set_defaults(handler=_run_evaluate)


def _run_evaluate(args: argparse.Namespace) -> int:
    import json

    run = api.load_run(args.run)
    metrics = api.evaluate(run, args.dataset)
    if args.json:
        print(json.dumps(metrics, indent=2))
        return 0
    print(f"{run.name} on {args.dataset} ({metrics['samples']:,} digits from outside MNIST):")
    for rendering, result in metrics["renderings"].items():
        sources = ", ".join(f"{kind} {accuracy:.4f}" for kind, accuracy in result["by_source"].items())
        confused = ", ".join(f"{c['true']}->{c['predicted']} ({c['count']})" for c in result["most_confused"][:3])
        print(f"  {rendering:<8} accuracy {result['accuracy']:.4f}  ({sources}); most confused: {confused or '-'}")
    print(f"stored in {run.path / 'evaluations' / (args.dataset + '.json')}")
    return 0


_ADAPT_HELP = """\
Adapt a finished binary run (a chest X-ray screener) to a new site, another hospital, from that
site's unlabelled images: the batch-norm statistics are measured on them (AdaBN), the model's
outputs calibrated on the run's own validation predictions (Platt), the share of pneumonia at the
new site estimated from its images (EM, Saerens et al. 2002) and the threshold set for it (Bayes'
rule). No label of the new site is read: folder names are ignored, so a tree with class
subfolders reads as its images alone. At least 100 images.

The result is a new run, <name>-adapted, beside the source run (or in --runs-dir), evaluated at
its threshold on the source's test split, or with --labelled on a folder with one subfolder per
class (its labels are read after the adaptation is fixed, to measure it). predict, evaluate and
explore take it as any run.

Measured with xray-best on the official test folder as the new site (3 seeds, two halves by
patient; benchmarks/README.md): re-measuring batch norm alone raised specificity from 0.644 to
0.722; the prevalence step lowered it (EM read the site's differently-looking healthy X-rays as
more pneumonia), so both together gave 0.664. Judge the levers (--no-prevalence, --no-batch-norm)
on a labelled sample of your own site with --labelled, never on the cases you will screen.

examples:
  shallowdeep adapt runs/xray-best/20260101-120000-abcd1234 hospital-b/
  shallowdeep adapt runs/xray-best/20260101-120000-abcd1234 hospital-b/ --labelled hospital-b-labelled/
  shallowdeep adapt RUN scans/*.jpeg --no-batch-norm       # the threshold only
"""


def _add_adapt_parser(commands) -> None:
    parser = commands.add_parser(
        "adapt", help="a binary run adapted to a new site from its unlabelled images",
        description=_ADAPT_HELP, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("run", metavar="RUN", help="a finished binary run folder (e.g. of xray-best)")
    parser.add_argument("images", nargs="+", metavar="IMAGES",
                        help="the new site's images: PNG or JPEG files, or folders read to any depth")
    parser.add_argument("--labelled", metavar="DIR",
                        help="measure the adapted run on DIR (one subfolder per class) instead of the source's test split")
    parser.add_argument("--runs-dir", help="where the adapted run goes (default: beside the source run)")
    parser.add_argument("--no-batch-norm", dest="batch_norm", action="store_false",
                        help="keep the batch-norm statistics the run learned")
    parser.add_argument("--no-prevalence", dest="prevalence", action="store_false",
                        help="keep the run's threshold instead of setting one for the estimated prevalence")
    parser.add_argument("--json", action="store_true", help="print what was measured and the metrics as JSON")
    _add_data_dir(parser)
    _add_no_progress(parser)
    parser.set_defaults(handler=_run_adapt)


def _run_adapt(args: argparse.Namespace) -> int:
    import json

    run = api.adapt(args.run, args.images, labelled=args.labelled, runs_dir=args.runs_dir, data_dir=args.data_dir,
                batch_norm=args.batch_norm, prevalence=args.prevalence, progress=not args.no_progress)
    metrics, adaptation = run.metrics, run.metrics["adaptation"]
    if args.json:
        shown = ("accuracy", "sensitivity", "specificity", "roc_auc", "threshold")
        print(json.dumps({"run": str(run.path), "adaptation": adaptation,
                          "test": {key: metrics["test"][key] for key in shown},
                          "as_trained": {key: metrics["source"]["test"][key] for key in shown}}, indent=2))
        return 0
    images = run.environment["adaptation"]["images"]
    print(f"adapted from {images['count']} images (sha256 {images['sha256'][:12]}), no label read")
    distance, batch_norm = adaptation["distance"], adaptation["batch_norm"]
    if distance is not None:
        print(f"  distance from the run's validation images at the first batch norm: {distance:.4f} nats")
    if batch_norm is None:
        print("  batch norm: kept as trained (--no-batch-norm)")
    elif not batch_norm["layers"]:
        print("  batch norm: the model has none; nothing to re-estimate")
    else:
        print(f"  batch norm: {len(batch_norm['layers'])} layers re-estimated on these images")
    if adaptation["prevalence"]:
        share = adaptation["prevalence"]
        print(f"  prevalence: {share['estimated']:.3f} estimated here, {share['source']:.3f} in the run's validation")
    threshold = adaptation["threshold"]
    print(f"  threshold: {threshold['adapted']:.4f} (the run's: {threshold['source']:.4f})")
    print(f"on {run.environment['adaptation']['evaluated_on']} ({metrics['test']['samples']} images):")
    for label, test in (("as trained", metrics["source"]["test"]), ("adapted", metrics["test"])):
        print(f"  {label:<10} accuracy {test['accuracy']:.4f}, sensitivity {test['sensitivity']:.4f}, "
              f"specificity {test['specificity']:.4f}, ROC AUC {test['roc_auc']:.4f} (threshold {test['threshold']:.4f})")
    print(f"run folder: {run.path}")
    return 0


_LAB_HELP = """\
Run the whole lab: train every experiment of a suite, then write a report that answers the lab's
four questions with the measured numbers, plots and confusion matrices, and a fifth: which networks
read digits they were not trained on (every MNIST run is evaluated on synthdigits after training):
<out>/report.md (with <out>/images/) and <out>/report.html, one self-contained file that opens offline.

Suites: "seed" (default) is the reference report's ten experiments, raw-1..3, hog-1..3, cnn-1..3
and the chest X-ray CNN xray-1; "handout" the course's three starting points; "pooled" the CNNs
with a pool after each convolution; "best" stronger models trained from scratch (batch norm,
augmentation, cosine schedule, bf16) for MNIST, the chest X-rays and PneumoniaMNIST, reported
beside the lab's models and published figures; "all" every preset of these suites.

Finished runs (same settings, same shallowdeep version) are reused, so running the command again
only writes the report; --force retrains. An interrupted lab resumes where it stopped. The chest
X-ray part needs the chest X-ray folder (in the data directory, or --xray-dir); without it the rest
of the lab still runs and the report says how to get it.

examples:
  shallowdeep lab                                  # the full lab: first prints how long it will take here
  shallowdeep lab --precision fp32                 # full precision even where auto picks bf16
  shallowdeep lab --quick                          # 1 epoch on small slices: checks everything in minutes
  shallowdeep lab --suite best                     # beyond the lab: stronger models, trained from scratch
  shallowdeep lab --lang fr --out rapport          # the report in French
  shallowdeep lab --suite all --xray-dir ~/data/chest_xray
"""


def _add_lab_parser(commands) -> None:
    parser = commands.add_parser(
        "lab", help="run every experiment of the lab and write the report (the main command)",
        description=_LAB_HELP, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--suite", default="seed", choices=LAB_SUITES, help="which experiments (default: seed)")
    parser.add_argument("--out", default="lab-report", metavar="DIR", help="report and runs folder (default: ./lab-report)")
    parser.add_argument("--quick", action="store_true", help="1 epoch on small slices, to check the pipeline")
    parser.add_argument("--lang", default="en", choices=("en", "fr"), help="language of the report")
    parser.add_argument("--force", action="store_true", help="retrain experiments that already have a finished run")
    parser.add_argument("--precision", choices=PRECISIONS,
                        help="override every experiment's precision (default: each experiment's, auto for most)")
    _add_data_dir(parser)
    parser.add_argument("--xray-dir", metavar="DIR", help="the chest X-ray folder (default: found in the data directory)")
    parser.add_argument("--no-estimate", action="store_true",
                        help="skip the short probe that forecasts each experiment's time on this machine")
    parser.add_argument("--sweeps", nargs="+", default=[], metavar="DIR",
                        help="folders of finished sweeps to report too (a section each, and Q3 measured)")
    _add_no_progress(parser)
    parser.set_defaults(handler=_run_lab)


def _run_lab(args: argparse.Namespace) -> int:
    command = "shallowdeep " + " ".join(sys.argv[1:]) if sys.argv[1:2] == ["lab"] else "shallowdeep lab"
    try:
        result = api.run_lab(
            args.suite, args.out, quick=args.quick, lang=args.lang, force=args.force, precision=args.precision,
            data_dir=args.data_dir, xray_dir=args.xray_dir, progress=not args.no_progress, command=command,
            estimate=False if args.no_estimate else None,
            sweeps=args.sweeps,
        )
    except KeyboardInterrupt:
        print(f"\ninterrupted: finished experiments and completed epochs are kept in {args.out}; run the "
              f"same command again to continue", file=sys.stderr)
        return 130
    failed = result.failed
    minutes, seconds = divmod(result.seconds, 60)
    print(f"\nreport: {result.report_html}\n        {result.report_markdown}")
    print(f"{len(result.records)} experiments in {int(minutes)} min {seconds:.0f} s"
          + (f"; FAILED: {', '.join(failed)} (see the report)" if failed else ""))
    return 1 if failed else 0


_EXPLORE_HELP = """\
Serve a local web page over finished runs, in your browser: draw a digit and watch every MNIST run
answer it live (the 28 x 28 image they see, ten probabilities each); look inside a network (the
HOG glyphs of your drawing, every convolution's feature maps, the first layer's filters); click a
cell of a run's test confusion matrix to see its test images with the model's probabilities; and
upload a chest X-ray (JPEG or PNG, any size) for P(pneumonia), the verdict at the run's validation
threshold and a Grad-CAM heat map of where the network found its evidence.

With no RUN, the runs are those of the lab's report folder (lab-report/runs, lab-report/runs-quick)
and of runs/, in the current directory. The page talks only to this server, on this computer
(127.0.0.1); its JSON API is described at /docs, for scripts.

examples:
  shallowdeep lab --quick && shallowdeep explore     # the lab's models, in the browser
  shallowdeep explore runs/cnn-3/20260101-120000-abcd1234 runs/hog-1/20260101-120500-0123abcd
  shallowdeep explore --runs-dir runs --port 8001 --no-browser
"""


def _add_explore_parser(commands) -> None:
    parser = commands.add_parser(
        "explore", help="a local web page: draw a digit for every model, look inside, mistakes, X-rays",
        description=_EXPLORE_HELP, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("runs", nargs="*", metavar="RUN",
                        help="a run folder, a folder of runs or a lab's report folder (default: lab-report/, runs/)")
    parser.add_argument("--runs-dir", metavar="DIR", help="also every finished run in this folder of runs")
    parser.add_argument("--port", type=int, default=8000, help="the port to listen on (default: 8000)")
    parser.add_argument("--host", default="127.0.0.1",
                        help="the address to listen on (default: 127.0.0.1, this computer only; any other is warned about)")
    parser.add_argument("--no-browser", action="store_true", help="do not open the page in the browser")
    _add_data_dir(parser)
    parser.set_defaults(handler=_run_explore)


def _run_explore(args: argparse.Namespace) -> int:
    api.explore(args.runs, runs_dir=args.runs_dir, host=args.host, port=args.port, open_browser=not args.no_browser,
            data_dir=args.data_dir)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="shallowdeep",
        description=(
            "Shallow versus deep neural networks on MNIST digits and pediatric chest X-rays, "
            "on Keras 3: data, experiments, report."
        ),
        epilog="Run `shallowdeep COMMAND --help` for a command's options and examples.",
    )
    parser.add_argument("--version", action="version", version=f"shallowdeep {__version__}")
    commands = parser.add_subparsers(title="commands", metavar="COMMAND", required=True)
    _add_lab_parser(commands)
    _add_data_parser(commands)
    _add_list_parser(commands)
    _add_train_parser(commands)
    _add_predict_parser(commands)
    _add_explore_parser(commands)
    _add_sweep_parser(commands)
    _add_evaluate_parser(commands)
    _add_adapt_parser(commands)
    return parser


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    print(f"warning: {message}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    """Run the command line ``argv`` (default: ``sys.argv[1:]``) and return its exit code."""
    args = build_parser().parse_args(argv)
    shown_before, warnings.showwarning = warnings.showwarning, _show_warning
    try:
        return args.handler(args)
    except ShallowDeepError as error:
        print(f"shallowdeep: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("shallowdeep: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `shallowdeep list | head`: the reader has all it wanted
        # Python flushes stdout again on exit; what is left goes nowhere instead of into a second error.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141  # 128 + SIGPIPE, as a shell reports a command a closed pipe stopped
    finally:
        warnings.showwarning = shown_before
