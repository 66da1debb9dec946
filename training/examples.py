"""Example data as the CSV files a user would bring: scikit-learn's bundled data sets (no
download) and a shop's orders with text categories and missing values.

`python -m training.examples DIR` writes cancer.csv (binary: diagnosis), wine.csv
(multi-class: cultivar), diabetes.csv (regression: target), orders.csv (spend for
regression, big for binary) and transactions.csv (binary, 0.5 % fraud: the fraud example's)
into DIR. The tests train on the same files.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.datasets import load_breast_cancer, load_diabetes, load_wine, make_classification


def _snake(name: str) -> str:
    """scikit-learn's column names ("mean radius", "od280/od315...") as feature names readings can carry."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name.strip())


def cancer_csv(folder: Path) -> Path:
    """30 numeric features, binary label as text (benign, malignant): a stand-in for fraud."""
    data = load_breast_cancer(as_frame=True)
    frame = data.frame.rename(columns=_snake)
    frame["diagnosis"] = np.where(frame.pop("target") == 1, "benign", "malignant")
    path = folder / "cancer.csv"
    frame.to_csv(path, index=False)
    return path


def wine_csv(folder: Path) -> Path:
    """13 numeric features, three cultivars as text labels."""
    frame = load_wine(as_frame=True).frame.rename(columns=_snake)
    frame["cultivar"] = [f"class_{t}" for t in frame.pop("target")]
    path = folder / "wine.csv"
    frame.to_csv(path, index=False)
    return path


def diabetes_csv(folder: Path) -> Path:
    """10 numeric features, a continuous target (disease progression)."""
    path = folder / "diabetes.csv"
    load_diabetes(as_frame=True).frame.to_csv(path, index=False)
    return path


def shop_frame(rows: int = 600, seed: int = 0) -> pd.DataFrame:
    """A shop's orders: a text category and numbers with gaps; spend depends on all of them."""
    rng = np.random.default_rng(seed)
    channel = rng.choice(["app", "store", "web"], rows)
    basket = rng.integers(1, 12, rows).astype(float)
    member = rng.choice(["yes", "no"], rows)
    spend = basket * np.select([channel == "app", channel == "store"], [12.0, 20.0], 15.0)
    spend = spend * np.where(member == "yes", 1.3, 1.0) + rng.normal(0, 3, rows)
    frame = pd.DataFrame({"channel": channel, "basket": basket, "member": member, "spend": spend.round(2)})
    frame["channel"] = frame["channel"].mask(rng.random(rows) < 0.05)
    frame["basket"] = frame["basket"].mask(rng.random(rows) < 0.05)
    frame["big"] = np.where(frame["spend"] > 150, "yes", "no")
    return frame


def orders_csv(folder: Path) -> Path:
    """The shop's orders with both labels: spend (regression) and big (binary)."""
    path = folder / "orders.csv"
    shop_frame().to_csv(path, index=False)
    return path


# The fraud example's transactions (nothing can be downloaded, so they are generated, with these
# properties): 28 anonymised features v1..v28 as a card network's PCA components would be (unit
# Gaussian clusters, 6 of them informative, 6 redundant combinations of those, the rest noise),
# the amount in dollars (log-normal: a median of $33 for a good customer, $66 for fraud, with a
# wider spread) and the hour of the day (fraud twice as likely at night, 0-5 h); 0.5 % fraud, and
# 0.1 % of labels flipped (chargebacks filed wrongly, fraud never reported).
FRAUD_SHARE = 0.005


def transactions_frame(rows: int = 40_000, seed: int = 7) -> pd.DataFrame:
    """Card transactions with 30 numeric features and a rare label, `fraud` (1) or not (0)."""
    x, y = make_classification(
        n_samples=rows,
        n_features=28,
        n_informative=6,
        n_redundant=6,
        n_clusters_per_class=2,
        weights=[1 - FRAUD_SHARE],
        flip_y=0.001,
        class_sep=1.0,
        random_state=seed,
    )
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(np.round(x, 4), columns=[f"v{i}" for i in range(1, 29)])
    fraud = y == 1
    frame["amount"] = np.round(np.exp(np.where(fraud, rng.normal(4.2, 1.2, rows), rng.normal(3.5, 1.0, rows))), 2)
    night = rng.random(rows) < np.where(fraud, 0.5, 0.25)
    frame["hour"] = np.where(night, rng.integers(0, 6, rows), rng.integers(6, 24, rows))
    frame["fraud"] = y
    return frame


def transactions_csv(folder: Path, rows: int = 40_000, seed: int = 7) -> Path:
    """transactions_frame as the CSV a fraud team would export."""
    path = folder / "transactions.csv"
    transactions_frame(rows, seed).to_csv(path, index=False)
    return path


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(description="Write example CSV files to train on.")
    parser.add_argument("folder", type=Path)
    folder = parser.parse_args(argv).folder
    folder.mkdir(parents=True, exist_ok=True)
    for make in (cancer_csv, wine_csv, diabetes_csv, orders_csv, transactions_csv):
        print(make(folder))
    return 0


def shop_csv(folder: Path, label: str = "spend") -> Path:
    """shop_frame as a CSV with one label: spend (regression) or big (binary)."""
    frame = shop_frame()
    drop = "big" if label == "spend" else "spend"
    path = folder / f"shop-{label}.csv"
    frame.drop(columns=drop).to_csv(path, index=False)
    return path


if __name__ == "__main__":
    raise SystemExit(main())
