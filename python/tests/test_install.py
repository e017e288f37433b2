#!/usr/bin/env python3
"""The client installs from the checkout with pip, offline: a copy of python/
is installed with `pip install --no-index --no-build-isolation --target DIR`
(the standard library's setuptools backend already installed, nothing
downloaded), then test_client.py runs against that installed copy.

Usage: test_install.py PATH/TO/http_sim_server.  Exits 77 (skip) when this
interpreter has no pip or setuptools, unless RSP_NO_SKIP=1 (a failure then;
Debian 12: python3-pip, which brings
python3-setuptools and python3-wheel)."""

import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.dirname(HERE)


def skip(why):
    if os.environ.get("RSP_NO_SKIP") == "1":
        print(f"FAIL (RSP_NO_SKIP=1): {why}")
        sys.exit(1)
    print(f"SKIP: {why}")
    sys.exit(77)


def main():
    if len(sys.argv) != 2:
        print(__doc__)
        return 2
    # setuptools before 70.1 builds wheels with the wheel package.
    for mod, code in (("pip", "import pip"), ("setuptools", "import setuptools.build_meta"),
                      ("wheel", "try:\n import setuptools.command.bdist_wheel\nexcept ImportError:\n import wheel")):
        if subprocess.run([sys.executable, "-c", code], capture_output=True).returncode:
            skip(f"{sys.executable} has no {mod}")
    tmp = tempfile.mkdtemp(prefix="rspbridge-pip-")
    try:
        # A copy: setuptools writes build/ and *.egg-info next to the sources.
        src = os.path.join(tmp, "src")
        shutil.copytree(SRC, src, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__", "tests"))
        site = os.path.join(tmp, "site")
        env = dict(os.environ, PIP_DISABLE_PIP_VERSION_CHECK="1", PIP_NO_INPUT="1")
        r = subprocess.run([sys.executable, "-m", "pip", "install", "--no-index", "--no-build-isolation",
                            "--no-deps", "--no-cache-dir", "--target", site, src],
                           env=env, capture_output=True, text=True, timeout=300)
        print(r.stdout[-2000:], r.stderr[-2000:])
        if r.returncode:
            print("FAIL: pip install of the checkout failed")
            return 1
        if not os.path.isfile(os.path.join(site, "rspbridge", "client.py")):
            print("FAIL: pip installed no rspbridge/client.py")
            return 1
        env = dict(os.environ, PYTHONPATH=site, RSPBRIDGE_INSTALLED=site)
        r = subprocess.run([sys.executable, os.path.join(HERE, "test_client.py"), sys.argv[1]],
                           env=env, timeout=300)
        print("installed client:", "OK" if r.returncode == 0 else "FAIL")
        return 1 if r.returncode else 0
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
