"""Signed evidence: one room for what the gate trusts and why (``docs/signing.md``).

Four questions, four folders, one store that joins them:

``trust/`` *Where trust roots come from.*
    ``roots.py``: a verdict's trust comes from the base revision's trust file, or an
    operator-held file outside the repo (``--trust`` / ``$STATEGATE_TRUST_FILE``),
    never from the revision being judged. ``trustfile.py``: the trust file's model
    (keys, roles, validity windows, revocation). ``keys.py``/``keyring.py``: Ed25519
    keys on disk. ``signer.py``: which key signs evidence on this host.

``signing/`` *How a statement is signed and verified.*
    ``statement.py`` (in-toto Statement v1, predicate types and the role each needs),
    ``canonical.py`` (canonical JSON and digests), ``dsse.py`` (the envelope and its
    pre-authentication encoding), ``sign.py`` (sign; verify signature, role and key
    validity at signing time).

``ledger/`` *How the ledger appends.*
    ``chain.py``: the hash-chained ``ledger.jsonl`` (read, check, append under a lock,
    repair a torn last line). ``commit.py``: a record and its ledger line become
    visible together or not at all (pending file, then publish).

``records/`` *What counts as evidence.*
    ``predicates.py``: the typed predicates (backup, restore drill, rehearsal, smoke,
    DR drill). ``typed.py``: write one signed and ledgered, read them back verified,
    find the newest passing one. ``artifact.py``/``compression.py``/``writeback.py``:
    backup artifacts outside git, written atomically and verified by size and sha256.

``approvals/``: an operator's approval of a packet (``approval.py``: what it binds
and how it is checked; ``store.py``: where it is written; ``packet.py``: what it
binds from a packet).

``store.py`` joins them: :class:`~stategate.evidence.store.EvidenceStore` holds a
repo's layout (``layout.py``) and trust roots, opened once at a command's edge and
handed down; a record counts only when its file is ledgered with the same sha256,
the chain is intact, and its signature verifies with a key trusted for its role at
signing time. ``audit.py`` checks a whole repo that way (``stategate evidence
verify``). Nothing here reads the work tree's policy: a command opens the platform
once (``stategate.workspace``) and passes the layout it gives; only ``trust/roots.py``
reads a policy, the base revision's, from git, for the trust file it names
(``tests/unit/test_layering.py`` keeps it so).
"""
