"""The tests' real LiveKit Agents worker: a text-only, offline `AgentSession` with deterministic replies.

Runs in its own virtual environment (tests/agentenv.py builds it: livekit-agents pins its own livekit), never
imported by the tests. Usage: `python agent.py AGENT_NAME [--no-session-host]` with LIVEKIT_URL, LIVEKIT_API_KEY,
LIVEKIT_API_SECRET set. `--no-session-host` starts the session without its host (`session_host=False`): nothing on
`lk.agent.session`, only attributes and transcriptions, as an older framework.
It prints `READY <worker id>` on stdout once the server registered the worker, then serves dispatched jobs.

The LLM is a small `llm.LLM` subclass: "what is the weather in Paris?" calls `get_weather(city="Paris")` and then
answers with the tool's output; "hello" gets a greeting. No network service, no model download, no audio.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import sys
from typing import Any

from livekit.agents import (
    DEFAULT_API_CONNECT_OPTIONS,
    Agent,
    AgentServer,
    AgentSession,
    APIConnectOptions,
    JobContext,
    JobExecutorType,
    function_tool,
    llm,
    room_io,
)
from script import COMPLETION_TOKENS, FALLBACK, GREETING, INSTRUCTIONS, WEATHER_ARGUMENTS, weather_report

_call_ids = itertools.count(1)


class ScriptedStream(llm.LLMStream):
    async def _run(self) -> None:
        items = self.chat_ctx.items
        last = items[-1] if items else None
        if isinstance(last, llm.FunctionCallOutput):
            self._send_text(last.output)
        elif isinstance(last, llm.ChatMessage) and last.role == "user":
            text = (last.text_content or "").lower()
            if "weather" in text and "paris" in text:
                arguments = json.dumps(WEATHER_ARGUMENTS)
                call = llm.FunctionToolCall(name="get_weather", arguments=arguments, call_id=f"call_{next(_call_ids)}")
                self._event_ch.send_nowait(
                    llm.ChatChunk(id="scripted", delta=llm.ChoiceDelta(role="assistant", tool_calls=[call]))
                )
            elif "hello" in text:
                self._send_text(GREETING)
            else:
                self._send_text(FALLBACK)
        prompt = sum(len((getattr(i, "text_content", None) or "").split()) for i in items) + 1
        self._event_ch.send_nowait(
            llm.ChatChunk(
                id="scripted",
                usage=llm.CompletionUsage(
                    completion_tokens=COMPLETION_TOKENS, prompt_tokens=prompt, total_tokens=prompt + COMPLETION_TOKENS
                ),
            )
        )

    def _send_text(self, text: str) -> None:
        # word by word, as a real LLM streams deltas: the transcription stream then has several chunks
        words = text.split(" ")
        for i, word in enumerate(words):
            delta = word if i == len(words) - 1 else word + " "
            self._event_ch.send_nowait(
                llm.ChatChunk(id="scripted", delta=llm.ChoiceDelta(role="assistant", content=delta))
            )


class ScriptedLLM(llm.LLM):
    @property
    def model(self) -> str:
        return "scripted"

    @property
    def provider(self) -> str:
        return "lk_notebook-tests"

    def chat(
        self,
        *,
        chat_ctx: llm.ChatContext,
        tools: list[Any] | None = None,
        conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS,
        **_: Any,
    ) -> llm.LLMStream:
        return ScriptedStream(self, chat_ctx=chat_ctx, tools=tools or [], conn_options=conn_options)


class WeatherAgent(Agent):
    def __init__(self) -> None:
        super().__init__(instructions=INSTRUCTIONS)

    @function_tool
    async def get_weather(self, city: str) -> str:
        """The weather in a city."""
        return weather_report(city)


def main() -> None:
    agent_name = sys.argv[1]
    session_host = "--no-session-host" not in sys.argv[2:]
    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    # load_fnc: the default reports this machine's CPU use as the worker's load, and livekit-server dispatches no
    # job to a worker whose load is at the top. A test machine is busy by design (Chromium, JupyterLab, the tests on
    # 2 cores): measured, a dispatch next to a browser test was refused every time ("no servers available"). This
    # agent serves one scripted session at a time, so its load is its number of jobs, not the host's CPU.
    server = AgentServer(job_executor_type=JobExecutorType.THREAD, load_fnc=lambda: 0.0)

    @server.rtc_session(agent_name=agent_name)
    async def entrypoint(ctx: JobContext) -> None:
        await ctx.connect()
        session: AgentSession[None] = AgentSession(llm=ScriptedLLM())
        # The dispatch's metadata may name the participant to link to (the one whose lk.chat the agent reads), as
        # real agents do for their user: the lab's room holds other participants that joined first.
        linked = json.loads(ctx.job.metadata).get("participant_identity") if ctx.job.metadata else None
        options = room_io.RoomOptions(
            audio_input=False, audio_output=False, text_input=True, text_output=True, participant_identity=linked
        )
        await session.start(
            WeatherAgent(), room=ctx.room, room_options=options, record=False, session_host=session_host
        )

    def registered(worker_id: str, _info: Any) -> None:
        print(f"READY {worker_id}", flush=True)

    server.on("worker_registered", registered)
    asyncio.run(server.run(devmode=True))


if __name__ == "__main__":
    main()
