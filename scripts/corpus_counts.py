"""Per-class module counts over the shared corpus (issue 19's note): the labelled compose
entries (tests/data/corpus_labels.yaml, with per-class agreement against the labels) and
the Kubernetes manifests. Usage: .venv/bin/python scripts/corpus_counts.py"""

from __future__ import annotations

import collections
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from stategate.platform import load_platform  # noqa: E402
from stategate.policy.schema import InventorySource  # noqa: E402
from tests.conftest import SHARED  # noqa: E402
from tests.corpus.test_corpus_classification import _classify, _entries  # noqa: E402


def compose() -> None:
    counts: collections.Counter[str] = collections.Counter()
    tp: collections.Counter[str] = collections.Counter()
    fp: collections.Counter[str] = collections.Counter()
    fn: collections.Counter[str] = collections.Counter()
    total = 0
    entries = _entries()  # the files compose accepts
    for entry in entries:
        modules = _classify(entry)
        for module in modules.values():
            total += 1
            counts.update(c.value for c in module.classes)
        for name, label in entry["services"].items():
            got = {c.value for c in modules[name].classes}
            want = set(label["classes"])
            tp.update(got & want)
            fp.update(got - want)
            fn.update(want - got)
    print(f"compose corpus: {len(entries)} labelled entries, {total} modules")
    print(f"  {'class':15} {'modules':>7} {'F1 vs labels':>12}")
    for cls in sorted(set(counts) | set(fn)):
        p = tp[cls] / (tp[cls] + fp[cls]) if tp[cls] + fp[cls] else 0.0
        r = tp[cls] / (tp[cls] + fn[cls]) if tp[cls] + fn[cls] else 0.0
        f1 = 2 * p * r / (p + r) if p + r else 0.0
        print(f"  {cls:15} {counts[cls]:7} {f1:12.3f}")


def kubernetes() -> None:
    root = SHARED / "corpus" / "kubernetes"
    platform = load_platform(root, inventory=InventorySource.KUBERNETES)
    counts = collections.Counter(c.value for m in platform.modules.values() for c in m.classes)
    print(f"kubernetes corpus: {len(platform.modules)} modules")
    for cls in sorted(counts):
        print(f"  {cls:15} {counts[cls]:7}")


if __name__ == "__main__":
    compose()
    kubernetes()
