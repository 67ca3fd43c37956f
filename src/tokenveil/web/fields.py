"""Field-level PII policy for Pydantic v2 response models (security invariant 7).

Declare personal data where the model is defined::

    class Customer(BaseModel):
        __pii_owner__ = "id"              # the owner of the record, compared with principal.sub
        id: str
        email: Annotated[str, PII("EMAIL", reveal="pii:email:read", mask="partial")]
        phone: Annotated[str | None, PII("PHONE", reveal="pii:phone:read", mask="drop")] = None

and present it for the calling principal::

    @app.get("/customers/{cid}", response_model=Customer)
    async def get_customer(cid: str, present: Present, _: Principal = Depends(get_principal)):
        return await present(load(cid))

A field whose ``reveal`` scope the caller lacks is masked (``redact``, ``partial``,
``pseudonymize``) or dropped (CWE-200, CWE-359, CWE-213). Even with the scope, the value comes
unmasked only on explicit request, ``?reveal=email&purpose=support-ticket-123``, and every such
reveal is audited first (``SecurityEvent(kind="pii.reveal")``, no value in it); if the audit
cannot be written, nothing is revealed. The owner of a record sees their own data when the
policy enables it. Revealed JSON paths are handed to the egress filter so it does not mask
them again. OpenAPI shows ``x-pii: {kind, reveal_scope, mask}`` on every declared field.
"""

from __future__ import annotations

import logging
import re
import time
import types
import typing
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal, Union

from fastapi import Depends, FastAPI, Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts
from pydantic import BaseModel, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema
from starlette.responses import JSONResponse

from tokenveil._principal import Principal
from tokenveil.errors import ConfigurationError
from tokenveil.pii import Drop, Operator, Partial, Pseudonymize, Redact, find
from tokenveil.store._protocols import SecurityEvent
from tokenveil.web.transport import mark_sensitive

__all__ = [
    "ALLOWED_PATHS_STATE_KEY",
    "PII",
    "FieldPolicy",
    "MaskName",
    "Present",
    "Presenter",
    "get_presenter",
    "iter_api_routes",
    "pii_fields",
    "routes_missing_presenter",
    "use_field_policy",
]

logger = logging.getLogger("tokenveil.web")

MaskName = Literal["redact", "partial", "pseudonymize", "drop"]
Audit = Callable[[SecurityEvent], Awaitable[None]]
#: ``scope["state"]`` key: JSON paths (``$.items[0].email``) revealed on purpose in this response.
ALLOWED_PATHS_STATE_KEY = "tokenveil.allowed_paths"
#: ``scope["state"]`` key: ``(body, document)`` of the last response :class:`Presenter` built,
#: so the egress filter scans the document instead of parsing the same bytes again. It is used
#: only when the body leaving the app is byte-for-byte that ``body``.
PRESENTED_STATE_KEY = "tokenveil.presented"
_POLICY_STATE_ATTR = "tokenveil_field_policy"
_PURPOSE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/#-]{2,99}$")
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass(frozen=True, slots=True)
class PII:
    """``Annotated`` marker: this field holds personal data of ``kind``.

    ``reveal`` is the scope that may see it unmasked; ``None`` means nobody but the owner.
    ``owner_field`` names the field holding the owner's ``sub`` (else the model's
    ``__pii_owner__``).
    """

    kind: str
    reveal: str | None = None
    mask: MaskName = "redact"
    owner_field: str | None = None

    def __post_init__(self) -> None:
        if self.mask not in ("redact", "partial", "pseudonymize", "drop"):
            raise ConfigurationError(f"unknown PII mask {self.mask!r}")

    def __get_pydantic_json_schema__(
        self, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        json_schema = handler(schema)
        json_schema["x-pii"] = {"kind": self.kind, "reveal_scope": self.reveal, "mask": self.mask}
        return json_schema


# --- the plan of a model: where PII sits, computed once per class --------------------------


@dataclass(frozen=True, slots=True)
class _Shape:
    """How to walk a JSON value: a model, a list or dict of shapes, a union, or a PII leaf."""

    model: type[BaseModel] | None = None
    items: _Shape | None = None
    values: _Shape | None = None
    options: tuple[_Shape, ...] = ()
    pii: PII | None = None


@dataclass(frozen=True, slots=True)
class _FieldPlan:
    name: str
    key: str
    pii: PII | None
    shape: _Shape | None
    step: str  # the key as a JSON path step (``.email``), computed once


_plans: dict[type[BaseModel], tuple[_FieldPlan, ...]] = {}


def _shape_of(annotation: Any, depth: int = 0) -> _Shape | None:
    if depth > 12:
        return None
    origin = typing.get_origin(annotation)
    if origin is Annotated:
        args = typing.get_args(annotation)
        marker = next((m for m in args[1:] if isinstance(m, PII)), None)
        if marker is not None:
            return _Shape(pii=marker)
        return _shape_of(args[0], depth + 1)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return _Shape(model=annotation) if _plan(annotation) else None
    if origin in (list, tuple, set, frozenset, Sequence, typing.Sequence):
        inner = [_shape_of(a, depth + 1) for a in typing.get_args(annotation) if a is not ...]
        found = next((s for s in inner if s is not None), None)
        return _Shape(items=found) if found else None
    if origin in (dict, Mapping, typing.Mapping):
        args = typing.get_args(annotation)
        found = _shape_of(args[1], depth + 1) if len(args) == 2 else None
        return _Shape(values=found) if found else None
    if origin in (Union, types.UnionType):
        options = tuple(
            s for s in (_shape_of(a, depth + 1) for a in typing.get_args(annotation)) if s
        )
        if len(options) == 1:
            return options[0]
        return _Shape(options=options) if options else None
    return None


def _plan(model: type[BaseModel]) -> tuple[_FieldPlan, ...]:
    cached = _plans.get(model)
    if cached is not None:
        return cached
    _plans[model] = ()  # recursion guard for self-referencing models
    plans: list[_FieldPlan] = []
    for name, info in model.model_fields.items():
        marker = next((m for m in info.metadata if isinstance(m, PII)), None)
        shape = None if marker else _shape_of(info.annotation)
        if marker is None and shape is None:
            continue
        key = info.serialization_alias or info.alias or name
        plans.append(_FieldPlan(name, key, marker, shape, _child("", key)))
    result = tuple(plans)
    _plans[model] = result
    return result


def pii_fields(model: type[BaseModel]) -> dict[str, PII]:
    """Every PII field of ``model`` and of the models nested in it, by dotted field name."""
    out: dict[str, PII] = {}

    def visit(shape: _Shape | None, prefix: str) -> None:
        if shape is None:
            return
        if shape.pii is not None:
            out[prefix] = shape.pii
        if shape.model is not None:
            for plan in _plan(shape.model):
                name = f"{prefix}.{plan.name}" if prefix else plan.name
                if plan.pii is not None:
                    out[name] = plan.pii
                visit(plan.shape, name)
        visit(shape.items, prefix)
        visit(shape.values, prefix)
        for option in shape.options:
            visit(option, prefix)

    visit(_Shape(model=model), "")
    return out


def _child(path: str, step: str | int) -> str:
    # The same spelling as the PII engine's finding paths (``$.a[0]["first name"]``).
    if isinstance(step, int):
        return f"{path}[{step}]"
    if _IDENTIFIER.fullmatch(step):
        return f"{path}.{step}"
    return f'{path}["{step}"]'


# --- the policy -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FieldPolicy:
    """How declared PII fields are presented. Secure by default: nothing revealed unaudited.

    ``owner_sees_own``: the owner of a record sees their own PII (no audit: it is theirs).
    ``explicit_reveal``: holding the reveal scope is not enough; the request must ask
    (``?reveal=<field>&purpose=<ticket>``). ``audit`` receives every reveal before the
    response is sent; without it no reveal is ever approved. ``max_reveals`` caps reveals per
    response: a bulk reveal is an exfiltration pattern, not a support task.
    """

    audit: Audit | None = None
    owner_sees_own: bool = False
    explicit_reveal: bool = True
    max_reveals: int = 50
    pseudonymizer: Pseudonymize | None = field(default=None, repr=False)
    clock: Callable[[], float] = time.time

    def operator(self, name: MaskName) -> Operator:
        if name == "partial":
            return _PARTIAL
        if name == "drop":
            return _DROP_OP
        if name == "pseudonymize" and self.pseudonymizer is not None:
            return self.pseudonymizer
        return _REDACT


# Stateless operators, shared (one instance per masked field per request cost a little).
_PARTIAL = Partial()
_DROP_OP = Drop()
_REDACT = Redact()


@dataclass(frozen=True, slots=True)
class _Reveal:
    path: str
    model: str
    field: str
    kind: str
    record_id: str | None


@dataclass(slots=True)
class _Walk:
    policy: FieldPolicy
    principal: Principal | None
    requested: frozenset[str]
    purpose: str | None
    allow_reveal: bool
    reveals: list[_Reveal] = field(default_factory=list)
    owner_paths: list[str] = field(default_factory=list)

    def value(self, data: Any, shape: _Shape, path: str) -> Any:
        if shape.model is not None and isinstance(data, dict):
            return self.record(data, shape.model, path)
        if shape.items is not None and isinstance(data, list):
            items = shape.items
            return [self.value(v, items, _child(path, i)) for i, v in enumerate(data)]
        if shape.values is not None and isinstance(data, dict):
            values = shape.values
            return {k: self.value(v, values, _child(path, str(k))) for k, v in data.items()}
        if shape.options and isinstance(data, dict):
            # A union of models: the first whose keys cover the data's keys.
            for option in shape.options:
                if option.model is not None and set(data) <= _keys(option.model):
                    return self.record(data, option.model, path)
        return data

    def record(self, data: dict[str, Any], model: type[BaseModel], path: str) -> dict[str, Any]:
        out = dict(data)
        for plan in _plan(model):
            if plan.key not in out:
                continue
            child = path + plan.step
            if plan.pii is None:
                assert plan.shape is not None
                out[plan.key] = self.value(out[plan.key], plan.shape, child)
                continue
            if out[plan.key] is None or self.may_see(data, model, plan, child):
                continue
            masked = _mask(out[plan.key], plan.pii, self.policy.operator(plan.pii.mask))
            if masked is _DROPPED:
                del out[plan.key]
            else:
                out[plan.key] = masked
        return out

    def may_see(
        self, data: dict[str, Any], model: type[BaseModel], plan: _FieldPlan, path: str
    ) -> bool:
        marker = plan.pii
        assert marker is not None
        principal = self.principal
        if principal is None:
            return False
        owner_field = marker.owner_field or getattr(model, "__pii_owner__", None)
        if self.policy.owner_sees_own and isinstance(owner_field, str):
            owner_key = _key_of(model, owner_field)
            if owner_key in data and str(data[owner_key]) == principal.sub:
                self.owner_paths.append(path)
                return True
        if not self.allow_reveal or marker.reveal is None:
            return False
        if marker.reveal not in principal.scopes:
            return False
        if self.policy.explicit_reveal and (
            self.purpose is None or not ({plan.name, plan.key} & self.requested)
        ):
            return False
        if len(self.reveals) >= self.policy.max_reveals:
            return False
        id_field = getattr(model, "__pii_id__", "id")
        id_key = _key_of(model, id_field) if isinstance(id_field, str) else None
        if any(p.key == id_key and p.pii is not None for p in _plan(model)):
            id_key = None  # an id declared as PII never goes to the audit trail
        record_id = data.get(id_key) if id_key else None
        self.reveals.append(
            _Reveal(
                path,
                model.__name__,
                plan.name,
                marker.kind,
                None if record_id is None else str(record_id),
            )
        )
        return True


def _keys(model: type[BaseModel]) -> set[str]:
    return {
        info.serialization_alias or info.alias or name for name, info in model.model_fields.items()
    }


def _key_of(model: type[BaseModel], name: str) -> str:
    info = model.model_fields.get(name)
    if info is None:
        return name
    return info.serialization_alias or info.alias or name


_DROPPED = object()


def _mask(value: Any, marker: PII, op: Operator) -> Any:
    """The masked form of a PII value; containers are masked leaf by leaf."""
    if isinstance(value, list):
        kept = [_mask(v, marker, op) for v in value]
        return [v for v in kept if v is not _DROPPED]
    if isinstance(value, dict):
        if isinstance(op, Drop):
            return _DROPPED
        return f"[{marker.kind}]"  # a structured value has no meaningful partial form
    text = value if isinstance(value, str) else str(value)
    result = op(text, marker.kind)
    return _DROPPED if result is None else result


# --- FastAPI integration ----------------------------------------------------------------------


class Presenter:
    """Request-scoped: filters models for the calling principal. Get one with :data:`Present`."""

    def __init__(self, request: Request, policy: FieldPolicy) -> None:
        self.request = request
        self.policy = policy
        params = request.query_params
        requested: set[str] = set()
        for item in params.getlist("reveal"):
            requested.update(part.strip() for part in item.split(",") if part.strip())
        self.requested = frozenset(requested)
        self.purpose = _valid_purpose(params.get("purpose"))

    @property
    def principal(self) -> Principal | None:
        # Set by tokenveil.web.get_principal; read at present() time, after every dependency.
        found = getattr(self.request.state, "tokenveil_principal", None)
        return found if isinstance(found, Principal) else None

    async def data(
        self, obj: BaseModel | Sequence[BaseModel], *, principal: Principal | None = None
    ) -> Any:
        """The JSON-ready data of ``obj`` with the policy applied; reveals audited first."""
        who = principal if principal is not None else self.principal
        if isinstance(obj, BaseModel):
            document: Any = obj.model_dump(mode="json", by_alias=True)
            shape = _Shape(model=type(obj))
        else:
            document = [o.model_dump(mode="json", by_alias=True) for o in obj]
            shape = _Shape(items=_Shape(model=type(obj[0]))) if obj else _Shape()
        # No audit sink, no reveal; an explicit-reveal policy also needs a stated purpose.
        allow = self.policy.audit is not None and (
            self.purpose is not None or not self.policy.explicit_reveal
        )
        walk = _Walk(self.policy, who, self.requested, self.purpose, allow)
        result = walk.value(document, shape, "$")
        if walk.reveals and not await self._audit(who, walk.reveals):
            walk = _Walk(self.policy, who, self.requested, self.purpose, False)
            result = walk.value(document, shape, "$")
        state = self.request.scope.setdefault("state", {})
        allowed: set[str] = state.setdefault(ALLOWED_PATHS_STATE_KEY, set())
        allowed.update(r.path for r in walk.reveals)
        allowed.update(walk.owner_paths)
        mark_sensitive(self.request.scope)  # it went through the PII policy: never cache it
        return result

    async def __call__(
        self,
        obj: BaseModel | Sequence[BaseModel],
        *,
        principal: Principal | None = None,
        status_code: int = 200,
    ) -> JSONResponse:
        """A JSON response of the filtered data (FastAPI does not re-validate a Response)."""
        document = await self.data(obj, principal=principal)
        response = JSONResponse(document, status_code=status_code)
        # Handed to the egress filter, which then scans ``document`` rather than parsing the
        # body again (only if the body it sees is exactly this one). ``document`` is JSON-native
        # (``model_dump(mode="json")``), so it equals what parsing the body would give.
        self.request.scope.setdefault("state", {})[PRESENTED_STATE_KEY] = (response.body, document)
        return response

    async def _audit(self, principal: Principal | None, reveals: list[_Reveal]) -> bool:
        audit = self.policy.audit
        if audit is None or principal is None:
            return False
        try:
            for reveal in reveals:
                await audit(
                    SecurityEvent(
                        kind="pii.reveal",
                        at=self.policy.clock(),
                        details={
                            "sub": principal.sub,
                            "client_id": principal.client_id,
                            "model": reveal.model,
                            "field": reveal.field,
                            "kind": reveal.kind,
                            "record_id": reveal.record_id,
                            "purpose": self.purpose,
                        },
                    )
                )
        except Exception as exc:
            # Fail closed: an unaudited reveal does not happen.
            logger.error("pii.reveal audit failed (%s): nothing revealed", type(exc).__name__)
            return False
        return True


def _valid_purpose(value: str | None) -> str | None:
    # The purpose lands in the audit trail: an id-like token, never free text holding PII.
    if value is None or not _PURPOSE.match(value) or find(value):
        return None
    return value


def use_field_policy(app: FastAPI, policy: FieldPolicy) -> None:
    """Make ``policy`` the one :data:`Present` uses in ``app``; document the reveal protocol."""
    setattr(app.state, _POLICY_STATE_ATTR, policy)
    _document_reveal_parameters(app)


_REVEAL_PARAMETERS: tuple[dict[str, Any], ...] = (
    {
        "name": "reveal",
        "in": "query",
        "required": False,
        "schema": {"type": "string"},
        "description": "PII fields to show unmasked (comma-separated or repeated). Needs the "
        "field's reveal scope and a purpose; every reveal is audited.",
    },
    {
        "name": "purpose",
        "in": "query",
        "required": False,
        "schema": {"type": "string", "maxLength": 100},
        "description": "Why the reveal is needed, as an id (e.g. support-ticket-123).",
    },
)


def _document_reveal_parameters(app: FastAPI) -> None:
    """Add ``reveal`` and ``purpose`` to the OpenAPI operations of routes using Present.

    Done on the generated document, not as Query parameters of the dependency: FastAPI's
    parameter validation on every request would cost more than the whole field policy.
    """
    if getattr(app.state, "tokenveil_reveal_documented", False):
        return
    app.state.tokenveil_reveal_documented = True
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        schema = generate()
        for path, methods, route in iter_api_routes(app):
            if not _uses_presenter(route.dependant):
                continue
            for method in methods:
                operation = schema.get("paths", {}).get(path, {}).get(method.lower())
                if operation is None:
                    continue
                parameters = operation.setdefault("parameters", [])
                names = {p.get("name") for p in parameters}
                parameters.extend(dict(p) for p in _REVEAL_PARAMETERS if p["name"] not in names)
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


_DEFAULT_POLICY = FieldPolicy()


async def get_presenter(request: Request) -> Presenter:
    """FastAPI dependency behind :data:`Present` (async: a sync one costs a threadpool hop)."""
    policy = getattr(request.app.state, _POLICY_STATE_ATTR, None)
    return Presenter(request, policy if isinstance(policy, FieldPolicy) else _DEFAULT_POLICY)


#: ``present: Present`` in a route signature, then ``return await present(model)``.
Present = Annotated[Presenter, Depends(get_presenter)]


def routes_missing_presenter(app: FastAPI) -> list[str]:
    """Routes whose response model declares PII but which do not use :data:`Present`.

    Such a route would serialise every declared field unmasked; :func:`tokenveil.web.harden`
    refuses to start with one (the egress filter would still catch detectable kinds, but not
    names or addresses).
    """
    missing: list[str] = []
    for path, methods, route in iter_api_routes(app):
        if route.response_model is None:
            continue
        shape = _shape_of(route.response_model)
        if shape is None or not _has_pii(shape):
            continue
        if not _uses_presenter(route.dependant):
            missing.append(f"{','.join(sorted(methods))} {path}")
    return missing


def iter_api_routes(app: FastAPI) -> Iterator[tuple[str, set[str], APIRoute]]:
    """(full path, methods, route) of every API route, routers included at any depth."""
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        if isinstance(route, APIRoute) and context.path is not None:
            yield context.path, set(context.methods or route.methods or ()), route


def _has_pii(shape: _Shape) -> bool:
    if shape.pii is not None:
        return True
    if shape.model is not None and pii_fields(shape.model):
        return True
    inner = [s for s in (shape.items, shape.values, *shape.options) if s is not None]
    return any(_has_pii(s) for s in inner)


def _uses_presenter(dependant: Dependant) -> bool:
    return dependant.call is get_presenter or any(
        _uses_presenter(sub) for sub in dependant.dependencies
    )
