"""Deploy and integrate: live versions, the invoke API, per-workflow OpenAPI documents, triggers.

A Django app of its own (label ``deploy``) inside ``agents``: its rows point
at workflows, versions and runs. Layering (import-linter): ``agents.deploy``
sits below the entry points (``agents.api``, ``agents.views``, tasks,
management commands) and above ``agents.runtime`` and ``agents.services``.
"""
