"""Run a command as the child of this small process and write its own peak RSS.

    python bench/spawn_measured.py <rss-file> <command> [args...]

Linux keeps a process's peak RSS (``ru_maxrss``) across ``exec``: a child forked
from a large process reports the parent's resident set at the fork as its own
peak, however small it stays after ``exec`` (a benchmark worker holding a 5 GB
World made every child's peak read 5 GB). Forked from this launcher instead, the
command starts from a few MB, so ``wait4``'s figure is its own. Standard
streams, environment and working directory pass through; the exit code is the
command's. Standard library only: it runs before anything is imported.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    rss_file, command = argv[0], argv[1:]
    proc = subprocess.Popen(command)
    _, status, usage = os.wait4(proc.pid, 0)
    with open(rss_file, "w", encoding="utf-8") as out:
        json.dump({"max_rss_kib": usage.ru_maxrss}, out)  # KiB on Linux
    return os.waitstatus_to_exitcode(status)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
