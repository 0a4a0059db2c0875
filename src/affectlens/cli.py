"""``affectlens <verb>``: analyze, evaluate, report, info, train, export, batch, serve.

Parsing and messages only; the work lives in the library. Bad input ends with one line on stderr and exit code 2; an
unexpected exception (a bug, see :func:`is_bad_input`) with one line that says so and exit code 1 (set
AFFECTLENS_DEBUG=1 for the traceback).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from affectlens import interrupts

EXIT_ERROR = 2  # bad input or environment: the user can fix it
EXIT_BUG = 1  # an unexpected exception: a bug of affectlens
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, as other tools whose reader went away (`affectlens info | head`)
MODEL_HELP = "emotion model: an .onnx file, or `float32` for the packaged float model (default: packaged INT8, `int8`)"
EXIT_INTERRUPTED = 130


class CliError(Exception):
    """A user-facing error: printed as one line, exit code 2."""


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line ``argv`` (default: ``sys.argv[1:]``); returns the exit code.

    Ctrl-C (SIGINT) and SIGTERM stop a run the same way: outputs finalised, summary printed, exit code 130 or 143
    (128 + the signal's number); a second signal while stopping is ignored (see :mod:`affectlens.interrupts`).
    """
    with interrupts.stop_on_signals():
        code = _main(argv)
    if argv is None:  # the program itself: the exit code is decided, a signal now could only turn it into a kill
        for signum in interrupts.STOP_SIGNALS:
            signal.signal(signum, signal.SIG_IGN)
    return code


def _main(argv: Sequence[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.verbose:
        _quiet_native_logs()
    for level in (logging.INFO, logging.WARNING, logging.ERROR):  # "affectlens: warning: ..." like our errors
        logging.addLevelName(level, logging.getLevelName(level).lower())
    logging.basicConfig(
        level=logging.WARNING if not args.verbose else logging.INFO, format="affectlens: %(levelname)s: %(message)s"
    )
    try:
        code = int(args.func(args) or 0)
        if code == 0:
            interrupts.check()  # a stop signal held back (it came during an import) and not yet acted on
        sys.stdout.flush()  # a reader that went away shows here, not as a message at interpreter exit
        return code
    except KeyboardInterrupt as stop:
        print("affectlens: interrupted", file=sys.stderr)
        return stop.exit_code if isinstance(stop, interrupts.Interrupted) else EXIT_INTERRUPTED
    except BrokenPipeError:  # `affectlens info | head`: the reader has what it wanted; say nothing
        _discard_stdout()
        return EXIT_BROKEN_PIPE
    except Exception as error:  # every failure ends in one line; AFFECTLENS_DEBUG=1 shows the traceback
        if os.environ.get("AFFECTLENS_DEBUG"):
            raise
        if is_bad_input(error):
            print(f"affectlens: error: {_first_line(error)}", file=sys.stderr)
            return EXIT_ERROR
        print(
            f"affectlens: error: unexpected {type(error).__name__}: {_first_line(error)}; this is a bug "
            "(set AFFECTLENS_DEBUG=1 for the traceback)",
            file=sys.stderr,
        )
        return EXIT_BUG


_PACKAGE_DIR = os.path.dirname(os.path.realpath(__file__))
_TRAIN_MODULES = ("torch", "onnx", "yaml", "tensorboard")


def is_bad_input(error: BaseException) -> bool:
    """Whether ``error`` is bad input or a missing piece of the environment (exit 2), not a bug (exit 1).

    Bad input: :class:`CliError`; the typed errors of sources, sinks and models (``affectlens.io.errors``,
    ``ModelError``); ``OSError`` (a path that cannot be read or written, a full disk) and ``MemoryError``; format errors
    of the user's files (``json.JSONDecodeError``, ``UnicodeDecodeError``, ``yaml.YAMLError``); a missing third-party
    module (an extra not installed); and a ``ValueError``, ``RuntimeError`` or ``ImportError`` raised by affectlens's
    own code: its checks of options, configs, data files and the environment, whose messages say what to do. The same
    types raised inside numpy, OpenCV, onnxruntime or torch, and every other exception (``TypeError``, ``KeyError``,
    ``IndexError``, ``AttributeError``...), are bugs.
    """
    import json

    from affectlens.io.errors import AffectlensIOError
    from affectlens.models.runtime import ModelError

    if isinstance(error, (CliError, AffectlensIOError, ModelError, OSError, MemoryError)):
        return True
    if isinstance(error, (json.JSONDecodeError, UnicodeDecodeError)) or type(error).__module__.startswith("yaml"):
        return True
    if isinstance(error, ModuleNotFoundError) and error.name:
        return not error.name.startswith("affectlens")
    if isinstance(error, (ValueError, RuntimeError, ImportError)):
        return _raised_by_affectlens(error)
    return False


def _raised_by_affectlens(error: BaseException) -> bool:
    """True when the innermost frame of ``error``'s traceback is in the affectlens package (a ``raise`` of ours)."""
    tb = error.__traceback__
    if tb is None:
        return False
    while tb.tb_next is not None:
        tb = tb.tb_next
    filename = os.path.realpath(tb.tb_frame.f_code.co_filename)
    return os.path.commonpath([filename, _PACKAGE_DIR]) == _PACKAGE_DIR


def _first_line(error: BaseException) -> str:
    """The first line of an error's message (its type when it has none), with an install hint for a missing extra."""
    text = str(error).strip()
    message = text.splitlines()[0] if text else type(error).__name__
    if isinstance(error, ModuleNotFoundError) and (error.name or "").split(".")[0] in _TRAIN_MODULES:
        message += " (it comes with the [train] extra: pip install 'affectlens[train]')"
    return message


def _discard_stdout() -> None:
    """Point stdout at /dev/null, so that the interpreter's final flush into a closed pipe stays silent."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # no real file descriptor (stdout replaced, e.g. in tests)
        pass


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="affectlens", description="Faces, emotions, valence and arousal from cameras, videos and images."
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    parser.add_argument("--version", action="version", version=f"affectlens {_package_version()}")
    verbs = parser.add_subparsers(dest="verb", required=True, metavar="VERB")

    analyze = verbs.add_parser("analyze", help="analyse a video, camera, image, image folder or stream")
    analyze.add_argument("source", nargs="?", help="video file, image, folder of images, or stream URL")
    analyze.add_argument("--camera", type=int, metavar="N", help="read camera N instead of SOURCE")
    analyze.add_argument(
        "--mode",
        choices=("file", "live"),
        help="file: every frame, with the video's own timestamps; live: only the newest frame, wall-clock time "
        "(default: live for cameras, rtsp/rtmp/udp and http streams of unknown length; file otherwise)",
    )
    analyze.add_argument(
        "--recursive", action="store_true", help="for a folder SOURCE, also read the images of its subfolders"
    )
    analyze.add_argument(
        "--output",
        "-o",
        metavar="PATH",
        help="write the annotated frames: a video (.mp4, .avi; same fps and size), an image (.jpg, .png, .webp; for "
        "an image source), or a folder (one annotated image per input image)",
    )
    analyze.add_argument(
        "--draw",
        metavar="PARTS",
        help="what --output and --show draw, comma-separated from boxes,labels,bars,va,sparklines,hud,va_plane "
        "(or all, none; default: all but va_plane)",
    )
    analyze.add_argument("--jsonl", metavar="FILE", help="one JSON record per frame (-: standard output)")
    analyze.add_argument(
        "--csv", metavar="FILE", help="one CSV row per face per frame (the JSONL fields, flattened; -: standard output)"
    )
    analyze.add_argument(
        "--csv-empty-frames", action="store_true", help="also a CSV row (face columns empty) for frames without faces"
    )
    analyze.add_argument("--json", metavar="FILE", help="a JSON array of the per-frame records")
    analyze.add_argument(
        "--parquet",
        metavar="DIR",
        help="the CSV's rows as a Parquet dataset folder (DIR/part-*.parquet; needs the [data] extra); "
        "affectlens.read_records(DIR) reads it",
    )
    analyze.add_argument(
        "--video-id", metavar="NAME", help="an id that every record carries as `video` (JSONL, CSV, Parquet)"
    )
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
    analyze.add_argument(
        "--detect-tiles",
        default="auto",
        metavar="auto|off|N",
        help="also detect in overlapping tiles, for small faces in large frames (group photos, crowds): "
        "auto (frames from 1024 px), off, or N tiles across the long side",
    )
    analyze.add_argument("--every", type=int, default=1, metavar="N", help="analyse every N-th frame")
    analyze.add_argument(
        "--smoothing",
        type=int,
        default=None,
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
    analyze.add_argument(
        "--head",
        metavar="NAME",
        help="the model head that drives `emotion` and `probs` (default: emotion; e.g. fer2013: the 7 original "
        "FER-2013 labels); the other heads' outputs are in each face's `heads` (`affectlens info` lists them)",
    )
    analyze.add_argument(
        "--with",
        dest="stages",
        metavar="NAME,...",
        help="add registered stages after the built-in ones, in this order (`affectlens info` lists them)",
    )
    analyze.add_argument(
        "--no-overlap",
        action="store_true",
        help="detect each frame only after the previous one is classified (default: both at once, on two threads)",
    )
    analyze.add_argument("--no-progress", action="store_true", help="no progress bar")
    analyze.set_defaults(func=cmd_analyze)

    evaluate = verbs.add_parser("evaluate", help="score the emotion model on an ImageFolder of face crops")
    evaluate.add_argument("--data", required=True, metavar="DIR", help="DIR/<class>/*.png (emotion synonyms accepted)")
    evaluate.add_argument("--json", metavar="FILE", help="write the report as JSON")
    evaluate.add_argument("--plot", metavar="PNG", help="write the confusion matrix as a PNG")
    evaluate.add_argument("--model", metavar="ONNX", help=MODEL_HELP)
    protocol = evaluate.add_mutually_exclusive_group()
    protocol.add_argument(
        "--shared-classes-only",
        action="store_true",
        help="argmax over the classes that data and model share only (flatters; default: over all model classes)",
    )
    protocol.add_argument(
        "--all-model-classes", action="store_true", help="argmax over all model classes (the default; kept for scripts)"
    )
    evaluate.add_argument("--no-progress", action="store_true", help="no progress bar")
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
    train.add_argument("--config", required=True, metavar="YAML", help="training config (docs/TRAINING.md, configs/)")
    reuse = train.add_mutually_exclusive_group()
    reuse.add_argument("--resume", action="store_true", help="continue the run in the config's out_dir from last.pt")
    reuse.add_argument(
        "--overwrite", action="store_true", help="remove a previous run's outputs from out_dir and start over"
    )
    reuse.add_argument("--no-resume", action="store_true", help=argparse.SUPPRESS)  # before 0.2: now --overwrite
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

    batch = verbs.add_parser(
        "batch", help="analyse many videos into one folder: resumable, on every core or a Ray cluster"
    )
    batch.add_argument(
        "inputs",
        nargs="+",
        metavar="INPUT",
        help="video files, folders (searched with subfolders for .mp4 .m4v .mov .avi .mkv), or .txt files listing "
        "one path or URL per line",
    )
    batch.add_argument("--out", required=True, metavar="DIR", help="output folder (created; reused to resume)")
    batch.add_argument("--engine", choices=("local", "ray"), default="local", help="local processes or Ray")
    batch.add_argument(
        "--workers", type=int, metavar="N", help="worker processes (local) or Ray actors (default: one per core)"
    )
    batch.add_argument("--address", metavar="HOST:PORT", help="join this Ray cluster (--engine ray; default: local)")
    batch.add_argument("--force", action="store_true", help="redo every video, also those finished before")
    batch.add_argument("--every", type=int, default=1, metavar="N", help="analyse every N-th frame")
    batch.add_argument("--model", metavar="ONNX", help=MODEL_HELP)
    batch.add_argument("--detector", default="mediapipe", help="face detector (see `affectlens info`)")
    batch.add_argument("--min-confidence", type=float, default=0.5, help="minimum face detection score [0, 1]")
    batch.add_argument("--no-smoothing", action="store_true", help="report raw per-frame emotions")
    batch.add_argument("--video", action="store_true", help="also write videos/<id>/annotated.mp4")
    batch.add_argument("--jsonl", action=argparse.BooleanOptionalAction, default=True, help="videos/<id>/records.jsonl")
    batch.add_argument(
        "--parquet", action=argparse.BooleanOptionalAction, default=True, help="records/<id>/part-*.parquet"
    )
    batch.add_argument(
        "--overlap",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="in each worker, detect the next frame on a second thread while one is classified (default: only "
        "when there are fewer workers than cores)",
    )
    batch.add_argument("--no-progress", action="store_true", help="no progress bars")
    batch.set_defaults(func=cmd_batch)

    serve = verbs.add_parser("serve", help="the HTTP API: images, video jobs, live frames (needs the [server] extra)")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0: every interface)")
    serve.add_argument("--port", type=int, default=8000, help="TCP port")
    serve.add_argument("--workers", type=int, default=1, metavar="N", help="analyzer threads (one per core)")
    serve.add_argument("--queue-size", type=int, default=8, metavar="N", help="requests waiting beyond the workers")
    serve.add_argument("--store", default="affectlens-jobs", metavar="DIR", help="job store folder (kept across runs)")
    serve.add_argument("--api-key", metavar="KEY", help="required key (default: $AFFECTLENS_API_KEY; none: open)")
    serve.add_argument("--max-upload-mb", type=float, default=200.0, metavar="N", help="largest upload (MB)")
    serve.add_argument("--max-video-s", type=float, default=600.0, metavar="N", help="longest video (seconds)")
    serve.add_argument("--model", metavar="ONNX", help=MODEL_HELP)
    serve.add_argument("--detector", default="mediapipe", help="face detector (see `affectlens info`)")
    serve.set_defaults(func=cmd_serve)
    return parser


def cmd_analyze(args: argparse.Namespace) -> int:
    from affectlens.io import CsvSink, ImageSink, JsonArraySink, JsonlSink, MetricsSink, VideoSink, open_source
    from affectlens.io.output_paths import check_outputs
    from affectlens.pipeline import Analyzer, AnalyzerConfig, mode_of

    if (args.source is None) == (args.camera is None):
        raise CliError("give exactly one of SOURCE or --camera N")
    spec: str | int = args.camera if args.camera is not None else args.source
    if args.smoothing is not None and (args.no_smoothing or args.no_tracking):
        off = "--no-smoothing" if args.no_smoothing else "--no-tracking"
        raise CliError(f"--smoothing {args.smoothing} smooths each face over time, {off} turns that off: give one")
    if args.csv_empty_frames and not args.csv:
        raise CliError("--csv-empty-frames needs --csv FILE")
    if args.video_id is not None and not args.video_id.strip():
        raise CliError("--video-id needs a non-empty NAME")
    if args.parquet:
        from affectlens.io.parquet_sink import require_pyarrow

        require_pyarrow("--parquet")  # before the models load
    config = AnalyzerConfig(
        detector=args.detector,
        min_confidence=args.min_confidence,
        max_faces=args.max_faces,
        detect_tiles=args.detect_tiles,
        model=args.model,
        every=args.every,
        tracking=not args.no_tracking,
        smoothing=not args.no_smoothing,
        smoothing_window=args.smoothing or 0,
        engagement_weights=_parse_weights(args.engagement_weights),
        track_confidence=args.track_confidence,
        head=args.head,
        stages=args.stages or (),  # AnalyzerConfig splits "a,b"
        overlap=not args.no_overlap,
    )
    overlay = _overlay(args.draw, args.output or args.show)
    outputs = {"--output": args.output, "--jsonl": args.jsonl, "--csv": args.csv, "--json": args.json}
    inputs = [p for p in (args.source, args.model) if p and os.path.exists(p)]  # never overwritten by an output
    outputs["--parquet"] = args.parquet  # a folder: it never replaces an input, nor is one
    check_outputs({**outputs, "--metrics": args.metrics}, inputs, stdout_ok=("--jsonl", "--csv"))
    with ExitStack() as stack:
        opened = open_source(spec, mode=args.mode, recursive=args.recursive)  # fails before any output file exists
        source = stack.enter_context(opened)
        output_kind = _output_kind(args.output, source) if args.output else None  # before minutes of work
        analyzer = stack.enter_context(Analyzer(config))
        analyzer.check(mode_of(source))  # a stage that cannot run on this source fails before any output exists
        interrupts.check()  # Ctrl-C while the models loaded: stop before any output is created
        # each written as NAME.partial.EXT, renamed into place when closed (removed if it got no frame)
        sinks: list[Any] = []
        if args.jsonl:
            sinks.append(stack.enter_context(JsonlSink(args.jsonl)))
        if args.csv:
            sinks.append(
                stack.enter_context(CsvSink(args.csv, labels=analyzer.labels, empty_frames=args.csv_empty_frames))
            )
        if args.json:
            sinks.append(stack.enter_context(JsonArraySink(args.json)))
        if args.parquet:
            from affectlens.io.parquet_sink import ParquetSink

            sinks.append(stack.enter_context(ParquetSink(args.parquet, labels=analyzer.labels)))
        if args.metrics:
            sinks.append(stack.enter_context(MetricsSink(args.metrics)))
        annotated: list[Any] = []
        if output_kind == "video":
            width, height = source.size
            annotated.append(stack.enter_context(VideoSink(args.output, source.fps or 25.0, (width, height))))
        elif output_kind is not None:
            read = tuple(getattr(source, "paths", ()))  # a folder's images: an annotated image never replaces one
            image_sink = ImageSink(args.output, folder=output_kind == "folder", inputs=(*inputs, *read))
            annotated.append(stack.enter_context(image_sink))
        summary = analyzer.run(
            source,
            sinks,
            progress=not args.no_progress,
            annotated=annotated,
            show=args.show,
            screenshot_dir=args.screenshot_dir,
            overlay=overlay,
            video_id=args.video_id,
        )

    print(
        f"analysed {summary.frames_analyzed} of {summary.frames_read} frames, {summary.frames_with_faces} with faces "
        f"({summary.faces} faces), {summary.fps:.1f} frames/s",
        file=sys.stderr,
    )
    written = [str(sink.path) for sink in (*sinks, *annotated) if getattr(sink, "kept", False)]
    if written:
        print("wrote " + ", ".join(written), file=sys.stderr)
    if summary.interrupted:
        if summary.last_frame is None:
            print("affectlens: interrupted before the first frame was analysed; nothing written", file=sys.stderr)
        else:
            print(
                f"affectlens: interrupted after {summary.frames_read} frames; the outputs are complete up to frame "
                f"{summary.last_frame}",
                file=sys.stderr,
            )
        return 128 + (interrupts.received() or signal.SIGINT)
    if summary.frames_read == 0:
        raise CliError(f"no frame could be decoded from {spec}")
    return 0


def _overlay(draw: str | None, drawn: object) -> Any:
    """The Overlay that ``--draw`` asks for (None: the default one); CliError for unknown parts or nothing drawn."""
    if draw is None:
        return None
    if not drawn:
        raise CliError("--draw chooses what --output and --show draw: give one of them too")
    from affectlens.render import Overlay

    try:
        return Overlay.from_draw(draw)
    except ValueError as error:
        raise CliError(f"--draw: {error}") from None


def _output_kind(path: str, source: Any) -> str:
    """What ``--output PATH`` writes for ``source``: ``"video"``, ``"image"`` (one file) or ``"folder"`` (one image
    per input); CliError for a combination that cannot work, saying what would."""
    from affectlens.io.image_sink import IMAGE_OUTPUT_EXTENSIONS, is_image_path
    from affectlens.io.video_sink import VIDEO_FOURCC

    suffix = Path(path).suffix.lower()
    stills = source.kind in ("image", "folder")
    what = {"folder": "a folder of images", "image": "an image"}.get(source.kind, f"a {source.kind}")
    videos, images = ", ".join(VIDEO_FOURCC), ", ".join(IMAGE_OUTPUT_EXTENSIONS)
    if is_image_path(path):
        if source.kind == "image":
            return "image"
        if source.kind == "folder":
            raise CliError(
                f"--output {path} is one image but the source is {what}: give a folder (e.g. --output annotated/) "
                "for one annotated image per input, or a video file for a slideshow"
            )
        raise CliError(f"--output {path} is an image but the source is {what}: give a video file ({videos})")
    if suffix in VIDEO_FOURCC:
        return "video"
    if Path(path).is_dir() or path.endswith(("/", os.sep)) or not suffix:
        if stills:
            return "folder"
        raise CliError(f"--output {path} is a folder but the source is {what}: give a video file ({videos})")
    raise CliError(
        f"--output {path}: {suffix} is neither a video ({videos}) nor an image ({images}); "
        + ("or give a folder for one image per input" if stills else "give a video file")
    )


def cmd_batch(args: argparse.Namespace) -> int:
    """``affectlens batch``: exit 0 when every video is done (or was), 1 when some failed (named), 2 on bad input."""
    from affectlens.batch import BatchOptions, run_batch
    from affectlens.batch.engines import default_workers
    from affectlens.pipeline import AnalyzerConfig

    workers = args.workers if args.workers is not None else default_workers()
    if workers < 1:
        raise CliError(f"--workers must be at least 1, got {workers}")
    if args.address and args.engine != "ray":
        raise CliError("--address joins a Ray cluster: add --engine ray")
    overlap = args.overlap if args.overlap is not None else workers < default_workers()
    config = AnalyzerConfig(
        detector=args.detector,
        min_confidence=args.min_confidence,
        model=args.model,
        every=args.every,
        smoothing=not args.no_smoothing,
        model_threads=1,
        overlap=overlap,
    )
    options = BatchOptions(config=config, jsonl=args.jsonl, parquet=args.parquet, video=args.video)
    result = run_batch(
        args.inputs,
        args.out,
        options,
        engine=args.engine,
        workers=args.workers,
        address=args.address,
        force=args.force,
        progress=not args.no_progress,
    )
    done, skipped, failed = result.count("done"), result.count("skipped"), result.failed
    rate = result.frames / result.seconds if result.seconds > 0 else 0.0
    print(
        f"batch: {done} analysed, {skipped} skipped (finished before), {len(failed)} failed of {len(result.rows)} "
        f"videos; {result.frames_analyzed} frames analysed ({result.frames} decoded) in {result.seconds:.1f} s, "
        f"{rate:.1f} frames/s; wrote {result.summary_path}",
        file=sys.stderr,
    )
    if failed:
        names = ", ".join(f"{row['id']} ({row.get('error')})" for row in failed)
        print(f"affectlens: error: {len(failed)} of {len(result.rows)} videos failed: {names}", file=sys.stderr)
        return 1
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from importlib.util import find_spec

    missing = [name for name in ("fastapi", "uvicorn", "multipart") if find_spec(name) is None]
    if missing:
        extra = f"serve needs the [server] extra ({', '.join(missing)} missing)"
        raise CliError(f"{extra}: pip install 'affectlens[server]'")
    if not 0 < args.port < 65536:
        raise CliError(f"--port must be in 1..65535, got {args.port}")
    if args.max_upload_mb <= 0 or args.max_video_s <= 0:
        raise CliError("--max-upload-mb and --max-video-s must be > 0")
    import uvicorn

    from affectlens.pipeline import AnalyzerConfig
    from affectlens.server.app import ServerSettings, create_app

    settings = ServerSettings(
        store=Path(args.store),
        workers=args.workers,
        queue_size=args.queue_size,
        api_key=args.api_key or os.environ.get("AFFECTLENS_API_KEY") or None,
        max_upload_bytes=int(args.max_upload_mb * 1024 * 1024),
        max_video_s=args.max_video_s,
        config=AnalyzerConfig(detector=args.detector, model=args.model),
    )
    app = create_app(settings)
    app.state.pool.wait_ready()  # a model that cannot load fails here, in one line, before the port opens
    for job_id in app.state.store.recovered:
        print(f"affectlens: warning: job {job_id} was unfinished when the server stopped: failed", file=sys.stderr)
    key = "an API key" if settings.api_key else "no API key"
    print(f"affectlens: serving on http://{args.host}:{args.port} ({settings.workers} workers, {key})", file=sys.stderr)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from affectlens.evaluate import evaluate_folder, format_report
    from affectlens.models.runtime import EmotionModel

    for path in (args.json, args.plot):
        if path:
            _check_writable(Path(path))  # before minutes of scoring
    model = EmotionModel(args.model)
    report = evaluate_folder(
        args.data,
        model,
        all_model_classes=not args.shared_classes_only,
        head=args.head,
        progress=not args.no_progress,
    )
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
    if not records_path.is_file():
        raise CliError(f"{records_path} is not a file: give the JSONL that `affectlens analyze --jsonl` wrote")
    stem = records_path.with_suffix("")
    json_path = Path(args.json) if args.json else stem.with_name(stem.name + ".report.json")
    png_path = Path(args.png) if args.png else stem.with_name(stem.name + ".timeline.png")
    for path in (json_path, png_path):  # both, before either is written
        _check_writable(path)
        if path.resolve() == records_path.resolve():
            raise CliError(f"cannot write {path}: it is the records file being read")
    if json_path.resolve() == png_path.resolve():
        raise CliError(f"--json and --png are the same file ({json_path}): give two paths")
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
    from affectlens.stages import list_stages

    model = EmotionModel(args.model)
    cfg = model.cfg
    print(f"affectlens {affectlens.__version__}")
    print(
        f"python {sys.version.split()[0]}, numpy {numpy.__version__}, opencv {cv2.__version__}, "
        f"onnxruntime {onnxruntime.__version__}, mediapipe {_version('mediapipe')}, torch {_version('torch')}"
    )
    print(f"detectors: {', '.join(list_detectors())}")
    print(f"stages (analyze --with): {', '.join(list_stages()) or 'none registered'}")
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
    """Train from a YAML config; a non-empty out_dir needs --resume or --overwrite. Prints the end summary."""
    _require_train_extra()
    from affectlens.train.config import TrainConfig

    if not Path(args.config).is_file():
        raise CliError(f"no such config: {args.config} (see docs/TRAINING.md and configs/ for examples)")
    if args.no_resume:
        logging.getLogger("affectlens").warning("--no-resume is deprecated: it means --overwrite (start over)")
    overwrite = args.overwrite or args.no_resume
    if args.epochs is not None and args.epochs < 1:
        raise CliError(f"--epochs must be at least 1, got {args.epochs}")
    if args.compare_optimizers is not None:
        from affectlens.train.compare import compare_optimizers

        cfg = TrainConfig.from_yaml(args.config)
        names = args.compare_optimizers or ["adamw", "sgd", "adam", "adagrad"]
        compare_optimizers(cfg, names, epochs=args.epochs, resume=args.resume, overwrite=overwrite)
        print((Path(cfg.out_dir) / "optimizer_comparison.md").read_text(), end="")
        print(f"wrote {Path(cfg.out_dir) / 'optimizer_comparison.png'}")
        return 0
    from affectlens.train.run import format_summary, train_from_config

    result = train_from_config(
        args.config, resume=args.resume, overwrite=overwrite, export_path=args.export, epochs=args.epochs
    )
    print(format_summary(result))
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
    """Fail with the install command when a module of the [train] extra (torch, PyYAML, onnx) is missing."""
    from importlib.util import find_spec

    missing = [name for name in ("torch", "yaml", "onnx") if find_spec(name) is None]
    if missing:
        raise CliError(
            f"training needs the [train] extra ({', '.join(missing)} missing): pip install 'affectlens[train]'"
        )


def _quiet_native_logs() -> None:
    """Silence OpenCV's and FFmpeg's own stderr lines ("moov atom not found", "[ WARN:0@0.05] ... cap_v4l.cpp"), so
    that an error is one line; our messages say what went wrong. Must run before OpenCV opens its first video (both
    read these variables once). ``--verbose`` keeps them."""
    os.environ.setdefault("OPENCV_LOG_LEVEL", "OFF")
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # AV_LOG_QUIET
    if "cv2" in sys.modules:  # imported already (the CLI called from Python): its logger can still be turned off
        sys.modules["cv2"].setLogLevel(0)


def _package_version() -> str:
    from affectlens import __version__

    return __version__


def _version(module: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(module)
    except PackageNotFoundError:
        return "not installed"


def _check_writable(path: Path) -> None:
    """Refuse an output path that cannot be written (missing directory, a directory, no permission), before any work.

    Raises:
        CliError: one line naming the path and the reason.
    """
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        reason = f"no such directory {parent}" if not parent.exists() else f"{parent} is not a directory"
        raise CliError(f"cannot write {path}: {reason}")
    if path.is_dir():
        raise CliError(f"cannot write {path}: it is a directory")
    if not os.access(parent, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise CliError(f"cannot write {path}: permission denied")


def _write_text(path: str, text: str) -> None:
    """Write ``text`` and a newline to ``path``, replacing an existing file only once all of it is written."""
    from affectlens.io.file_sink import write_file

    write_file(path, text + "\n")


if __name__ == "__main__":
    sys.exit(main())
