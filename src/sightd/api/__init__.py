"""api/ owns HTTP: routes per resource, wire schemas (camelCase or snake_case in, camelCase
out), auth, the one error translator and SSE framing. Routes parse, call a service from
`app.state`, and serialise; nothing here decodes media or runs a model."""
