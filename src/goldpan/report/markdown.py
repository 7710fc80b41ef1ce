"""The Markdown tables of the methods' results: ``results.md`` of a distillation run,
``evaluation.md`` of a Montessori run, and the comparisons over seeds. The methods compute and
save their figures; the command line writes and prints these from them."""

from __future__ import annotations

from goldpan.distill.compare import Comparison
from goldpan.distill.results import METHOD_LABELS, VOTE_LABELS, DistillResults
from goldpan.synth.compare import MontessoriComparison
from goldpan.synth.results import Evaluation
from goldpan.util.intervals import Estimate


def _cell(value: float | None, digits: int = 4, missing: str = "-") -> str:
    return missing if value is None else f"{value:.{digits}f}"


def _judged_cell(value: float | None, informative: bool | None) -> str:
    """A win rate, or why there is none: no judge ran, or it tied every comparison."""
    if informative is False:
        return "uninformative"
    return _cell(value, 3)


def montessori_comparison_table(comparison: MontessoriComparison) -> str:
    """Markdown: each run's figures, then the differences over runs and over examples. Every
    loss is an average over held-out examples, each example weighing the same."""
    lines = [
        "| run | held-out loss, Self-Instruct data | held-out loss, Montessori data | "
        "difference | examples | win rate | length-controlled | helpful probes | "
        "above the momentum |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for run in comparison.runs:
        lines.append(
            f"| {run.run} | {run.self_instruct_loss:.4f} | {run.montessori_loss:.4f} | "
            f"{run.difference:+.4f} | {run.examples} | "
            f"{_judged_cell(run.win_rate, run.judge_informative)} | "
            f"{_judged_cell(run.length_controlled_win_rate, run.judge_informative)} | "
            f"{_cell(run.helpful_share, 2)} | {_cell(run.above_momentum_share, 2)} |"
        )
    over_runs, over_examples = comparison.difference_over_runs, comparison.difference_over_examples
    rate, controlled = comparison.win_rate_over_runs, comparison.length_controlled_over_runs
    judged = (
        f"Win rate of the Montessori student over the {comparison.judged_runs} runs whose judge "
        f"decided anything: {rate.mean:.3f} (95% {rate.low:.3f} to {rate.high:.3f}); "
        f"length-controlled {controlled.mean:.3f} (95% {controlled.low:.3f} to "
        f"{controlled.high:.3f})." if comparison.judged_runs else
        "Win rate: uninformative (no run's judge decided a single comparison in both orders)."
    )
    lines += [
        "",
        f"Held-out loss difference (Montessori - Self-Instruct; negative: Montessori better; "
        f"each example weighs the same), mean over {over_runs.n} runs: {over_runs.mean:+.4f}, "
        f"95% interval {over_runs.low:+.4f} to {over_runs.high:+.4f} (t over runs); over the "
        f"{over_examples.n} held-out examples, each averaged over the runs: "
        f"{over_examples.mean:+.4f}, 95% interval {over_examples.low:+.4f} to "
        f"{over_examples.high:+.4f} (the examples' noise only).",
        judged,
    ]
    return "\n".join(lines) + "\n"


def _interval(estimate: Estimate, signed: bool = False) -> str:
    sign = "+" if signed else ""
    return f"{estimate.low:{sign}.3f} to {estimate.high:{sign}.3f}"


def distill_comparison_table(comparison: Comparison) -> str:
    """Markdown: accuracies and paired differences, each with its interval over the runs
    (primary: t with runs - 1 degrees of freedom) and, secondary, over the pooled problems."""
    runs = len(comparison.runs)
    head = " | ".join(f"run {i + 1}" for i in range(runs))
    lines = [
        f"{runs} runs, {sum(comparison.problems)} test problems "
        f"({', '.join(map(str, comparison.problems))}). Primary: the mean over runs with a t "
        f"interval over the runs ({runs - 1} degrees of freedom), which carries the training "
        "noise; secondary: the runs' problems pooled, which counts only the problems' noise.",
        "",
        f"| method | {head} | mean over runs | 95% over runs | pooled | 95% pooled "
        "(secondary) |",
        "|---|" + "---:|" * runs + "---:|---|---:|---|",
    ]
    for row in [*comparison.accuracy, *comparison.votes]:
        cells = " | ".join(f"{value:.3f}" for value in row.per_run)
        lines.append(f"| {row.label} | {cells} | {row.over_runs.mean:.3f} | "
                     f"{_interval(row.over_runs)} | {row.pooled.mean:.3f} | "
                     f"{_interval(row.pooled)} |")
    lines += ["", "Paired differences (same problems; positive: the first is better):", "",
              f"| comparison | {head} | mean over runs | 95% over runs | separated | "
              "95% pooled problems (secondary) |",
              "|---|" + "---:|" * runs + "---:|---|---|---|"]
    for difference in [*comparison.greedy_differences, *comparison.vote_differences]:
        labels = {**METHOD_LABELS, **VOTE_LABELS}
        name = (f"{labels.get(difference.first, difference.first)} - "
                f"{labels.get(difference.second, difference.second)}"
                + (" (exploratory)" if difference.exploratory else ""))
        cells = " | ".join(f"{value:+.3f}" for value in difference.per_run)
        lines.append(f"| {name} | {cells} | {difference.over_runs.mean:+.3f} | "
                     f"{_interval(difference.over_runs, True)} | "
                     f"{'yes' if difference.over_runs.excludes_zero() else 'no'} | "
                     f"{_interval(difference.pooled, True)} |")
    return "\n".join(lines) + "\n"


def distill_results_table(results: DistillResults) -> str:
    """results.md: accuracy per method (with the macro average over subjects and one column per
    out-of-distribution set when there are any), then the self-consistency votes."""
    accuracy, sc, data = results.accuracy, results.self_consistency, results.data
    counts = (
        f"D_pos {data.positive} rationales, D_neg {data.negative} "
        f"({data.questions} training questions, {data.questions_with_both} with both)."
    )
    if not accuracy:
        return counts + "\n"
    extra = list(results.extra_accuracy)
    macro = bool(results.macro_accuracy)
    header = ["method", "accuracy", *(["macro over subjects"] if macro else []), *extra]
    lines = [counts, "", "| " + " | ".join(header) + " |", "|---" + "|---:" * (len(header) - 1)
             + "|"]
    for method, value in accuracy.items():
        cells = [METHOD_LABELS.get(method, method), f"{value:.3f}"]
        if macro:
            cells.append(_cell(results.macro_accuracy.get(method), 3, "–"))
        cells += [_cell(results.extra_accuracy[name].get(method), 3, "–") for name in extra]
        lines.append("| " + " | ".join(cells) + " |")
    blank = [""] * (len(header) - 2)
    lines += ["| " + " | ".join([VOTE_LABELS.get(k, k), f"{v:.3f}", *blank]) + " |"
              for k, v in sc.items()]
    if results.solved_overlap is not None:
        lines += ["", f"Problems solved by both CoT KD and M_neg, over those solved by either "
                      f"(IoU): {results.solved_overlap:.3f}."]
    return "\n".join(lines) + "\n"


def montessori_evaluation_table(evaluation: Evaluation | None) -> str:
    """The comparison of the two students as a Markdown table."""
    judged = evaluation.montessori_vs_self_instruct if evaluation else None
    if evaluation is None or judged is None:
        return "No evaluation: " + ((evaluation.note if evaluation else None) or "none ran") + "\n"
    students = evaluation.students
    rate, lc = judged.win_rate, judged.length_controlled_win_rate
    other_rate = None if rate is None else 1 - rate
    other_lc = None if lc is None else 1 - lc

    def cells(name: str, win_rate: float | None, controlled: float | None) -> str:
        held = students[name].held_out_loss
        return (f"{'-' if held is None else f'{held:.4f}'} | "
                f"{students[name].reference_loss:.4f} | "
                f"{_judged_cell(win_rate, judged.informative)} | "
                f"{_judged_cell(controlled, judged.informative)} |")

    lines = [
        f"Students trained on {evaluation.examples} examples each; held-out loss on "
        f"{evaluation.held_out} held-out examples, judged on {len(judged.outcomes)} held-out "
        "instructions.",
        "",
        "| student data | held-out loss | D_ref loss (diagnostic) | judged win rate vs the "
        "other | length-controlled |",
        "|---|---:|---:|---:|---:|",
        f"| Self-Instruct | {cells('self_instruct', other_rate, other_lc)}",
        f"| Montessori-Instruct | {cells('montessori', rate, lc)}",
        "",
        f"Judged in both orders: Montessori {judged.wins} wins, {judged.losses} losses, "
        f"{judged.ties} ties or inconsistent verdicts (counted as half)"
        + ("." if judged.informative else
           ": the judge decided nothing, so the win rate is uninformative, not 0.500."),
    ]
    if evaluation.note:
        lines += ["", f"Note: {evaluation.note}."]
    return "\n".join(lines) + "\n"
