"""A small, offline training program for the kind cluster's trainer image: a least-squares fit.

Reads every CSV file under the dataset directory (rows of numbers; the last column is the target,
a first line that does not parse is a header), fits the target as a linear function of the other
columns with numpy, and writes the coefficients to <output>/model.json.
    python3 /opt/train/train.py [DATASET_DIR] [OUTPUT_DIR]      (default: /data /output)
"""

import json
import pathlib
import sys

import numpy as np


def rows(directory: pathlib.Path) -> list[list[float]]:
    found = []
    for path in sorted(directory.rglob("*.csv")):
        for number, line in enumerate(path.read_text().splitlines()):
            if not line.strip():
                continue
            try:
                found.append([float(x) for x in line.split(",")])
            except ValueError:
                if number == 0:
                    continue  # a header
                raise SystemExit(f"{path}:{number + 1}: not a row of numbers: {line!r}") from None
    return found


def main() -> None:
    data = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "/data")
    output = pathlib.Path(sys.argv[2] if len(sys.argv) > 2 else "/output")
    table = rows(data)
    if not table:
        raise SystemExit(f"no rows of numbers in any CSV file under {data}")
    matrix = np.array(table)
    features = np.hstack([matrix[:, :-1], np.ones((len(matrix), 1))])
    coefficients, residuals, _, _ = np.linalg.lstsq(features, matrix[:, -1], rcond=None)
    model = {
        "kind": "least-squares",
        "rows": len(matrix),
        "coefficients": [round(float(c), 12) for c in coefficients],
        "residual": float(residuals[0]) if len(residuals) else 0.0,
    }
    output.mkdir(parents=True, exist_ok=True)
    (output / "model.json").write_text(json.dumps(model, indent=2) + "\n")
    print(f"trained on {len(matrix)} rows: {model['coefficients']}")


if __name__ == "__main__":
    main()
