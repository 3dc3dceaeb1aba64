"""Tiny random-weight models of the real architectures, built offline, for tests and demos.

It owns everything that fabricates a model rather than serving one: the tiny Qwen3-VL,
Qwen2.5-VL and SmolVLM2 builders (`tiny`), their locally trained tokenizers
(`tiny_tokenizers`), verbatim copies of the families' chat templates (`chat_templates`), and a
tiny OWLv2 detector and SAM 2.1 segmenter (`tiny_vision`). `sightd models tiny` and the test
suites use it; the engine never imports it.

OpenMP reads OMP_WAIT_POLICY once, when torch loads: spin-waiting makes tiny models 10-30x
slower as soon as anything else uses the CPU, so the default is set before torch is imported.
"""

from sightd.settings import set_env_default

set_env_default("OMP_WAIT_POLICY", "PASSIVE")
