#!/usr/bin/env python3
"""Check a `train --export` CSV against scikit-learn, independently of the bot's code.

    prometheus-bot train --symbol GOOG --export goog.csv      # defaults: horizon 5, train 756, l2 1
    python3 scripts/model_sklearn_check.py goog.csv [--train 756] [--horizon 5] [--l2 1]

Prints, from the exported out-of-sample predictions and labels: the Brier score and the base
rate's (sklearn.metrics.brier_score_loss), the calibration slope (an unpenalised
LogisticRegression of the labels on logit(P)), the reliability table by fifths; then refits
each walk-forward window's model with sklearn's LogisticRegression(C = 1/l2) on the exported
features and labels (standardised with the training rows' mean and population std, the last
`horizon` rows purged) and reports the largest difference from the exported P(up).
Needs `pip install scikit-learn`.
"""
import argparse
import csv

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import brier_score_loss

ap = argparse.ArgumentParser()
ap.add_argument("csv")
ap.add_argument("--train", type=int, default=756)
ap.add_argument("--horizon", type=int, default=5)
ap.add_argument("--l2", type=float, default=1.0)
a = ap.parse_args()

rows = list(csv.DictReader(open(a.csv)))
names = list(rows[0].keys())[1:-3]
oos = [r for r in rows if r["p_up"] and r["label"]]
p = np.array([float(r["p_up"]) for r in oos])
y = np.array([int(r["label"]) for r in oos])
rate = y.mean()
print(f"{len(p)} labelled predictions")
print(f"Brier {brier_score_loss(y, p):.6f} vs base rate {rate * (1 - rate):.6f}")
logit = np.log(p / (1 - p)).reshape(-1, 1)
slope = LogisticRegression(C=np.inf, solver="newton-cholesky", tol=1e-12, max_iter=1000).fit(logit, y).coef_[0][0]
print(f"calibration slope {slope:.4f}")
order = np.argsort(p, kind="stable")
for k, g in enumerate(np.array_split(order, 5)):
    print(f"fifth {k + 1}: {len(g)} rows, mean P {p[g].mean():.4f}, went up {y[g].mean():.4f}")

worst = 0.0
windows = sorted({int(r["window"]) for r in rows if r["window"]})
for w in windows:
    test = [t for t, r in enumerate(rows) if r["window"] == str(w)]
    start = test[0]
    lo = max(0, start - a.train)
    x_tr, y_tr = [], []
    for t in range(lo, start):
        if t + a.horizon >= start:
            break
        r = rows[t]
        if r[names[0]] == "" or r["label"] == "":
            continue
        x_tr.append([float(r[c]) for c in names])
        y_tr.append(int(r["label"]))
    x_tr = np.array(x_tr)
    mu, sd = x_tr.mean(0), x_tr.std(0)
    sd[sd == 0] = 1.0
    fit = LogisticRegression(C=1.0 / a.l2, solver="newton-cholesky", tol=1e-12, max_iter=1000).fit((x_tr - mu) / sd, y_tr)
    for t in test:
        r = rows[t]
        if not r["p_up"]:
            continue
        x = (np.array([float(r[c]) for c in names]) - mu) / sd
        worst = max(worst, abs(fit.predict_proba(x.reshape(1, -1))[0, 1] - float(r["p_up"])))
print(f"{len(windows)} windows refitted with sklearn: largest |P(up) difference| {worst:.2e}")
