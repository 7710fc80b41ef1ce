"""The scaling study of reverse-modeling scorer recipes (issue 18): which recipe gives S a
coherence signal, and from what training compute?

Each recipe is a ``goldpan train-scorers`` command on the demo corpus, then the coherence
benchmark (``benchmarks/coherence.py``) on the saved benchmark texts at the scorers' context.
``summary`` reads every finished recipe and prints one table: parameters, tokens per direction,
training compute (6 x parameters x tokens, both directions), held-out losses, and pair
accuracies of S, forward and reverse loss.

    python benchmarks/scorer_study.py prepare --out runs/scorer-study     # corpus + texts
    python benchmarks/scorer_study.py run --out runs/scorer-study default joint prose ...
    python benchmarks/scorer_study.py summary --out runs/scorer-study
    python benchmarks/scorer_study.py plot --out runs/scorer-study   # docs/scorer_study.png

Recipes run one after another, each single-threaded unless OMP_NUM_THREADS says otherwise; run
two ``run`` commands with different recipes side by side to use two cores.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# name -> (train-scorers arguments, benchmark arguments)
RECIPES: dict[str, tuple[list[str], list[str]]] = {
    "default": ([], []),
    "joint": (["--joint"], []),
    "prose": (["--source", "wikipedia_en", "--source", "news"], []),
    "ctx512": (["--max-length", "512", "--steps", "75"], ["--max-length", "512"]),
    # The default's tokens times 1/4, 1/2 and 4 (its 300 steps of 16 x 128 tokens).
    "tokens_quarter": (["--steps", "75", "--set", "warmup_steps=5"], []),
    "tokens_half": (["--steps", "150", "--set", "warmup_steps=10"], []),
    "tokens4x": (["--steps", "1200"], []),
    "joint4x": (["--joint", "--steps", "1200"], []),
    "wide": (["--hidden-size", "256", "--layers", "6", "--set", "intermediate_size=768"], []),
    "lora135m": (["--init-from", "smollm2-135m-instruct", "--lora", "--steps", "30",
                  "--set", "batch_size=8", "--set", "learning_rate=5e-4",
                  "--set", "warmup_steps=2", "--set", "eval_every=10",
                  # Few held-out documents: the 135M model's held-out pass dominates otherwise.
                  "--set", "sample_docs=1000", "--set", "held_out_docs=10"],
                 ["--pairs", "30", "--originals", "0", "--max-length", "512"]),
    # No training: the pretrained model's forward loss, the reference the issue names.
    "smollm2-forward": ([], ["--pairs", "30", "--originals", "0", "--max-length", "512"]),
}
PRETRAINED_REFERENCE = "smollm2-135m-instruct"
# Compute already spent before a recipe starts: SmolLM2-135M saw 2 T tokens (its model card),
# 6 x 134.5 M parameters x 2e12 tokens, in PFLOP. It puts the pretrained points on the curve.
PRETRAINING_PFLOP = {"lora135m": 6 * 134.5e6 * 2e12 / 1e15,
                     "smollm2-forward": 6 * 134.5e6 * 2e12 / 1e15}


def prepare(out: Path) -> None:
    from goldpan.data.demo_corpus import build_demo_corpus

    out.mkdir(parents=True, exist_ok=True)
    if not (out / "corpus.jsonl").is_file():
        build_demo_corpus(out / "corpus.jsonl")
    subprocess.run([sys.executable, str(ROOT / "benchmarks" / "coherence.py"), "--save-texts",
                    str(out / "texts.json"), "--corpus", str(out / "corpus.jsonl")], check=True)


def run(out: Path, names: list[str]) -> None:
    environment = {"OMP_NUM_THREADS": "1", **os.environ, "HF_HUB_OFFLINE": "1"}
    for name in names:
        train_args, bench_args = RECIPES[name]
        folder = out / name
        if (out / f"{name}.bench.txt").is_file():
            print(f"{name}: done before")
            continue
        started = time.perf_counter()
        if name == "smollm2-forward":
            models = ["--forward", PRETRAINED_REFERENCE]
        else:
            with open(out / f"{name}.train.log", "wb") as log:
                subprocess.run([sys.executable, "-m", "goldpan", "train-scorers", "--data",
                                str(out / "corpus.jsonl"), "--out", str(folder), *train_args],
                               check=True, stdout=log, stderr=subprocess.STDOUT, env=environment)
            models = (["--joint", str(folder / "joint")] if "--joint" in train_args else
                      ["--forward", str(folder / "forward"), "--reverse", str(folder / "reverse")])
        trained = time.perf_counter()
        result = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "coherence.py"),
                                 *models, "--texts", str(out / "texts.json"), *bench_args],
                                check=True, capture_output=True, text=True, env=environment)
        timing = f"train_s={trained - started:.0f} bench_s={time.perf_counter() - trained:.0f}"
        (out / f"{name}.bench.txt").write_text(result.stdout + timing + "\n")
        print(f"{name}: {timing}")


def _parameters(folder: Path) -> int:
    from safetensors import safe_open

    total = 0
    with safe_open(str(folder / "model.safetensors"), "pt") as handle:
        for key in handle.keys():  # noqa: SIM118 (a safetensors handle is no mapping)
            count = 1
            for size in handle.get_slice(key).get_shape():
                count *= size
            total += count
    return total


def _accuracies(text: str) -> dict[str, list[str]]:
    rows = {}
    for match in re.finditer(r"^\| (sentences|paragraphs|markov) \((\d+)\) \| (.+) \|$", text,
                             re.MULTILINE):
        rows[match.group(1)] = [c.strip() for c in match.group(3).split("|")]
    return rows


def study_rows(out: Path) -> list[dict]:
    """Every finished recipe: its size, budget, compute, losses and pair accuracies."""
    rows = []
    for name in RECIPES:
        bench = out / f"{name}.bench.txt"
        if not bench.is_file():
            continue
        text = bench.read_text()
        row: dict = {"recipe": name, "accuracies": _accuracies(text),
                     "train_s": int(dict(re.findall(r"(\w+_s)=(\d+)", text)).get("train_s", 0))}
        curves_path = out / name / "curves.json"
        if curves_path.is_file():
            report = json.loads(curves_path.read_text())
            curves = report["curves"]
            folder = out / name / ("joint" if report["config"]["joint"] else "forward")
            row["parameters"] = _parameters(folder)
            row["tokens"] = curves["forward"][-1]["tokens"]
            row["pflop"] = 6 * row["parameters"] * row["tokens"] * 2 / 1e15
            row["losses"] = {d: curve[-1]["held_out_loss"] for d, curve in curves.items()}
        if name in PRETRAINING_PFLOP:
            row["pflop"] = row.get("pflop", 0.0) + PRETRAINING_PFLOP[name]
        rows.append(row)
    return rows


def summary(out: Path) -> None:
    print("| recipe | parameters | tokens per direction | training PFLOP | held-out loss fwd / "
          "rev | sentences S / fwd / rev | paragraphs S / fwd / rev | markov S / fwd / rev | "
          "train min |")
    print("|---|---:|---:|---:|---|---|---|---|---:|")
    for row in study_rows(out):
        cells = [" / ".join(row["accuracies"].get(kind, ["-"])) for kind in
                 ("sentences", "paragraphs", "markov")]
        if "parameters" in row:
            size = [f"{row['parameters'] / 1e6:.1f} M", f"{row['tokens'] / 1e6:.2f} M",
                    f"{row['pflop']:.3g}", " / ".join(f"{v:.3f}" for v in row["losses"].values())]
        else:
            size = ["pretrained", "-", f"{row['pflop']:.3g}" if "pflop" in row else "-", "-"]
        print(f"| {row['recipe']} | " + " | ".join(size + cells) +
              f" | {row['train_s'] / 60:.0f} |")


def plot(out: Path, image: Path) -> None:
    """Pair accuracy of S, the forward and the reverse loss against training compute, one panel
    a kind of pair."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in study_rows(out) if "pflop" in r]
    figure, axes = plt.subplots(1, 3, figsize=(13, 4), sharey=True)
    for axis, kind in zip(axes, ("sentences", "paragraphs", "markov"), strict=True):
        for index, label in ((0, "S"), (1, "forward loss"), (2, "reverse loss")):
            points = [(r["pflop"], float(r["accuracies"][kind][index]), r["recipe"])
                      for r in rows if kind in r["accuracies"]
                      and r["accuracies"][kind][index] not in ("-", "nan")]
            axis.scatter([p[0] for p in points], [p[1] for p in points], label=label,
                         marker="ox+"[index])
            if index == 0:
                for x, y, name in points:
                    axis.annotate(name, (x, y), fontsize=7, xytext=(3, 3),
                                  textcoords="offset points")
        axis.axhline(0.5, color="grey", linewidth=0.8, linestyle="--")
        axis.set_xscale("log")
        axis.set_title(f"original vs {kind} shuffled" if kind != "markov" else
                       "original vs Markov text")
    figure.supxlabel("training compute, PFLOP (both directions; a pretrained model's pretraining "
                     "included)", fontsize=9)
    axes[0].set_ylabel("pair accuracy (original preferred)")
    axes[0].legend()
    figure.tight_layout()
    figure.savefig(image, dpi=110)
    print(f"-> {image}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("verb", choices=["prepare", "run", "summary", "plot"])
    parser.add_argument("recipes", nargs="*", help=f"For run: any of {', '.join(RECIPES)}.")
    parser.add_argument("--out", type=Path, default=Path("runs/scorer-study"))
    parser.add_argument("--image", type=Path, default=ROOT / "docs" / "scorer_study.png")
    args = parser.parse_intermixed_args()  # recipes may follow --out
    if args.verb == "prepare":
        prepare(args.out)
    elif args.verb == "run":
        unknown = [r for r in args.recipes if r not in RECIPES]
        if unknown or not args.recipes:
            parser.error(f"name recipes from: {', '.join(RECIPES)}")
        run(args.out, args.recipes)
    elif args.verb == "summary":
        summary(args.out)
    else:
        plot(args.out, args.image)


if __name__ == "__main__":
    main()
