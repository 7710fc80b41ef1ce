"""``goldpan inspect``: a local web app to browse a run's kept and rejected records.

FastAPI serves server-rendered pages (they work with scripts off, and every view is a URL
that can be bookmarked or pasted into an issue) and the same data as JSON under /api. All
queries go through DuckDB views over the run's Parquet files (see rundata and query), so the
app starts in a second and a page costs one bounded query, whatever the size of the run. It
binds to 127.0.0.1 unless told otherwise: the data stays on the machine.
"""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response

from goldpan.data.chat_records import MESSAGES, PREFERENCE_COLUMNS
from goldpan.data.schema import ID, REJECT_REASON, REJECT_STEP, SOURCE, TEXT
from goldpan.errors import GoldpanError
from goldpan.report.page import TEMPLATES
from goldpan.report.query import (
    Page,
    RecordFilter,
    Status,
    facet_counts,
    find_records,
    get_record,
    list_columns,
    numeric_ranges,
)
from goldpan.report.rundata import STATUS, CurationRun
from goldpan.util.storage import is_local, to_path

FILTER_KEYS = ("status", "source", "step", "reason", "q", "sort", "order", "per_page")
STATUSES: dict[str, Status] = {"all": "all", "kept": "kept", "rejected": "rejected"}
API_NAMES = {"__snippet": "text_start", "__chars": "text_chars"}


def _number(value: str | None, name: str) -> float | None:
    if value is None or value.strip() == "":
        return None
    try:
        return float(value)
    except ValueError:
        raise GoldpanError(f"{name}: expected a number, got {value!r}") from None


def _integer(value: str | None, name: str, default: int) -> int:
    number = _number(value, name)
    if number is None:
        return default
    if number != int(number) or number < 1:
        raise GoldpanError(f"{name}: expected a whole number of at least 1, got {value!r}")
    return int(number)


def parse_filter(params: Any, numeric: list[str]) -> RecordFilter:
    """A RecordFilter from the query string: status, source, step, reason, q, sort, order,
    page, per_page, and min:COLUMN / max:COLUMN for any numeric column."""
    asked = params.get("status") or "all"
    if asked not in STATUSES:
        raise GoldpanError(f"status: expected one of {', '.join(STATUSES)}, got {asked!r}")
    status = STATUSES[asked]
    ranges: dict[str, tuple[float | None, float | None]] = {}
    for column in numeric:
        low = _number(params.get(f"min:{column}"), f"min:{column}")
        high = _number(params.get(f"max:{column}"), f"max:{column}")
        if low is not None or high is not None:
            ranges[column] = (low, high)
    return RecordFilter(
        status=status,
        source=params.get("source") or None,
        step=params.get("step") or None,
        reason=params.get("reason") or None,
        search=params.get("q") or None,
        ranges=ranges,
        sort=params.get("sort") or None,
        descending=params.get("order") == "desc",
        page=_integer(params.get("page"), "page", 1),
        per_page=_integer(params.get("per_page"), "per_page", 50),
    )


def _jsonable(value: Any) -> Any:
    if isinstance(value, float) and value != value:
        return None
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value


TURN_COLUMNS = (MESSAGES, *PREFERENCE_COLUMNS)


def _turns(value: Any) -> list[dict[str, Any]] | None:
    """Turns as the page shows them: role, content, and the turn's other fields as JSON."""
    if not isinstance(value, list):
        return None
    return [{"role": t.get("role"), "content": t.get("content") or "",
             "extra": t.get("extra")} for t in value if isinstance(t, dict)]


def conversation_of(record: dict[str, Any]
                    ) -> tuple[list[dict[str, Any]] | None, dict[str, list] | None]:
    """A chat record's turns, or a preference record's prompt, chosen and rejected turns
    (None for what the record is not)."""
    turns = _turns(record.get(MESSAGES))
    if turns is not None:
        return turns, None
    sides = {name: side for name in PREFERENCE_COLUMNS
             if (side := _turns(record.get(name))) is not None}
    return None, (sides if len(sides) == len(PREFERENCE_COLUMNS) else None)


def create_app(run_dir: str | Path) -> FastAPI:
    """The inspector for one run directory (a FastAPI app; serve it with uvicorn)."""
    run = CurationRun(run_dir)
    columns = run.columns
    numeric = run.numeric_columns()
    facets = facet_counts(run.cursor(), columns)
    ranges = numeric_ranges(run.cursor(), numeric)
    location = to_path(run_dir)
    title = (location.resolve() if is_local(location) else location).name
    # No /docs: its page loads scripts from a CDN, and the inspector must work offline.
    app = FastAPI(title=f"goldpan inspect {title}", docs_url=None, redoc_url=None)
    app.state.run = run

    def page(name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
        html = TEMPLATES.get_template(name).render(title=title, **context)
        return HTMLResponse(html, status_code=status_code)

    def error_page(message: str, status_code: int = 400) -> HTMLResponse:
        return page("inspector_error.html.j2", status_code, message=message)

    def records_for(request: Request) -> tuple[RecordFilter, list[str], Page]:
        record_filter = parse_filter(request.query_params, numeric)
        shown = list_columns(columns, numeric, record_filter.sort)
        return record_filter, shown, find_records(run.cursor(), record_filter, columns, shown)

    @app.exception_handler(GoldpanError)
    def bad_request(request: Request, error: GoldpanError) -> Response:
        if request.url.path.startswith("/api/"):
            return JSONResponse({"error": str(error)}, status_code=400)
        return error_page(str(error))

    @app.get("/", response_class=HTMLResponse)
    def list_page(request: Request) -> HTMLResponse:
        record_filter, shown, found = records_for(request)
        rows = found.rows
        current = {k: v for k, v in request.query_params.multi_items() if v != ""}

        def url(**changes: Any) -> str:
            merged = {**current, **changes}
            merged = {k: v for k, v in merged.items() if v not in (None, "")}
            return "/?" + urlencode(merged)

        last_page = max(1, -(-found.total // record_filter.limit))
        more = len(rows) == record_filter.limit and (
            record_filter.page < last_page or not found.exact
        )
        return page(
            "inspector_list.html.j2",
            filter=record_filter,
            shown=shown,
            rows=rows,
            total=found.total,
            exact=found.exact,
            more=more,
            first=record_filter.offset + 1 if rows else 0,
            last=record_filter.offset + len(rows),
            last_page=last_page,
            facets=facets,
            ranges=ranges,
            params=current,
            url=url,
            back=str(request.url.path) + ("?" + request.url.query if request.url.query else ""),
            names={"source": SOURCE, "step": REJECT_STEP, "reason": REJECT_REASON},
            sortable=list(columns),
        )

    @app.get("/record", response_class=HTMLResponse)
    def record_page(id: str, back: str = "/") -> HTMLResponse:
        record = get_record(run.cursor(), id)
        if record is None:
            return error_page(f"no record with id {id!r} in this run", 404)
        first = [c for c in (STATUS, ID, SOURCE, REJECT_STEP, REJECT_REASON) if c in record]
        turns, pair = conversation_of(record)
        shown_apart = {TEXT, *(TURN_COLUMNS if turns or pair else ())}
        rest = [c for c in record if c not in first and c not in shown_apart]
        return page(
            "inspector_record.html.j2",
            record=record,
            order=first + rest,
            turns=turns,
            pair=pair,
            text=record.get(TEXT) or "",
            back=back if back.startswith("/") and not back.startswith("//") else "/",
        )

    @app.get("/report")
    def report_file() -> Response:
        path = run.root / "report.html"
        if not path.exists():
            return error_page("this run has no report.html yet: run `goldpan report`", 404)
        if not is_local(path):
            return Response(path.read_bytes(), media_type="text/html")
        return FileResponse(path, media_type="text/html")

    @app.get("/api/records")
    def api_records(request: Request) -> dict[str, Any]:
        record_filter, _, found = records_for(request)
        return {
            "total": found.total,
            "total_is_exact": found.exact,
            "page": record_filter.page,
            "per_page": record_filter.limit,
            "records": [
                {API_NAMES.get(k, k): _jsonable(v) for k, v in row.items()} for row in found.rows
            ],
        }

    @app.get("/api/record")
    def api_record(id: str) -> Response:
        record = get_record(run.cursor(), id)
        if record is None:
            return JSONResponse({"error": f"no record with id {id!r}"}, status_code=404)
        return JSONResponse({k: _jsonable(v) for k, v in record.items()})

    @app.get("/api/facets")
    def api_facets() -> dict[str, Any]:
        return {
            "columns": columns,
            "facets": {k: dict(v) for k, v in facets.items()},
            "ranges": {k: [_jsonable(lo), _jsonable(hi)] for k, (lo, hi) in ranges.items()},
        }

    return app


def check_port_free(host: str, port: int) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((host, port))
        except OSError as error:
            raise GoldpanError(
                f"cannot listen on {host}:{port}: {error.strerror or error}; choose another "
                "with --port"
            ) from None


def serve(run_dir: str | Path, host: str = "127.0.0.1", port: int = 8765, console: Any = None
          ) -> None:
    import uvicorn

    app = create_app(run_dir)
    check_port_free(host, port)
    if console is not None:
        console.print(f"inspecting {run_dir} at http://{host}:{port}/  (Ctrl+C stops)")
    uvicorn.run(app, host=host, port=port, log_level="warning")
