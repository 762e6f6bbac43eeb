"""Discrimination and stability figures: AUC, KS, Gini, calibration table, PSI."""

from __future__ import annotations

import numpy as np


def auc(y: np.ndarray, risk: np.ndarray) -> float:
    """AUC of a risk measure (higher = more likely bad)."""
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(y, risk))


def ks(y: np.ndarray, risk: np.ndarray) -> float:
    from sklearn.metrics import roc_curve

    fpr, tpr, _thr = roc_curve(y, risk)
    return float(np.max(tpr - fpr))


def summary(y: np.ndarray, risk: np.ndarray) -> dict[str, float]:
    a = auc(y, risk)
    return {"auc": round(a, 4), "ks": round(ks(y, risk), 4), "gini": round(2 * a - 1, 4),
            "n": len(y), "bad_rate": round(float(np.mean(y)), 4)}


def calibration_table(y: np.ndarray, pd: np.ndarray, groups: int = 10) -> list[dict[str, float]]:
    """Predicted PD against the observed bad rate in groups of equal size (by predicted PD)."""
    order = np.argsort(pd, kind="stable")
    rows = []
    for i, idx in enumerate(np.array_split(order, groups)):
        if len(idx) == 0:
            continue
        rows.append({"group": i + 1, "n": len(idx),
                     "pd_mean": round(float(pd[idx].mean()), 4),
                     "bad_rate": round(float(y[idx].mean()), 4),
                     "pd_min": round(float(pd[idx].min()), 4),
                     "pd_max": round(float(pd[idx].max()), 4)})
    return rows


def psi(expected: np.ndarray, actual: np.ndarray, edges: np.ndarray | None = None,
        groups: int = 10) -> float:
    """Population stability index between two score samples (bins: deciles of ``expected``)."""
    if len(expected) == 0 or len(actual) == 0:
        return 0.0
    if edges is None:
        edges = np.unique(np.quantile(expected, np.linspace(0, 1, groups + 1)[1:-1]))
    e = np.bincount(np.searchsorted(edges, expected, side="right"), minlength=len(edges) + 1)
    a = np.bincount(np.searchsorted(edges, actual, side="right"), minlength=len(edges) + 1)
    # A small floor keeps an empty bin from making the index infinite.
    pe = np.maximum(e / e.sum(), 1e-4)
    pa = np.maximum(a / a.sum(), 1e-4)
    return float(np.sum((pa - pe) * np.log(pa / pe)))


def psi_from_shares(expected: np.ndarray, actual: np.ndarray) -> float:
    pe = np.maximum(np.asarray(expected, float), 1e-4)
    pa = np.maximum(np.asarray(actual, float), 1e-4)
    return float(np.sum((pa - pe) * np.log(pa / pe)))
