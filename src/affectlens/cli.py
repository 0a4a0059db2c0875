"""``affectlens <verb>``: analyze, evaluate, report, info, train, export.

Parsing and messages only; the work lives in the library. Bad input ends with one line on stderr and a non-zero exit
(set AFFECTLENS_DEBUG=1 for the traceback).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path

EXIT_ERROR = 2
MODEL_HELP = "emotion model: an .onnx file, or `int8` for the packaged quantised one (default: packaged float32)"
EXIT_INTERRUPTED = 130


class CliError(Exception):
    """A user-facing error: printed as one line, exit code 2."""


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    for level in (logging.INFO, logging.WARNING, logging.ERROR):  # "affectlens: warning: ..." like our errors
        logging.addLevelName(level, logging.getLevelName(level).lower())
    logging.basicConfig(
        level=logging.WARNING if not args.verbose else logging.INFO, format="affectlens: %(levelname)s: %(message)s"
    )
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("affectlens: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as error:  # every failure ends in one line; AFFECTLENS_DEBUG=1 shows the traceback
        if os.environ.get("AFFECTLENS_DEBUG"):
            raise
        message = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        print(f"affectlens: error: {message}", file=sys.stderr)
        return EXIT_ERROR


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="affectlens", description="Faces, emotions, valence and arousal from cameras, videos and images."
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    verbs = parser.add_subparsers(dest="verb", required=True, metavar="VERB")

    analyze = verbs.add_parser("analyze", help="analyse a video, camera, image, image folder or stream")
    analyze.add_argument("source", nargs="?", help="video file, image, folder of images, or stream URL")
    analyze.add_argument("--camera", type=int, metavar="N", help="read camera N instead of SOURCE")
    analyze.add_argument("--output", "-o", metavar="VIDEO", help="write an annotated video (same fps and size)")
    analyze.add_argument("--jsonl", metavar="FILE", help="one JSON record per frame")
    analyze.add_argument("--csv", metavar="FILE", help="one CSV row per face per frame")
    analyze.add_argument("--json", metavar="FILE", help="a JSON array of the per-frame records")
    analyze.add_argument("--metrics", metavar="FILE", help="per-second fps, CPU %%, RSS MB and faces (CSV)")
    analyze.add_argument(
        "--show",
        action="store_true",
        help="show the annotated frames in a window (space pause, p bars, v VA plane, s screenshot, q quit)",
    )
    analyze.add_argument("--screenshot-dir", default=".", metavar="DIR", help="where `s` saves screenshots")
    analyze.add_argument("--detector", default="mediapipe", help="face detector (see `affectlens info`)")
    analyze.add_argument("--min-confidence", type=float, default=0.5, help="minimum face detection score [0, 1]")
    analyze.add_argument("--max-faces", type=int, default=0, help="keep at most N faces per frame (0 = all)")
    analyze.add_argument("--every", type=int, default=1, metavar="N", help="analyse every N-th frame")
    analyze.add_argument(
        "--smoothing",
        type=int,
        default=0,
        metavar="N",
        help="average each face's last N observations (default 0: exponential smoothing over time)",
    )
    analyze.add_argument("--no-smoothing", action="store_true", help="report raw per-frame emotions")
    analyze.add_argument("--no-tracking", action="store_true", help="no track ids (implies --no-smoothing)")
    analyze.add_argument(
        "--track-confidence",
        type=float,
        default=0.7,
        help="in videos, a face is reported once its track exists; tracks start from detections scoring this",
    )
    analyze.add_argument(
        "--engagement-weights", metavar="E=W,...", help="override engagement weights, e.g. happy=1,neutral=0.4"
    )
    analyze.add_argument("--model", metavar="ONNX", help=MODEL_HELP)
    analyze.add_argument("--no-progress", action="store_true", help="no progress bar")
    analyze.set_defaults(func=cmd_analyze)

    evaluate = verbs.add_parser("evaluate", help="score the emotion model on an ImageFolder of face crops")
    evaluate.add_argument("--data", required=True, metavar="DIR", help="DIR/<class>/*.png (emotion synonyms accepted)")
    evaluate.add_argument("--json", metavar="FILE", help="write the report as JSON")
    evaluate.add_argument("--plot", metavar="PNG", help="write the confusion matrix as a PNG")
    evaluate.add_argument("--model", metavar="ONNX", help=MODEL_HELP)
    evaluate.add_argument(
        "--all-model-classes", action="store_true", help="argmax over all model classes, not only the shared ones"
    )
    evaluate.add_argument(
        "--head", metavar="NAME", help="score an extra head of the model (e.g. fer2013: original FER-2013 labels)"
    )
    evaluate.set_defaults(func=cmd_evaluate)

    info = verbs.add_parser("info", help="versions, model card and available detectors")
    info.add_argument("--model", metavar="ONNX", help=MODEL_HELP)
    info.set_defaults(func=cmd_info)

    report = verbs.add_parser("report", help="per-person session summary of an analyze JSONL (JSON + PNG timeline)")
    report.add_argument("records", help="JSONL written by `affectlens analyze --jsonl`")
    report.add_argument("--json", metavar="FILE", help="write the report as JSON (default: RECORDS with .report.json)")
    report.add_argument("--png", metavar="FILE", help="write the timeline plot (default: RECORDS with .timeline.png)")
    report.set_defaults(func=cmd_report)

    train = verbs.add_parser("train", help="train an emotion model (needs the [train] extra)")
    train.add_argument("--config", required=True, metavar="YAML", help="training config (see configs/)")
    train.add_argument("--no-resume", action="store_true", help="start over even if the run has a checkpoint")
    train.add_argument("--export", metavar="ONNX", help="export the best model to this ONNX file when done")
    train.add_argument(
        "--compare-optimizers",
        nargs="*",
        metavar="NAME",
        help="train the same model once per optimizer (default: adamw sgd adam adagrad) and write a table and plot",
    )
    train.add_argument("--epochs", type=int, help="override the config's number of epochs")
    train.set_defaults(func=cmd_train)

    export = verbs.add_parser("export", help="export a checkpoint to ONNX / TorchScript (needs [train])")
    export.add_argument("checkpoint", help="best.pt or last.pt of a training run")
    export.add_argument("--onnx", metavar="FILE", help="ONNX with the model cfg in its metadata")
    export.add_argument("--torchscript", metavar="FILE", help="TorchScript module")
    export.add_argument("--int8", metavar="FILE", help="INT8 ONNX, statically quantised (needs --onnx)")
    export.add_argument("--calibration", metavar="YAML", help="training config whose dataset calibrates --int8")
    export.set_defaults(func=cmd_export)
    return parser


def cmd_analyze(args: argparse.Namespace) -> int:
    from affectlens.io import CsvSink, JsonArraySink, JsonlSink, MetricsSink, VideoSink, open_source
    from affectlens.pipeline import Analyzer, AnalyzerConfig

    if (args.source is None) == (args.camera is None):
        raise CliError("give exactly one of SOURCE or --camera N")
    spec: str | int = args.camera if args.camera is not None else args.source
    config = AnalyzerConfig(
        detector=args.detector,
        min_confidence=args.min_confidence,
        max_faces=args.max_faces,
        model=args.model,
        every=args.every,
        tracking=not args.no_tracking,
        smoothing=not args.no_smoothing,
        smoothing_window=args.smoothing,
        engagement_weights=_parse_weights(args.engagement_weights),
        track_confidence=args.track_confidence,
    )
    with ExitStack() as stack:
        source = stack.enter_context(open_source(spec))  # fails before any output file is created
        analyzer = stack.enter_context(Analyzer(config))
        sinks = []
        if args.jsonl:
            sinks.append(stack.enter_context(JsonlSink(args.jsonl)))
        if args.csv:
            sinks.append(stack.enter_context(CsvSink(args.csv)))
        if args.json:
            sinks.append(stack.enter_context(JsonArraySink(args.json)))
        if args.metrics:
            sinks.append(stack.enter_context(MetricsSink(args.metrics)))
        annotated = []
        if args.output:
            width, height = source.size
            annotated.append(stack.enter_context(VideoSink(args.output, source.fps or 25.0, (width, height))))
        summary = analyzer.run(
            source,
            sinks,
            progress=not args.no_progress,
            annotated=annotated,
            show=args.show,
            screenshot_dir=args.screenshot_dir,
        )

    print(
        f"analysed {summary.frames_analyzed} of {summary.frames_read} frames, {summary.frames_with_faces} with faces "
        f"({summary.faces} faces), {summary.fps:.1f} frames/s",
        file=sys.stderr,
    )
    written = [p for p in (args.jsonl, args.csv, args.json, args.metrics, args.output) if p]
    if written:
        print("wrote " + ", ".join(written), file=sys.stderr)
    if summary.interrupted:
        print(
            f"affectlens: interrupted after frame {summary.frames_read}; outputs are complete up to it", file=sys.stderr
        )
        return EXIT_INTERRUPTED
    if summary.frames_read == 0:
        raise CliError(f"no frame could be decoded from {spec}")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from affectlens.evaluate import evaluate_folder, format_report
    from affectlens.models.runtime import EmotionModel

    model = EmotionModel(args.model)
    report = evaluate_folder(args.data, model, all_model_classes=args.all_model_classes, head=args.head)
    print(format_report(report))
    if args.json:
        _write_text(args.json, json.dumps(report, indent=2))
    if args.plot:
        from affectlens.plots import plot_confusion

        plot_confusion(report, args.plot)
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from affectlens.analytics.report import build_report, format_report, load_records, plot_timeline

    records_path = Path(args.records)
    if not records_path.exists():
        raise CliError(f"no such file: {records_path}")
    stem = records_path.with_suffix("")
    json_path = Path(args.json) if args.json else stem.with_name(stem.name + ".report.json")
    png_path = Path(args.png) if args.png else stem.with_name(stem.name + ".timeline.png")
    records = load_records(records_path)
    report = build_report(records)
    _write_text(str(json_path), json.dumps(report, indent=2))
    plot_timeline(records, report, png_path)
    print(format_report(report))
    print(f"wrote {json_path}, {png_path}")
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    import cv2
    import numpy
    import onnxruntime

    import affectlens
    from affectlens.detect import list_detectors
    from affectlens.models.runtime import EmotionModel

    model = EmotionModel(args.model)
    cfg = model.cfg
    print(f"affectlens {affectlens.__version__}")
    print(
        f"python {sys.version.split()[0]}, numpy {numpy.__version__}, opencv {cv2.__version__}, "
        f"onnxruntime {onnxruntime.__version__}, mediapipe {_version('mediapipe')}, torch {_version('torch')}"
    )
    print(f"detectors: {', '.join(list_detectors())}")
    print(f"model: {model.path} ({model.path.stat().st_size / 1e6:.2f} MB)")
    print(
        f"  architecture {cfg.architecture}, input {cfg.input_size}x{cfg.input_size}x{cfg.channels}, "
        f"labels: {' '.join(cfg.labels)}"
    )
    for head, labels in cfg.extra_heads.items():
        print(f"  extra head {head}: {' '.join(labels)}")
    for key, value in cfg.info.items():
        print(f"  {key}: {value}")
    card = model.path.with_name("MODEL_CARD.md")
    if card.exists():
        print(f"model card: {card}")
        print("\n".join(_first_table(card.read_text())))
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    _require_train_extra()
    from affectlens.train.config import TrainConfig

    if not Path(args.config).exists():
        raise CliError(f"no such config: {args.config} (see configs/ for examples)")
    if args.compare_optimizers is not None:
        from affectlens.train.compare import compare_optimizers

        cfg = TrainConfig.from_yaml(args.config)
        names = args.compare_optimizers or ["adamw", "sgd", "adam", "adagrad"]
        compare_optimizers(cfg, names, epochs=args.epochs, resume=not args.no_resume)
        print((Path(cfg.out_dir) / "optimizer_comparison.md").read_text(), end="")
        print(f"wrote {Path(cfg.out_dir) / 'optimizer_comparison.png'}")
        return 0
    from affectlens.train.run import train_from_config

    best = train_from_config(args.config, resume=not args.no_resume, export_path=args.export, epochs=args.epochs)
    print(json.dumps({k: v for k, v in best.items() if k in ("accuracy", "macro_f1")}, indent=2))
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    _require_train_extra()
    from affectlens.train.export import export_onnx, export_torchscript, load_checkpoint_net

    if not (args.onnx or args.torchscript):
        raise CliError("say what to write: --onnx FILE and/or --torchscript FILE (and --int8 FILE)")
    if args.int8 and not (args.onnx and args.calibration):
        raise CliError("--int8 needs --onnx (the float model it quantises) and --calibration CONFIG.yaml")
    if not Path(args.checkpoint).exists():
        raise CliError(f"no such checkpoint: {args.checkpoint}")
    net, model_cfg = load_checkpoint_net(args.checkpoint)
    if args.onnx:
        print(f"wrote {export_onnx(net, model_cfg, args.onnx)}")
    if args.torchscript:
        print(f"wrote {export_torchscript(net, model_cfg, args.torchscript)}")
    if args.int8:
        from affectlens.train.config import TrainConfig
        from affectlens.train.datasets import load_dataset
        from affectlens.train.quantize import quantize_int8

        calibration = load_dataset(**TrainConfig.from_yaml(args.calibration).dataset)
        print(f"wrote {quantize_int8(args.onnx, args.int8, calibration)}")
    return 0


def _first_table(markdown: str) -> list[str]:
    """The rows of the first table in a markdown text (the model card's summary), without its separator row."""
    rows: list[str] = []
    for line in markdown.splitlines():
        if line.startswith("|"):
            if not line.startswith("|---"):
                rows.append(line)
        elif rows:
            break
    return rows


def _parse_weights(text: str | None) -> dict[str, float] | None:
    """``"happy=1,neutral=0.4"`` -> {"happy": 1.0, "neutral": 0.4}."""
    if not text:
        return None
    weights = {}
    for item in text.split(","):
        name, _, value = item.partition("=")
        try:
            weights[name.strip()] = float(value)
        except ValueError as error:
            raise CliError(f"--engagement-weights wants EMOTION=NUMBER pairs, got {item!r}") from error
    return weights


def _require_train_extra() -> None:
    try:
        import torch  # noqa: F401
    except ImportError as error:
        raise CliError("training needs the [train] extra: .venv/bin/pip install -e '.[train]'") from error


def _version(module: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(module)
    except PackageNotFoundError:
        return "not installed"


def _write_text(path: str, text: str) -> None:
    try:
        Path(path).write_text(text + "\n")
    except OSError as error:
        raise CliError(f"cannot write {path}: {error.strerror}") from error


if __name__ == "__main__":
    sys.exit(main())
