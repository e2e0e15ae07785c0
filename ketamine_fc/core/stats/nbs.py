"""Network-based statistic (NBS; Zalesky, Fornito & Bullmore 2010, NeuroImage 53:1197).

The edge statistic (a t value for every edge ``i < j`` of an ``n``-node graph, in ``numpy.triu_indices(n, 1)``
order) is thresholded at a primary threshold, the supra-threshold edges are split into connected components
(``scipy.sparse.csgraph.connected_components``; label propagation when there are few) and each component is
measured by its size (number of edges) or its intensity (sum over its edges of ``|t| - threshold``, as the NBS
toolbox does). A component's family-wise-error-corrected p value is the fraction of permutations whose largest
component measure is at least the observed component's (``count / n_perm``, as the NBS toolbox and bctpy
compute it). An edge is supra-threshold when ``t > threshold`` strictly (``direction="positive"``),
``t < -threshold`` (``"negative"``), either with positive and negative components kept apart and one null of the
larger of the two maxima (``"separate"``, the default: both directions tested, family-wise error controlled
over both), or ``|t| > threshold`` with signs mixed in a component (``"absolute"``, bctpy's ``tail="both"``).

Permutations reach :func:`nbs` through a callback ``stat_fn(k) -> t`` (``k = 0 .. n_perm - 1``), so that the
exchangeability scheme lives with the model. Three are provided, each drawing all its permutations up front
from ``numpy.random.default_rng(seed)`` (a rerun is identical) and describing itself in ``.scheme`` (for the
sidecar):

:class:`WithinParticipantT`
    A term varying within participants (time, pre = 0 / post = 1): each participant's sessions are permuted
    among themselves (for a participant with one pre and one post session, a sign flip of its change).
:class:`BetweenParticipantT`
    A term ``factor x label`` whose label is constant within participants (time:response = time x response):
    the labels are permuted between participants, each participant keeping all its sessions.
:class:`TwoSampleT`
    Two independent groups (Student t, pooled variance), group labels permuted; bctpy's ``nbs_bct`` test.

The LME schemes return, for each permutation, the LME t refitted to the permuted data (the test is then
an exact permutation test of the LME t, or Freedman-Lane's approximation when nuisance columns vary within
participants), without refitting 77,000 LMEs per permutation (2.6 s): (1) with every edge's variance ratio
``r = s2_u / s2_e`` held at its observed fit the statistic is a generalised-least-squares t with block
covariance ``H = I + r J`` per participant, which under a permuted design reduces to a few participant-sum
matrix products vectorised over edges, and equals the LME t for the unpermuted data; (2) that fixed-r t is
not a valid permutation statistic by itself (``r`` was estimated with the observed effect removed, so
permuted |t| on null edges come out too small and the NBS is anti-conservative: 14-15 % family-wise error
at a nominal 5 % in our simulations), so wherever it comes near the NBS threshold (a screen calibrated on
fully refitted pilot permutations, and audited on a sample of the other values) ``r`` is re-estimated for
the permuted data; ``r`` enters only through ``r / (1 + n r)`` for the two or three distinct numbers
of sessions per participant ``n``, which makes each re-estimation O(p^2) per trial value
(``_refit_t``). See Freedman & Lane (1983) and Winkler et al. (2014) for permutation inference in linear
models with nuisance variables and exchangeability blocks.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
from scipy import sparse
from scipy.sparse.csgraph import connected_components

from ketamine_fc.core.stats.edgewise import EdgeFits, check_design, edge_indices, fit_edges, n_nodes_of
from ketamine_fc.core.stats.lme import U_MAX
from ketamine_fc.errors import InputError

DIRECTIONS = ("separate", "positive", "negative", "absolute")
MEASURES = ("size", "intensity")
REFERENCES = ("Zalesky A, Fornito A, Bullmore ET (2010) NeuroImage 53:1197 (network-based statistic); "
              "Freedman D, Lane D (1983) J Bus Econ Stat 1:292; Winkler AM et al. (2014) NeuroImage 92:381 "
              "(permutation inference for the general linear model, exchangeability blocks)")


@dataclass(frozen=True)
class Component:
    """One supra-threshold component: its nodes, its edges (indices into the edge vector), its sign
    (+1, -1, or 0 for ``direction="absolute"``), size (edges), intensity and corrected p value."""

    nodes: np.ndarray
    edges: np.ndarray
    sign: int
    size: int
    intensity: float
    p: float


@dataclass(frozen=True)
class NBSResult:
    """Result of :func:`nbs`.

    Attributes
    ----------
    components : list of Component
        Observed components, largest measure first.
    null : numpy.ndarray (n_perm,)
        Largest component measure in each permutation (0 when no edge passes the threshold).
    edge_component : numpy.ndarray (n_edges,) of int
        Index into ``components`` of each edge, -1 for edges in none.
    info : dict
        Settings, the p-value definition and the permutation scheme (JSON-serialisable).
    """

    components: list
    null: np.ndarray
    edge_component: np.ndarray
    info: dict

    def as_dict(self):
        """JSON-serialisable summary: ``info`` and one record per component."""
        return {**self.info, "components": [
            {"nodes": c.nodes.tolist(), "n_nodes": int(c.nodes.size), "size": c.size, "sign": c.sign,
             "intensity": c.intensity, "p": c.p} for c in self.components]}


def _signed_excess(t, threshold, direction):
    """(sign, excess) pairs: edges with ``excess > 0`` pass; ``excess`` is ``|t| - threshold``."""
    if direction == "positive":
        return [(1, t - threshold)]
    if direction == "negative":
        return [(-1, -t - threshold)]
    if direction == "separate":
        return [(1, t - threshold), (-1, -t - threshold)]
    return [(0, np.abs(t) - threshold)]


def _node_labels(r, c, n_nodes):
    """Connected-component label of every node of the graph with edges ``(r, c)``."""
    if r.size <= 64:  # few edges: min-label propagation with pointer jumping (no sparse-matrix overhead)
        labels = np.arange(n_nodes)
        while True:
            old = labels.copy()
            low = np.minimum(labels[r], labels[c])
            np.minimum.at(labels, r, low)
            np.minimum.at(labels, c, low)
            labels = labels[labels]
            if (labels == old).all():
                return labels
    indptr = np.zeros(n_nodes + 1, dtype=np.int32)  # r is sorted (edges in triu order)
    np.cumsum(np.bincount(r, minlength=n_nodes), out=indptr[1:])
    graph = sparse.csr_matrix((np.ones(r.size), c.astype(np.int32), indptr), shape=(n_nodes, n_nodes))
    return connected_components(graph, directed=False)[1]


def _components(excess, rows, cols, n_nodes):
    """Supra-threshold edges (indices) and the component label of each, for one sign."""
    with np.errstate(invalid="ignore"):
        sel = np.flatnonzero(excess > 0)
    if sel.size == 0:
        return sel, sel
    labels = _node_labels(rows[sel], cols[sel], n_nodes)[rows[sel]]
    return sel, np.unique(labels, return_inverse=True)[1].ravel()


def _measures(excess, sel, labels, measure):
    if measure == "size":
        return np.bincount(labels).astype(float)
    return np.bincount(labels, weights=excess[sel])


@functools.lru_cache(maxsize=8)
def _graph(n_edges):
    """Number of nodes and the (read-only) node pair of every edge."""
    n_nodes = n_nodes_of(n_edges)
    rows, cols = edge_indices(n_nodes)
    rows.flags.writeable = cols.flags.writeable = False
    return n_nodes, rows, cols


def max_component(t, threshold, *, direction="separate", measure="size"):
    """Largest component measure of edge statistic ``t`` (0 when no edge passes): one permutation's null value."""
    t = np.asarray(t, dtype=float)
    n_nodes, rows, cols = _graph(t.size)
    best = 0.0
    for _, excess in _signed_excess(t, threshold, direction):
        sel, labels = _components(excess, rows, cols, n_nodes)
        if sel.size:
            best = max(best, float(_measures(excess, sel, labels, measure).max()))
    return best


def find_components(t, threshold, *, direction="separate", measure="size"):
    """Supra-threshold components of edge statistic ``t`` (p values NaN), largest measure first."""
    t = np.asarray(t, dtype=float)
    n_nodes, rows, cols = _graph(t.size)
    found = []
    for sign, excess in _signed_excess(t, threshold, direction):
        sel, labels = _components(excess, rows, cols, n_nodes)
        for lab in np.unique(labels):
            edges = sel[labels == lab]
            found.append(Component(nodes=np.unique(np.concatenate([rows[edges], cols[edges]])), edges=edges,
                                   sign=sign, size=int(edges.size), intensity=float(excess[edges].sum()),
                                   p=np.nan))
    key = (lambda c: c.size) if measure == "size" else (lambda c: c.intensity)
    return sorted(found, key=lambda c: (-key(c), int(c.nodes[0])))


def nbs(t_observed, stat_fn, n_perm, *, threshold, direction="separate", measure="size", scheme=None):
    """Network-based statistic of an edge statistic with permutation family-wise error correction.

    Parameters
    ----------
    t_observed : array-like (n_edges,)
        Observed statistic per edge ``i < j`` (``numpy.triu_indices(n_nodes, 1)`` order); NaN never passes.
    stat_fn : callable
        ``stat_fn(k)`` returns the statistic vector under permutation ``k`` (``0 <= k < n_perm``), for
        example a :class:`WithinParticipantT`, :class:`BetweenParticipantT` or :class:`TwoSampleT`.
    n_perm : int
        Number of permutations.
    threshold : float
        Primary threshold on the statistic (strict: ``t > threshold``).
    direction : {"separate", "positive", "negative", "absolute"}
        See the module docstring; ``"separate"`` tests both signs with one family-wise null.
    measure : {"size", "intensity"}
        Component measure: number of edges, or sum of ``|t| - threshold`` over them.
    scheme : dict, optional
        Description of the permutations for ``info``; defaults to ``stat_fn.scheme`` when it has one.

    Returns
    -------
    NBSResult
    """
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be one of {DIRECTIONS}, got {direction!r}")
    if measure not in MEASURES:
        raise ValueError(f"measure must be one of {MEASURES}, got {measure!r}")
    if not threshold > 0:
        raise ValueError(f"the primary threshold must be positive, got {threshold}")
    n_perm = int(n_perm)
    if n_perm < 1:
        raise ValueError("at least one permutation is needed")
    served = getattr(stat_fn, "threshold", None)
    if served is not None and threshold < served:
        raise ValueError(f"the permutation statistic was screened for threshold {served}, not {threshold}: "
                         "permuted values below its screen may exceed the lower threshold after refitting")
    t_observed = np.asarray(t_observed, dtype=float)
    found = find_components(t_observed, threshold, direction=direction, measure=measure)
    null = np.empty(n_perm)
    for k in range(n_perm):
        tk = np.asarray(stat_fn(k), dtype=float)
        if tk.shape != t_observed.shape:
            raise InputError(f"permutation {k} returned {tk.shape} statistics for {t_observed.shape} edges")
        null[k] = max_component(tk, threshold, direction=direction, measure=measure)
    components, edge_component = [], np.full(t_observed.size, -1)
    for i, comp in enumerate(found):
        value = comp.size if measure == "size" else comp.intensity
        components.append(Component(comp.nodes, comp.edges, comp.sign, comp.size, comp.intensity,
                                    float(np.mean(null >= value))))
        edge_component[comp.edges] = i
    if scheme is None:
        scheme = getattr(stat_fn, "scheme", None)
    info = {
        "method": "network-based statistic", "threshold": float(threshold), "direction": direction,
        "supra_threshold": {"separate": "t > threshold and t < -threshold, components of each sign apart",
                            "positive": "t > threshold", "negative": "t < -threshold",
                            "absolute": "|t| > threshold, signs mixed"}[direction],
        "measure": measure,
        "measure_definition": "number of edges" if measure == "size" else "sum over edges of |t| - threshold",
        "n_perm": n_perm,
        "p_value": "fraction of permutations whose largest component measure (over both signs when "
                   "direction is 'separate') is >= the component's",
        "n_nodes": n_nodes_of(t_observed.size), "n_edges": int(t_observed.size),
        "n_edges_tested": int(np.isfinite(t_observed).sum()), "references": REFERENCES,
        "permutation": scheme,
    }
    if hasattr(stat_fn, "refit_summary"):
        info["refits"] = stat_fn.refit_summary
    return NBSResult(components=components, null=null, edge_component=edge_component, info=info)


# ----------------------------------------------------------------------------------------------- statistics


class PermutationStat:
    """Edge statistic of the observed data (``observed``) and of permutation ``k`` (``stat(k)``).

    Subclasses draw every permutation in ``__init__`` from ``numpy.random.default_rng(seed)`` and compute them
    in aligned batches of ``batch`` (matrix products over several permutations read the data once), so
    ``stat(k)`` does not depend on the order of calls.
    """

    batch = 32

    def __init__(self, n_perm, seed):
        self.n_perm = int(n_perm)
        if self.n_perm < 1:
            raise ValueError("at least one permutation is needed")
        self.seed = seed
        self.rng = np.random.default_rng(seed)
        self._start, self._cache = 0, None

    def __call__(self, k):
        k = int(k)
        if not 0 <= k < self.n_perm:
            raise IndexError(f"permutation {k} out of range 0..{self.n_perm - 1}")
        if self._cache is None or not self._start <= k < self._start + len(self._cache):
            self._start = k - k % self.batch  # aligned batches: a value does not depend on the order of calls
            self._cache = self._compute(np.arange(self._start, min(self._start + self.batch, self.n_perm)))
        return self._cache[k - self._start]

    def _compute(self, ks):
        raise NotImplementedError


class TwoSampleT(PermutationStat):
    """Student two-sample t (pooled variance) per edge, ``mean(x) - mean(y)``, with group labels permuted.

    Parameters
    ----------
    x, y : array-like (n_x, n_edges), (n_y, n_edges)
        Edge values of the two groups' participants (rows).
    n_perm : int
    seed : int or None
    """

    def __init__(self, x, y, *, n_perm, seed=None):
        super().__init__(n_perm, seed)
        x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
        if x.ndim != 2 or y.ndim != 2 or x.shape[1] != y.shape[1] or min(len(x), len(y)) < 1 or \
                len(x) + len(y) < 3:
            raise InputError(f"x {x.shape} and y {y.shape} must be (participants x edges) with the same edges "
                             "and at least 3 participants in all")
        data = np.vstack([x, y])
        self.data = data - data.mean(axis=0)  # centred: t is unchanged, sums of squares lose no digits
        self.ss = np.einsum("im,im->m", self.data, self.data)
        self.n_x, self.n = len(x), len(data)
        self.orders = np.argsort(self.rng.random((self.n_perm, self.n)), axis=1)  # first n_x rows: group x
        self.observed = self._t((np.arange(self.n) < self.n_x)[None].astype(float))[0]
        self.scheme = {"name": "two-sample t, group labels permuted", "statistic": "Student t (pooled "
                       "variance), mean(x) - mean(y)", "n_x": self.n_x, "n_y": self.n - self.n_x,
                       "n_perm": self.n_perm, "seed": self.seed, "rng": "numpy.random.default_rng"}

    def _t(self, indicator):
        sx = indicator @ self.data
        sy = -sx  # the data are centred
        n_x, n_y = self.n_x, self.n - self.n_x
        within = np.maximum(self.ss - sx**2 / n_x - sy**2 / n_y, 0.0)
        se = np.sqrt(within / (self.n - 2) * (1.0 / n_x + 1.0 / n_y))
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(se > 0, (sx / n_x - sy / n_y) / se, np.nan)

    def _compute(self, ks):
        indicator = np.zeros((len(ks), self.n))
        np.put_along_axis(indicator, self.orders[ks, :self.n_x], 1.0, axis=1)
        return self._t(indicator)


def _cholesky(M):
    """Lower Cholesky factors of symmetric positive-definite matrices ``M`` (p, p, m), vectorised over m."""
    p = M.shape[0]
    L = np.zeros_like(M)
    for j in range(p):
        L[j, j] = np.sqrt(M[j, j] - (L[j, :j] ** 2).sum(axis=0))
        for i in range(j + 1, p):
            L[i, j] = (M[i, j] - (L[i, :j] * L[j, :j]).sum(axis=0)) / L[j, j]
    return L


def _tril_inverse(L):
    """Inverses of lower-triangular ``L`` (p, p, m), vectorised over m."""
    p = L.shape[0]
    inv = np.zeros_like(L)
    for i in range(p):
        inv[i, i] = 1.0 / L[i, i]
        for j in range(i):
            inv[i, j] = -(L[i, j:i] * inv[j:i, j]).sum(axis=0) / L[i, i]
    return inv


def _tril_apply(Linv, c):
    """``Linv @ c`` for lower-triangular ``Linv`` (p, p, m) and ``c`` (..., p, m)."""
    p = Linv.shape[0]
    return np.stack([sum(Linv[a, b] * c[..., b, :] for b in range(a + 1)) for a in range(p)], axis=-2)


class _GLS:
    """Generalised least squares with block covariance ``H = I + r J`` per participant, ``r`` fixed per edge.

    ``H^-1 = I - w J`` with ``w = r / (1 + n_g r)``, so ``A' H^-1 B = A'B - sum_g w_g (sum_g A)(sum_g B)'``:
    participant sums and ``w`` (participants x edges) are all that is needed.
    """

    def __init__(self, codes, n_groups, r):
        self.ind = (codes[None, :] == np.arange(n_groups)[:, None]).astype(float)  # (G, n)
        self.ng, self.r = self.ind.sum(axis=1), r
        self.w = r[None, :] / (1.0 + self.ng[:, None] * r[None, :])  # (G, m)

    def logdet_h(self):
        """``log|H| = sum_g log(1 + n_g r)`` (m,)."""
        return np.log1p(self.ng[:, None] * self.r[None, :]).sum(axis=0)

    def gram(self, A):
        """``A' H^-1 A`` (a, a, m) for design columns ``A`` (n, a) shared by all edges."""
        S = self.ind @ A
        a = A.shape[1]
        outer = (S[:, :, None] * S[:, None, :]).reshape(len(S), a * a)
        return (A.T @ A)[:, :, None] - (outer.T @ self.w).reshape(a, a, -1)

    def cross(self, A, Y):
        """``A' H^-1 Y`` (a, m)."""
        return A.T @ Y - (self.ind @ A).T @ (self.w * (self.ind @ Y))

    def quad(self, Y):
        """``diag(Y' H^-1 Y)`` (m,)."""
        SY = self.ind @ Y
        return np.einsum("im,im->m", Y, Y) - np.einsum("gm,gm->m", self.w, SY * SY)

    def residuals(self, A, Y):
        """GLS residuals of ``Y`` on ``A`` and the Cholesky factor of ``A' H^-1 A``."""
        L = _cholesky(self.gram(A))
        Linv = _tril_inverse(L)
        z = _tril_apply(Linv, self.cross(A, Y))
        b = np.stack([sum(Linv[a, i] * z[a] for a in range(i, A.shape[1])) for i in range(A.shape[1])])
        return Y - np.einsum("na,am->nm", A, b), L, Linv


#: variance-ratio search of the refits, as in :mod:`ketamine_fc.core.stats.lme` but on a coarser grid over
#: u = theta / (1 + theta), theta = sqrt(r), then parabolic interpolation; u below _SING_U is the boundary
_GRID = np.linspace(0.0, U_MAX, 11)
_REFIT_TOL = 1e-6
_SING_U = 1e-7
#: variance ratios (u = 0, 0.25, 0.5, 0.75) at which the fixed-r t and deviance are also computed for the
#: screen: a refit can move r far from its observed value, and |t| with it
_SCREEN_R = tuple((u / (1 - u)) ** 2 for u in (0.0, 0.25, 0.5, 0.75))


def _u_of(r):
    return np.sqrt(r) / (1.0 + np.sqrt(r))


def _screen_statistic(order, devs, t2s):
    """Screen statistic of the fixed-r views (squared) and the index of the best view.

    ``order`` lists the views by increasing u (the same for every edge of a block), ``devs`` and ``t2s``
    (views, B, m) are their exp(deviance / k) (inf where undefined) and squared t. The refit's optimum lies
    between the neighbours of the view with the lowest deviance, so the statistic is the largest t^2 over that
    view and its neighbours (inf when it has the largest u). Returns it, the position of the best view in
    ``order`` and the sorted deviances.
    """
    d = np.stack([devs[i] for i in order])
    best = np.argmin(d, axis=0)
    stat = np.zeros(best.shape)
    for position, i in enumerate(order):
        stat = np.fmax(stat, t2s[i] * (np.abs(best - position) <= 1))  # NaN t^2: ignored by fmax
    stat[best == len(order) - 1] = np.inf
    return stat, best, d


def _bracket(best, d, us, b_i, e_i, k):
    """Starting bracket of the refits at the selected values: the best view's u, its neighbours' (open ends
    -inf / inf) and their deviances, and the deviance at u = 0 (the first view: u = 0 is the smallest)."""
    n_views = len(us)
    pos = best[b_i, e_i]
    dev = k * np.log(d[:, b_i, e_i])  # (views, P)
    cols = np.arange(b_i.size)
    u_at = np.stack([np.broadcast_to(u, e_i.shape) if np.ndim(u) == 0 else u[e_i] for u in us])
    lo, hi = np.maximum(pos - 1, 0), np.minimum(pos + 1, n_views - 1)
    return dict(x=u_at[pos, cols], fx=dev[pos, cols], dev0=dev[0],
                lo=np.where(pos > 0, u_at[lo, cols], -np.inf), f_lo=dev[lo, cols],
                hi=np.where(pos < n_views - 1, u_at[hi, cols], np.inf), f_hi=dev[hi, cols])


def _refit_t(XX, T, c0, U, V, ee, nvals, counts, k, reml, start=None):
    """t of the last coefficient with the variance ratio re-estimated (ML or REML), for P cases at once.

    With ``w_n = r / (1 + n r)`` for the K distinct numbers of sessions per participant ``n`` (``counts``
    participants each): ``X' H^-1 X = XX - sum_n w_n T_n``, ``X' H^-1 e = c0 - sum_n w_n U_n`` and
    ``e' H^-1 e = ee - sum_n w_n V_n``, so the profiled deviance
    ``sum_n counts_n log(1 + n r) + k log RSS(r) [+ log|X' H^-1 X|]`` costs O(K p^2) per case and value of r.
    It is minimised over ``u = sqrt(r) / (1 + sqrt(r))`` on an 11-point grid, then by safeguarded parabolic
    interpolation (golden-section steps when it does not shrink, as Brent's method); the boundary ``r = 0``
    wins as in the fits.
    Shapes: XX (p, p, P), T (K, p, p, P), c0 (p, P), U (K, p, P), V (K, P), ee (P,), nvals, counts (K, P),
    k (P,). ``start`` (optional, from :func:`_bracket`): a bracket ``lo < x < hi`` (``lo`` may be
    -inf: then 0, ``hi`` inf: then the grid's end) with deviances, and the deviance at u = 0, replacing the
    grid search.
    """
    p, n_cases = c0.shape
    K = len(T)

    def evaluate(u, sel):
        r = (u / (1.0 - u)) ** 2
        nv = nvals[:, sel]
        w = r / (1.0 + nv * r)
        L, z = {}, []  # Cholesky factor of X' H^-1 X (lower triangle only) and z = L^-1 X' H^-1 e
        for i in range(p):
            for j in range(i + 1):
                m_ij = XX[i, j][sel] - sum(w[n] * T[n, i, j][sel] for n in range(K))
                for b in range(j):
                    m_ij = m_ij - L[i, b] * L[j, b]
                L[i, j] = np.sqrt(m_ij) if i == j else m_ij / L[j, j]
            c_i = c0[i][sel] - sum(w[n] * U[n, i][sel] for n in range(K))
            z.append((c_i - sum(L[i, b] * z[b] for b in range(i))) / L[i, i])
        kk = k[sel]
        rss = np.maximum(ee[sel] - sum(w[n] * V[n][sel] for n in range(K)) - sum(za * za for za in z), 1e-300)
        dev = (counts[:, sel] * np.log1p(nv * r)).sum(axis=0) + kk * np.log(rss)
        if reml:
            dev = dev + 2.0 * sum(np.log(L[a, a]) for a in range(p))
        return dev, z[-1] / np.sqrt(rss / kk)

    every = slice(None)
    cols = np.arange(n_cases)
    if start is None:
        per_call = max(1, 8192 // max(n_cases, 1))  # grid points per evaluation: few calls for few cases
        devs = np.concatenate([
            evaluate(np.repeat(_GRID[a:a + per_call], n_cases),
                     np.tile(cols, len(_GRID[a:a + per_call])))[0].reshape(-1, n_cases)
            for a in range(0, len(_GRID), per_call)])
        best = np.nanargmin(devs, axis=0)
        dev0 = devs[0]
        lo, hi = np.maximum(best - 1, 0), np.minimum(best + 1, len(_GRID) - 1)
        a, b, x, fx = _GRID[lo], _GRID[hi], _GRID[best], devs[best, cols]
        w, fw, v, fv = _GRID[lo], devs[lo, cols], _GRID[hi], devs[hi, cols]
    else:  # bracket from the screen's views; an open end is the boundary, with x's deviance as placeholder
        x, fx, dev0 = start["x"].copy(), start["fx"].copy(), start["dev0"]
        a = np.where(np.isfinite(start["lo"]), start["lo"], 0.0)
        b = np.where(np.isfinite(start["hi"]), start["hi"], U_MAX)
        w, fw = a.copy(), np.where(np.isfinite(start["lo"]), start["f_lo"], fx)
        v, fv = b.copy(), np.where(np.isfinite(start["hi"]), start["f_hi"], fx)
        w, v = np.where(np.isfinite(start["lo"]), w, x), np.where(np.isfinite(start["hi"]), v, x)
        if not np.isfinite(dev0).all():
            missing = np.flatnonzero(~np.isfinite(dev0))
            dev0 = dev0.copy()
            dev0[missing] = evaluate(np.zeros(missing.size), missing)[0]
    # Brent's method (parabolic interpolation through the three best points x, w, v, golden-section steps
    # otherwise) on the bracket [a, b] around the best point, vectorised over the cases
    d, e = np.zeros(n_cases), b - a  # last and before-last steps
    g = (3.0 - np.sqrt(5.0)) / 2.0
    tol1, tol2 = _REFIT_TOL, 2 * _REFIT_TOL
    idx = cols.copy()
    for _ in range(100):
        xm = 0.5 * (a[idx] + b[idx])
        idx = idx[np.abs(x[idx] - xm) > tol2 - 0.5 * (b[idx] - a[idx])]
        if not idx.size:
            break
        a_, b_, x_, fx_, w_, fw_, v_, fv_, d_, e_ = (arr[idx] for arr in (a, b, x, fx, w, fw, v, fv, d, e))
        xm = 0.5 * (a_ + b_)
        pr = (x_ - w_) * (fx_ - fv_)
        pq = (x_ - v_) * (fx_ - fw_)
        pp = (x_ - v_) * pq - (x_ - w_) * pr
        pq = 2.0 * (pq - pr)
        pp = np.where(pq > 0, -pp, pp)
        pq = np.abs(pq)
        with np.errstate(invalid="ignore", divide="ignore"):
            parabolic = (np.abs(e_) > tol1) & (np.abs(pp) < np.abs(0.5 * pq * e_)) & (pp > pq * (a_ - x_)) & \
                (pp < pq * (b_ - x_))
            step = np.where(parabolic, pp / np.where(pq == 0, 1.0, pq), 0.0)
        u_par = x_ + step
        near_end = (u_par - a_ < tol2) | (b_ - u_par < tol2)
        step = np.where(parabolic & near_end, np.where(xm - x_ >= 0, tol1, -tol1), step)
        golden_e = np.where(x_ >= xm, a_ - x_, b_ - x_)
        new_e = np.where(parabolic, d_, golden_e)
        new_d = np.where(parabolic, step, g * golden_e)
        u = np.where(np.abs(new_d) >= tol1, x_ + new_d, x_ + np.where(new_d >= 0, tol1, -tol1))
        fu = evaluate(u, idx)[0]
        better = fu <= fx_
        a[idx] = np.where(better, np.where(u >= x_, x_, a_), np.where(u < x_, u, a_))
        b[idx] = np.where(better, np.where(u >= x_, b_, x_), np.where(u < x_, b_, u))
        second = ~better & ((fu <= fw_) | (w_ == x_))
        third = ~better & ~second & ((fu <= fv_) | (v_ == x_) | (v_ == w_))
        v[idx] = np.where(better | second, w_, np.where(third, u, v_))
        fv[idx] = np.where(better | second, fw_, np.where(third, fu, fv_))
        w[idx] = np.where(better, x_, np.where(second, u, w_))
        fw[idx] = np.where(better, fx_, np.where(second, fu, fw_))
        x[idx], fx[idx] = np.where(better, u, x_), np.where(better, fu, fx_)
        d[idx], e[idx] = new_d, new_e
    x2 = x
    dev_opt, t = evaluate(x2, every)
    singular = (dev0 <= dev_opt + 1e-9 * np.maximum(1.0, np.abs(dev0))) | (x2 < _SING_U)
    if singular.any():
        t = np.where(singular, evaluate(np.zeros_like(x2), every)[1], t)
    return t


def _by_size(codes_present, n_groups, k_max):
    """Distinct numbers of sessions per participant (padded to ``k_max``), their counts and masks (K, G)."""
    ng = np.bincount(codes_present, minlength=n_groups)
    sizes = np.unique(ng[ng > 0])
    nvals, counts = np.ones(k_max), np.zeros(k_max)
    masks = np.zeros((k_max, n_groups))
    for i, size in enumerate(sizes):
        nvals[i], counts[i] = size, (ng == size).sum()
        masks[i] = ng == size
    return nvals, counts, masks


class _LMEPermutation(PermutationStat):
    """Shared machinery of the LME schemes: validated data, observed fits, screening and refits.

    Permuted values are the LME t refitted to the permuted data (variance ratio re-estimated) wherever the
    t at the observed variance ratio ("fixed-r t", cheap) reaches the screen; elsewhere the fixed-r t is
    kept. The fixed-r t and profiled deviance are computed at the observed ratio and at r = 0, 0.11, 1 and 9
    (a refit can move r far, and |t| with it); the screen statistic is the largest |t| over the view with the
    lowest deviance and its two neighbours, between which the refit's optimum lies (and they start its
    search). With ``threshold=None`` every value is refitted. Otherwise the screen is ``min(0.8 threshold,
    0.9 x the smallest screen statistic whose refitted |t| reached 0.9 threshold)`` on the first
    ``n_pilot`` permutations (see :meth:`_calibrate`); in every permutation about 1 in ``AUDIT`` unscreened
    values (a fixed function of permutation and edge) is refitted too, and how many of those reached the
    threshold (values the screen would have missed) is counted in :attr:`refit_summary`.
    """

    AUDIT = 97
    EDGE_BLOCK = 4096
    PILOT_AUDIT = 8
    PILOT_VALUES = 200_000
    REFIT_CHUNK = 8192

    def __init__(self, Z, X, groups, *, term_names, term, fits, method, threshold, n_pilot, n_perm, seed):
        super().__init__(n_perm, seed)
        Z, X, self.codes = check_design(Z, X, groups, term_names)
        term_names = list(term_names)
        if term not in term_names:
            raise InputError(f"no term {term!r} among {', '.join(term_names)}")
        if threshold is not None and not threshold > 0:
            raise ValueError(f"threshold must be positive (or None: refit every value), got {threshold}")
        if fits is None:
            fits = fit_edges(Z, X, groups, term_names=term_names, method=method)
        if not isinstance(fits, EdgeFits) or fits.method != method or fits.estimate.shape[1] != Z.shape[1] \
                or list(fits.terms) != term_names:
            raise InputError(f"fits must be fit_edges of these data with method={method!r}")
        self.fits, self.term, self.method, self.threshold = fits, term, method, threshold
        self.j = term_names.index(term)
        self.Z, self.X = Z, X
        self.n_groups = int(self.codes.max()) + 1
        self.first = np.unique(self.codes, return_index=True)[1]  # first session of each participant
        self.n_edges = Z.shape[1]
        self.p = X.shape[1]
        patterns = [(np.flatnonzero(present), np.flatnonzero((fits.pattern == k) & (fits.reason == 0)))
                    for k, present in enumerate(fits.present)]
        # (sessions, edges, order of the screen's views by u) of every pattern with fitted edges, in blocks of
        # at most EDGE_BLOCK edges (cache-sized) whose observed ratio falls between the same fixed ratios
        fixed_u = _u_of(np.array(_SCREEN_R))
        self.patterns = []
        for rows, cols in patterns:
            for a in range(0, cols.size, self.EDGE_BLOCK):
                block = cols[a:a + self.EDGE_BLOCK]
                u_obs = _u_of(fits.ratio[block])
                where = np.searchsorted(fixed_u, u_obs, side="right")  # fixed_u[where - 1] <= u_obs
                tie = u_obs == fixed_u[where - 1]  # e.g. a singular fit, u = 0: the fixed view is a duplicate
                for key in np.unique(2 * where + tie):  # view 0: the observed ratio; 1, 2, ...: the fixed ones
                    w, duplicate = divmod(int(key), 2)
                    order = list(range(1, w + 1 - duplicate)) + [0] + list(range(w + 1, len(fixed_u) + 1))
                    self.patterns.append((rows, block[2 * where + tie == key], order))
        self.k_max = max([np.unique(np.bincount(self.codes[rows])[np.bincount(self.codes[rows]) > 0]).size
                          for rows, _, _ in self.patterns] or [1])
        self.screen, self._audit_every = 0.0, self.AUDIT
        self.n_pilot, self._pilot, self._record = n_pilot, None, None
        self.counts = dict(values=0, refitted=0, audited=0, missed=0, unscreened=0)

    def _k(self, n):
        return n if self.method == "ml" else n - self.p

    def _calibrate(self):
        """Set the screen on pilot permutations (no-op without a threshold).

        The pilot runs at the default screen (0.8 x the threshold) and refits every value below it too in a
        small problem, one in ``PILOT_AUDIT`` otherwise; the screen is then lowered to 0.9 x the smallest
        screen statistic whose refit reached 0.9 x the threshold, and the pilot recomputed if it moved.
        """
        if self.threshold is None:
            return
        n_fitted = max(int(sum(cols.size for _, cols, _ in self.patterns)), 1)
        if self.n_pilot is None:
            self.n_pilot = self.batch
        self.n_pilot = min(self.n_perm, int(self.n_pilot))
        self._audit_every = 1 if n_fitted * self.n_pilot <= self.PILOT_VALUES else self.PILOT_AUDIT
        self.screen = 0.8 * self.threshold
        self.pilot_lowest = np.inf
        for _ in range(3):
            self._record = []
            self.counts = dict.fromkeys(self.counts, 0)  # the audit counts the final screen only
            pilot = [self._compute(np.arange(a, min(a + self.batch, self.n_pilot)))
                     for a in range(0, self.n_pilot, self.batch)]
            stat, refit = (np.concatenate(v) for v in zip(*self._record)) if self._record else (np.zeros(0),) * 2
            with np.errstate(invalid="ignore"):
                reach = stat[np.abs(refit) >= 0.9 * self.threshold]
            self.pilot_lowest = min(self.pilot_lowest, float(reach.min()) if reach.size else np.inf)
            if 0.9 * self.pilot_lowest >= self.screen:
                break
            self.screen = 0.9 * self.pilot_lowest
        self._record = None
        self._audit_every = self.AUDIT
        self._pilot = np.concatenate(pilot) if pilot else np.zeros((0, self.n_edges))

    def __call__(self, k):
        if self._pilot is not None and 0 <= int(k) < self.n_pilot:
            return self._pilot[int(k)]
        return super().__call__(k)

    def _select(self, ks, t, stat, cols):
        """Values to refit given the fixed-r t (B, m) and the squared screen statistic (B, m): (b, e,
        audit-only flags, screen statistic of the selected)."""
        self.counts["values"] += t.size
        finite = np.isfinite(t)
        if self.threshold is None:  # no screen
            b_i, e_i = np.nonzero(finite)
            return b_i, e_i, np.zeros(b_i.size, bool), np.sqrt(stat[b_i, e_i])
        with np.errstate(invalid="ignore"):
            screened = stat >= self.screen**2
        audit = (((ks[:, None] * 7919 + cols[None, :]) % self._audit_every) == 0) & ~screened & finite
        self.counts["unscreened"] += int((finite & ~screened).sum())
        b_i, e_i = np.nonzero((screened & finite) | audit)
        return b_i, e_i, audit[b_i, e_i], np.sqrt(stat[b_i, e_i])

    def _refit(self, out, cases):
        """Replace ``out[b, edge]`` by the refitted t for ``cases`` (cols, b, e, audit flags, screen, arrays)."""
        if not cases:
            return
        cat = {key: np.concatenate([arrays[key] for *_, arrays in cases], axis=-1) for key in cases[0][-1]}
        n_cases = cat["ee"].size
        chunk = self.REFIT_CHUNK
        t = np.concatenate([
            _refit_t(*(cat[key][..., a:a + chunk] for key in
                       ("XX", "T", "c0", "U", "V", "ee", "nvals", "counts", "k")), self.method == "reml",
                     start={key: cat[key][a:a + chunk] for key in ("lo", "x", "hi", "f_lo", "fx", "f_hi", "dev0")})
            for a in range(0, n_cases, chunk)])
        start = 0
        for cols, b_i, e_i, audit, screen, _ in cases:
            part = t[start:start + b_i.size]
            start += b_i.size
            out[b_i, cols[e_i]] = part
            if self._record is not None:
                self._record.append((screen, part))
            if self.threshold is not None and audit.any():
                self.counts["audited"] += int(audit.sum())
                self.counts["missed"] += int((np.abs(part[audit]) >= self.threshold).sum())
        self.counts["refitted"] += n_cases

    def _base_scheme(self):
        return {"term": self.term, "model_method": self.method, "n_perm": self.n_perm, "seed": self.seed,
                "rng": "numpy.random.default_rng",
                "statistic": f"LME ({self.method.upper()}) t of the term refitted to each permutation's data "
                             "(variance ratio re-estimated) wherever the t at the observed variance ratio reaches "
                             "the screen; that t elsewhere (it stays below the threshold)",
                "threshold": self.threshold, "screen": self.screen, "n_pilot": self.n_pilot,
                "references": REFERENCES}

    @property
    def refit_summary(self):
        """Screen, share of permuted values refitted, and the audit of unscreened values so far."""
        c = self.counts
        lowest = getattr(self, "pilot_lowest", None)  # smallest screen statistic whose refit reached 0.9 x
        audited = max(c["audited"], 1)
        per_perm = c["unscreened"] / max(c["values"], 1) * self.n_edges
        return {"threshold": self.threshold, "screen": self.screen, "n_pilot": self.n_pilot,
                "pilot_lowest": lowest if lowest is not None and np.isfinite(lowest) else None,
                "values": c["values"], "refitted": c["refitted"], "audited": c["audited"],
                "audited_reaching_threshold": c["missed"],
                "estimated_missed_per_permutation": c["missed"] / audited * per_perm}


class WithinParticipantT(_LMEPermutation):
    """Permutation LME t of a within-participant term (the time effect): sessions permuted within participants.

    Each permutation assigns every participant's sessions a uniformly random reordering of their design rows
    (exchangeability blocks = participants; for one pre and one post session this is a sign flip of the
    change). Residuals are permuted as Freedman and Lane: the model without the term is fitted (GLS at each
    edge's observed variance ratio ``r``), its residuals ``e`` are permuted within participants and the full
    model is fitted to them; with the other columns constant within participants (e.g. the paired design
    ``1 + time``) this is exactly the LME refitted to the permuted data, so the test is exact.

    Speed: within-participant permutations leave ``X' H^-1 X`` and all participant sums unchanged, so at fixed
    ``r`` the t is ``z_last / sqrt((e' H^-1 e - |z|^2) / k)`` with ``z = L^-1 X_perm' H^-1 e`` and
    ``X' H^-1 X = L L'`` fixed per edge: one matrix product of the permuted design with ``e`` for all edges. That
    fixed-``r`` t is exact for the observed data but not for permuted data (the observed ``r`` was estimated
    with the observed effect removed; keeping it makes permuted |t| too small on null edges and the NBS
    anti-conservative), so wherever the permuted value can reach the threshold the variance ratio is
    re-estimated for the permuted data (screen and refits: see the base class): ``r`` enters only through
    ``r / (1 + n r)`` for the few distinct numbers of sessions per participant ``n``, so the profiled deviance
    costs O(p^2) per edge and trial ``r`` (Brent's method from the screen's bracket). An edge missing some
    sessions is permuted by the permutation induced on its sessions (cycles skipping the absent ones), again
    uniform within participants: exact for that edge, while across edges (which the NBS joins) a session
    whose partner is missing keeps its label where the complete edges' move, an approximation confined to
    the sessions with regions missing.

    Parameters
    ----------
    Z : array-like (n_obs, n_edges)
        Fisher z, NaN where a session lacks an edge.
    X, groups, term_names
        As for :func:`ketamine_fc.core.stats.edgewise.fit_edges`.
    term : str
        Tested term; its column must vary within some participant.
    fits : EdgeFits, optional
        ``fit_edges(Z, X, groups, term_names=..., method=method)`` if already computed.
    method : {"ml", "reml"}
        Variance estimate of the convention (the paper's: ML); ``observed`` equals its LME t.
    threshold : float or None
        The NBS primary threshold the permuted values serve: they are exact LME refits wherever they can reach
        it (screen calibrated on pilot permutations and audited; see :attr:`refit_summary`); :func:`nbs`
        refuses a lower threshold. None refits every value of every permutation (exact, slower).
    n_pilot : int, optional
        Permutations that calibrate the screen (default 32).
    n_perm : int
    seed : int or None

    Attributes
    ----------
    observed : numpy.ndarray (n_edges,)
    scheme : dict
    """

    def __init__(self, Z, X, groups, *, term_names, term="time", fits=None, method="ml", threshold=None,
                 n_pilot=None, n_perm, seed=None):
        super().__init__(Z, X, groups, term_names=term_names, term=term, fits=fits, method=method,
                         threshold=threshold, n_pilot=n_pilot, n_perm=n_perm, seed=seed)
        within = ~(self.X == self.X[self.first[self.codes]]).all(axis=0)  # columns varying within participants
        if not within[self.j]:
            raise InputError(f"term {term!r} does not vary within any participant: use BetweenParticipantT")
        # columns constant within participants first (unchanged by the permutations), the tested term last
        order = [i for i in range(self.p) if not within[i]] + \
                [i for i in range(self.p) if within[i] and i != self.j] + [self.j]
        self.X = self.X[:, order]
        self.n_fixed = f = int((~within).sum())
        sizes = np.bincount(self.codes)
        n = len(self.codes)
        base = np.argsort(self.codes, kind="stable")
        self.perms = np.empty((self.n_perm, n), dtype=np.intp)
        keys = self.codes[None, :] + self.rng.random((self.n_perm, n))  # sort by participant, then at random
        self.perms[:, base] = np.argsort(keys, axis=1)
        self.parts = []
        for rows, cols, order in self.patterns:
            codes = self.codes[rows]
            gls = _GLS(codes, self.n_groups, self.fits.ratio[cols])
            Xs = self.X[rows]
            E, _, _ = gls.residuals(Xs[:, :-1], self.Z[np.ix_(rows, cols)])
            local = np.full(n, -1)
            local[rows] = np.arange(rows.size)
            SE, Sx = gls.ind @ E, gls.ind @ Xs
            nvals, counts, masks = _by_size(codes, self.n_groups, self.k_max)
            views = [self._view(gls, Xs, E, SE, Sx)] + \
                [self._view(_GLS(codes, self.n_groups, np.full(cols.size, r)), Xs, E, SE, Sx) for r in _SCREEN_R]
            self.parts.append(dict(
                rows=rows, cols=cols, local=local, E=E, views=views, k=self._k(rows.size), order=order,
                us=[views[i]["u"] for i in order],
                # for refits: X'X, sums over participants with n sessions of Sx Sx', Sx SE, SE^2; X_fixed' e
                XX=Xs.T @ Xs, T=np.einsum("kg,ga,gb->kab", masks, Sx, Sx),
                U=np.einsum("kg,ga,gm->kam", masks, Sx, SE), V=masks @ SE**2, ee=np.einsum("im,im->m", E, E),
                a_fixed=Xs[:, :f].T @ E, nvals=nvals, counts=counts))
        self.observed = self._compute(None)[0]
        self._calibrate()
        self.scheme = {"name": "within-participant permutation of sessions (time effect)",
                       "exchangeability": "sessions within each participant (exchangeability blocks); a "
                                          "participant with one pre and one post session has its change "
                                          "sign-flipped with probability 1/2",
                       "residuals": f"Freedman-Lane: GLS residuals of the model without {term!r}",
                       "n_participants_permuted": int((sizes > 1).sum()),
                       "n_distinct_permutations": float(np.prod([math.factorial(int(s)) for s in sizes])),
                       **self._base_scheme()}

    def _view(self, gls, Xs, E, SE, Sx):
        """Fixed-r pieces at the variance ratios of ``gls``: the t of X_perm is then a few vector operations."""
        f = self.n_fixed
        Linv = _tril_inverse(_cholesky(gls.gram(Xs)))
        c_fixed = gls.cross(Xs[:, :f], E)  # (f, m), unchanged by the permutations
        z_fixed = _tril_apply(Linv[:f, :f], c_fixed)
        const = gls.logdet_h()  # deviance = const + k log RSS (+ log|X' H^-1 X| for REML)
        if self.method == "reml":
            const = const - 2.0 * sum(np.log(Linv[a, a]) for a in range(self.p))
        return dict(u=_u_of(gls.r), scale=np.exp(const / self._k(E.shape[0])),  # exp(deviance / k) = scale RSS
                    offset=Sx[:, f:].T @ (gls.w * SE),  # participant-sum part of X_v' H^-1 e
                    z_pre=np.stack([sum(Linv[a, b] * c_fixed[b] for b in range(f)) for a in range(f, self.p)])
                    if f else np.zeros((self.p, E.shape[1])),
                    Linv=Linv[f:, f:], ss=gls.quad(E) - (z_fixed**2).sum(axis=0))

    def _compute(self, ks):
        perms = np.arange(len(self.codes))[None] if ks is None else self.perms[ks]
        out = np.full((len(perms), self.n_edges), np.nan)
        n_var = self.p - self.n_fixed
        cases = []
        for part in self.parts:
            rows = part["rows"]
            idx = perms[:, rows]
            if rows.size < len(self.codes):  # the permutation induced on the sessions present
                present = part["local"] >= 0
                b_of = np.broadcast_to(np.arange(len(perms))[:, None], idx.shape)
                absent = ~present[idx]
                while absent.any():
                    idx[absent] = perms[b_of[absent], idx[absent]]
                    absent = ~present[idx]
            Xv = self.X[idx][:, :, self.n_fixed:]  # (B, n_S, v): session s takes the design row of perm(s)
            B, n_s, _ = Xv.shape
            a = (Xv.transpose(0, 2, 1).reshape(B * n_var, n_s) @ part["E"]).reshape(B, n_var, -1)  # X_v' e
            views = part["views"] if ks is not None else part["views"][:1]
            t2s, devs = [], []
            for iv, view in enumerate(views):
                c = a - view["offset"]
                ss = np.repeat(view["ss"][None], B, axis=0)
                Linv, z_pre = view["Linv"], view["z_pre"]
                for i in range(n_var):
                    z = Linv[i, 0] * c[:, 0]
                    for j in range(1, i + 1):
                        z += Linv[i, j] * c[:, j]
                    z += z_pre[i]
                    ss -= z * z
                np.maximum(ss, 1e-300, out=ss)
                if iv == 0:
                    t = z / np.sqrt(ss / part["k"])
                    t2s.append(t * t)
                else:
                    t2s.append(z * z * part["k"] / ss)  # squared: no square roots in the screen
                devs.append(view["scale"] * ss)  # exp(deviance / k): no logarithms on every value
            out[:, part["cols"]] = t
            if ks is None:
                continue
            stat, best, d = _screen_statistic(part["order"], devs, t2s)
            b_i, e_i, audit, screen = self._select(ks, t, stat, part["cols"])
            if b_i.size:
                P = b_i.size
                cases.append((part["cols"], b_i, e_i, audit, screen, dict(
                    **_bracket(best, d, part["us"], b_i, e_i, part["k"]),
                    XX=np.repeat(part["XX"][:, :, None], P, axis=2),
                    T=np.repeat(part["T"][..., None], P, axis=3),
                    c0=np.concatenate([part["a_fixed"][:, e_i], a[b_i, :, e_i].T]),
                    U=part["U"][:, :, e_i], V=part["V"][:, e_i], ee=part["ee"][e_i],
                    nvals=np.repeat(part["nvals"][:, None], P, axis=1),
                    counts=np.repeat(part["counts"][:, None], P, axis=1), k=np.full(P, float(part["k"])))))
        self._refit(out, cases)
        return out


class BetweenParticipantT(_LMEPermutation):
    """Permutation LME t of a term ``factor x label`` with a participant-level label (time:response), the labels
    permuted between participants.

    Each permutation gives every participant the label of another (all participants exchangeable, each
    keeping all its sessions); only the tested column ``x = factor * label`` changes, the model is refitted
    and the test is exact. Speed: the data are replaced by their GLS residuals ``e`` on the other columns
    (which stay in the model: neither the t nor the likelihood changes, and ``X_other' H^-1 e = 0`` at the
    observed ``r``). At fixed ``r`` the t is ``x' H^-1 e sqrt(k) / sqrt(s e' H^-1 e - (x' H^-1 e)^2)`` with
    the Schur complement ``s = x' H^-1 x - v' (X_other' H^-1 X_other)^-1 v``, ``v = X_other' H^-1 x``, all
    linear in the permuted labels (``x' H^-1 x`` in their squares) through participant sums: two
    (permutations x participants) @ (participants x edges) products. Wherever that t reaches the screen the
    variance ratio is re-estimated as in :class:`WithinParticipantT`. A permutation that makes the
    column collinear with the others gives NaN.

    Parameters
    ----------
    Z, X, groups, term_names, fits, method, threshold, n_pilot, n_perm, seed
        As for :class:`WithinParticipantT`.
    label : array-like (n_obs,)
        Participant-level value (constant within participant), e.g. response.
    factor : array-like (n_obs,), optional
        Session-level multiplier, e.g. time; ``X[:, term] == factor * label`` is checked. Default ones.
    term : str
        Tested term, default ``"time:response"``.
    """

    def __init__(self, Z, X, groups, *, term_names, label, factor=None, term="time:response", fits=None,
                 method="ml", threshold=None, n_pilot=None, n_perm, seed=None):
        super().__init__(Z, X, groups, term_names=term_names, term=term, fits=fits, method=method,
                         threshold=threshold, n_pilot=n_pilot, n_perm=n_perm, seed=seed)
        n = len(self.codes)
        label = np.asarray(label, dtype=float)
        factor = np.ones(n) if factor is None else np.asarray(factor, dtype=float)
        if label.shape != (n,) or factor.shape != (n,):
            raise InputError("label and factor need one value per session")
        if not (np.isfinite(label).all() and np.isfinite(factor).all()):
            raise InputError("label and factor must not have missing values")
        self.labels = label[self.first]  # one per participant
        if not np.allclose(label, self.labels[self.codes]):
            raise InputError("label must be constant within each participant")
        if not np.allclose(self.X[:, self.j], factor * label):
            raise InputError(f"column {term!r} of X is not factor * label")
        self.X = self.X[:, [i for i in range(self.p) if i != self.j]]  # the other columns
        self.perms = np.argsort(self.rng.random((self.n_perm, self.n_groups)), axis=1)
        self.parts = []
        for rows, cols, order in self.patterns:
            codes = self.codes[rows]
            gls = _GLS(codes, self.n_groups, self.fits.ratio[cols])
            Xn, f, Y = self.X[rows], factor[rows], self.Z[np.ix_(rows, cols)]
            E, _, _ = gls.residuals(Xn, Y)
            ind = gls.ind
            SE, sf, sn = ind @ E, ind @ f, ind @ Xn
            nvals, counts, masks = _by_size(codes, self.n_groups, self.k_max)
            views = [self._view(gls, Xn, f, Y)] + \
                [self._view(_GLS(codes, self.n_groups, np.full(cols.size, r)), Xn, f, Y) for r in _SCREEN_R]
            self.parts.append(dict(
                cols=cols, views=views, k=self._k(rows.size), order=order, us=[views[i]["u"] for i in order],
                # for refits: participant sums, their products by number of sessions, X_other' e
                SE=SE, F=ind @ (f[:, None] * E), sf=sf, masks=masks, nvals=nvals, counts=counts, XoXo=Xn.T @ Xn,
                Xof=ind @ (Xn * f[:, None]), ff=ind @ f**2, T_oo=np.einsum("kg,ga,gb->kab", masks, sn, sn),
                T_ox=masks[:, :, None] * (sn * sf[:, None])[None], T_xx=masks * sf**2,
                U_o=np.einsum("kg,ga,gm->kam", masks, sn, SE), V=masks @ SE**2, ee=np.einsum("im,im->m", E, E),
                Xoe=Xn.T @ E))
        self.observed = self._compute(None)[0]
        self._calibrate()
        self.scheme = {"name": "between-participant permutation of labels (time x response)",
                       "exchangeability": "participants (whole-block permutation): each keeps all its sessions "
                                          "and receives another participant's label",
                       "label_values": dict(zip(*(a.tolist() for a in np.unique(self.labels.astype(str),
                                                                               return_counts=True)))),
                       "n_participants": int(self.n_groups),
                       "residuals": "GLS residuals on the other columns, which the permutation leaves unchanged",
                       **self._base_scheme()}

    def _view(self, gls, Xn, f, Y):
        """Fixed-r pieces at the variance ratios of ``gls``: the t of a permuted label is then two products."""
        E, _, Linv = gls.residuals(Xn, Y)  # X_other' H^-1 E = 0 at these ratios
        const = gls.logdet_h()  # deviance = const + k log RSS (+ log|X' H^-1 X| for REML)
        if self.method == "reml":
            const = const - 2.0 * sum(np.log(Linv[a, a]) for a in range(Xn.shape[1]))
        k = self._k(Y.shape[0])
        ind, w = gls.ind, gls.w
        SE, sf, sn = ind @ E, ind @ f, ind @ Xn
        lin = [(ind @ (f[:, None] * E)) - w * (sf[:, None] * SE)]  # x' H^-1 e = labels @ lin[0]
        lin += [(ind @ (Xn[:, a] * f))[:, None] - w * (sn[:, a] * sf)[:, None]  # v_a = labels @ lin[1 + a]
                for a in range(Xn.shape[1])]
        sq = (ind @ f**2)[:, None] - w * (sf**2)[:, None]  # x' H^-1 x = labels^2 @ sq
        return dict(lin=np.concatenate(lin + [sq], axis=1), Linv=Linv, ehe=gls.quad(E), u=_u_of(gls.r),
                    scale=np.exp(const / k))  # exp(deviance / k) = scale RSS (x schur^(1/k) for REML)

    def _compute(self, ks):
        labels = self.labels[None] if ks is None else self.labels[self.perms[ks]]  # (B, G)
        B = len(labels)
        squares = labels * labels
        binary = np.array_equal(squares, labels)
        out = np.full((B, self.n_edges), np.nan)
        n_other = self.p - 1
        cases = []
        for part in self.parts:
            cols = part["cols"]
            m = cols.size
            views = part["views"] if ks is not None else part["views"][:1]
            t2s, devs = [], []
            for iv, view in enumerate(views):
                if binary:  # labels^2 = labels: one product
                    prod = (labels @ view["lin"]).reshape(B, 2 + n_other, m)
                    q = prod[:, -1]
                else:
                    prod = (labels @ view["lin"][:, :-m]).reshape(B, 1 + n_other, m)
                    q = squares @ view["lin"][:, -m:]
                xe, v = prod[:, 0], prod[:, 1:1 + n_other]
                schur = q.copy()
                Linv = view["Linv"]
                for a in range(n_other):
                    u = Linv[a, 0] * v[:, 0]
                    for b in range(1, a + 1):
                        u += Linv[a, b] * v[:, b]
                    schur -= u * u
                denom = schur * view["ehe"] - xe * xe
                ok = (schur > 1e-10 * np.abs(q)) & (denom > 0)
                with np.errstate(invalid="ignore", divide="ignore"):
                    t2 = np.where(ok, xe * xe * part["k"] / denom, np.nan)
                    if iv == 0:
                        t = np.sign(xe) * np.sqrt(t2)
                    t2s.append(t2)
                    scaled = view["scale"] * denom / schur  # exp(deviance / k): RSS = e'H^-1e - xe^2 / schur
                    if self.method == "reml":
                        scaled = scaled * schur ** (1.0 / part["k"])
                    devs.append(np.where(ok, scaled, np.inf))
            out[:, cols] = t
            if ks is None:
                continue
            stat, best, d = _screen_statistic(part["order"], devs, t2s)
            b_i, e_i, audit, screen = self._select(ks, t, stat, cols)
            if not b_i.size:
                continue
            P, K, p = b_i.size, len(part["nvals"]), self.p
            lab = labels[b_i]  # (P, G)
            XX = np.empty((p, p, P))
            XX[:-1, :-1] = part["XoXo"][:, :, None]
            XX[:-1, -1] = XX[-1, :-1] = (lab @ part["Xof"]).T
            XX[-1, -1] = lab**2 @ part["ff"]
            T = np.empty((K, p, p, P))
            T[:, :-1, :-1] = part["T_oo"][..., None]
            T[:, :-1, -1] = T[:, -1, :-1] = np.einsum("pg,kga->kap", lab, part["T_ox"])
            T[:, -1, -1] = (lab**2 @ part["T_xx"].T).T
            sfse = part["sf"][:, None] * part["SE"][:, e_i]  # (G, P)
            U = np.empty((K, p, P))
            U[:, :-1] = part["U_o"][:, :, e_i]
            U[:, -1] = np.einsum("pg,kg,gp->kp", lab, part["masks"], sfse)
            c0 = np.concatenate([part["Xoe"][:, e_i], np.einsum("pg,gp->p", lab, part["F"][:, e_i])[None]])
            cases.append((cols, b_i, e_i, audit, screen, dict(
                **_bracket(best, d, part["us"], b_i, e_i, part["k"]), XX=XX, T=T, c0=c0, U=U,
                V=part["V"][:, e_i], ee=part["ee"][e_i],
                nvals=np.repeat(part["nvals"][:, None], P, axis=1),
                counts=np.repeat(part["counts"][:, None], P, axis=1), k=np.full(P, float(part["k"])))))
        self._refit(out, cases)
        return out
