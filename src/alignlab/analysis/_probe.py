"""Linear probes: can a linear read-out tell two classes apart on held-out data?

A probe here is L2-regularised logistic regression on standardised features
(each feature centred and scaled by the training set's mean and standard
deviation), fitted by Newton's method: the model of Alain & Bengio 2016
("Understanding intermediate layers using linear classifier probes",
arXiv:1610.01644), used by Nguyen et al. 2025 (arXiv:2509.13333) to find
"this is an evaluation" in residual streams.

A probe's held-out accuracy alone says little when features outnumber
training examples (a 576-wide residual stream, 80 prompts): a linear model
can then fit *any* labelling of the training set.  So every probe comes with
*label-shuffled controls* (Hewitt & Liang 2019, "Designing and interpreting
probes with control tasks", arXiv:1909.03368, in its simplest form): the same
probe fitted to random training labels (:func:`shuffled_labels`: each class
split in random halves, so they carry nothing about the true labels), then
scored on the true held-out labels.  They memorise their training set as
well as the real probe does and land at chance *on average*; the probe's
selectivity is its held-out accuracy minus the controls' mean.  Their spread
says something too: when the two classes are the dominant direction of
variation in the features, any linear read-out splits them, so single
controls score near 0 or near 1 (a random sign) while averaging 0.5.

Held-out accuracy comes with an exact (Clopper-Pearson) binomial interval,
which assumes independent held-out examples (one prompt per underlying item).

Simplified: one fixed regularisation strength (:data:`DEFAULT_L2`, chosen
before looking at any data; no cross-validation), two classes only.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
from numpy.typing import NDArray
from scipy import stats

from alignlab._errors import AlignlabError
from alignlab.analysis._stats import Estimate

DEFAULT_L2: Final = 1.0
"""Penalty ``l2 / 2 * |w|^2`` added to the *summed* log loss (scikit-learn's ``C=1``)."""
MIN_SCALE: Final = 1e-6
"""Standard deviation below which a feature counts as constant (it is then only centred)."""
MAX_ITERATIONS: Final = 100
"""Newton iterations per probe (a dozen or so suffice)."""
NEWTON_TOLERANCE: Final = 1e-10
"""Stop when half the Newton decrement (the predicted loss decrease) is below this."""
HESSIAN_JITTER: Final = 1e-12
"""Added to the Hessian's diagonal so the unpenalised bias never makes it singular."""
ARMIJO: Final = 0.25
"""Sufficient-decrease fraction of the backtracking line search."""
MIN_STEP: Final = 1e-10
DEFAULT_CONFIDENCE: Final = 0.95

FloatArray = NDArray[np.float64]


@dataclass(frozen=True)
class LinearProbe:
    """A fitted logistic-regression probe (class 1 where the decision value is positive)."""

    weights: FloatArray
    """One weight per (standardised) feature."""
    bias: float
    center: FloatArray
    """The training features' mean."""
    scale: FloatArray
    """The training features' standard deviation (1 for constant features)."""

    def decision(self, features: NDArray[Any]) -> FloatArray:
        """Log-odds of class 1 for each row of ``features``."""
        standard = (np.asarray(features, dtype=np.float64) - self.center) / self.scale
        return np.asarray(standard @ self.weights + self.bias, dtype=np.float64)

    def predict(self, features: NDArray[Any]) -> NDArray[np.int64]:
        """Predicted class (0 or 1) for each row of ``features``."""
        return (self.decision(features) > 0).astype(np.int64)


def _check(features: NDArray[Any], labels: NDArray[Any], what: str) -> NDArray[np.int64]:
    if features.ndim != 2:
        raise AlignlabError(f"{what} features must be a 2-d array, got shape {features.shape}")
    if labels.shape != (features.shape[0],):
        raise AlignlabError(
            f"{what}: {labels.shape[0] if labels.ndim else 0} labels "
            f"for {features.shape[0]} feature rows"
        )
    if not np.isin(labels, (0, 1)).all():
        raise AlignlabError(f"{what} labels must be 0 or 1")
    if not np.isfinite(features).all():
        raise AlignlabError(f"{what} features contain NaN or infinite values")
    return labels.astype(np.int64)


@contextlib.contextmanager
def _one_thread() -> Iterator[None]:
    """Torch on one thread for the duration (restored after).

    The probes' linear algebra is tiny (matrices of a few hundred rows), where
    threads only add wake-ups: on this class of 2-core machine with other jobs
    running, an 80 x 576 SVD took 600 ms on two threads and 11 ms on one, and
    scipy's L-BFGS-B (whose BLAS threads cannot be limited in-process) 70 ms
    per probe.  Torch's thread count can be set, so the fit is done in torch.
    """
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


class _Design:
    """Training features standardised once, for several probes on the same rows.

    With L2 regularisation the optimal weights lie in the row space of the
    (standardised) training features (the gradient ``X^T r + l2 w`` vanishes
    only there), so each probe is fitted on the rows' coordinates in an
    orthonormal basis of that space (at most ``n`` of them instead of ``d``)
    and mapped back: the same optimum, much cheaper when ``d >> n``.  The fit
    is Newton's method with a backtracking line search (the objective is
    strictly convex in the weights), in float64.
    """

    def __init__(self, features: NDArray[Any], l2: float) -> None:
        import torch

        if not l2 > 0:
            raise AlignlabError(f"l2 must be positive, got {l2}")
        x = np.asarray(features, dtype=np.float64)
        self.l2 = l2
        self.center = x.mean(axis=0)
        scale = x.std(axis=0)
        scale[scale < MIN_SCALE] = 1.0
        self.scale = scale
        standard = torch.from_numpy((x - self.center) / scale)
        with _one_thread():
            _, singular, right = torch.linalg.svd(standard, full_matrices=False)
            rank = int((singular > singular.max() * MIN_SCALE).sum())
            self.basis = right[:rank].T
            """``(d, rank)``: orthonormal basis of the standardised rows' span."""
            coordinates = standard @ self.basis
        ones = torch.ones(len(x), 1, dtype=torch.float64)
        self.design = torch.cat([coordinates, ones], dim=1)
        """The coordinates and a column of ones (the bias)."""
        self.penalty = torch.full((rank + 1,), l2, dtype=torch.float64)
        self.penalty[rank] = 0.0  # the bias is not penalised

    def _loss(self, params: Any, y: Any) -> Any:
        import torch

        logits = self.design @ params
        data = torch.nn.functional.softplus(logits) - y * logits
        return data.sum() + 0.5 * (self.penalty * params * params).sum()

    def fit(self, labels: NDArray[np.int64]) -> LinearProbe:
        import torch

        z = self.design
        y = torch.from_numpy(labels.astype(np.float64))
        params = torch.zeros(z.shape[1], dtype=torch.float64)
        with _one_thread():
            loss = self._loss(params, y)
            for _ in range(MAX_ITERATIONS):
                probs = torch.sigmoid(z @ params)
                gradient = z.T @ (probs - y) + self.penalty * params
                hessian = (z.T * (probs * (1 - probs))) @ z + torch.diag(self.penalty)
                hessian += torch.eye(len(params), dtype=torch.float64) * HESSIAN_JITTER
                step = torch.linalg.solve(hessian, gradient)
                decrement = float(gradient @ step)
                if decrement / 2 < NEWTON_TOLERANCE:
                    break
                size = 1.0
                while size > MIN_STEP:
                    trial = params - size * step
                    trial_loss = self._loss(trial, y)
                    if trial_loss <= loss - ARMIJO * size * decrement:
                        break
                    size /= 2
                params, loss = trial, trial_loss
            weights = (self.basis @ params[:-1]).numpy()
        return LinearProbe(
            weights=weights, bias=float(params[-1]), center=self.center, scale=self.scale
        )


def _training_labels(features: NDArray[Any], labels: NDArray[Any]) -> NDArray[np.int64]:
    y = _check(np.asarray(features), np.asarray(labels), "training")
    if len(set(y.tolist())) < 2:
        raise AlignlabError("a probe needs training examples of both classes")
    return y


def fit_linear_probe(
    features: NDArray[Any], labels: NDArray[Any], *, l2: float = DEFAULT_L2
) -> LinearProbe:
    """Fit an L2-regularised logistic regression on standardised features.

    Minimises the summed log loss plus ``l2 / 2 * |w|^2`` (the bias is not
    penalised).

    Args:
        features: ``(n, d)`` training features.
        labels: ``(n,)`` labels, 0 or 1; both classes must occur.
        l2: Regularisation strength (positive).

    Returns:
        The probe.

    Raises:
        AlignlabError: On mismatched shapes, labels other than 0/1, one class
            only, non-finite features or a non-positive ``l2``.
    """
    y = _training_labels(features, labels)
    return _Design(features, l2).fit(y)


def binomial_interval(
    successes: int, n: int, *, confidence: float = DEFAULT_CONFIDENCE
) -> Estimate:
    """A proportion with its exact (Clopper-Pearson) confidence interval.

    Args:
        successes: Number of successes.
        n: Number of trials (positive).
        confidence: Confidence level in (0, 1).

    Returns:
        The proportion and its interval.

    Raises:
        AlignlabError: For ``n < 1`` or ``successes`` outside ``0..n``.
    """
    if n < 1 or not 0 <= successes <= n:
        raise AlignlabError(f"need 0 <= successes <= n and n >= 1, got {successes} of {n}")
    interval = stats.binomtest(successes, n).proportion_ci(
        confidence_level=confidence, method="exact"
    )
    return Estimate(
        value=successes / n,
        ci_low=float(interval.low),
        ci_high=float(interval.high),
        confidence=confidence,
        n=n,
    )


def probe_accuracy(
    probe: LinearProbe,
    features: NDArray[Any],
    labels: NDArray[Any],
    *,
    confidence: float = DEFAULT_CONFIDENCE,
) -> Estimate:
    """The probe's accuracy on labelled data, with its binomial interval.

    Args:
        probe: A fitted probe.
        features: ``(n, d)`` features.
        labels: ``(n,)`` true labels (0 or 1).
        confidence: Confidence level of the interval.

    Returns:
        The accuracy with its Clopper-Pearson interval.
    """
    y = _check(np.asarray(features), np.asarray(labels), "evaluation")
    correct = int((probe.predict(features) == y).sum())
    return binomial_interval(correct, len(y), confidence=confidence)


def shuffled_labels(labels: NDArray[Any], seed: int = 0) -> NDArray[np.int64]:
    """Random labels that carry no information about ``labels``: the control's training labels.

    Within each true class, a random half of the examples (rounding alternately
    down and up) is labelled 1 and the rest 0, so the control labels agree with
    the true ones on half of the examples (exactly, for even class sizes).  A
    plain permutation can agree on many more by chance (10 of 16, say), and its
    probe then inherits part of a strong true signal and scores above chance.

    Args:
        labels: The true labels (0 or 1).
        seed: Seed of the random halves.

    Returns:
        The control labels, as many as ``labels``.
    """
    true = np.asarray(labels, dtype=np.int64)
    rng = np.random.default_rng(seed)
    control = np.zeros_like(true)
    round_up = False
    for value in (0, 1):
        members = rng.permutation(np.flatnonzero(true == value))
        half = (len(members) + int(round_up)) // 2
        round_up ^= len(members) % 2 == 1
        control[members[:half]] = 1
    return control


@dataclass(frozen=True)
class ControlSpread:
    """Held-out accuracies of several label-shuffled control probes."""

    mean: float
    low: float
    """The lowest control's accuracy."""
    high: float
    """The highest control's accuracy (near 1 when the classes dominate the features'
    variation: a random read-out then splits them too, with a random sign)."""
    n_controls: int


@dataclass(frozen=True)
class ProbeResult:
    """A probe and its label-shuffled controls, fitted on one set and scored on another."""

    train_accuracy: float
    """The probe's accuracy on its own training set."""
    heldout: Estimate
    """Its accuracy on the held-out set, with a binomial interval."""
    control_train_accuracy: float
    """The controls' mean accuracy on the random labels they were fitted to (memorisation)."""
    control_heldout: ControlSpread
    """The controls' accuracies on the held-out set's true labels (chance expected)."""
    chance: float
    """The held-out set's majority-class share: what always guessing one class scores."""


DEFAULT_CONTROLS: Final = 10
"""Control probes per probe (each on its own random labels)."""


def probe_with_control(
    train_features: NDArray[Any],
    train_labels: NDArray[Any],
    test_features: NDArray[Any],
    test_labels: NDArray[Any],
    *,
    l2: float = DEFAULT_L2,
    seed: int = 0,
    n_controls: int = DEFAULT_CONTROLS,
    confidence: float = DEFAULT_CONFIDENCE,
) -> ProbeResult:
    """Fit a probe and label-shuffled controls on one set; score them all on another.

    One control's held-out accuracy varies a lot when the features are
    strongly clustered (its random labels can line up with a cluster that
    goes with one class), so ``n_controls`` of them are fitted, each on its own
    random labels (:func:`shuffled_labels` with seeds ``seed``,
    ``seed + 1``, ...), and their spread is reported.

    Args:
        train_features: ``(n_train, d)``.
        train_labels: ``(n_train,)``, 0 or 1.
        test_features: ``(n_test, d)``.
        test_labels: ``(n_test,)``, 0 or 1.
        l2: Regularisation strength of every probe.
        seed: Seed of the first control's labels.
        n_controls: Number of control probes (at least one).
        confidence: Confidence level of the held-out interval.

    Returns:
        The probe's and the controls' training and held-out accuracies.

    Raises:
        AlignlabError: As :func:`fit_linear_probe`, or for ``n_controls < 1``.
    """
    if n_controls < 1:
        raise AlignlabError(f"need at least one control probe, got {n_controls}")
    train_y = _training_labels(train_features, train_labels)
    test_y = _check(np.asarray(test_features), np.asarray(test_labels), "held-out")
    design = _Design(train_features, l2)
    probe = design.fit(train_y)
    control_train: list[float] = []
    control_heldout: list[float] = []
    for index in range(n_controls):
        control_y = shuffled_labels(train_y, seed + index)
        control = design.fit(control_y)
        control_train.append(float((control.predict(train_features) == control_y).mean()))
        control_heldout.append(float((control.predict(test_features) == test_y).mean()))
    positive = float(test_y.mean())
    return ProbeResult(
        train_accuracy=float((probe.predict(train_features) == train_y).mean()),
        heldout=probe_accuracy(probe, test_features, test_y, confidence=confidence),
        control_train_accuracy=float(np.mean(control_train)),
        control_heldout=ControlSpread(
            mean=float(np.mean(control_heldout)),
            low=min(control_heldout),
            high=max(control_heldout),
            n_controls=n_controls,
        ),
        chance=max(positive, 1.0 - positive),
    )
