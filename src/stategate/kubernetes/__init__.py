"""Kubernetes manifests as an inventory source: workloads become modules.

``manifest`` turns parsed documents into typed objects (pure), ``load`` reads
files and kustomizations through a :class:`~stategate.source.Source`,
``model`` maps a workload to the one module model (a compose ``Service``), and
``classify`` finds its upgrade classes. What is read and what is ignored:
docs/kubernetes.md.
"""
