"""engine/ owns running a model: the backend protocol and typed prompt (`base`), name → backend
(`registry`), loading with progress (`loading`), and one package per backend kind. Nothing outside
this package imports torch or transformers."""
