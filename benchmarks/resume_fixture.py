"""Build a store holding one agent with a long transcript, for the `resume` scenario.

Run with mentra's virtualenv: ``python benchmarks/resume_fixture.py STORE.db CONFIG.yaml
--items 10000``. The transcript is ``items`` messages: the first user prompt, then rounds of an
assistant tool call and its tool result, and a final assistant answer, so that `resume` with a
prompt continues a finished conversation. Prints the agent id on stdout.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("store")
    p.add_argument("workspace")
    p.add_argument("--items", type=int, default=10_000)
    p.add_argument("--model", default="openai:bench-n0-m8")
    p.add_argument("--base-url", required=True)
    args = p.parse_args()

    from mentra.ids import new_id
    from mentra.messages import Message, TextBlock, ToolResultBlock, ToolUseBlock
    from mentra.store.base import AgentRecord, RunRecord
    from mentra.store.sqlite import SQLiteStore

    store = SQLiteStore(Path(args.store))
    agent_id = new_id()
    config = {"providers": {"openai": {"base_url": args.base_url}}}
    store.create_agent(
        AgentRecord(
            id=agent_id,
            name="resume-bench",
            model=args.model,
            workspace=os.path.realpath(args.workspace),
            config=config,
        )
    )
    run = RunRecord(id=new_id(), agent_id=agent_id, prompt="start")
    store.begin_run(run)
    batch: list[Message] = [Message.user_text("start")]
    made = 1
    k = 0
    while made < args.items - 1:
        call_id = f"call_{k}"
        batch.append(
            Message(
                role="assistant",
                content=[
                    TextBlock(text=f"Step {k}: reading a file."),
                    ToolUseBlock(id=call_id, name="files", input={"path": f"src/m{k}.py"}),
                ],
            )
        )
        batch.append(
            Message(
                role="user",
                content=[ToolResultBlock(tool_use_id=call_id, content="x = 1\n" * 20)],
            )
        )
        made += 2
        k += 1
        run.rounds += 1
        run.tool_calls += 1
        if len(batch) >= 500:
            store.commit_round(agent_id, run.id, batch, run)
            batch = []
    batch.append(Message(role="assistant", content=[TextBlock(text="Done.")]))
    store.commit_round(agent_id, run.id, batch, run)
    run.status = "success"
    store.finish_run(run)
    store.close()
    print(agent_id)


if __name__ == "__main__":
    main()
