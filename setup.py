"""Builds vcc and its compiled scheduler (native/_scheduler.pyx).

`VCC_PURE_PYTHON=1 pip install .` skips the extension (the pure-Python twin is used);
otherwise a missing C++ compiler stops the build with a message that says so.
"""

import os

from setuptools import find_packages, setup
from setuptools.command.build_ext import build_ext

try:
    from setuptools.errors import CCompilerError, CompileError, ExecError, PlatformError
except ImportError:  # setuptools < 59
    from distutils.errors import (
        CCompilerError,
        CompileError,
        DistutilsExecError as ExecError,
        DistutilsPlatformError as PlatformError,
    )

COMPILER_MISSING = (
    "vcc: could not compile the native scheduler (native/_scheduler.pyx): {error}\n"
    "It needs a C++ compiler and the Python headers (Debian: apt-get install -y g++ python3-dev).\n"
    "Or install without it, using the pure-Python twin: VCC_PURE_PYTHON=1 pip install ."
)


class BuildNativeScheduler(build_ext):
    """build_ext that names the missing compiler instead of printing a C traceback."""

    def run(self):
        try:
            super().run()
        except (PlatformError, CCompilerError, CompileError, ExecError) as error:
            raise SystemExit(COMPILER_MISSING.format(error=error)) from error

    def build_extension(self, ext):
        try:
            super().build_extension(ext)
        except (CCompilerError, CompileError, ExecError) as error:
            raise SystemExit(COMPILER_MISSING.format(error=error)) from error


def native_extensions():
    if os.environ.get("VCC_PURE_PYTHON", "") not in ("", "0"):
        return []
    from Cython.Build import cythonize
    from setuptools import Extension

    return cythonize(
        [Extension("native._scheduler", ["native/_scheduler.pyx"], language="c++",
                   extra_compile_args=["-O3"])],
        compiler_directives={"language_level": "3"},
    )


setup(
    name="vcc",
    version="0.1.0",
    description="vcc: routing cluster for large multi-site contact centers",
    python_requires=">=3.11",
    packages=find_packages(include=["native", "native.*", "sites", "sites.*", "cluster",
                                    "cluster.*", "actors", "actors.*", "protos", "protos.*",
                                    "loadtests", "loadtests.*"]),
    package_data={"native": ["*.pyx"]},
    ext_modules=native_extensions(),
    cmdclass={"build_ext": BuildNativeScheduler},
    install_requires=[
        "sortedcontainers>=2.4,<3",
        "pyyaml>=6,<7",
        "rich>=13",
    ],
    extras_require={
        "test": ["pytest>=8", "hypothesis>=6.100"],
    },
    entry_points={"console_scripts": ["vcc=cluster.cli:main"]},
)
