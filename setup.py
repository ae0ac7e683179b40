"""Build the native RDB scanner; everything else is declared in pyproject.toml.

The scanner is optional: without a C compiler or OpenSSL's headers (a laptop's
pre-commit hook environment) pip installs stategate without it, and the RDB provider
says so when it is needed. scripts/setup.sh fails when it did not build.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "stategate.native.rdbscan",
            sources=["src/stategate/native/rdbscan.c"],
            libraries=["crypto"],
            optional=True,
            extra_compile_args=["-O2", "-std=c11", "-Wall", "-Wextra", "-Wno-unused-parameter"],
        )
    ]
)
