"""The in-process backend: open-weight VLMs run with Hugging Face transformers and torch.

It owns everything model-specific: finding the weights (`hub`: a local folder or a hub download
with progress), loading processors without torchvision (`no_torchvision`), each family's chat
format and limits (`families`), running generation with sampling, stop sequences and streaming
(`backend`, `decoding`), and tiny random-weight models of the real architectures for offline tests
(`tiny`). Only this package imports torch and transformers, and only lazily: importing it is cheap.

OpenMP reads OMP_WAIT_POLICY once, when torch loads its runtime. Spin-waiting threads make
generation 10-30x slower as soon as anything else uses the CPU, so the default is set here,
before any submodule can import torch.
"""

from sightd.settings import set_env_default

set_env_default("OMP_WAIT_POLICY", "PASSIVE")
