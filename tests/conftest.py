import os

os.environ.setdefault("JAXENGINE_ENABLE_X64", "1")

import jax  # noqa: E402
import pytest  # noqa: E402

jax.config.update("jax_enable_x64", True)
jax.config.update("jax_numpy_dtype_promotion", "strict")  # catches float32 leaks and implicit real->complex casts
jax.config.update("jax_numpy_rank_promotion", "raise")  # catches wrong-axis broadcasting on grids

import jaxengine  # noqa: E402, F401


@pytest.fixture(scope="session", autouse=True)
def _compilation_cache(tmp_path_factory, request):
    """One persistent compilation cache for the whole run, shared by the xdist workers: many tests compile the same
    kernel programs (observables of the same shapes, the same derivative graphs), and XLA:CPU spends most of the
    suite's time compiling. A hit returns the executable XLA would build, so no result changes. The cache lives in
    this run's temporary directory only: nothing carries over between runs."""
    base = tmp_path_factory.getbasetemp()
    shared = base.parent if hasattr(request.config, "workerinput") else base  # xdist: the workers' common parent
    jax.config.update("jax_compilation_cache_dir", str(shared / "jax-compilation-cache"))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)
    # jaxengine's own executable cache (`jaxengine._compile`): shared by the workers of this run, never the user's
    previous = os.environ.get("JAXENGINE_CACHE_DIR")
    os.environ["JAXENGINE_CACHE_DIR"] = str(shared / "jaxengine-cache")
    yield
    jax.config.update("jax_compilation_cache_dir", None)
    if previous is None:
        os.environ.pop("JAXENGINE_CACHE_DIR", None)
    else:
        os.environ["JAXENGINE_CACHE_DIR"] = previous


@pytest.fixture
def rng():
    import numpy as np

    return np.random.default_rng(0)
