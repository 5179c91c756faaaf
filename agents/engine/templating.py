"""The engine's Jinja2 sandbox: :mod:`purelib.templating`, re-exported under the engine's name."""

from purelib.templating import MAX_OUTPUT_CHARS as MAX_OUTPUT_CHARS
from purelib.templating import evaluate as evaluate
from purelib.templating import expression_problems as expression_problems
from purelib.templating import project_variables as project_variables
from purelib.templating import render as render
from purelib.templating import secret_names as secret_names
from purelib.templating import template_problems as template_problems
from purelib.templating import template_variables as template_variables
from purelib.templating import variable_names as variable_names
