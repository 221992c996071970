"""requirements.txt is the full, pinned compilation of requirements.in."""

from __future__ import annotations

import re

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from sellerops.paths import PROJECT_ROOT


def _lines(name: str) -> list[str]:
    text = (PROJECT_ROOT / name).read_text()
    return [line.split("#")[0].strip() for line in text.splitlines() if line.split("#")[0].strip()]


def _pins() -> dict[str, str]:
    pins = {}
    for line in _lines("requirements.txt"):
        match = re.fullmatch(r"([A-Za-z0-9_.\-\[\],]+)==([^\s;]+)(\s*;.*)?", line)
        assert match, f"requirements.txt line is not an exact pin: {line!r}"
        pins[canonicalize_name(match.group(1).split("[")[0])] = match.group(2)
    return pins


def test_every_input_is_pinned_and_satisfied():
    pins = _pins()
    for line in _lines("requirements.in"):
        requirement = Requirement(line)
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{requirement.name} from requirements.in is not in requirements.txt"
        assert requirement.specifier.contains(pins[name], prereleases=True), (
            f"{requirement.name}=={pins[name]} does not satisfy {requirement.specifier}"
        )


def test_key_versions():
    pins = _pins()
    assert pins["apache-airflow"].startswith("3.")
    assert pins["great-expectations"].startswith("1.")
    assert pins["sqlalchemy"].startswith("2.")
    assert pins["python-amazon-sp-api"]
