"""Project administration in the app: projects, members, invitations, API keys, secrets, audit log.

``services`` (writes: atomic, audited), ``selectors`` (reads scoped by role),
``views`` (HTML pages under ``/p/<project>/settings/`` and ``/p/<project>/audit/``)
and ``api`` (``/api/v1/projects/<project>/members`` and ``/api-keys``). Model
endpoints have their pages in ``traces/endpoints``, the app that owns the rows.
"""
