"""What the test agent says, shared by the agent program (its own environment) and the tests: no imports."""

from __future__ import annotations

WEATHER_QUESTION = "what is the weather in Paris?"
WEATHER_ARGUMENTS = {"city": "Paris"}
GREETING_INPUT = "hello"
GREETING = "Hello! How can I help you today?"
FALLBACK = "I can only tell the weather, or say hello."
INSTRUCTIONS = "You tell the weather."
COMPLETION_TOKENS = 7
"""Output tokens the scripted LLM reports per reply."""


def weather_report(city: str) -> str:
    """get_weather's output, which is also the agent's whole reply after the tool call."""
    return f"It is sunny and 21 degrees in {city}."
