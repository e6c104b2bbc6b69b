"""What loading the NEXUS magics costs a kernel: time from start to the first executed cell.

Baseline: the plain ipykernel ``python3`` spec. Measured: the same kernel started with
``--ext=nexus_kernel`` (what the "Python 3 (NEXUS)" spec does), running ``%nexus version``.
Both in the same run, alternating, so machine load affects them alike. Prints JSON.

    python bench/kernel_startup.py [--rounds 5]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import KernelManager

from nexus_kernel.kernelspec import install


def start_and_run(km: KernelManager, code: str) -> float:
    started = time.perf_counter()
    km.start_kernel()
    kc = km.client()
    kc.start_channels()
    try:
        kc.wait_for_ready(timeout=120)
        reply = kc.execute_interactive(code, timeout=120, output_hook=lambda msg: None)
        assert reply["content"]["status"] == "ok", reply["content"]
        return time.perf_counter() - started
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    plain, nexus = [], []
    with tempfile.TemporaryDirectory() as prefix:
        install(prefix=prefix)
        specs = KernelSpecManager(kernel_dirs=[str(Path(prefix, "share", "jupyter", "kernels"))])
        for _ in range(args.rounds):
            plain.append(start_and_run(KernelManager(kernel_name="python3"), "1 + 1"))
            km = KernelManager(kernel_name="nexus-python3", kernel_spec_manager=specs)
            nexus.append(start_and_run(km, "%nexus version"))
    result = {
        "benchmark": "kernel_startup_to_first_cell",
        "rounds": args.rounds,
        "baseline_plain_python3_s": round(statistics.median(plain), 3),
        "nexus_kernel_s": round(statistics.median(nexus), 3),
        "overhead_s": round(statistics.median(nexus) - statistics.median(plain), 3),
        "overhead_ratio": round(statistics.median(nexus) / statistics.median(plain), 3),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
