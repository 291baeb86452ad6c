# Annotations stay evaluated: FastAPI reads the dependency aliases defined inside create_app.
"""The central returns API (FastAPI). Routes are thin: they authenticate, parse and call one
module; every error returnflow raises on purpose becomes a 4xx with a clear message here."""


import csv
import datetime as dt
import hashlib
from dataclasses import dataclass
from typing import Annotated, Any

import orjson
from fastapi import Depends, FastAPI, Header, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.encoders import jsonable_encoder
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.security import HTTPBasic, HTTPBasicCredentials
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DataError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect
from starlette.routing import Match

from domain import (
    Actor,
    BinReassigned,
    QuarantineReleased,
    build,
    DomainError,
    Permission,
    PermissionDenied,
    UnknownEntity,
)
from domain.bounds import BIGINT_MAX
from domain.entities import describe
from domain.errors import Conflict
from domain.labels import BIN_PATTERN, LPN_PATTERN
from sync.protocol import (
    API_PREFIX,
    DEVICE_HEADER,
    Problem,
    PullChange,
    PullPage,
    PushRequest,
    PushResponse,
    is_supported_schema,
)

from . import feed, identity, ingest, lookup, reports
from .dashboard import render as render_dashboard
from .docs import add_docs, complete_openapi, refusals
from .masterdata import upsert
from .storage import reader
from .resources import RESOURCES, Resource, csv_header_pattern, csv_records, import_records
from . import tables as t
from .identity import AuthenticationFailed
from .ingest import Device, PushRefused
from .schemas import (ImportReport, ProvisionedDevice, ProvisionRequest, ReassignRequest, RefundDecision, ReleaseRequest,
                      ResolveRequest, RowError)
from .urls import RECORD_KEY, known_queries_only


@dataclass(frozen=True)
class Settings:
    max_batch: int = 1000
    max_photo_bytes: int = 8 * 1024 * 1024
    max_pull_page: int = 1000

    @property
    def max_push_bytes(self) -> int:
        return self.max_batch * 8 * 1024  # generous per event; a larger body is refused unread


class ApiError(Exception):
    def __init__(self, status: int, error: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status, self.error, self.extra = status, error, extra


def _problem(status: int, error: str, message: str, **extra: Any) -> JSONResponse:
    return JSONResponse(Problem(error=error, message=message, **extra).model_dump(mode="json", exclude_none=True),
                        status_code=status)


_ERRORS = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
           413: "too_large", 415: "unsupported_media_type"}


def create_app(engine: Engine, settings: Settings = Settings()) -> FastAPI:
    app = FastAPI(title="returnflow central returns API", version="1",
                  description="System of record for returns: sync ingest, exceptions, reconciliation, metrics.",
                  docs_url=None, redoc_url=None, dependencies=[Depends(known_queries_only)])
    add_docs(app)  # Swagger UI from local files, not FastAPI's CDN page
    reads = reader(engine)
    basic = HTTPBasic(auto_error=False)
    throttle = identity.SignInThrottle()
    now = lambda: dt.datetime.now(dt.UTC)  # noqa: E731
    pushes_here = 0  # pushes this worker process is taking in or applying

    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        return _problem(exc.status, exc.error, str(exc), **exc.extra)

    @app.exception_handler(AuthenticationFailed)
    async def _unauthenticated(request: Request, exc: AuthenticationFailed) -> JSONResponse:
        response = _problem(401, "unauthorized", str(exc))
        if DEVICE_HEADER.lower() not in request.headers:  # people sign in with Basic; the browser asks
            response.headers["WWW-Authenticate"] = 'Basic realm="returnflow"'
        return response

    @app.exception_handler(DomainError)
    async def _domain_error(_: Request, exc: DomainError) -> JSONResponse:
        status = (404 if isinstance(exc, UnknownEntity) else 403 if isinstance(exc, PermissionDenied)
                  else 409 if isinstance(exc, Conflict) else 422)
        return _problem(status, type(exc).__name__, str(exc))

    @app.exception_handler(DataError)
    async def _does_not_fit(_: Request, exc: DataError) -> JSONResponse:
        # A backstop: the wire types bound every value, but the database has the last word.
        return _problem(422, "value_does_not_fit", "a value does not fit what the database stores; nothing was saved")

    @app.exception_handler(RequestValidationError)
    async def _invalid_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        return _problem(422, "invalid_request", describe(exc.errors(), "body", limit=5))

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        response = _problem(exc.status_code, _ERRORS.get(exc.status_code, "http_error"), str(exc.detail))
        response.headers.update(exc.headers or {})
        if exc.status_code == 405:  # every method the path takes, not only the first route's that matched it
            response.headers["Allow"] = ", ".join(method for method in ("DELETE", "GET", "POST", "PUT") if any(
                route.matches({**request.scope, "method": method})[0] is Match.FULL for route in app.router.routes))
        return response

    def device(
        x_returnflow_device: Annotated[str | None, Header(alias=DEVICE_HEADER)] = None,
        authorization: Annotated[str | None, Header()] = None,
    ) -> Device:
        scheme, _, secret = (authorization or "").partition(" ")
        if not x_returnflow_device or scheme.lower() != "bearer" or not secret:
            raise AuthenticationFailed(f"send {DEVICE_HEADER}: <device id> and 'Authorization: Bearer <secret>'")
        with reads.connect() as conn:
            return identity.authenticate_device(conn, x_returnflow_device, secret)

    def user_with(permission: Permission):
        def check(credentials: Annotated[HTTPBasicCredentials | None, Depends(basic)]) -> Actor:
            if credentials is None:
                raise AuthenticationFailed("sign in with your user id and PIN (HTTP Basic)")
            with reads.connect() as conn:
                return identity.authenticate_user(conn, credentials.username, credentials.password, permission,
                                                  throttle)
        return check

    DeviceDep = Annotated[Device, Depends(device)]
    SupervisorDep = Annotated[Actor, Depends(user_with(Permission.RESOLVE_EXCEPTION))]
    ReleaseDep = Annotated[Actor, Depends(user_with(Permission.RELEASE_QUARANTINE))]
    ReassignDep = Annotated[Actor, Depends(user_with(Permission.REASSIGN_BIN))]
    FinanceDep = Annotated[Actor, Depends(user_with(Permission.MANAGE_MASTER_DATA))]
    AdminDep = Annotated[Actor, Depends(user_with(Permission.PROVISION_DEVICE))]

    @app.get(f"{API_PREFIX}/health")
    def health() -> dict[str, str]:
        with reads.connect() as conn:
            conn.execute(select(1))
        return {"status": "ok"}

    @app.post(f"{API_PREFIX}/sync/push", response_model=PushResponse, responses=refusals(400, 401, 403, 409, 413, 422),
              openapi_extra={"requestBody": {"required": True, "content": {"application/json": {
                  "schema": {"$ref": "#/components/schemas/PushRequest"}}}}})
    async def push(request: Request, device: DeviceDep) -> Response:
        """Apply a batch of this device's events exactly once, in device_seq order."""
        nonlocal pushes_here
        # A push that finds this worker busy with another has its connection closed when its results
        # are sent, so the sender's next push goes to whichever worker accepts it first, likely an
        # idle one. Kept alive, two connections that landed on one worker would queue every batch
        # there while the other workers idle. (A refused push's answer keeps its connection.)
        crowded = pushes_here > 0
        pushes_here += 1
        try:
            done = await _push(request, device)
        finally:
            pushes_here -= 1
        # The PushResponse document written straight from the results: no model per event.
        return Response(done.json(), media_type="application/json", headers={"connection": "close"} if crowded else None)

    async def _push(request: Request, device: Device) -> ingest.PushResult:
        raw = await _read_limited(request, settings.max_push_bytes)
        try:
            batch = PushRequest.model_validate_json(raw)  # parse and validate in one pass
        except ValidationError as exc:
            raise _explain_refused_batch(raw, exc, settings.max_batch) from None
        if len(batch.events) > settings.max_batch or any(not is_supported_schema(e.schema_version)
                                                          for e in batch.events):
            raise _explain_refused_batch(raw, None, settings.max_batch)
        if batch.device_id != device.device_id:
            raise ApiError(403, "wrong_device", "the batch names another device than the credentials")
        try:
            return await run_in_threadpool(ingest.push_batch, engine, device, batch.events, sent_at=batch.sent_at,
                                           received_at=now())
        except PushRefused as refused:
            status = 409 if refused.error in ("gap", "seq_reused", "event_id_taken") else 422
            raise ApiError(status, refused.error, str(refused), expected_seq=refused.expected_seq) from None

    @app.get(f"{API_PREFIX}/sync/pull", response_model=PullPage, responses=refusals(401, 422))
    def pull(device: DeviceDep, after: Annotated[int, Query(ge=0, le=BIGINT_MAX)] = 0,
             limit: Annotated[int, Query(ge=1, le=settings.max_pull_page)] = 500) -> PullPage:
        """Changes this device needs after its cursor, in order."""
        with reads.connect() as conn:  # a pull never waits for a push
            rows = feed.page(conn, device.device_id, device.site_id, after, limit + 1)
        changes = [PullChange(seq=r.seq, kind=r.kind, key=r.key, body=r.body) for r in rows[:limit]]
        return PullPage(changes=changes, cursor=changes[-1].seq if changes else after, more=len(rows) > limit)

    @app.put(f"{API_PREFIX}/photos/{{sha256}}", status_code=201, responses=refusals(400, 401, 413, 422),
             openapi_extra={"requestBody": {"required": True, "content": {"application/octet-stream": {
                 "schema": {"type": "string", "format": "binary"}}}}})
    async def put_photo(request: Request, device: DeviceDep,
                        sha256: Annotated[str, Path(pattern="^[0-9a-f]{64}$")]) -> dict[str, Any]:
        """Store a photo by its content hash; uploading the same photo again is harmless."""
        content = await _read_limited(request, settings.max_photo_bytes)
        if hashlib.sha256(content).hexdigest() != sha256:
            raise ApiError(422, "hash_mismatch", "the photo's SHA-256 does not match the address it was sent to")

        def store() -> None:
            # Two devices may upload the same photo at once: the first insert wins, the other is a no-op.
            with engine.begin() as conn:
                upsert(conn, t.photos, [{"sha256": sha256, "size": len(content), "content": content,
                                         "device_id": device.device_id, "uploaded_at": now()}],
                       ["sha256"], keep=["size", "content", "device_id", "uploaded_at"])

        await run_in_threadpool(store)
        return {"sha256": sha256, "size": len(content)}

    @app.get(f"{API_PREFIX}/exceptions", responses=refusals(401, 403, 422))
    def list_exceptions(_: SupervisorDep, status: Annotated[str, Query(pattern="^(open|resolved)$")] = "open",
                        limit: Annotated[int, Query(ge=1, le=500)] = 100) -> list[dict[str, Any]]:
        with reads.connect() as conn:
            rows = conn.execute(select(t.exceptions).where(t.exceptions.c.status == status)
                                .order_by(t.exceptions.c.opened_at).limit(limit)).all()
        return [dict(r._mapping) for r in rows]

    @app.post(f"{API_PREFIX}/exceptions/{{exception_id}}/resolve", responses=refusals(400, 401, 403, 404, 422))
    def resolve_exception(supervisor: SupervisorDep, exception_id: Annotated[str, Path(pattern=r"^[\x21-\x7e]{1,40}$")],
                          request: ResolveRequest) -> dict[str, Any]:
        """Resolve an exception; a dispute takes the chosen grade or disposition. Devices pull the result."""
        return ingest.resolve_by_supervisor(engine, supervisor, exception_id, grade=request.grade,
                                            disposition=request.disposition, note=request.note, received_at=now())

    @app.post(f"{API_PREFIX}/units/{{lpn}}/release", responses=refusals(400, 401, 403, 404, 422))
    def release_unit(supervisor: ReleaseDep, lpn: Annotated[str, Path(pattern=LPN_PATTERN)],
                     request: ReleaseRequest) -> dict[str, Any]:
        """Release a quarantined unit; it resumes where the hold began."""
        payload = build(QuarantineReleased, lpn=lpn, note=request.note)
        return ingest.release_by_supervisor(engine, supervisor, payload, now()).model_dump(mode="json")

    @app.post(f"{API_PREFIX}/bins/{{code}}/reassign", status_code=204, responses=refusals(400, 401, 403, 404, 422))
    def reassign_bin(supervisor: ReassignDep, code: Annotated[str, Path(pattern=BIN_PATTERN)],
                     request: ReassignRequest) -> Response:
        """Re-purpose a quarantine bin (purpose, zone, owner) and optionally move its contents."""
        payload = build(BinReassigned, bin_code=code, **request.model_dump())
        ingest.reassign_by_supervisor(engine, supervisor, payload, now())
        return Response(status_code=204)

    def report(rows: list[dict[str, Any]], fmt: str) -> Response:
        if fmt == "csv":
            return Response(reports.to_csv(rows), media_type="text/csv")
        return JSONResponse(jsonable_encoder(rows))

    Format = Annotated[str, Query(alias="format", pattern="^(json|csv)$")]
    REPORT_ANSWERS = refusals(401, 403, 422) | {200: {"description": "the report's rows, as JSON or CSV", "content": {
        "application/json": {"schema": {"type": "array", "items": {"type": "object"}}},
        "text/csv": {"schema": {"type": "string"}}}}}

    @app.get(f"{API_PREFIX}/reconciliation/stock", responses=REPORT_ANSWERS)
    def stock_report(_: SupervisorDep, fmt: Format = "json") -> Response:
        """Units per (item, bin, status), as the applied movements leave them."""
        with reads.connect() as conn:
            return report(reports.stock(conn), fmt)

    @app.get(f"{API_PREFIX}/reconciliation/rmas", responses=REPORT_ANSWERS)
    def rma_report(_: SupervisorDep, fmt: Format = "json") -> Response:
        """Expected versus received per RMA line."""
        with reads.connect() as conn:
            return report(reports.rma_receipts(conn), fmt)

    @app.get(f"{API_PREFIX}/reconciliation/variance", responses=REPORT_ANSWERS)
    def variance_report(_: SupervisorDep, fmt: Format = "json") -> Response:
        """Latest bin counts against what returns put in each bin."""
        with reads.connect() as conn:
            return report(reports.inventory_variance(conn), fmt)

    @app.get(f"{API_PREFIX}/metrics", responses=refusals(401, 403))
    def metrics(_: SupervisorDep) -> dict[str, Any]:
        with reads.connect() as conn:
            return reports.metrics(conn, now())

    @app.post(f"{API_PREFIX}/refunds", status_code=201, responses=refusals(400, 401, 403, 404, 422))
    def post_refund(_: FinanceDep, refund: RefundDecision) -> dict[str, Any]:
        """The ERP's refund decision for an RMA; refund latency is measured from its first receipt."""
        with engine.begin() as conn:
            if conn.execute(select(t.rmas.c.rma_id).where(t.rmas.c.rma_id == refund.rma_id)).first() is None:
                raise UnknownEntity("RMA", refund.rma_id)
            upsert(conn, t.refunds, [refund.model_dump()], ["rma_id"])
        return refund.model_dump(mode="json")

    @app.get("/dashboard", response_class=HTMLResponse, responses=refusals(401, 403))
    def dashboard(_: SupervisorDep) -> HTMLResponse:
        with reads.connect() as conn:
            figures = reports.metrics(conn, now())
            open_exceptions = [dict(r._mapping) for r in conn.execute(
                select(t.exceptions).where(t.exceptions.c.status == "open").order_by(t.exceptions.c.opened_at))]
        return HTMLResponse(render_dashboard(figures, open_exceptions))

    for resource in RESOURCES.values():
        _resource_routes(app, engine, resource, SupervisorDep, FinanceDep)

    @app.post(f"{API_PREFIX}/admin/devices", status_code=201, response_model=ProvisionedDevice,
              responses=refusals(400, 401, 403, 404, 409, 422))
    def provision(_: AdminDep, request: ProvisionRequest) -> ProvisionedDevice:
        with engine.begin() as conn:
            secret = identity.provision_device(conn, request.device_id, request.site_id, now())
        return ProvisionedDevice(device_id=request.device_id, site_id=request.site_id, secret=secret)

    @app.post(f"{API_PREFIX}/admin/devices/{{device_id}}/revoke", status_code=204, responses=refusals(401, 403, 404, 422))
    def revoke(_: AdminDep, device_id: Annotated[str, Path(pattern=r"^[\x21-\x7e]{1,64}$")]) -> Response:
        with engine.begin() as conn:
            identity.revoke_device(conn, device_id, now())
        return Response(status_code=204)

    app.include_router(lookup.router(reads, device=device, person=user_with(Permission.RESOLVE_EXCEPTION)))
    complete_openapi(app, [PushRequest, *(resource.model for resource in RESOURCES.values())])
    return app


_MAX_IMPORT_BYTES = 20 * 1024 * 1024
def _resource_routes(app: FastAPI, engine: Engine, resource: Resource, read_dep: Any, write_dep: Any) -> None:
    """List, get, put and bulk import for one kind of master data (routes named after it)."""
    base = f"{API_PREFIX}/{resource.name}"
    reads = reader(engine)
    # "import" names the bulk import beside the records, never a record (see erp/urls.py).
    Key = Annotated[str, Path(pattern=r"^[\x21-\x7e]{1,64}$",
                              json_schema_extra={"pattern": r"^(?!import$)[\x21-\x7e]{1,64}$"})]

    def fetch(key: str) -> dict[str, Any]:
        with reads.connect() as conn:
            rows = resource.rows(conn, key)
        if not rows:
            raise UnknownEntity(resource.name.rstrip("s").replace("-", " "), key)
        return rows[0]

    @app.get(base, name=f"list_{resource.name}", responses=refusals(401, 403, 422))
    def list_records(_: read_dep, after: Annotated[str, Query(pattern=r"^[\x21-\x7e]{0,64}$")] = "",
                     limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> list[dict[str, Any]]:
        with reads.connect() as conn:
            return jsonable_encoder(resource.rows(conn, after=after, limit=limit))

    @app.get(base + f"/{{key:{RECORD_KEY}}}", name=f"get_{resource.name}", responses=refusals(401, 403, 404, 422))
    def get_record(_: read_dep, key: Key) -> dict[str, Any]:
        return jsonable_encoder(fetch(key))

    @app.put(base + f"/{{key:{RECORD_KEY}}}", name=f"put_{resource.name}", responses=refusals(400, 401, 403, 413, 422),
             openapi_extra={"requestBody": {"required": True, "content": {"application/json": {
                 "schema": {"$ref": f"#/components/schemas/{resource.model.__name__}"}}}}})
    async def put_record(request: Request, _: write_dep, key: Key) -> dict[str, Any]:
        record = _parse_json(await _read_limited(request, 1024 * 1024))
        if not isinstance(record, dict) or record.get(resource.key) != key:
            raise ApiError(422, "key_mismatch", f"the body's {resource.key} must be {key!r}")
        written, errors = await run_in_threadpool(_import, engine, resource, [record])
        if errors:
            raise ApiError(422, "invalid_record", errors[0].message)
        return jsonable_encoder(await run_in_threadpool(fetch, key))

    @app.delete(base + f"/{{key:{RECORD_KEY}}}", name=f"delete_{resource.name}", status_code=204,
                responses=refusals(401, 403, 404, 409, 422))
    def delete_record(_: write_dep, key: Key) -> Response:
        """Delete a record no other record uses; devices pull the deletion."""
        with engine.begin() as conn:
            resource.delete(conn, key)
        return Response(status_code=204)

    @app.post(base + "/import", name=f"import_{resource.name}", response_model=ImportReport,
              responses=refusals(400, 401, 403, 413, 422),
              openapi_extra={"requestBody": {"required": True, "content": {
                  # Any rows: each invalid one is reported in the answer, the others written.
                  "application/json": {"schema": {"type": "array", "items": {"anyOf": [
                      {"$ref": f"#/components/schemas/{resource.model.__name__}"}, {}]}}},
                  "text/csv": {"schema": {"type": "string", "pattern": csv_header_pattern(resource.key)}}}}})
    async def import_records(request: Request, _: write_dep) -> ImportReport:
        """Write every valid record; report each invalid one by row number, key and reason."""
        raw = await _read_limited(request, _MAX_IMPORT_BYTES)
        if request.headers.get("content-type", "").startswith("text/csv"):
            try:
                records = csv_records(resource, raw.decode("utf-8-sig"))
            except (UnicodeDecodeError, csv.Error) as exc:
                raise ApiError(422, "malformed_csv", f"not a readable CSV file: {exc}") from None
        else:
            records = _parse_json(raw)
            if not isinstance(records, list):
                raise ApiError(422, "invalid_request", "send a JSON array of records, or CSV as text/csv")
        written, errors = await run_in_threadpool(_import, engine, resource, records)
        return ImportReport(written=written, errors=errors)


def _import(engine: Engine, resource: Resource, records: list[Any]) -> tuple[int, list[RowError]]:
    with engine.begin() as conn:
        return import_records(conn, resource, records)


async def _read_limited(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise ApiError(413, "too_large", f"body of {declared} bytes is over the limit of {limit}")
    chunks, size = [], 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise ApiError(413, "too_large", f"body is over the limit of {limit} bytes")
            chunks.append(chunk)
    except ClientDisconnect:
        # The device went away mid-upload (a dropped connection, a killed process): nothing was
        # read, nothing is written, and it sends again. Not a server error.
        raise ApiError(400, "client_disconnected", "the client went away before the body arrived") from None
    return b"".join(chunks)


def _explain_refused_batch(raw: bytes, exc: ValidationError | None, max_batch: int) -> ApiError:
    """The most useful 4xx for a batch that failed validation: malformed JSON, too many events, an
    event from a newer schema (the device keeps it), or the first invalid fields."""
    body = _parse_json(raw)
    events = body.get("events") if isinstance(body, dict) else None
    if isinstance(events, list):
        if len(events) > max_batch:
            return ApiError(413, "batch_too_large", f"at most {max_batch} events per push")
        for position, event in enumerate(events):
            version = event.get("schema_version") if isinstance(event, dict) else None
            if isinstance(version, int | float) and not isinstance(version, bool) and (
                    int(version) != version or not is_supported_schema(int(version))):
                return ApiError(422, "unsupported_schema", f"event {position} has schema_version {version}, which "
                                "this server does not know: the device keeps it until the server is upgraded",
                                detail={"position": position, "schema_version": version})
    if exc is None:  # validated, refused for its size or version, yet the raw body says otherwise
        return ApiError(422, "unsupported_schema", "the batch holds an event of a schema version this server "
                        "does not know")
    return ApiError(422, "invalid_request", describe(exc.errors(), "body", limit=5))


def _parse_json(raw: bytes) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ApiError(422, "malformed_json", f"body is not valid JSON: {exc}") from None

