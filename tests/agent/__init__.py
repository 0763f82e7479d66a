"""The tests' LiveKit Agents worker (run in its own environment, see tests/agentenv.py)."""
