"""The pieces of compaction on their own: estimate, micro-compaction, the summary's parts,
the config's window and threshold."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from pydantic import ValidationError

from mentra.agent.hooks import HookPipeline
from mentra.agent.request import RunOverrides
from mentra.context import summarize
from mentra.context.config import DEFAULT_WINDOW, ContextConfig, known_window
from mentra.context.estimate import TokenEstimator
from mentra.context.micro import MicroCompactor, micro_compact
from mentra.errors import ConfigError
from mentra.messages import Message, TextBlock, ToolResultBlock, ToolUseBlock
from mentra.providers.base import ModelRequest


def _call(n: int, name: str = "shell", **input: object) -> Message:
    return Message(
        role="assistant", content=[ToolUseBlock(id=f"c{n}", name=name, input=dict(input))]
    )


def _result(n: int, text: str) -> Message:
    return Message(role="user", content=[ToolResultBlock(tool_use_id=f"c{n}", content=text)])


def _exchange(count: int, size: int = 200) -> list[Message]:
    out = [Message.user_text("go")]
    for n in range(1, count + 1):
        out += [_call(n), _result(n, f"R{n} " + "x" * size)]
    return out


def test_the_estimate_is_ceil_of_the_json_chars_over_four() -> None:
    messages = [
        Message.user_text("hello"),
        Message(role="assistant", content=[TextBlock(text="hi")]),
    ]
    chars = len(json.dumps([m.model_dump(mode="json") for m in messages], separators=(",", ":")))
    est = TokenEstimator()
    assert est.estimate(messages, "be brief") == math.ceil((chars + len("be brief")) / 4)
    assert est.estimate(messages, "be brief") == est.estimate(list(messages), "be brief")
    assert est.estimate([], None) == 1  # "[]"


def test_the_estimate_follows_a_list_that_grows_in_place() -> None:
    history = [Message.user_text("a" * 400)]
    est = TokenEstimator()
    first = est.estimate(history, None)
    history.append(Message.user_text("b" * 4000))  # the agent's history, appended to
    assert est.estimate(history, None) == TokenEstimator().estimate(history, None) > first


def test_micro_compaction_follows_a_list_that_grows_in_place() -> None:
    micro = MicroCompactor(3)
    history = _exchange(3)
    assert micro(history) is history
    history += [_call(4), _result(4, "R4 " + "x" * 200)]
    assert micro(history) == micro_compact(list(history), 3) != history


def test_a_tokenizer_counter_replaces_chars_over_four() -> None:
    est = TokenEstimator(count=lambda text: text.count("Q"))
    assert est.estimate([Message.user_text("QQQ")], "QQ") == 5


def test_micro_compaction_keeps_the_newest_results_and_short_ones() -> None:
    history = _exchange(6)
    history[4] = _result(2, "short")  # under 100 characters: sent as it is
    out = micro_compact(history, 3)
    results = [b for m in out for b in m.content if isinstance(b, ToolResultBlock)]
    assert [r.content[:2] for r in results] == ["[P", "sh", "[P", "R4", "R5", "R6"]
    assert results[0].content == "[Previous: used shell]"
    assert history[2].content[0].content.startswith("R1")  # type: ignore[union-attr]
    assert micro_compact(history, 0) is history  # off
    assert micro_compact(_exchange(3), 3) == _exchange(3)  # nothing old enough


def test_micro_compaction_reuses_its_abbreviated_messages() -> None:
    micro = MicroCompactor(3)
    history = _exchange(5)
    first = micro(history)
    longer = [*history, _call(6), _result(6, "R6 " + "x" * 200)]
    again = micro(longer)
    assert first[2] is again[2] and first[2] is not history[2]  # the same object, reused
    # each request's output equals what a fresh compactor makes of it
    assert again == micro_compact(longer, 3) and first == micro_compact(history, 3)
    assert again[6] != longer[6] and first[6] == history[6]  # result 3 became old
    # an unrelated list (after a compaction) is worked out afresh
    other = _exchange(4, size=300)
    assert micro(other) == micro_compact(other, 3)


def test_micro_compaction_of_a_message_with_several_results() -> None:
    calls = Message(
        role="assistant",
        content=[ToolUseBlock(id=f"p{k}", name=f"t{k}", input={}) for k in range(4)],
    )
    results = Message(
        role="user",
        content=[
            ToolResultBlock(tool_use_id=f"p{k}", content=f"P{k}" + "z" * 200) for k in range(4)
        ],
    )
    out = micro_compact([Message.user_text("go"), calls, results], 3)
    contents = [b.content[:2] for b in out[2].content]  # type: ignore[union-attr]
    assert contents == ["[P", "P1", "P2", "P3"]
    assert out[2].content[0].content == "[Previous: used t0]"  # type: ignore[union-attr]


def test_micro_compaction_names_an_unknown_call_a_tool() -> None:
    history = [_result(9, "y" * 200), *_exchange(3)]
    out = micro_compact(history, 3)
    assert out[0].content[0].content == "[Previous: used a tool]"  # type: ignore[union-attr]


def test_the_tail_is_the_last_call_with_its_results_or_the_last_message() -> None:
    history = _exchange(2)
    assert summarize.split_tail(history) == 3
    assert summarize.split_tail([*history, Message.user_text("next")]) == 5
    assert summarize.split_tail([Message.user_text("only")]) == 0


def test_recent_user_turns_stay_within_their_budget() -> None:
    big = Message.user_text("B" * 100_000)
    older = [Message.user_text("first"), big, Message.user_text("third"), *_exchange(1)[1:]]
    older.append(Message.user_text(summarize.SUMMARY_HEADER + "\nGoal: old"))
    est = TokenEstimator()
    kept = summarize.recent_user_turns(older, lambda ms: est.estimate(ms, None))
    # the newest first: "third" fits, the huge one does not, and the search stops there
    assert [m.text for m in kept] == ["third"]


def test_facts_are_paths_test_lines_and_permission_decisions() -> None:
    messages = [
        _call(1, "files", path="src/app.py"),
        _call(2, "shell", command="pytest tests/test_app.py -q && cat README.md"),
        _result(2, "....\n3 passed, 1 failed in 0.2s\nnoise"),
        _result(
            3,
            "Permission denied for `shell`: denied by rule shell(rm *). The call did not run; "
            "do not retry it unchanged",
        ),
    ]
    facts = summarize.extract_facts(messages, ["keep the API stable"])
    assert facts == [
        "path: src/app.py",
        "path: tests/test_app.py",
        "path: README.md",
        "test: 3 passed, 1 failed in 0.2s",
        "permission: Permission denied for `shell`: denied by rule shell(rm *)",
        "keep: keep the API stable",
    ]


def test_the_summary_prompt_starts_with_the_facts_and_is_cut_to_80000_chars() -> None:
    prompt = summarize.summary_prompt([Message.user_text("A" * 200_000)], ["path: x.py"])
    assert prompt.startswith(summarize.FACTS_HEADER + "\n- path: x.py\n")
    body = summarize.transcript_text([Message.user_text("S" + "A" * 200_000 + "E")])
    assert len(body) < summarize.MAX_INPUT_CHARS + 100
    assert body.startswith("USER: S") and body.endswith("E") and "left out" in body


@pytest.mark.parametrize(
    ("reply", "fields"),
    [
        ('{"goal": "g", "next_steps": ["a"], "other": 1}', {"goal": "g", "next_steps": ["a"]}),
        ('```json\n{"goal": "g"}\n```', {"goal": "g"}),
        ('Here it is: {"progress": "p"} done', {"progress": "p"}),
        ("plain words", {"progress": "plain words"}),
        ("[1, 2]", {"progress": "[1, 2]"}),
    ],
)
def test_a_reply_that_is_not_a_json_object_becomes_the_progress(
    reply: str, fields: dict[str, object]
) -> None:
    assert summarize.parse_summary(reply) == fields


def test_the_rendered_summary() -> None:
    text = summarize.render_summary(
        {"goal": "ship", "progress": "", "decisions": ["use sqlite", " "], "next_steps": "test"},
        ["path: a.py"],
    )
    assert text == (
        "[Compaction summary]\nGoal: ship\nDecisions:\n- use sqlite\nNext steps: test\n"
        "Extracted facts:\n- path: a.py"
    )


def test_windows_from_the_table_and_thresholds() -> None:
    assert known_window("claude-sonnet-4-5") == 200_000
    assert known_window("anthropic/claude-opus-4") == 200_000
    assert known_window("gpt-4.1-mini") == 1_047_576
    assert known_window("gpt-4o-mini") == 128_000
    assert known_window("my-local-llama") == DEFAULT_WINDOW
    c = ContextConfig()
    assert c.threshold("claude-x") == 160_000
    assert ContextConfig(window_tokens=10_000, compact_at=0.5).threshold("claude-x") == 5_000
    assert ContextConfig(compact_threshold_tokens=50_000).threshold("m") == 50_000
    assert c.threshold("m", compact_at=0.25) == 32_000  # --compact-at wins
    assert ContextConfig(compact_threshold_tokens=9).threshold("m", compact_at=1234) == 1234
    with pytest.raises(ValidationError, match="not both"):
        ContextConfig(compact_at=0.5, compact_threshold_tokens=10)


@pytest.mark.parametrize("value", [0.0, -1.0, 1.5, -0.5])
def test_a_bad_compact_at_is_a_config_error(value: float) -> None:
    with pytest.raises(ConfigError, match="--compact-at"):
        RunOverrides(compact_at=value).check()


def test_async_before_request_entries_need_prepare() -> None:
    async def entry(request: ModelRequest) -> ModelRequest:
        return request

    hooks = HookPipeline(before_request=[entry])
    with pytest.raises(TypeError, match="prepare"):
        hooks.request(ModelRequest(model="m", messages=[]))


async def test_prepare_awaits_async_entries_in_order() -> None:
    seen: list[str] = []

    def sync(request: ModelRequest) -> ModelRequest:
        seen.append("sync")
        return request

    async def later(request: ModelRequest) -> ModelRequest:
        seen.append("async")
        return ModelRequest(model=request.model + "!", messages=[])

    hooks = HookPipeline(before_request=[sync, later])
    out = await hooks.prepare(ModelRequest(model="m", messages=[]))
    assert out.model == "m!" and seen == ["sync", "async"]


def test_a_tokenizer_is_loaded_only_once_a_request_gets_large() -> None:
    loads: list[int] = []

    def loader() -> Any:
        loads.append(1)
        return lambda text: 7

    est = TokenEstimator(loader=loader, precise_above=100)
    small = [Message.user_text("hi")]
    assert est.estimate(small, None) < 100 and loads == []
    big = [Message.user_text("z" * 1000)]
    assert est.estimate(big, None) == 7 and loads == [1]
    assert est.estimate(small, None) == 7 and loads == [1]  # loaded once, counts from now on


def test_a_tokenizer_that_cannot_load_leaves_chars_over_four() -> None:
    est = TokenEstimator(loader=lambda: None, precise_above=1)
    assert est.estimate([Message.user_text("z" * 1000)], None) > 250


def test_openai_models_get_the_lazy_tokenizer_others_do_not() -> None:
    from mentra.context.estimate import estimator_for

    assert estimator_for("openai-chat", "gpt-4o", precise_above=10)._loader is not None
    assert estimator_for("anthropic", "claude-x", precise_above=10)._loader is None
    assert estimator_for("openai-chat", "llama3", precise_above=10)._loader is None


def test_the_summary_input_fits_a_small_window() -> None:
    body = summarize.transcript_text([Message.user_text("A" * 50_000)], 6_000)
    assert len(body) < 6_100


def test_a_threshold_past_the_window_is_the_window() -> None:
    from mentra.context.compactor import Compactor
    from mentra.providers.scripted import ScriptedProvider
    from mentra.providers.settings import Retries

    config = ContextConfig(window_tokens=10_000, compact_threshold_tokens=50_000)
    compactor = Compactor(
        config, provider=ScriptedProvider(), provider_name="s", model="m", retries=Retries()
    )
    assert (compactor.window, compactor.threshold) == (10_000, 10_000)


class _Owner:
    def __init__(self, history: list[Message]) -> None:
        self.history = history
        self.context: Any = None


class _Log:
    def __init__(self) -> None:
        self.markers: list[Any] = []

    async def commit_compaction(self, marker: Any) -> None:
        self.markers.append(marker)


class _Events:
    def __init__(self) -> None:
        self.types: list[str] = []

    def emit(self, cls: Any, **fields: Any) -> None:
        self.types.append(cls.model_fields["type"].default)


class _Charges:
    def charge_usage(self, usage: Any, cost: float | None) -> None:
        return None


async def test_a_compaction_that_stays_over_the_threshold_is_not_repeated_every_round(
    tmp_path: Any,
) -> None:
    from mentra.context.compactor import Compactor
    from mentra.providers.scripted import ScriptedProvider
    from mentra.providers.settings import Retries

    script = tmp_path / "s.yaml"
    script.write_text('turns: [{text: x}]\ncompaction: [{text: \'{"goal": "g"}\'}]\n')
    compactor = Compactor(
        ContextConfig(window_tokens=20_000, compact_threshold_tokens=3_000),
        provider=ScriptedProvider(),
        provider_name="scripted",
        model=str(script),
        retries=Retries(),
    )
    history = [Message.user_text("P" * 16_000), *_exchange(4, size=1_000)[1:]]  # a big prompt
    owner, log, events = _Owner(history), _Log(), _Events()
    compactor.begin_run(owner=owner, log=log, emitter=events, charges=_Charges())

    async def send() -> ModelRequest:
        view = owner.context
        messages = view.messages(owner.history) if view is not None else owner.history
        return await compactor(ModelRequest(model=str(script), messages=list(messages)))

    first = await send()
    assert events.types == ["compaction_started", "compaction_completed"]
    after = log.markers[0].tokens_after
    assert after > 3_000  # the kept prompt alone is over the threshold
    assert "[Compaction summary]" in first.messages[1].text
    for n in (5, 6):  # two more rounds: still over the threshold, not past the halfway mark
        owner.history += [_call(n), _result(n, "y" * 1_000)]
        await send()
    assert events.types == ["compaction_started", "compaction_completed"]
    owner.history += [_call(7), _result(7, "z" * 40_000)]  # far past: compacts again
    await send()
    assert events.types.count("compaction_completed") == 2
