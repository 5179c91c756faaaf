"""HTML views of workflows and runs (the JSON API lives in ``agents.api``)."""

from agents.views.pages import home, project_home, run_cancel, run_detail, run_retry, workflow_detail, workflow_run

__all__ = ["home", "project_home", "run_cancel", "run_detail", "run_retry", "workflow_detail", "workflow_run"]
