"""Observability pages of a project: the trace explorer, a run's trace, usage and budgets.

They live in ``agents`` (not ``traces``) because a trace's root is a run and
its children are steps: ``traces`` may not import ``agents`` (imports point
``agents -> prompts -> traces -> studio``). Reads of spans go through the
selector functions here, so a change of the span model stays local to them.
"""
