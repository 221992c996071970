"""The sellerops command: installed entry point, verbs listed, clear errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from sellerops import cli

VERBS = ("db", "sandbox", "ingest", "import-report", "build", "campaigns", "report", "demo")


def test_entry_point_lists_the_verbs():
    exe = Path(sys.executable).with_name("sellerops")
    assert exe.exists(), "the console script is installed into the virtualenv"
    result = subprocess.run([str(exe), "--help"], capture_output=True, text=True, check=True)
    for verb in VERBS:
        assert verb in result.stdout


def test_bad_input_is_one_clear_line(capsys):
    code = cli.main(["--warehouse", "sqlite:///nope.db", "db", "upgrade"])
    err = capsys.readouterr().err
    assert code == 1
    assert err.strip() == (
        "sellerops db: error: unsupported warehouse 'sqlite': use duckdb or postgresql"
    )


def test_bad_date_is_rejected_by_the_parser(capsys):
    try:
        cli.main(["ingest", "--account", "a", "--start", "2026-13-01", "--end", "2026-11-02"])
    except SystemExit as exit_:
        assert exit_.code == 2
    assert "not a date (YYYY-MM-DD): '2026-13-01'" in capsys.readouterr().err
