"""jaxengine: steady states, heat currents and entanglement of the two-qubit entanglement engine, in pure JAX.

Importing jaxengine turns on float64 (`jax_enable_x64`): the paper's quantities need it (condition numbers ~1e3,
negativities down to 1e-7; float32 is wrong by up to 17 %). Set the environment variable `JAXENGINE_ENABLE_X64=0`
before the import to keep JAX's float32 default.
"""

import importlib.metadata
import os

import jax

if os.environ.get("JAXENGINE_ENABLE_X64", "1") != "0":
    jax.config.update("jax_enable_x64", True)

from ._generator.liouvillian import dissipator as dissipator  # noqa: E402
from ._generator.liouvillian import lindblad_rhs as lindblad_rhs  # noqa: E402
from ._generator.liouvillian import liouvillian as liouvillian  # noqa: E402
from ._generator.liouvillian import spost as spost  # noqa: E402
from ._generator.liouvillian import spre as spre  # noqa: E402
from ._generator.liouvillian import unvec as unvec  # noqa: E402
from ._generator.liouvillian import vec as vec  # noqa: E402
from ._models.engine import hamiltonian as hamiltonian  # noqa: E402
from ._models.engine import jump_operators as jump_operators  # noqa: E402
from ._models.engine import occupations as occupations  # noqa: E402
from ._models.engine import rates as rates  # noqa: E402
from ._models.network import Network as Network  # noqa: E402
from ._models.params import EngineParams as EngineParams  # noqa: E402
from ._models.params import grid as grid  # noqa: E402
from ._observables import concurrence as concurrence  # noqa: E402
from ._observables import heat_currents as heat_currents  # noqa: E402
from ._observables import negativity as negativity  # noqa: E402
from ._observables import negativity_signed as negativity_signed  # noqa: E402
from ._observables import observables as observables  # noqa: E402
from ._observables import partial_transpose as partial_transpose  # noqa: E402
from ._observables.closed_forms import Observables as Observables  # noqa: E402
from ._observables.closed_forms import closed_form as closed_form  # noqa: E402
from ._observables.closed_forms import critical_current as critical_current  # noqa: E402
from ._observables.network import NetworkObservables as NetworkObservables  # noqa: E402
from ._observables.thermodynamics import Thermodynamics as Thermodynamics  # noqa: E402
from ._observables.thermodynamics import thermodynamics as thermodynamics  # noqa: E402
from ._optimise import KappaMax as KappaMax  # noqa: E402
from ._optimise import OptimiseResult as OptimiseResult  # noqa: E402
from ._optimise import Root as Root  # noqa: E402
from ._optimise import critical_detuning as critical_detuning  # noqa: E402
from ._optimise import critical_temperature as critical_temperature  # noqa: E402
from ._optimise import kappa_max as kappa_max  # noqa: E402
from ._optimise import optimise as optimise  # noqa: E402
from ._scan import ScanProcessLost as ScanProcessLost  # noqa: E402
from ._scan import scan as scan  # noqa: E402
from ._solve.counting import CountingStatistics as CountingStatistics  # noqa: E402
from ._solve.counting import counting_statistics as counting_statistics  # noqa: E402
from ._solve.evolve import Relaxation as Relaxation  # noqa: E402
from ._solve.evolve import TimeTo as TimeTo  # noqa: E402
from ._solve.evolve import evolve as evolve  # noqa: E402
from ._solve.evolve import relaxation as relaxation  # noqa: E402
from ._solve.evolve import time_to as time_to  # noqa: E402
from ._solve.steady import SteadyState as SteadyState  # noqa: E402
from ._solve.steady import steady_state as steady_state  # noqa: E402

try:
    __version__ = importlib.metadata.version("jaxengine")
except importlib.metadata.PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0+unknown"
