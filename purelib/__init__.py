"""Pure Python shared by the engine and the apps: the Jinja2 sandbox (:mod:`purelib.templating`),
signatures (:mod:`purelib.signature`) and their errors (:mod:`purelib.errors`).

Below every app in the layers (``agents → prompts → traces → studio → purelib``):
it imports no Django, Celery, Channels, litellm nor any studio app, so the
engine (``agents.engine``) and ``prompts`` parse, check and render with the
same code without either importing the other.
"""
