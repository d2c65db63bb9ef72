"""Workflows on top of the library: the demo, verification by training, and the bundled build.

These use every layer below (store, meta-models, recommender, study, runner); nothing below
imports them.
"""

from metahp.app._build import HELD_OUT, build, datasheet, plan_build, write_shards
from metahp.app._default_bundle import build_default_bundle
from metahp.app._demo import run_demo
from metahp.app._verify import VerifiedRun, VerifyReport, task_spec_of, verify

__all__ = [
    "HELD_OUT",
    "VerifiedRun",
    "VerifyReport",
    "build",
    "build_default_bundle",
    "datasheet",
    "plan_build",
    "run_demo",
    "task_spec_of",
    "verify",
    "write_shards",
]
