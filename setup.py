"""The compiled part of dagrt: ``ndarray``'s base class (``dagrt/array/_native.c``).

Optional: where it does not build (no C compiler), dagrt installs and runs
on its pure-Python base class, with the same behaviour (see docs/configuration.md,
``DAGRT_NATIVE``). Everything else is in pyproject.toml.
"""

import numpy
from setuptools import Extension, setup

setup(ext_modules=[Extension("dagrt.array._native", ["dagrt/array/_native.c"],
                             include_dirs=[numpy.get_include()], optional=True)])
