"""Shared test fixtures.

The real CIFAR-10 is the prepared TFDS data dir in `../shared/tensorflow_datasets`
(or `$TFDS_DATA_DIR`). Tests that need it are skipped where it is absent, except
when `EI_ZOO_REQUIRE_CIFAR=1` (CI sets it): then its absence is a failure.
"""

import os
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "tensorflow_datasets"


def _real_data_dir():
    for candidate in (os.environ.get("TFDS_DATA_DIR"), SHARED_DATA):
        if candidate and (Path(candidate) / "cifar10").is_dir():
            return str(candidate)
    return None


@pytest.fixture(scope="session")
def cifar_dir():
    """Path of a TFDS data dir holding the real CIFAR-10."""
    found = _real_data_dir()
    if found is None:
        message = f"real CIFAR-10 not found in $TFDS_DATA_DIR or {SHARED_DATA}"
        if os.environ.get("EI_ZOO_REQUIRE_CIFAR") == "1":
            pytest.fail(message + " (EI_ZOO_REQUIRE_CIFAR=1)")
        pytest.skip(message)
    return found


@pytest.fixture
def images():
    """A small batch of random raw-pixel images, [4, 32, 32, 3] float32 in 0-255."""
    return np.random.default_rng(0).uniform(0, 255, (4, 32, 32, 3)).astype("float32")
