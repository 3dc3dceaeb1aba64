"""Real client libraries driving a live sightd: the agent frameworks' function calling and
structured output (issue 8).

Owns: pydantic-ai (`Agent(output_type=...)`, default tool output, a discriminated union),
LangChain (`langchain-google-genai`: `bind_tools`, `with_structured_output` by function calling
and by JSON schema, with `HttpUrl` and `set[str]`), LiteLLM (`tools=`), the Vercel AI SDK
(`tests/e2e/js/ai_sdk_tools.mjs`, run by node) and google-genai's automatic function calling,
each against a tiny random Qwen3-VL, Qwen2.5-VL and SmolVLM2 sightd. A random model's answers
mean nothing, so each test runs many seeded calls and asserts only validity: every function
call names an allowed function with args valid against its schema, every structured answer
validates against the client's pydantic model. Each exchange is also checked on the wire, by
a recording proxy between client and sightd (`recorder.Proxy`, `checks.py`).

Also here: `recorder.Recorder`, a canned Gemini stand-in, with `capture.py` (what each client
sends, saved as JSON) and `probe.py` (what each client needs in an answer).

pydantic-ai-slim[google] 2.68 and langchain-google-genai 4.4 declare google-genai<3, the main
venv has 3.x, so these run in their own venv that sees the main one underneath, built by
`make frameworks` (`setup_venv.sh`: the pins of pyproject.toml's `frameworks` extra, every
shared package held to the main venv's version) and run by `make test`:

    .venv-frameworks/bin/python -m pytest -p no:cacheprovider tests/frameworks
    SIGHTD_FRAMEWORK_RUNS=100 SIGHTD_FRAMEWORK_FAMILIES=qwen3-vl .venv-frameworks/bin/python ...

In the main venv the modules skip (the libraries are not importable there)."""
