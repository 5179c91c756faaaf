"""Evaluations: datasets, checks (evaluators), test suites per workflow and their runs.

A capability of ``agents`` with its own Django app (label ``evaluations``):
``models`` (rows), ``checks`` (pure evaluators, no Django), ``services``
(writes), ``selectors`` (reads through the access selectors), ``api`` and
``views`` (entry points), ``urls``. Scores live in ``traces`` (they attach
to runs, steps and spans by id).
"""
