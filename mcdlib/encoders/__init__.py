"""Frozen encoders behind one interface (text: MiniLM; visual and audio in their own modules)."""

from mcdlib.encoders.text import TEXT_ENCODERS, HashTextEncoder, MiniLMTextEncoder, TextEncoder, get_text_encoder

__all__ = ["TEXT_ENCODERS", "HashTextEncoder", "MiniLMTextEncoder", "TextEncoder", "get_text_encoder"]
