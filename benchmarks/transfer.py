"""Transfer benchmark (BENCHMARK_PROTOCOL.md): a thin wrapper over ``metahp bench transfer``.

    python benchmarks/transfer.py                 # five external suites, all methods, 5 seeds
    python benchmarks/transfer.py --quick         # CI-sized
    python benchmarks/transfer.py --suite svm --methods random,gp,metahp

Writes benchmarks/results/transfer_<suite>.{json,md,png}; `benchmarks/update_benchmarks_doc.py` renders the
tables of docs/benchmarks.md and the README's headline from them.
"""

from __future__ import annotations

import sys

from metahp.cli import main

if __name__ == "__main__":
    sys.exit(main(["bench", "transfer", *sys.argv[1:]]))
