"""Trains the fraud model on a training set and exports it to ONNX, scaling included.

Runs in the model environment (`rtai model train` starts it there):
    python -m rtai.models.train --training-set T --out DIR --seed 42 --holdout-days 5 --threshold 0.5

The model: a StandardScaler and a small MLP (ReLU), exported as one ONNX graph with one FP32
input `features` [batch, F] whose columns the model's metadata names in order
(`input_columns`, model_feeds.py), and one output `fraud_score` [batch, 1]: standard operators
only (Sub, Div, MatMul, Add, Relu, Sigmoid), which TensorRT builds. The holdout is the last days
of the set (by event time), never a random split. Writes DIR/model.onnx, DIR/report.json and
DIR/sample.parquet (holdout rows and their scores: the reference the optimized variants and Triton
are checked against).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import onnx
import pandas as pd
from onnx import TensorProto, helper, numpy_helper
from sklearn.metrics import average_precision_score, precision_score, recall_score, roc_auc_score
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from flink_jobs.clients.model_feeds import INPUT_COLUMNS, input_columns_text
from flink_jobs.stages.inference.request_features import REQUEST_FEATURES, request_features
from rtai.features import training_metadata

INPUT = "features"
OUTPUT = "fraud_score"
NEGATIVES_PER_POSITIVE = 10  # training rows only; the holdout keeps the true fraud rate
SAMPLE_ROWS = 2048


def load(path: Path) -> tuple[pd.DataFrame, list[str]]:
    """The training set with the request features added, and the model's input columns in order."""
    feast_features = training_metadata.feature_names(path)
    frame = pd.read_parquet(path)
    extra = [request_features(*row) for row in frame[["amount", "channel", "merchant_country", "card_country"]].values]
    frame = frame.drop(columns=["amount"]).join(pd.DataFrame(extra, index=frame.index))
    return frame, [*REQUEST_FEATURES, *feast_features]


def split(frame: pd.DataFrame, holdout_days: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    cut = frame["event_time"].max() - pd.Timedelta(days=holdout_days)
    return frame[frame["event_time"] <= cut], frame[frame["event_time"] > cut]


def balance(train: pd.DataFrame, seed: int) -> pd.DataFrame:
    positives = train[train["is_fraud"]]
    negatives = train[~train["is_fraud"]]
    keep = min(len(negatives), NEGATIVES_PER_POSITIVE * len(positives))
    return pd.concat([positives, negatives.sample(n=keep, random_state=seed)]).sort_values("event_time")


def fit(train: pd.DataFrame, columns: list[str], seed: int) -> Pipeline:
    model = Pipeline(
        [
            ("scale", StandardScaler()),
            (
                "mlp",
                MLPClassifier(
                    hidden_layer_sizes=(32, 16),
                    alpha=1e-4,
                    batch_size=512,
                    learning_rate_init=1e-3,
                    max_iter=60,
                    early_stopping=True,
                    n_iter_no_change=6,
                    random_state=seed,
                ),
            ),
        ]
    )
    model.fit(train[columns].to_numpy(np.float32), train["is_fraud"].to_numpy())
    return model


def to_onnx(model: Pipeline, columns: list[str]) -> onnx.ModelProto:
    """The fitted scaler and MLP as a plain ONNX graph: Sub/Div (scaling), MatMul/Add/Relu per
    hidden layer, MatMul/Add/Sigmoid out; standard operators only, which TensorRT builds. One FP32
    input `features` [batch, len(columns)] (the columns in the metadata), output `fraud_score`
    [batch, 1] = P(fraud)."""
    scaler, mlp = model.named_steps["scale"], model.named_steps["mlp"]
    if mlp.activation != "relu" or mlp.out_activation_ != "logistic":
        raise SystemExit(f"the ONNX export handles relu/logistic MLPs, got {mlp.activation}/{mlp.out_activation_}")
    initializers = [
        numpy_helper.from_array(scaler.mean_.astype(np.float32)[None, :], "scale_mean"),
        numpy_helper.from_array(scaler.scale_.astype(np.float32)[None, :], "scale_std"),
    ]
    nodes = [
        helper.make_node("Sub", [INPUT, "scale_mean"], ["centred"]),
        helper.make_node("Div", ["centred", "scale_std"], ["h0"]),
    ]
    layers = len(mlp.coefs_)
    for i, (weights, bias) in enumerate(zip(mlp.coefs_, mlp.intercepts_, strict=True)):
        initializers += [
            numpy_helper.from_array(weights.astype(np.float32), f"w{i}"),
            numpy_helper.from_array(bias.astype(np.float32), f"b{i}"),
        ]
        nodes += [
            helper.make_node("MatMul", [f"h{i}", f"w{i}"], [f"xw{i}"]),
            helper.make_node("Add", [f"xw{i}", f"b{i}"], [f"z{i}"]),
            helper.make_node(
                "Relu" if i < layers - 1 else "Sigmoid", [f"z{i}"], [f"h{i + 1}" if i < layers - 1 else OUTPUT]
            ),
        ]
    graph = helper.make_graph(
        nodes,
        "fraud_mlp",
        [helper.make_tensor_value_info(INPUT, TensorProto.FLOAT, [None, len(columns)])],
        [helper.make_tensor_value_info(OUTPUT, TensorProto.FLOAT, [None, 1])],
        initializer=initializers,
    )
    exported = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="rtai")
    exported.ir_version = 8  # readable by the onnxruntime of every environment
    helper.set_model_props(exported, {INPUT_COLUMNS: input_columns_text({INPUT: columns})})
    onnx.checker.check_model(exported)
    return exported


def evaluate(scores: np.ndarray, labels: np.ndarray, threshold: float) -> dict[str, float]:
    flagged = scores >= threshold
    return {
        "roc_auc": round(float(roc_auc_score(labels, scores)), 4),
        "pr_auc": round(float(average_precision_score(labels, scores)), 4),
        "threshold": threshold,
        "precision_at_threshold": round(float(precision_score(labels, flagged, zero_division=0)), 4),
        "recall_at_threshold": round(float(recall_score(labels, flagged, zero_division=0)), 4),
        "holdout_rows": len(labels),
        "holdout_fraud_rate": round(float(labels.mean()), 5),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--training-set", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--holdout-days", type=float, required=True)
    parser.add_argument("--threshold", type=float, required=True)
    args = parser.parse_args(argv)

    started = time.monotonic()
    frame, columns = load(args.training_set)
    train, holdout = split(frame, args.holdout_days)
    if train["is_fraud"].sum() == 0 or holdout["is_fraud"].sum() == 0:
        raise SystemExit("the training set needs fraud both before and inside the holdout days")
    model = fit(balance(train, args.seed), columns, args.seed)
    graph = to_onnx(model, columns)
    args.out.mkdir(parents=True, exist_ok=True)
    onnx.save(graph, args.out / "model.onnx")

    import onnxruntime as ort

    session = ort.InferenceSession(str(args.out / "model.onnx"), providers=["CPUExecutionProvider"])
    x = holdout[columns].to_numpy(np.float32)
    scores = session.run([OUTPUT], {INPUT: x})[0][:, 0]
    drift = float(np.abs(scores - model.predict_proba(x)[:, 1]).max())
    if drift > 1e-5:
        raise SystemExit(f"the ONNX export differs from the fitted model by {drift:.2e} (max abs)")
    metrics = evaluate(scores, holdout["is_fraud"].to_numpy(), args.threshold)
    sample = holdout.sample(n=min(SAMPLE_ROWS, len(holdout)), random_state=args.seed)
    sample_scores = scores[holdout.index.get_indexer(sample.index)]
    sample[[*columns, "is_fraud"]].assign(reference_score=sample_scores).to_parquet(args.out / "sample.parquet")
    report = {
        "columns": columns,
        "output": OUTPUT,
        "seed": args.seed,
        "training_set": str(args.training_set),
        "train_rows": len(train),
        "holdout_days": args.holdout_days,
        "holdout": metrics,
        "onnx_max_abs_difference": drift,
        "seconds": round(time.monotonic() - started, 1),
    }
    (args.out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    print(
        f"trained in {report['seconds']} s on {len(train):,} rows; holdout ({args.holdout_days:g} days, "
        f"{metrics['holdout_rows']:,} rows, fraud {metrics['holdout_fraud_rate']:.2%}): "
        f"ROC AUC {metrics['roc_auc']}, PR AUC {metrics['pr_auc']}, at {args.threshold}: "
        f"precision {metrics['precision_at_threshold']}, recall {metrics['recall_at_threshold']}\n"
        f"wrote {args.out / 'model.onnx'}"
    )


if __name__ == "__main__":
    main()
