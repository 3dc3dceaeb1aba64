"""The `openai` engine: sightd in front of any OpenAI-compatible chat-completions server.

It owns the conversation with the upstream: the server's request dialect (`dialects`: top_k,
structured outputs, video per server kind), the prompt as chat messages (`messages`), one
pooled HTTP client with upstream failures mapped to Gemini errors (`client`), what sightd
knows of a model it does not run (`processor`: family, resize frame, tokenizer), and the
backend that bounds requests in flight and validates constrained answers (`backend`).
No torch here.
"""
