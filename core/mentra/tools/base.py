"""The tool protocol: name, description, JSON Schema, lane (read-only or mutating), async run.

Most tools subclass `ArgsTool` and declare a pydantic ``Args`` model: it gives the JSON Schema
the model sees and validates the input before the tool runs. Tools declared in YAML give a raw
schema instead and are validated with ``jsonschema`` (`SchemaTool`).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Protocol, TypeVar, runtime_checkable

from pydantic import BaseModel, ValidationError

from mentra.errors import MentraError
from mentra.messages import ImageBlock
from mentra.tools.services import ToolServices

if TYPE_CHECKING:
    from mentra.permissions.policy import RuntimePolicy

_C = TypeVar("_C")


class ToolInputError(MentraError):
    """The input does not fit the tool's schema; the message is guidance for the model."""


@dataclass(slots=True)
class ToolResult:
    content: str
    is_error: bool = False
    images: tuple[ImageBlock, ...] = ()  # sent to the model as images where its wire can


# (message, stream) -> None; stream is stdout, stderr or heartbeat
ProgressFn = Callable[[str, str], None]


def _no_progress(message: str, stream: str) -> None:
    return None


@dataclass(slots=True)
class ToolContext:
    """What a running tool may see: the policy fence, ids, a progress channel, and the
    services the runtime lends it (`ToolServices`: ``ctx.services.jobs_dir``, ...)."""

    policy: RuntimePolicy
    agent_id: str = ""
    run_id: str = ""
    call_id: str = ""
    progress: ProgressFn = _no_progress
    services: ToolServices = field(default_factory=ToolServices)

    def __post_init__(self) -> None:
        if isinstance(self.services, dict):  # the old mapping form, from code written for it
            self.services = ToolServices.from_mapping(self.services)

    @property
    def working_dir(self) -> Path:
        return self.policy.working_dir

    def app_context(self, cls: type[_C]) -> _C:
        """The application object registered with ``Runtime.register_context`` for ``cls``."""
        obj = self.services.contexts.get(cls)
        if not isinstance(obj, cls):
            raise LookupError(f"no context of type {cls.__name__} is registered")
        return obj


@runtime_checkable
class Tool(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def description(self) -> str: ...

    @property
    def mutates(self) -> bool:
        """The default lane (and default permission) of the tool's calls."""
        ...

    @property
    def input_schema(self) -> dict[str, Any]: ...

    def parse_input(self, raw: dict[str, Any]) -> Any:
        """Validate ``raw``; raise `ToolInputError` with guidance for the model."""
        ...

    def is_mutating(self, args: Any) -> bool:
        """The lane of one call: mutating calls run one at a time, in call order."""
        ...

    def permission_subjects(self, args: Any) -> list[str]:
        """The strings permission patterns match, e.g. a command line or ``read:src/x.py``."""
        ...

    # ``permission_kind``: how the permission layer reads the subjects: ``shell`` (command
    # lines, split into the commands they run), ``file_ops`` (``OP:PATH``) or ``json`` (text,
    # the default). Read with getattr, outside the structural check, so tools written before
    # it keep working; `ArgsTool` and `SchemaTool` default it to ``json``.

    async def run(self, args: Any, ctx: ToolContext) -> ToolResult: ...


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


_SCHEMAS: dict[type[BaseModel], str] = {}


def model_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The JSON Schema of an argument model, without its title. Generated once per class
    (pydantic takes milliseconds for a large model); every call returns a fresh copy."""
    text = _SCHEMAS.get(model)
    if text is None:
        schema = model.model_json_schema()
        schema.pop("title", None)
        text = _SCHEMAS[model] = json.dumps(schema)
    value: dict[str, Any] = json.loads(text)
    return value


A = TypeVar("A", bound=BaseModel)


class ArgsTool(Generic[A]):
    """Base for tools whose input is a pydantic model ``Args``."""

    name: ClassVar[str]
    description: ClassVar[str]
    mutates: ClassVar[bool] = False
    permission_kind: ClassVar[str] = "json"
    Args: type[A]

    @property
    def input_schema(self) -> dict[str, Any]:
        return model_schema(self.Args)

    def parse_input(self, raw: dict[str, Any]) -> A:
        try:
            return self.Args.model_validate(raw)
        except ValidationError as exc:
            raise ToolInputError(format_validation_error(self.name, exc)) from None

    def is_mutating(self, args: A) -> bool:
        return self.mutates

    def permission_subjects(self, args: A) -> list[str]:
        return [canonical_json(args.model_dump(mode="json", exclude_none=True))]

    async def run(self, args: A, ctx: ToolContext) -> ToolResult:
        raise NotImplementedError


def format_validation_error(tool: str, exc: ValidationError) -> str:
    problems = []
    for err in exc.errors(include_url=False):
        where = ".".join(str(p) for p in err["loc"]) or "(input)"
        problems.append(f"{where}: {err['msg']}")
    return f"Invalid input for tool `{tool}`: " + "; ".join(problems)


class SchemaTool:
    """Base for tools described by a raw JSON Schema (custom YAML tools, MCP later)."""

    name: str
    description: str
    mutates: bool = False
    permission_kind: str = "json"

    def __init__(self, *, name: str, description: str, schema: dict[str, Any], mutates: bool):
        self.name = name
        self.description = description
        self.mutates = mutates
        self._schema = schema
        self._validator: Any = None

    @property
    def input_schema(self) -> dict[str, Any]:
        return self._schema

    def parse_input(self, raw: dict[str, Any]) -> dict[str, Any]:
        if self._validator is None:
            from jsonschema import Draft202012Validator

            self._validator = Draft202012Validator(self._schema)
        errors = sorted(self._validator.iter_errors(raw), key=lambda e: list(e.path))
        if errors:
            parts = [f"{'.'.join(map(str, e.path)) or '(input)'}: {e.message}" for e in errors]
            raise ToolInputError(f"Invalid input for tool `{self.name}`: " + "; ".join(parts))
        return raw

    def is_mutating(self, args: dict[str, Any]) -> bool:
        return self.mutates

    def permission_subjects(self, args: dict[str, Any]) -> list[str]:
        return [canonical_json(args)]

    async def run(self, args: dict[str, Any], ctx: ToolContext) -> ToolResult:
        raise NotImplementedError
