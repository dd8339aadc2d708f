"""``python -m shallowdeep.data.make_synthdigits --out FILE``: rebuild synthdigits and compare it with
the shipped file (see :mod:`shallowdeep.data.synthdigits` for how it is made)."""

from __future__ import annotations

import argparse
import hashlib
import sys

from shallowdeep.data.info import SYNTHDIGITS
from shallowdeep.data.synthdigits import __doc__ as RECIPE
from shallowdeep.data.synthdigits import write_synthdigits
from shallowdeep.errors import DataError


def main(argv: list[str] | None = None) -> int:
    """``python -m shallowdeep.data.make_synthdigits --out FILE``: rebuild the set and compare it with
    the shipped one."""
    parser = argparse.ArgumentParser(prog="python -m shallowdeep.data.make_synthdigits", description=RECIPE,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True, help="where to write the rebuilt .npz")
    args = parser.parse_args(argv)
    try:
        path = write_synthdigits(args.out)
    except DataError as error:
        print(f"synthdigits: error: {error}", file=sys.stderr)
        return 1
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    recorded = SYNTHDIGITS.files["test"].sha256
    print(f"{path}: sha256 {digest} ({path.stat().st_size:,} bytes)")
    print("identical to the shipped set" if digest == recorded else f"differs from the shipped set ({recorded})")
    return 0 if digest == recorded else 1


if __name__ == "__main__":
    sys.exit(main())
