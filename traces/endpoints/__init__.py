"""Model endpoints in the app: provider presets, add/edit/delete, Test connection (``/p/<project>/settings/endpoints/``)."""
