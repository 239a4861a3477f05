"""The LLM serving image: the official vLLM engine started through hoist's entrypoint."""
