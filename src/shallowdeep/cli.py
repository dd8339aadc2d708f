"""The ``shallowdeep`` command: a thin layer over the Python API.

Each subcommand is one function taking the parsed arguments and returning an exit code. Errors
raised on purpose (:class:`ShallowDeepError`) are printed as one message, never as a traceback.
"""

from __future__ import annotations

import argparse
import sys
import textwrap
import warnings

from shallowdeep import __version__
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


def _add_data_parser(commands) -> None:
    parser = commands.add_parser(
        "data",
        help="where the datasets are looked for, and whether they are verified",
        description=_DATA_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "datasets", nargs="*", metavar="DATASET",
        help="mnist, pneumoniamnist or chest_xray (default: all three)",
    )
    parser.add_argument("--data-dir", metavar="DIR", help="the data directory (default: $SHALLOWDEEP_DATA or the cache folder)")
    parser.add_argument("--download", action="store_true", help="download missing files now")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.set_defaults(run=_run_data)


def _run_data(args: argparse.Namespace) -> int:
    from shallowdeep.data import DATASETS, check_datasets
    from shallowdeep.paths import describe_data_dir, resolve_cache_dir, resolve_data_dir

    checks = check_datasets(
        args.datasets, args.data_dir, download=args.download, progress=not args.no_progress
    )
    print(f"data directory:  {resolve_data_dir(args.data_dir)} ({describe_data_dir(args.data_dir)})")
    print(f"cache directory: {resolve_cache_dir()} (decoded images and features; $SHALLOWDEEP_CACHE)")
    shown = None
    for check in checks:
        if check.dataset != shown:
            info = DATASETS[check.dataset]
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
    _add_data_parser(commands)
    return parser


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    print(f"warning: {message}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    """Run the command line ``argv`` (default: ``sys.argv[1:]``) and return its exit code."""
    args = build_parser().parse_args(argv)
    warnings.showwarning = _show_warning
    try:
        return args.run(args)
    except ShallowDeepError as error:
        print(f"shallowdeep: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("shallowdeep: interrupted", file=sys.stderr)
        return 130
