r"""Reproduce the paper: Figs 2-5, the headline numbers and the errata, plus figures beyond the paper.

`jaxengine reproduce --out DIR` (or `reproduce(DIR)`) writes into DIR

- `fig2.png` … `fig5.png` (panels a and b of each figure of the paper; Fig 5 (a, b) are the paper's maps over
  $(\kappa_h, \delta)$, with cuts at fixed $\delta$ as (c, d)) and `phase_diagram.png`, `kappa_max_delta.png` (beyond
  the paper), each with the plotted data beside it as `<name>.csv` (and the Fig 5 maps as `fig5_map.csv`);
- `transient.png` (N(t) and the witness from |00>, `evolve`) and `fluctuations.png` (Fano factor, TUR and KUR ratios
  over $(T_h, \delta)$, `counting_statistics`, `thermodynamics`), beyond the paper, with their CSV;
- `summary.md` (and `summary.json`): the headline numbers and where the paper's text differs from its equations
  (only when every registered figure is requested; `--only` skips it).

No physics happens here: every number comes from the public API (`observables`, `closed_form`, `kappa_max`,
`critical_detuning`, `critical_temperature`, `heat_currents`, `occupations`). Compilation dominates on a CPU (a new
batch shape of `observables` compiles its kernel), so every curve and map of every figure is evaluated in ONE call
of `observables` on one flat, padded batch, and every $\kappa_{\max}$ in one call per observable.

The parameters are the paper's (captions of Figs 2-5: $T_c = 0.1$, $g = 1.6\times10^{-3}$, $\gamma_h = 10^{-3}$,
$\gamma_c = 1.1\times10^{-2}$, $\varepsilon_h = 1$; $\delta = 0.01$ in Fig 4 and $T_h = 0.7$ in Fig 5). The printed
paper does not list the $T_h$ values of its curves nor all axis ranges; the choices (constants of `_common.py`)
follow its text: $T_h \in \{0.3, 0.5, 0.7\}$ (Fig 5 refers to the $T_h = 0.7$ curve of Fig 4), $|\delta| \le 0.05$
("5 % of non-degeneracy") in Fig 2, and $\kappa_h$ ranges that contain $\kappa_{\max}$ and the decrease beyond it.

Compile time dominates on a CPU (the two `kappa_max` kernels take ~30 s and ~40 s of CPU time to compile): they
compile in two background threads while the `observables` batch runs, so that the whole command takes about a
minute on an idle 2-core machine. Set `JAX_COMPILATION_CACHE_DIR` to reuse the compiled kernels across runs.

Layout (one module per figure; the underscored modules are shared):

- `fig2.py`, `fig3.py`, `fig4.py`, `fig5.py`, `phase_diagram.py`, `kappa_max_delta.py`: one figure each;
- `_common.py`: the paper's parameters and the figures' choices, `RESOLUTION`, the progress log, gap matching,
  summary number formats; `_batch.py`: the shared `observables` batch; `_plotting.py`: matplotlib and CSV helpers;
- shared parts that several figures need, computed once: `_roots.py` ("roots": $\delta^*_\pm$, $T_h^*$) and
  `_kmax.py` ("kmax": every $\kappa_{\max}$ in one call per observable);
- `_summary.py` and `_errata.py`: summary.json / summary.md; `_run.py`: `compute`, `reproduce`; `_cli.py`: argparse.

Adding a figure
---------------
Write ONE module `jaxengine/reproduce/<name>.py` and add `"<name>"` to `FIGURES` below. Its name is the figure's
name for `--only` and the stem of its files. The module defines, all at module level (every hook but `plot` is
optional; `D` is the run's dict of results, `ctx` a `_common.Context` with `figures`, `quick`, `quiet`, `res` (the
resolution: `line`, `map`, `kmax` point counts) and `full` (every figure requested)):

- `NEEDS = ("roots", "kmax")`: shared parts it reads from `D` (keys listed in `_roots.py`, `_kmax.py`), or `()`;
- `start(D, ctx)`: before the batch, e.g. start background work (see `_kmax.start`);
- `points(B, D, ctx)`: `B.add("<block>", T_h=..., delta=..., ...)` adds `EngineParams` points (broadcastable
  fields; the rest are the paper's defaults) to the ONE shared `observables` call; block names are global, so
  prefix them with the figure's name; `ref0` ($\delta = \kappa = 0$ at `T_HS`) is always there;
- `compute(D, ctx)`: after the batch; `D["batch"]["<block>"]` is then a dict of NumPy arrays (every
  `ObservablesResult` field and the parameters, with the block's shape in front). A figure that does not use
  `observables` (another model, time evolution) does all its work here, calling the public API, and stores its
  results in `D` under keys prefixed with its name;
- `plot(D, out)`: writes `out/<name>.png` and its data as `out/<name>.csv` (`_plotting.write_csv`; the tests read
  back every registered figure's PNG and CSV);
- `summarise(D, S)` and `summary_md(S, w)`: its entries of summary.json (`S[key] = ...`, JSON-able) and its
  section of summary.md (`w(line)`), in registry order after the headline table and before the errata.

A new computation that several figures share becomes a part: a module with the same hooks, added to `_run.PARTS`.

Examples:
    >>> from jaxengine.reproduce import FIGURES
    >>> FIGURES[:2]
    ('fig2', 'fig3')
"""

from ._cli import add_arguments as add_arguments
from ._cli import figure_main as figure_main
from ._cli import register_reproduce as register_reproduce
from ._common import RESOLUTION as RESOLUTION
from ._common import gap_matching_kappa as gap_matching_kappa
from ._run import PARTS as PARTS
from ._run import compute as compute
from ._run import figure_module as figure_module
from ._run import reproduce as reproduce
from ._summary import summarise as summarise

# The registry: one name per figure, in the order they are computed, plotted and summarised. A name is the module
# `jaxengine/reproduce/<name>.py` (see "Adding a figure" above).
FIGURES = (
    "fig2",
    "fig3",
    "fig4",
    "fig5",
    "phase_diagram",
    "kappa_max_delta",
    "transient",
    "fluctuations",
    "local_global",
    "entropy_sign",
    "three_qubits",
)
