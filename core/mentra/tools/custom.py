"""Custom tools declared in the agent config: a command run without a shell, or a Python function.

Command tools build their argv from the validated input: ``{field}`` in an argument is replaced
by that input value (a whole-argument ``{field}`` holding a list expands to several arguments;
one whose field is absent is dropped; ``{{``/``}}`` are literal braces), or with ``stdin: json``
the input goes to the command as JSON on stdin. They run through the same subprocess code as
`shell` (`mentra.tools._process`): the policy's environment, working dir, timeout and output cap.

Python tools name ``module:function``; the input schema comes from the function's type hints and
the ``Args:`` section of its docstring. Sync functions run in a worker thread, async ones are
awaited.

A value put in the argv that begins with ``-`` is refused (it would be read as an option:
``wc --files0-from=/etc/hostname``) unless the tool declares ``allow_options: true``. Inputs the
tool declares as paths (``paths: [field]``, or ``format: path`` in the field's schema) are
resolved by the policy exactly as the `files` tool resolves them, inside the read roots (the
write roots for a mutating tool), and the command gets the resolved absolute path; a path outside
them fails the call with the policy's message.

``mutates`` defaults to true: a tool mentra knows nothing about is assumed to change things, so
it runs in the one-at-a-time lane and asks for permission in the default mode. Declare
``mutates: false`` for read-only tools to let them run in parallel and be allowed by default.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import json
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model, model_validator

from mentra._duration import Duration
from mentra.errors import ConfigError
from mentra.permissions.policy import PolicyViolationError, RuntimePolicy
from mentra.tools._process import CommandNotFoundError, run_process
from mentra.tools._threads import run_blocking
from mentra.tools.base import (
    SchemaTool,
    Tool,
    ToolContext,
    ToolInputError,
    ToolResult,
    canonical_json,
    format_validation_error,
    model_schema,
)

_PLACEHOLDER = re.compile(r"\{\{|\}\}|\{([A-Za-z_][A-Za-z0-9_]*)\}")
_TOOL_NAME = r"^[A-Za-z_][A-Za-z0-9_-]{0,63}$"


class CustomToolSpec(BaseModel):
    """One entry of ``tools.custom`` in an agent config."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=_TOOL_NAME)
    description: str | None = Field(
        None, description="Required for commands; a Python tool defaults to its docstring."
    )
    command: list[str] | None = Field(None, min_length=1, description="argv, no shell")
    python: str | None = Field(None, pattern=r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")
    input_schema: dict[str, Any] = Field(
        default_factory=lambda: {"type": "object", "properties": {}}
    )
    mutates: bool = True
    stdin: Literal["none", "json"] = "none"
    timeout: Duration | None = Field(None, gt=0, description="seconds; capped by the policy")
    allow_options: bool = Field(
        False,
        description="let a value put in the argv begin with `-` (default: such a call is refused)",
    )
    paths: list[str] = Field(
        default_factory=list,
        description=(
            "input fields that are paths: resolved inside the read roots (the write roots when "
            "`mutates`), as the files tool does; `format: path` in a field's schema does the same"
        ),
    )

    @model_validator(mode="after")
    def _one_kind(self) -> CustomToolSpec:
        if (self.command is None) == (self.python is None):
            raise ValueError("give exactly one of `command` (argv list) or `python` (module:func)")
        if self.command is not None:
            if not self.description:
                raise ValueError("a command tool needs a `description`")
            if self.input_schema.get("type", "object") != "object":
                raise ValueError("input_schema must describe an object (type: object)")
            _check_schema(self.input_schema)
            known = set(self.input_schema.get("properties", {}))
            for arg in self.command:
                for field in _fields(arg):
                    if known and field not in known:
                        raise ValueError(
                            f"placeholder {{{field}}} in command is not a property of input_schema"
                        )
            properties = self.input_schema.get("properties", {})
            for field in self.paths:
                if field not in properties:
                    raise ValueError(f"`paths` names {field!r}, not a property of input_schema")
        else:
            if "input_schema" in self.model_fields_set:
                raise ValueError("a Python tool's input schema comes from its type hints")
            if self.stdin != "none":
                raise ValueError("`stdin` applies to command tools only")
            if self.paths or self.allow_options:
                raise ValueError("`paths` and `allow_options` apply to command tools only")
        return self


def build_custom_tool(spec: CustomToolSpec, *, base_dir: Path) -> Tool:
    """The tool for ``spec``; relative command paths and Python modules resolve in ``base_dir``."""
    if spec.command is not None:
        return CommandTool(spec, base_dir=base_dir)
    return PythonTool.from_spec(spec, base_dir=base_dir)


class CommandTool(SchemaTool):
    def __init__(self, spec: CustomToolSpec, *, base_dir: Path) -> None:
        assert spec.command is not None and spec.description is not None
        super().__init__(
            name=spec.name,
            description=spec.description,
            schema=spec.input_schema,
            mutates=spec.mutates,
        )
        program = spec.command[0]
        if "/" in program and not Path(program).is_absolute():
            program = str(base_dir / program)
        self.argv_template = [program, *spec.command[1:]]
        self.stdin_json = spec.stdin == "json"
        self.timeout = spec.timeout
        self.allow_options = spec.allow_options
        properties = spec.input_schema.get("properties", {})
        self.path_fields = list(spec.paths) + [
            name
            for name, sub in properties.items()
            if isinstance(sub, dict) and sub.get("format") == "path" and name not in spec.paths
        ]
        self.argv_fields = {field for arg in spec.command for field in _fields(arg)}

    def check_input(self, args: dict[str, Any], policy: RuntimePolicy) -> dict[str, Any] | str:
        """``args`` with path fields resolved by the policy, or why the call is refused."""
        if not self.allow_options:
            for field in sorted(self.argv_fields):
                values = args.get(field)
                for value in values if isinstance(values, list) else [values]:
                    if isinstance(value, str) and value.startswith("-"):
                        return (
                            f"Custom tool `{self.name}`: `{field}` is {value!r}, which begins "
                            "with '-' and would be read as an option; refused (the tool does not "
                            "declare `allow_options: true`)"
                        )
        checked = dict(args)
        for field in self.path_fields:
            value = args.get(field)
            if value is None:
                continue
            items = value if isinstance(value, list) else [value]
            try:
                resolved = [
                    str(policy.resolve(item, write=self.mutates)) if isinstance(item, str) else item
                    for item in items
                ]
            except PolicyViolationError as exc:
                return f"Refused by policy: {exc.message}"
            checked[field] = resolved if isinstance(value, list) else resolved[0]
        return checked

    def build_argv(self, args: dict[str, Any]) -> list[str]:
        argv: list[str] = []
        for template in self.argv_template:
            whole = re.fullmatch(r"\{([A-Za-z_][A-Za-z0-9_]*)\}", template)
            if whole:
                value = args.get(whole.group(1))
                if value is None:
                    continue  # an absent optional field drops its argument
                if isinstance(value, list):
                    argv.extend(_as_arg(v) for v in value)
                    continue
                argv.append(_as_arg(value))
                continue
            argv.append(
                _PLACEHOLDER.sub(
                    lambda m: (
                        m.group(0)[0] if m.group(1) is None else _as_arg(args.get(m.group(1), ""))
                    ),
                    template,
                )
            )
        return argv

    async def run(self, args: dict[str, Any], ctx: ToolContext) -> ToolResult:
        policy = ctx.policy
        checked = self.check_input(args, policy)
        if isinstance(checked, str):
            return ToolResult(checked, is_error=True)
        args = checked
        argv = self.build_argv(args)
        timeout = min(self.timeout or policy.command_timeout, policy.command_timeout)
        try:
            outcome = await run_process(
                argv,
                cwd=policy.working_dir,
                env=policy.child_env(),
                timeout=timeout,
                max_output_bytes=policy.max_output_bytes,
                progress=ctx.progress,
                stdin_data=(canonical_json(args) + "\n").encode() if self.stdin_json else None,
            )
        except CommandNotFoundError as exc:
            return ToolResult(
                f"Custom tool `{self.name}` could not start its command `{exc.program}`: "
                f"{exc.reason}. Check that it is installed and on the PATH the policy passes.",
                is_error=True,
            )
        failed = outcome.timed_out or outcome.exit_code != 0
        return ToolResult(outcome.render(timeout=timeout), is_error=failed)


class PythonTool:
    """A tool backed by a Python function; its pydantic model comes from the signature."""

    def __init__(
        self,
        *,
        name: str,
        description: str,
        func: Callable[..., Any],
        model: type[BaseModel],
        mutates: bool,
        timeout: float | None,
    ) -> None:
        self.name = name
        self.description = description
        self.mutates = mutates
        self.func = func
        self.model = model
        self.timeout = timeout

    @classmethod
    def from_spec(cls, spec: CustomToolSpec, *, base_dir: Path) -> PythonTool:
        assert spec.python is not None
        func = _import(spec.python, base_dir=base_dir, tool=spec.name)
        doc = inspect.getdoc(func) or ""
        description = spec.description or doc.split("\n\n", 1)[0].strip()
        if not description:
            raise ConfigError(f"custom tool {spec.name!r}: add a `description` or a docstring")
        return cls(
            name=spec.name,
            description=description,
            func=func,
            model=model_from_signature(func, name=spec.name),
            mutates=spec.mutates,
            timeout=spec.timeout,
        )

    @property
    def input_schema(self) -> dict[str, Any]:
        return model_schema(self.model)

    def parse_input(self, raw: dict[str, Any]) -> BaseModel:
        try:
            return self.model.model_validate(raw)
        except ValidationError as exc:
            raise ToolInputError(format_validation_error(self.name, exc)) from None

    def is_mutating(self, args: BaseModel) -> bool:
        return self.mutates

    def permission_subjects(self, args: BaseModel) -> list[str]:
        return [canonical_json(args.model_dump(mode="json"))]

    async def run(self, args: BaseModel, ctx: ToolContext) -> ToolResult:
        kwargs = {name: getattr(args, name) for name in type(args).model_fields}
        timeout = min(self.timeout or ctx.policy.command_timeout, ctx.policy.command_timeout)
        try:
            if inspect.iscoroutinefunction(self.func):
                value = await asyncio.wait_for(self.func(**kwargs), timeout)
            else:  # a thread cannot be killed: on timeout it is abandoned, not stopped
                value = await asyncio.wait_for(run_blocking(self.func, **kwargs), timeout)
        except TimeoutError:
            return ToolResult(f"Custom tool `{self.name}` timed out after {timeout:g}s.", True)
        except Exception as exc:
            return ToolResult(f"Custom tool `{self.name}` raised {type(exc).__name__}: {exc}", True)
        if isinstance(value, ToolResult):
            return value
        if isinstance(value, str):
            return ToolResult(value)
        if isinstance(value, BaseModel):
            return ToolResult(value.model_dump_json())
        return ToolResult(json.dumps(value, ensure_ascii=False, default=str))


def model_from_signature(func: Callable[..., Any], *, name: str) -> type[BaseModel]:
    """A pydantic model of ``func``'s parameters: hints as types, docstring ``Args:`` as
    descriptions, defaults kept. ``*args``/``**kwargs`` and unannotated parameters are refused."""
    try:
        hints = inspect.get_annotations(func, eval_str=True)
    except Exception as exc:
        raise ConfigError(f"custom tool {name!r}: cannot read type hints: {exc}") from None
    docs = _param_docs(inspect.getdoc(func) or "")
    fields: dict[str, Any] = {}
    for param in inspect.signature(func).parameters.values():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            raise ConfigError(f"custom tool {name!r}: *args/**kwargs cannot have a schema")
        if param.name not in hints:
            raise ConfigError(f"custom tool {name!r}: parameter {param.name!r} needs a type hint")
        default = ... if param.default is param.empty else param.default
        fields[param.name] = (hints[param.name], Field(default, description=docs.get(param.name)))
    return create_model(f"{name}_input", __config__=ConfigDict(extra="forbid"), **fields)


def _param_docs(doc: str) -> dict[str, str]:
    """``name: text`` / ``name (type): text`` lines of a Google-style ``Args:`` section."""
    out: dict[str, str] = {}
    in_args = False
    current: str | None = None
    for line in doc.splitlines():
        stripped = line.strip()
        if stripped in ("Args:", "Arguments:", "Parameters:"):
            in_args = True
            continue
        if not in_args:
            continue
        if stripped and not line.startswith((" ", "\t")):
            break  # the next section
        match = re.match(r"^\s+(\w+)\s*(?:\([^)]*\))?\s*:\s*(.*)$", line)
        if match:
            current = match.group(1)
            out[current] = match.group(2).strip()
        elif current and stripped:
            out[current] += " " + stripped
    return out


def _import(target: str, *, base_dir: Path, tool: str) -> Callable[..., Any]:
    module_name, _, attr = target.partition(":")
    added = str(base_dir) not in sys.path
    if added:
        sys.path.insert(0, str(base_dir))
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:
        raise ConfigError(f"custom tool {tool!r}: cannot import {module_name!r}: {exc}") from None
    finally:
        if added:
            sys.path.remove(str(base_dir))
    func = getattr(module, attr, None)
    if not callable(func):
        raise ConfigError(f"custom tool {tool!r}: {target!r} is not a function")
    return func  # type: ignore[no-any-return]


def _fields(template: str) -> list[str]:
    return [m.group(1) for m in _PLACEHOLDER.finditer(template) if m.group(1)]


def _as_arg(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def _check_schema(schema: dict[str, Any]) -> None:
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import SchemaError

    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        raise ValueError(f"input_schema is not a valid JSON Schema: {exc.message}") from None
