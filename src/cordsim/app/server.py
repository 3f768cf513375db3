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

The app has no accounts, so it guards the machine it runs on from other web pages:

* it listens on 127.0.0.1 unless ``--host`` says otherwise (another address gets a
  warning: anyone who can reach it can run scenarios);
* a request whose ``Host`` is not the address it listens on is refused (403): a page that
  rebinds its own domain name to 127.0.0.1 (DNS rebinding) cannot reach it;
* a request with an ``Origin`` other than the app's own is refused (403): a page open in
  the same browser cannot start runs (CSRF); a POST must be ``application/json`` (415);
* a body is read in pieces and refused beyond :data:`MAX_BODY` (413), before it fills
  memory; a scenario is refused (400) when its estimated memory or time exceeds the
  per-run budget (:data:`RUN_MEMORY`, :data:`RUN_SECONDS`);
* every answer carries ``X-Content-Type-Options: nosniff``.
"""

from __future__ import annotations

import csv
import io
import json
import shutil
import socket
import sys
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
RUN_MEMORY = 2e9  # bytes a run may take (estimated from its size before it runs)
RUN_SECONDS = 300.0  # seconds a run may take (estimated likewise)
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")


class BadInput(CordsimError):
    """A request the app cannot use (answered with HTTP 400)."""


class NotFound(BadInput):
    """A run or file the app does not have (HTTP 404)."""


class Refused(BadInput):
    """A request from a page or address the app does not serve (HTTP 403)."""

    status = 403


class TooLarge(BadInput):
    """A body beyond :data:`MAX_BODY` (HTTP 413)."""

    status = 413


class WrongType(BadInput):
    """A POST whose body is not declared JSON (HTTP 415)."""

    status = 415


def is_loopback(host: str) -> bool:
    """True for an address only this machine reaches (127.0.0.0/8, ::1, localhost)."""
    import ipaddress

    name = host.strip("[]")
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def _host_name(host: str) -> str:
    """``host`` as a Host header writes it (IPv6 in brackets), lower case."""
    host = host.lower()
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def allowed_hosts(host: str) -> set[str] | None:
    """The names a request's ``Host`` may give for an app bound to ``host`` (without the
    port); None when any is allowed (a wildcard address: every interface)."""
    name = _host_name(host)
    if name in ("0.0.0.0", "[::]", ""):
        return None
    if is_loopback(host):
        return {*LOOPBACK_NAMES, name}
    return {name}


def _split_host(value: str) -> tuple[str, str | None]:
    """``host[:port]`` of a Host header (or an Origin without its scheme)."""
    value = value.strip().lower()
    if value.startswith("["):
        end = value.find("]")
        return value[:end + 1], (value[end + 2:] if value[end + 1:end + 2] == ":" else None)
    name, _, port = value.partition(":")
    return name, port or None


def check_request(method: str, headers: Any, hosts: set[str] | None, port: int | None) -> None:
    """Refuse (:class:`Refused`, :class:`WrongType`) a request from another page or name: a
    ``Host`` the app is not bound to, an ``Origin`` that is not the request's own host, a
    POST that is not JSON."""
    host = headers.get("host", "")
    name, host_port = _split_host(host)
    if hosts is not None and (name not in hosts or (port is not None and host_port is not None
                                                    and host_port != str(port))):
        raise Refused(f"Host {host[:80]!r} is not the address this app listens on; open it "
                      "as http://127.0.0.1:PORT/ (cordsim serve refuses other names, so that "
                      "no other web page can reach it)")
    origin = headers.get("origin")
    if origin is not None:
        scheme, _, rest = origin.partition("://")
        if scheme not in ("http", "https") or _split_host(rest) != (name, host_port):
            raise Refused(f"requests from another page (Origin {origin[:80]!r}) are refused: "
                          "only the app's own page may use it")
    if method == "POST":
        kind = headers.get("content-type", "").split(";")[0].strip().lower()
        if kind != "application/json":
            raise WrongType(f"POST the scenario as JSON (Content-Type: application/json), got "
                            f"{kind[:60] or 'no content type'!r}")


async def read_body(request: Request, limit: int = MAX_BODY) -> bytes:
    """The request's body, read in pieces and refused (:class:`TooLarge`) as soon as it
    passes ``limit`` bytes (a declared Content-Length beyond it: before reading any)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.strip().isdigit() and int(declared) > limit:
        raise TooLarge(f"scenario is too large ({int(declared):,} bytes; at most {limit:,})")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise TooLarge(f"scenario is too large (more than {limit:,} bytes)")
        chunks.append(chunk)
    return b"".join(chunks)


def _parse_json(body: bytes) -> Any:
    if len(body) > MAX_BODY:
        raise TooLarge(f"scenario is too large ({len(body):,} bytes; at most {MAX_BODY:,})")
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

    def __init__(self, max_runs: int = MAX_RUNS, *, run_memory: float = RUN_MEMORY,
                 run_seconds: float = RUN_SECONDS) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="cordsim-app-"))
        self.runs: OrderedDict[str, Path] = OrderedDict()
        self.max_runs = max_runs
        self.run_memory = run_memory
        self.run_seconds = run_seconds
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
        from cordsim.io.scenario_outputs import check_scenario_run, run_and_write

        run_id = uuid.uuid4().hex[:12]
        out = self.root / run_id
        with self.lock:
            scenario, notes = self.scenario(data)
            # the per-run budget, from the scenario's size, before it runs
            estimate = check_scenario_run(scenario, limit=self.run_memory,
                                          limit_name="the web app's budget per run")
            if estimate.seconds > self.run_seconds:
                raise BadInput(f"scenario {scenario.name!r} would take about "
                               f"{estimate.seconds:,.0f} s, beyond the web app's budget of "
                               f"{self.run_seconds:,.0f} s per run; raise dt, shorten 'days' "
                               "or use fewer arms (or run it with 'cordsim run')")
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


def create_app(*, max_runs: int = MAX_RUNS, host: str = "127.0.0.1", port: int | None = None,
               run_memory: float = RUN_MEMORY, run_seconds: float = RUN_SECONDS) -> FastAPI:
    """The FastAPI application (``uvicorn`` serves it; tests use its TestClient with
    ``base_url="http://127.0.0.1"``). ``host`` and ``port``: the address it listens on, the
    only one requests may name (``port`` None: any)."""
    state = App(max_runs, run_memory=run_memory, run_seconds=run_seconds)
    hosts = allowed_hosts(host)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            state.close()

    app = FastAPI(title="cordsim", version=__version__, lifespan=lifespan, docs_url=None,
                  redoc_url=None, openapi_url=None)
    app.state.cordsim = state

    @app.middleware("http")
    async def guard(request: Request, call_next: Any) -> Response:
        try:
            check_request(request.method, request.headers, hosts, port)
        except BadInput as exc:
            response: Response = JSONResponse({"error": str(exc)},
                                              status_code=getattr(exc, "status", 400))
        else:
            response = await call_next(request)
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response

    @app.exception_handler(CordsimError)
    async def bad_input(_: Request, exc: CordsimError) -> JSONResponse:
        status = 404 if isinstance(exc, NotFound) else getattr(exc, "status", 400)
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
        data = _parse_json(await read_body(request))
        name, text = await run_in_threadpool(state.toml, data)
        safe = "".join(c if (c.isascii() and c.isalnum()) or c in "-_." else "_"
                       for c in name)[:60] or "scenario"  # a header holds Latin-1 only
        return Response(text, media_type="application/toml",
                        headers={"Content-Disposition": f'attachment; filename="{safe}.toml"'})

    @app.post("/api/run")
    async def run(request: Request) -> dict[str, Any]:
        data = _parse_json(await read_body(request))
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
    if not is_loopback(host):
        print(f"cordsim: warning: the web app listens on {host}, not only on this machine: "
              "anyone who can reach that address can run scenarios on it (it has no "
              "accounts); use the default --host 127.0.0.1 unless you mean to share it",
              file=sys.stderr, flush=True)
    print(f"cordsim web app: http://{shown}:{port}/ (Ctrl-C to stop)", flush=True)
    uvicorn.run(create_app(host=host, port=port), host=host, port=port, log_level="warning")
    return 0
