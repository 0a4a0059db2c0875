"""The import graph keeps its layers (issue 8): core <- stages <- pipeline <- apps/CLI, no import cycle between the
package's parts, and runtime code never imports torch, checked by reading every import of src/ (module-level and
inside functions) and by RUNNING the analyzer with torch blocked. The layers are documented in docs/ARCHITECTURE.md,
"Import rules"."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from helpers import REPO

SRC = REPO / "src"
PACKAGE = "affectlens"

# Layers, lowest first: a module may import modules of its own layer or lower ones, never a higher one. Every module
# of the package must match one entry (the longest matching prefix wins), so a new module is placed deliberately.
CORE, MODEL_INPUT, STAGES, PIPELINE, APPS = range(5)
LAYER_NAMES = ("core", "model input", "stages", "pipeline", "apps")
LAYERS: dict[str, int] = {
    # core: the shared types and vocabularies, and leaf helpers that import nothing of the package above them
    "affectlens": CORE,  # the package root (lazy re-exports of core)
    "affectlens.core": CORE,
    "affectlens.emotions": CORE,
    "affectlens.modelcfg": CORE,
    "affectlens.interrupts": CORE,
    "affectlens.calibration": CORE,
    "affectlens.metrics": CORE,
    "affectlens.plots": CORE,
    "affectlens.native_logs": CORE,
    # model input: turn frames and faces into what a model's cfg asks for (read the cfg, never the models package)
    "affectlens.preprocess": MODEL_INPUT,
    "affectlens.align": MODEL_INPUT,
    # stages: one job each, composed by the pipeline
    "affectlens.stages": STAGES,
    "affectlens.detect": STAGES,
    "affectlens.models": STAGES,
    "affectlens.track": STAGES,
    "affectlens.analytics": STAGES,
    "affectlens.render": STAGES,
    "affectlens.io": STAGES,
    "affectlens.records": STAGES,  # records as dataframes (io's readers); the pipeline's analyze_video returns them
    # the one frame loop
    "affectlens.pipeline": PIPELINE,
    # applications on top: the CLI, evaluation, training (and later servers, dashboards)
    "affectlens.cli": APPS,
    "affectlens.__main__": APPS,
    "affectlens.evaluate": APPS,
    "affectlens.train": APPS,
    "affectlens.apps": APPS,
    "affectlens.batch": APPS,  # affectlens batch: the driver, its engines and workers (on top of the pipeline)
    "affectlens.server": APPS,  # affectlens serve: the HTTP API (on top of the pipeline)
}
# The only modules that may import torch (training, and the network definitions that training and export use).
TORCH_ALLOWED = ("affectlens.train", "affectlens.models.architectures", "affectlens.models.multitask",
                 "affectlens.models.registry")  # fmt: skip
TORCH_PACKAGES = ("torch", "torchvision", "torchaudio")


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted((SRC / PACKAGE).rglob("*.py"))}


def imports_of(name: str) -> list[tuple[str, int]]:
    """Every module ``name`` imports (absolute names, at module level or inside functions), with its line."""
    path = MODULES[name]
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: list[tuple[str, int]] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            for alias in node.names:  # `from affectlens import interrupts` imports the module affectlens.interrupts
                sub = f"{module}.{alias.name}"
                found.append((sub if sub in MODULES else module, node.lineno))
    return found


def layer_of(name: str) -> int | None:
    best = max((p for p in LAYERS if name == p or name.startswith(p + ".")), key=len, default=None)
    return None if best is None else LAYERS[best]


def part_of(name: str) -> str:
    """The part of the package a module belongs to: its top-level module or subpackage (``models``, ``core``...)."""
    parts = name.split(".")
    return ".".join(parts[:2])


def package_imports() -> dict[str, list[tuple[str, int]]]:
    return {name: [(m, line) for m, line in imports_of(name) if m.split(".")[0] == PACKAGE] for name in MODULES}


def test_every_module_has_a_layer():
    unplaced = sorted(name for name in MODULES if layer_of(name) is None)
    assert not unplaced, (
        f"place these modules in LAYERS of tests/test_layering.py (and docs/ARCHITECTURE.md): {unplaced}"
    )


def test_no_module_imports_a_higher_layer():
    """core <- model input <- stages <- pipeline <- apps: no stage imports the pipeline or the CLI, core imports no
    stage, ..."""
    wrong = []
    for name, imported in package_imports().items():
        own = layer_of(name)
        for module, line in imported:
            layer = layer_of(module)
            if own is not None and layer is not None and layer > own:
                wrong.append(
                    f"{MODULES[name].relative_to(REPO)}:{line}: {name} ({LAYER_NAMES[own]}) imports {module} "
                    f"({LAYER_NAMES[layer]})"
                )
    assert not wrong, "imports against the layers:\n" + "\n".join(wrong)


def test_core_imports_nothing_of_the_package():
    assert package_imports()["affectlens.core"] == []


def test_the_parts_of_the_package_import_each_other_without_cycles():
    """Issue 8: models/runtime imported align, which imported models/config: the models package depended on itself
    through alignment. No part (top-level module or subpackage) may reach itself through another part."""
    graph: dict[str, set[str]] = {}
    for name, imported in package_imports().items():
        graph.setdefault(part_of(name), set()).update(
            part_of(m) for m, _ in imported if part_of(m) not in (part_of(name), PACKAGE)
        )

    def path_back(start: str) -> list[str] | None:
        stack, seen = [(start, [start])], set()
        while stack:
            node, path = stack.pop()
            for nxt in sorted(graph.get(node, ())):
                if nxt == start:
                    return [*path, start]
                if nxt not in seen:
                    seen.add(nxt)
                    stack.append((nxt, [*path, nxt]))
        return None

    cycles = {" -> ".join(cycle) for part in sorted(graph) if (cycle := path_back(part))}
    assert not cycles, "import cycles between parts of the package:\n" + "\n".join(sorted(cycles))


def test_the_model_input_layer_never_imports_the_models_package():
    for name in ("affectlens.align", "affectlens.preprocess", "affectlens.modelcfg"):
        assert not [m for m, _ in imports_of(name) if m.startswith("affectlens.models")], name


def test_only_training_code_imports_torch():
    wrong = [
        f"{MODULES[name].relative_to(REPO)}:{line}: {name} imports {module}"
        for name in MODULES
        if not name.startswith(TORCH_ALLOWED)
        for module, line in imports_of(name)
        if module.split(".")[0] in TORCH_PACKAGES
    ]
    assert not wrong, "runtime code imports torch:\n" + "\n".join(wrong)


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


# Runs the CLI in this process with every import of torch failing loudly (an error that `except ImportError` cannot
# swallow), and lists the attempts at the end even if some code swallowed the error.
BLOCKED_RUN = textwrap.dedent(
    """
    import sys, traceback

    attempts = []

    class TorchImported(BaseException):
        pass

    class BlockTorch:
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in {packages!r}:
                attempts.append(name + " from\\n" + "".join(traceback.format_stack(limit=12)))
                raise TorchImported(name)
            return None

    sys.meta_path.insert(0, BlockTorch())
    from affectlens.cli import main

    codes = [main(args) for args in {runs!r}]
    print("codes", codes)
    print("attempts", len(attempts))
    for attempt in attempts[:3]:
        print(attempt)
    """
)


def test_the_analyzer_runs_with_torch_blocked(tmp_path):
    """The runtime never imports torch: analyse an image (detect, align, classify, draw, write) and a short video
    (track, smooth, engagement) with every torch import failing."""
    import cv2

    video = REPO / "samples" / "single_face.mp4"
    capture = cv2.VideoCapture(str(video))
    ok, frame = capture.read()
    capture.release()
    if not ok:
        pytest.skip(f"cannot read {video}")
    image = tmp_path / "face.png"
    cv2.imwrite(str(image), frame)
    runs = [
        ["analyze", str(image), "--jsonl", str(tmp_path / "image.jsonl"), "--output", str(tmp_path / "drawn.png"),
         "--no-progress"],
        ["analyze", str(video), "--every", "8", "--jsonl", str(tmp_path / "video.jsonl"), "--csv",
         str(tmp_path / "video.csv"), "--no-progress"],
    ]  # fmt: skip
    code = BLOCKED_RUN.format(packages=TORCH_PACKAGES, runs=runs)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert "attempts 0" in out.stdout, out.stdout + out.stderr
    assert "codes [0, 0]" in out.stdout, out.stdout + out.stderr
    (record,) = [json.loads(line) for line in (tmp_path / "image.jsonl").read_text().splitlines()]
    assert record["faces"] and record["faces"][0]["emotion"], record  # the emotion model really ran
    assert (tmp_path / "drawn.png").exists()
    frames = [json.loads(line) for line in (tmp_path / "video.jsonl").read_text().splitlines()]
    assert len(frames) >= 2 and any(face.get("track_id") is not None for r in frames for face in r["faces"])
