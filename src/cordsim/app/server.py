"""The web app behind ``cordsim serve``: FastAPI and one static page (no network, no CDN).

The page builds a scenario dict (the structure of a scenario TOML file) and POSTs it as
JSON. The server validates it with :func:`cordsim.design.scenario.scenario_from_dict`,
runs it with :func:`cordsim.io.scenario_outputs.run_and_write` (the code path of
``cordsim run SCENARIO``, so the numbers are the CLI's) in a worker thread, and keeps each
run's folder for its figures and downloads.

==========================  =============================================================
``GET /``                   the page
``GET /api/options``        species, injuries, products (kind, routes, units), routes,
                            schedules and the default scenario
``POST /api/scenario.toml`` the scenario (JSON) as a TOML file, after validation
``POST /api/run``           run the scenario (JSON): endpoints (as in ``endpoints.csv``),
                            figure and download URLs, warnings
``GET /api/runs/ID/FILE``   a file of a run; ``results.zip`` holds them all
``GET /api/validation``     pass counts of ``cordsim validate`` (computed once, ~5 s)
==========================  =============================================================

Bad input (malformed JSON, an unknown product, a negative dose ...) is answered with HTTP 400
and ``{"error": message}``, the message naming the key and what is allowed; the server keeps
running.
"""

from __future__ import annotations

import csv
import io
import json
import shutil
import socket
import tempfile
import threading
import tomllib
import uuid
import warnings
import zipfile
from collections import OrderedDict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response

from cordsim._version import __version__
from cordsim.app.scenario_toml import dumps
from cordsim.errors import CordsimError, ScenarioError

STATIC = Path(__file__).resolve().parent / "static"
MAX_BODY = 256 * 1024  # bytes of a posted scenario
MAX_RUNS = 20  # run folders kept (oldest removed first)


class BadInput(CordsimError):
    """A request the app cannot use (answered with HTTP 400)."""


class NotFound(BadInput):
    """A run or file the app does not have (HTTP 404)."""


def _parse_json(body: bytes) -> Any:
    if len(body) > MAX_BODY:
        raise BadInput(f"scenario is too large ({len(body):,} bytes; at most {MAX_BODY:,})")
    if not body.strip():
        raise BadInput("no scenario sent: POST the scenario as a JSON object")

    def no_constant(name: str) -> Any:
        raise BadInput(f"malformed JSON: {name} is not a number JSON allows")

    try:
        data = json.loads(body, parse_constant=no_constant)
    except UnicodeDecodeError:
        raise BadInput("malformed JSON: the body is not UTF-8 text") from None
    except json.JSONDecodeError as err:
        raise BadInput(f"malformed JSON: {err.msg} at line {err.lineno}, column "
                       f"{err.colno}") from None
    except RecursionError:
        raise BadInput("malformed JSON: nested too deeply") from None
    except ValueError as err:  # e.g. an integer of more than 4,300 digits
        raise BadInput(f"malformed JSON: {err}") from None
    try:  # a lone surrogate (\ud800) is valid JSON but not text a file can hold
        json.dumps(data, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise BadInput("malformed JSON: a string is not valid Unicode (a lone surrogate)") \
            from None
    return data


def options() -> dict[str, Any]:
    """What the page offers: species, injuries, products, routes, schedules, the default."""
    from cordsim.data import SPECIES, builtin_scenarios, injury_presets, products
    from cordsim.design.dosing import AMOUNT_UNITS, ROUTES, SCHEDULES

    default = tomllib.loads(builtin_scenarios()["default"].read_text(encoding="utf-8"))
    return {
        "version": __version__,
        "species": list(SPECIES),
        "injuries": {k: v.get("description", k) for k, v in injury_presets().items()},
        "products": {k: {"kind": v["kind"], "routes": list(v["routes"]),
                         "description": v.get("description", ""),
                         "units": list(AMOUNT_UNITS.get(v["kind"], ()))}
                     for k, v in products().items()},
        "routes": list(ROUTES),
        "schedules": list(SCHEDULES),
        "default": default,
    }


def _given(data: Any) -> Any:
    """The scenario without its ``null`` values (JSON's "not given", which TOML lacks)."""
    if isinstance(data, dict):
        return {k: _given(v) for k, v in data.items() if v is not None}
    if isinstance(data, list):
        return [_given(v) for v in data]
    return data


def _csv_rows(path: Path) -> dict[str, Any]:
    """A CSV file's header and rows as the text written (the numbers exactly as in the file)."""
    with path.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    return {"columns": rows[0] if rows else [], "rows": rows[1:]}


class App:
    """State of one server: its run folders (removed at shutdown) and the validation table."""

    def __init__(self, max_runs: int = MAX_RUNS) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="cordsim-app-"))
        self.runs: OrderedDict[str, Path] = OrderedDict()
        self.max_runs = max_runs
        # one scenario at a time: the warnings filter is process-wide and a run uses the cores
        self.lock = threading.Lock()
        self.runs_lock = threading.Lock()  # the run table and its folders (short holds)
        self.validation: dict[str, Any] | None = None
        self.validation_lock = threading.Lock()

    def close(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)

    def scenario(self, data: Any) -> tuple[Any, list[str]]:
        """The validated scenario and the warnings validation gave; ScenarioError if bad.
        JSON ``null`` means "not given" (as in the TOML written); each arm's parameters are
        resolved too (names, units, values), as a run would."""
        from cordsim.design.scenario import scenario_from_dict
        from cordsim.run.scenarios import arm_simulation

        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            scenario = scenario_from_dict(_given(data), name="web")
            for arm in scenario.arms:
                arm_simulation(scenario, arm)
        return scenario, [str(w.message) for w in caught]

    def toml(self, data: Any) -> tuple[str, str]:
        with self.lock:
            scenario, _ = self.scenario(data)
        return scenario.name, dumps(_given(data))

    def run(self, data: Any) -> dict[str, Any]:
        from cordsim.io.scenario_outputs import run_and_write

        run_id = uuid.uuid4().hex[:12]
        out = self.root / run_id
        with self.lock:
            scenario, notes = self.scenario(data)
            text = dumps(_given(data))
            out.mkdir()
            try:
                (out / "scenario.toml").write_text(text, encoding="utf-8")
                with warnings.catch_warnings(record=True) as caught:
                    warnings.simplefilter("always")
                    _, written, failure = run_and_write(scenario, out)
            except BaseException:
                shutil.rmtree(out, ignore_errors=True)  # an unregistered folder would leak
                raise
            notes += [str(w.message) for w in caught if issubclass(w.category, UserWarning)]
            notes = list(dict.fromkeys(notes))  # each once, and once only when the run
            notes = [n for n in notes  # repeats a note loading gave with its place
                     if not any(o != n and o.endswith(n) for o in notes)]
            with self.runs_lock:
                self.runs[run_id] = out
                while len(self.runs) > self.max_runs:
                    _, old = self.runs.popitem(last=False)
                    shutil.rmtree(old, ignore_errors=True)
        files = ["scenario.toml", *(p.name for p in written)]
        base = f"api/runs/{run_id}/"
        return {
            "id": run_id,
            "name": scenario.name,
            "description": scenario.description,
            "species": scenario.species,
            "injury": scenario.injury.description,
            "days": scenario.days,
            "status": "ok" if failure is None else f"solver failure: {failure}",
            "warnings": notes,
            "endpoints": _csv_rows(out / "endpoints.csv"),
            "figures": {p.stem.removeprefix("fig_"): base + p.name for p in written
                        if p.suffix == ".png"},
            "files": {name: base + name for name in files},
            "zip": base + "results.zip",
        }

    def _folder(self, run_id: str) -> Path:
        folder = self.runs.get(run_id)
        if folder is None:
            raise NotFound(f"no run {run_id!r} (runs are kept until the server stops, the "
                           f"last {self.max_runs})")
        return folder

    def file(self, run_id: str, name: str) -> Path:
        with self.runs_lock:
            folder = self._folder(run_id)
            allowed = {p.name: p for p in folder.iterdir() if p.is_file()}
        if name not in allowed:
            raise NotFound(f"run {run_id} has no file {name!r}; files: "
                           f"{', '.join(sorted(allowed))}")
        return allowed[name]

    def zip(self, run_id: str) -> bytes:
        buf = io.BytesIO()
        with self.runs_lock, zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
            for path in sorted(self._folder(run_id).iterdir()):
                zf.write(path, f"cordsim-{run_id}/{path.name}")
        return buf.getvalue()

    def validation_status(self) -> dict[str, Any]:
        from cordsim.evaluation.validate import validate

        with self.validation_lock:
            if self.validation is None:
                with self.lock, warnings.catch_warnings(record=True):
                    warnings.simplefilter("always")
                    table = validate()
                by_set = [{"set": str(name), "pass": int(part["pass"].sum()),
                           "rows": len(part)}
                          for name, part in table.groupby("set", sort=False)]
                failed = table[~table["pass"].astype(bool)]
                self.validation = {
                    "sets": by_set,
                    "failed": [{k: str(row[k]) for k in ("set", "claim", "source", "expected",
                                                          "simulated")}
                               for _, row in failed.iterrows()],
                }
            return self.validation


def create_app(*, max_runs: int = MAX_RUNS) -> FastAPI:
    """The FastAPI application (``uvicorn`` serves it; tests use its TestClient)."""
    state = App(max_runs)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            state.close()

    app = FastAPI(title="cordsim", version=__version__, lifespan=lifespan, docs_url=None,
                  redoc_url=None, openapi_url=None)
    app.state.cordsim = state

    @app.exception_handler(CordsimError)
    async def bad_input(_: Request, exc: CordsimError) -> JSONResponse:
        status = 404 if isinstance(exc, NotFound) else 400
        return JSONResponse({"error": str(exc)}, status_code=status)

    @app.exception_handler(Exception)
    async def failure(_: Request, exc: Exception) -> JSONResponse:
        return JSONResponse({"error": f"internal error ({type(exc).__name__}): {exc}"},
                            status_code=500)

    @app.get("/", response_class=HTMLResponse)
    def index() -> HTMLResponse:
        return HTMLResponse((STATIC / "index.html").read_text(encoding="utf-8"))

    @app.get("/api/health")
    def health() -> dict[str, str]:
        return {"status": "ok", "version": __version__}

    @app.get("/api/options")
    def get_options() -> dict[str, Any]:
        return options()

    @app.post("/api/scenario.toml")
    async def scenario_toml(request: Request) -> Response:
        data = _parse_json(await request.body())
        name, text = await run_in_threadpool(state.toml, data)
        safe = "".join(c if (c.isascii() and c.isalnum()) or c in "-_." else "_"
                       for c in name)[:60] or "scenario"  # a header holds Latin-1 only
        return Response(text, media_type="application/toml",
                        headers={"Content-Disposition": f'attachment; filename="{safe}.toml"'})

    @app.post("/api/run")
    async def run(request: Request) -> dict[str, Any]:
        data = _parse_json(await request.body())
        return await run_in_threadpool(state.run, data)

    @app.get("/api/runs/{run_id}/results.zip")
    def results_zip(run_id: str) -> Response:
        return Response(state.zip(run_id), media_type="application/zip", headers={
            "Content-Disposition": f'attachment; filename="cordsim-{run_id}.zip"'})

    @app.get("/api/runs/{run_id}/{name}")
    def run_file(run_id: str, name: str) -> FileResponse:
        path = state.file(run_id, name)
        return FileResponse(path, filename=name if path.suffix != ".png" else None)

    @app.get("/api/validation")
    def validation() -> dict[str, Any]:
        return state.validation_status()

    return app


def check_address(host: str, port: int) -> None:
    """Refuse a port out of range or already taken, before uvicorn starts."""
    if not 0 < port < 65536:
        raise ScenarioError(f"--port must be between 1 and 65535, got {port}")
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as err:
        raise ScenarioError(f"--host {host!r}: {err.strerror or err}") from None
    family, _, _, _, addr = infos[0]
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(addr)
        except OSError as err:
            raise ScenarioError(f"cannot listen on {host}:{port}: "
                                f"{err.strerror or err}") from None


def serve(host: str = "127.0.0.1", port: int = 8000) -> int:
    """Serve the app until interrupted (Ctrl-C); returns 0."""
    import uvicorn

    check_address(host, port)
    shown = f"[{host}]" if ":" in host else host
    print(f"cordsim web app: http://{shown}:{port}/ (Ctrl-C to stop)", flush=True)
    uvicorn.run(create_app(), host=host, port=port, log_level="warning")
    return 0
