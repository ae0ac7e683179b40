"""Publishing a verdict to the forge: PR comment, labels and commit status.

``document`` reads the ``stategate.verdict/v1`` file ``check`` wrote; ``plan`` is the
pure decision (what to create, update, remove); ``dialects`` turns a plan into the
GitHub or Gitea/Forgejo requests; ``http`` is the one edge that talks to the server.
"""
