"""Media: bytes → typed media.

This package owns turning bytes into things the engine can use: MIME resolution and sniffing
(`mime`), image decoding (`image`), base64 payloads (`b64`), Gemini's token rules (`tokens`) and
verifying uploaded files (`probe`). Where bytes come from (inline, Files API, URLs) is kept
separate from how they decode. Nothing here knows HTTP and nothing here imports torch; PyAV is
imported lazily, only where video is touched. Functions block: call them off the event loop.
"""
