"""``affectlens serve``: a versioned HTTP API (FastAPI) over a bounded pool of analyzers.

Modules: :mod:`.app` (the app factory and routes), :mod:`.schemas` (response models: the record schema as OpenAPI),
:mod:`.jobs` (the persistent job store), :mod:`.workers` (the analyzer threads), :mod:`.limits` (API key, upload
size, content sniffing), :mod:`.uploads` (request bodies streamed to disk), :mod:`.metrics` (Prometheus text).
Needs the ``[server]`` extra: ``pip install 'affectlens[server]'``.
"""
