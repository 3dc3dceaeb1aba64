"""sightd: a self-hosted server that speaks Google's Gemini API for image and video understanding
on open-weight models. See DESIGN.md in the shared folder for the request path."""

__version__ = "0.1.0"
