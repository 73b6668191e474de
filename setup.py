"""The packages of the wheel and where they live; everything else is in pyproject.toml.

Three folders make the studio: ``studio/`` (the app), ``plugins/studio_builtins/``
(the built-in plugins, registered through entry points like any plugin) and the
top-level ``resources/`` folder, mapped onto the ``studio_resources`` package so
that its files install with the wheel and are found with ``importlib.resources``.
"""

from setuptools import find_packages, setup

setup(
    packages=[
        *find_packages(".", include=["studio", "studio.*"]),
        *find_packages("plugins", include=["studio_builtins", "studio_builtins.*"]),
        "studio_resources",
    ],
    package_dir={"studio_builtins": "plugins/studio_builtins", "studio_resources": "resources"},
)
