"""web/ owns the playground page: the static files under `static/` (index.html, app.css and the
ES modules in js/), shipped as package data and served as they are by `sightd.api.web`. No
bundler and no build step: the files here are both the source and what the browser loads.

The page is one more client of sightd's own Gemini REST API (Files API resumable uploads,
countTokens, streamGenerateContent over SSE, files.list/delete, models.list): anything it does,
the SDKs can do. Its rules:

- untrusted text (model answers, labels, file names, error messages) only ever reaches the DOM
  through text nodes and `textContent`, never as markup; no inline script or style, so the
  strict Content-Security-Policy the router sends holds;
- the API key the user types stays in `sessionStorage` and goes only to this server (the CSP's
  `connect-src 'self'`); with no keys configured the page asks for none;
- boxes are drawn in the image's own pixels (`box_2d` is y-first, 0-1000, converted with
  `trunc(v / 1000 * size)` like the docs' examples), masks are thresholded at 127 and laid over
  their boxes.

Python code here: none; this package imports nothing from sightd.
"""
