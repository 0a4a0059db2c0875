"""Runtime code never imports torch: inference must work on an install without the [train] extra."""

import subprocess
import sys

RUNTIME_MODULES = [
    "affectlens",
    "affectlens.cli",
    "affectlens.pipeline",
    "affectlens.io",
    "affectlens.detect",
    "affectlens.align",
    "affectlens.render",
    "affectlens.models.runtime",
    "affectlens.evaluate",
    "affectlens.train.datasets.folders",
]


def test_runtime_modules_do_not_import_torch():
    code = (
        "import sys\n"
        f"for name in {RUNTIME_MODULES!r}:\n"
        "    __import__(name)\n"
        "leaked = sorted(m for m in sys.modules if m == 'torch' or m.startswith('torch.'))\n"
        "print(','.join(leaked[:5]))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"runtime imports torch via: {out.stdout.strip()}"
