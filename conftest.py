"""Test-run settings for test_openai_bg.py.

Six pytest-xdist workers when the plugin is installed (the test extra
installs it) and the command line does not choose (``-n``): most of a
test's time is a loopback server's deliberate silence, not CPU.  Without
the plugin the suite runs in one process, only slower."""

import importlib.util

import pytest


@pytest.hookimpl(tryfirst=True)
def pytest_cmdline_main(config):
    if importlib.util.find_spec("xdist") is None or \
            not hasattr(config.option, "numprocesses"):  # absent, or -p no:xdist
        return
    if getattr(config.option, "numprocesses", None) is None and \
            not hasattr(config, "workerinput") and \
            not config.getoption("collectonly"):  # a worker runs its share
        config.option.numprocesses = 6
        if config.option.dist == "no":
            config.option.dist = "loadgroup"  # the SDK cross-checks share one worker
