import os

os.environ.setdefault("JAXENGINE_ENABLE_X64", "1")

import jax  # noqa: E402
import pytest  # noqa: E402

jax.config.update("jax_enable_x64", True)
jax.config.update("jax_numpy_dtype_promotion", "strict")  # catches float32 leaks and implicit real->complex casts
jax.config.update("jax_numpy_rank_promotion", "raise")  # catches wrong-axis broadcasting on grids

import jaxengine  # noqa: E402, F401


@pytest.fixture
def rng():
    import numpy as np

    return np.random.default_rng(0)
