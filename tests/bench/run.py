"""``make bench``: throughput figures measured in one run, printed as a table.

Sections: the emulator's own paginated LIST throughput (so it is known not to
be the bottleneck of what is measured against it).
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.emulator_list import paginated_list  # noqa: E402  pylint: disable=wrong-import-position
from bench.emulator_process import EmulatorProcess  # noqa: E402  pylint: disable=wrong-import-position


def bench_emulator_list(sizes):
    rows = []
    for size in sizes:
        emulator = EmulatorProcess("--no-controllers")
        try:
            emulator.seed_configmaps(size)
            listed, seconds = paginated_list(emulator.url, "/api/v1/configmaps")
            rows.append(("emulator paginated LIST (limit 500)", size, listed, seconds, listed / seconds))
        finally:
            emulator.stop()
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description="kubesafe.k8s benchmarks")
    parser.add_argument("--sizes", default="10000,100000", help="object counts, comma-separated")
    args = parser.parse_args(argv)
    sizes = [int(size) for size in args.sizes.split(",")]
    rows = bench_emulator_list(sizes)
    sys.stdout.write("%-40s %10s %10s %10s %12s\n" % ("measure", "objects", "listed", "seconds", "objects/s"))
    for name, size, listed, seconds, rate in rows:
        sys.stdout.write("%-40s %10d %10d %10.2f %12.0f\n" % (name, size, listed, seconds, rate))
    return 0


if __name__ == "__main__":
    sys.exit(main())
