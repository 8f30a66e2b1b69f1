"""Build hook: the wheel also carries ``openai_bg-stubs/__init__.pyi``, a
copy of ``openai_bg.py`` made at build time (PEP 561 stub-only package), so
that type checkers see the installed module's own annotations and the stub
cannot drift from it.  Everything else is in setup.cfg."""

import os
import shutil

from setuptools import setup
from setuptools.command.build_py import build_py


class build_py_with_stubs(build_py):
    def run(self):
        super().run()
        stubs = os.path.join(self.build_lib, "openai_bg-stubs")
        os.makedirs(stubs, exist_ok=True)
        shutil.copyfile("openai_bg.py", os.path.join(stubs, "__init__.pyi"))


setup(cmdclass={"build_py": build_py_with_stubs})
