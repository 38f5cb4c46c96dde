"""The launcher: choosing a Python with matplotlib, running through a
symlink, the installed layout, and the plain-Python fallback.

A "Python without matplotlib" is simulated by a directory holding a
`matplotlib` package whose import fails, put on PYTHONPATH; a fake `python3`
script first on PATH runs the real interpreter with it and logs every call.
The launcher runs are started together (each imports matplotlib while
choosing its interpreter) and checked one by one.
"""

import json
import os
import shutil
import subprocess
import sys

import pytest

from conftest import LAUNCHER, TOOL_DIR, fixture, launcher_env

REPORTS = [fixture("two-ranks", "report-0.json"), fixture("two-ranks", "report-1.json")]
EPOCHS = fixture("epochs", "forests.csv")


def make_blocker(root):
    """A directory whose `matplotlib` cannot be imported; returns its path."""
    pkg = os.path.join(root, "blocker", "matplotlib")
    os.makedirs(pkg)
    with open(os.path.join(pkg, "__init__.py"), "w") as f:
        f.write('raise ImportError("matplotlib is hidden for this test")\n')
    return os.path.dirname(pkg)


def make_fake_python(root, blocker):
    """A `python3` without matplotlib in root/fakebin, logging its calls to
    root/fake.log (one line per call: its arguments)."""
    bindir = os.path.join(root, "fakebin")
    os.makedirs(bindir)
    fake = os.path.join(bindir, "python3")
    log = os.path.join(root, "fake.log")
    with open(fake, "w") as f:
        f.write('#!/bin/sh\nprintf "%%s\\n" "$*" >> "%s"\n'
                'PYTHONPATH="%s" exec "%s" "$@"\n' % (log, blocker, sys.executable))
    os.chmod(fake, 0o755)
    return fake, log


def install(prefix):
    """Lays the launcher and the package out as an installation would:
    <prefix>/bin/mimicmem-report, <prefix>/share/mimicmem/python/mimicmem_report."""
    os.makedirs(os.path.join(prefix, "bin"))
    shutil.copy2(LAUNCHER, os.path.join(prefix, "bin", "mimicmem-report"))
    shutil.copytree(os.path.join(TOOL_DIR, "mimicmem_report"),
                    os.path.join(prefix, "share", "mimicmem", "python", "mimicmem_report"),
                    ignore=shutil.ignore_patterns("__pycache__"))
    return os.path.join(prefix, "bin", "mimicmem-report")


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """{case: (status, stdout, stderr, extra)} for every launcher run below."""
    root = str(tmp_path_factory.mktemp("launcher"))
    blocker = make_blocker(root)
    fake, fake_log = make_fake_python(root, blocker)
    fake_path = os.path.dirname(fake) + os.pathsep + launcher_env()["PATH"]

    # symlinks: a relative link to the source-tree launcher, and a chain of
    # two links to an installed copy
    links = os.path.join(root, "links")
    os.makedirs(links)
    os.symlink(os.path.relpath(LAUNCHER, links), os.path.join(links, "mmr"))
    installed = install(os.path.join(root, "prefix"))
    os.symlink(installed, os.path.join(links, "installed-1"))
    os.symlink("installed-1", os.path.join(links, "installed-2"))
    lonely = os.path.join(root, "lonely")
    os.makedirs(lonely)
    shutil.copy2(LAUNCHER, lonely)

    out = os.path.join(root, "plots-%s")
    cases = {
        # a python3 without matplotlib first on PATH
        "fake first on PATH": ([LAUNCHER, "plot", "--report", REPORTS[0], "--out", out % 1],
                               launcher_env(PATH=fake_path)),
        # ... and named by MIMICMEM_PYTHON: tried first, passed over
        "fake as MIMICMEM_PYTHON": ([LAUNCHER, "plot", "--report", REPORTS[0], "--out",
                                     out % 2],
                                    launcher_env(PATH=fake_path, MIMICMEM_PYTHON=fake)),
        # no interpreter has matplotlib: merge works, plot names the package
        "no matplotlib, merge": ([LAUNCHER, "merge"] + REPORTS,
                                 launcher_env(PYTHONPATH=blocker)),
        "no matplotlib, plot": ([LAUNCHER, "plot", "--epochs", EPOCHS, "--out", out % 3],
                                launcher_env(PYTHONPATH=blocker)),
        "through a symlink": ([os.path.join(links, "mmr"), "merge"] + REPORTS, launcher_env()),
        "installed, through symlinks": ([os.path.join(links, "installed-2"), "summary",
                                         "--epochs", EPOCHS], launcher_env()),
        "package missing": ([os.path.join(lonely, "mimicmem-report"), "merge"] + REPORTS,
                            launcher_env()),
    }
    procs = {name: subprocess.Popen(args, env=env, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, universal_newlines=True)
             for name, (args, env) in cases.items()}
    results = {}
    for name, p in procs.items():
        o, e = p.communicate(timeout=120)
        results[name] = (p.returncode, o, e)
    with open(fake_log) if os.path.exists(fake_log) else open(os.devnull) as f:
        results["fake log"] = f.read().splitlines()
    results["out"] = out
    results["fake"] = fake
    return results


def test_python_without_matplotlib_first_on_path(runs):
    status, out, err = runs["fake first on PATH"]
    assert (status, err) == (0, "")
    assert out.split() == [os.path.join(runs["out"] % 1, "peak-composition.png")]


def test_mimicmem_python_without_matplotlib_is_passed_over(runs):
    status, out, err = runs["fake as MIMICMEM_PYTHON"]
    assert (status, err) == (0, "")
    assert out.split() == [os.path.join(runs["out"] % 2, "peak-composition.png")]
    assert os.path.isfile(out.split()[0])
    # the fake was asked (the probe) and never ran the package (-B -c ...)
    calls = runs["fake log"]
    assert calls and all(not c.startswith("-B ") for c in calls)
    assert any("import matplotlib" in c for c in calls)


def test_without_matplotlib_merge_still_works(runs):
    status, out, err = runs["no matplotlib, merge"]
    assert (status, err) == (0, "")
    assert json.loads(out)["ranks"] == 2


def test_without_matplotlib_plot_names_the_debian_package(runs):
    status, out, err = runs["no matplotlib, plot"]
    assert status == 1 and out == ""
    assert err.startswith("mimicmem-report: plot needs matplotlib")
    assert "python3-matplotlib" in err
    assert "interpreters tried: " in err
    assert not os.path.exists(runs["out"] % 3)


def test_through_a_symlink(runs):
    status, out, err = runs["through a symlink"]
    assert (status, err) == (0, "")
    assert json.loads(out)["per_rank"][1]["rank"] == 1


def test_installed_layout(runs):
    status, out, err = runs["installed, through symlinks"]
    assert (status, err) == (0, "")
    assert "Forests (epochs)      6" in out


def test_package_missing(runs):
    status, out, err = runs["package missing"]
    assert status == 1 and out == ""
    assert err.startswith("mimicmem-report: the mimicmem_report package is neither in ")
