"""Demo workloads: the ``shop`` services (frontend, cart, payments), a load generator, an nginx stand-in.

Each is a real aiohttp process instrumented with prometheus-client, runnable as
``python -m cluster.workloads.<name>`` and mapped from the built-in images
``heron/shop-frontend``, ``heron/shop-cart``, ``heron/shop-payments``,
``heron/shop-loadgen`` (and ``nginx``). ``manifests/shop.yaml`` deploys them.
Every service honours the fault switch (see :mod:`cluster.faults`).
"""

from __future__ import annotations

from pathlib import Path

MANIFESTS = Path(__file__).parent / "manifests"
SHOP_MANIFEST = MANIFESTS / "shop.yaml"
