"""Helpers of the Chainlit app (``app.py``): sign-in, chat settings, status text and the per-chat voice bridge.

``chat`` and ``chat_settings`` use Chainlit; ``auth`` and ``render`` are plain Python, unit-tested alone.
"""
