"""The local web app (``cordsim serve``): build a scenario in the browser, run it, see the
figures, endpoints and validation status, download the scenario TOML and the results.

Needs the ``app`` extra (FastAPI, uvicorn); see :mod:`cordsim.app.server`.
"""
