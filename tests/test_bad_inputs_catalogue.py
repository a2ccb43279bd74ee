"""docs/bad_inputs.md and the bad-input tests match one to one: every row names one test, every test has its row."""

import re
from pathlib import Path

from bad_input_helpers import CATALOGUE

HERE = Path(__file__).parent


def test_the_catalogue_names_one_test_per_row():
    rows = [line for line in CATALOGUE.read_text().splitlines() if re.match(r"^\| \d+ \|", line)]
    named = [re.findall(r"`(test_\w+)`", row) for row in rows]
    assert all(len(n) == 1 for n in named), [r for r, n in zip(rows, named, strict=True) if len(n) != 1]
    modules = sorted(set(HERE.glob("test_bad_inputs_*.py")) - {Path(__file__)})
    assert len(modules) >= 3, modules
    tests = [t for m in modules for t in re.findall(r"^def (test_\w+)\(", m.read_text(), flags=re.M)]
    assert sorted(n[0] for n in named) == sorted(tests)  # every row has its test, every test its row
    assert len(rows) >= 30
