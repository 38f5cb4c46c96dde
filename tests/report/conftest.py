"""Shared helpers for the mimicmem-report tests.

The package is imported from tools/report (the source tree); the launcher
tests run tools/report/mimicmem-report as a subprocess.
"""

import os
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
TOOL_DIR = os.path.join(ROOT, "tools", "report")
LAUNCHER = os.path.join(TOOL_DIR, "mimicmem-report")
FIXTURES = os.path.join(HERE, "fixtures")

sys.path.insert(0, TOOL_DIR)
sys.dont_write_bytecode = True  # no __pycache__ in the source tree


def fixture(*parts):
    """Path of a file under tests/report/fixtures."""
    return os.path.join(FIXTURES, *parts)


def launcher_env(**extra):
    """The environment for a launcher run: this interpreter's directory
    first on PATH (so the launcher finds a Python with matplotlib even when
    /usr/bin/python3 has none), no MIMICMEM_PYTHON unless given."""
    env = dict(os.environ)
    env.pop("MIMICMEM_PYTHON", None)
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env.update(extra)
    return env


def run_launcher(args, launcher=LAUNCHER, env=None, cwd=None):
    """Runs the launcher; returns the CompletedProcess (text output)."""
    return subprocess.run([launcher] + list(args),
                          env=env if env is not None else launcher_env(), cwd=cwd,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, timeout=120)


@pytest.fixture
def two_ranks():
    return sorted(os.path.join(FIXTURES, "two-ranks", f)
                  for f in os.listdir(os.path.join(FIXTURES, "two-ranks")))


@pytest.fixture
def four_ranks():
    return sorted(os.path.join(FIXTURES, "four-ranks", f)
                  for f in os.listdir(os.path.join(FIXTURES, "four-ranks")))
