"""Entry point of the local model server: llama-cpp-python's server, with extra buffer types off.

``python -m traces.llama_server <llama_cpp.server arguments>`` is what
``manage.py serve_model`` executes. It differs from ``python -m llama_cpp.server``
in one thing: models load with ``use_extra_bufts = False``.

Why: a llama.cpp built natively on a CPU with AMX (Intel Sapphire Rapids and
later, as on the CI machine) places the weights in the AMX "extra" buffer type,
and llama-cpp-python 0.3.36's llama.cpp then segfaults in ``llama_decode`` on
the first completion with SmolLM2's Q4_1 weights (reproduced: the same call
answers with extra buffer types off). llama-cpp-python offers no server flag
for it and pip reuses a wheel it built once, so the switch is made here, at
run time, for every build. For a 135M model the repacked layouts bring
nothing measurable.

This module imports neither Django nor the studio: it runs in the model
server's own process.
"""

from __future__ import annotations

from typing import Any


def _without_extra_buffer_types() -> None:
    """Make every ``Llama`` created in this process load with ``use_extra_bufts = False``."""
    import llama_cpp
    import llama_cpp.llama as llama_module

    default_params = llama_cpp.llama_model_default_params

    def model_params() -> Any:
        params = default_params()
        params.use_extra_bufts = False
        return params

    llama_cpp.llama_model_default_params = model_params
    llama_module.llama_cpp.llama_model_default_params = model_params


def main() -> None:
    """Run llama-cpp-python's server (arguments from ``sys.argv``) with extra buffer types off."""
    _without_extra_buffer_types()
    from llama_cpp.server.__main__ import main as server_main

    server_main()


if __name__ == "__main__":
    main()
