"""Top-level tasks/ installs as the subpackage nlpkit.tasks (package-dir in pyproject.toml);
every task folder is listed here so a new task needs no packaging edit."""
from setuptools import find_packages, setup

packages = find_packages(include=["nlpkit", "nlpkit.*"])
packages += ["nlpkit.tasks"] + [f"nlpkit.tasks.{p}" for p in find_packages("tasks")]
setup(packages=packages)
