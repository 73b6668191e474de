"""`studio train` and `studio generate`: the headless way to train and sample."""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

from studio.core.errors import UserError
from studio.core.plugins import discover


def add_all(sub: argparse._SubParsersAction) -> None:
    train = sub.add_parser(
        "train", help="train a model (also under torchrun)",
        description="Train MODEL into the folder --out. Ctrl+C (or SIGTERM) saves a checkpoint and stops; "
                    "--resume continues from it. The run and its checkpoints are listed in the workspace "
                    "(--workspace), so the app's panels offer the model. Under `torchrun --nproc_per_node=N` "
                    "the same command trains data-parallel on N processes.")
    train.add_argument("model", help="a model name from `studio models list`")
    add_train_options(train)
    train.set_defaults(run=train_run)

    generate = sub.add_parser("generate", help="sample from a trained model into a file")
    generate.add_argument("model", help="a model name from `studio models list`")
    generate.add_argument("--checkpoint", required=True, type=Path,
                          help="a checkpoint file, a training run's --out folder (its latest checkpoint), "
                               "or a model folder")
    generate.add_argument("--n", type=_positive, default=16, help="how many images (default 16)")
    generate.add_argument("--seed", type=int, default=0)
    generate.add_argument("--sampler", help="for image models with a sampler menu: its name (DDIM, Euler, ...)")
    generate.add_argument("--steps", type=_positive, help="for image models that sample in steps (diffusion)")
    generate.add_argument("--guidance", type=float, metavar="SCALE",
                          help="classifier-free guidance for a class-conditional model (1 = none)")
    generate.add_argument("--class", dest="label", metavar="CLASS",
                          help="for a class-conditional model: the class, by name or number")
    generate.add_argument("--prompt", default="",
                          help="for text models: the text to continue; for music models: a .mid file to continue; "
                               "for image models that take one (Stable Diffusion): what the image shows")
    generate.add_argument("--negative-prompt", default="", metavar="TEXT",
                          help="for image models that take one: what to keep out of the image")
    generate.add_argument("--size", type=_size, metavar="WxH",
                          help="for image models that make any size (Stable Diffusion): e.g. 512x768")
    generate.add_argument("--tokens", type=_positive, default=200, help="for text models: tokens to write")
    generate.add_argument("--bars", type=_positive, default=8, help="for music models: bars to write (default 8)")
    generate.add_argument("--temperature", type=float, default=1.0, help="for text and music models (0 = greedy)")
    generate.add_argument("--wav", action="store_true",
                          help="for music models: also render the music to a .wav file beside --out")
    generate.add_argument("--out", required=True, type=Path,
                          help="grid.png for images, a .txt file for text, a .mid file for music")
    generate.set_defaults(run=generate_run)


def add_train_options(parser: argparse.ArgumentParser) -> None:
    """Every option of `studio train` but the model (also `studio dream train-vae` and the other stages)."""
    parser.add_argument("--data", help="a dataset source (fashion-mnist), SOURCE:PATH, or a path")
    parser.add_argument("--steps", type=_positive, help="total optimisation steps")
    parser.add_argument("--out", required=True, type=Path, help="folder for checkpoints, samples and events")
    parser.add_argument("--resume", action="store_true",
                        help="continue from the checkpoint in --out (with the settings it started with)")
    parser.add_argument("--seed", type=int, default=0, help="seed for weights, batches and samples (default 0)")
    parser.add_argument("--checkpoint-every", type=_positive, default=500, metavar="N",
                        help="save a checkpoint every N steps (default 500)")
    parser.add_argument("--sample-every", type=_positive, default=250, metavar="N",
                        help="save a sample grid every N steps (default 250)")
    parser.add_argument("--first-checkpoint-after", type=float, metavar="SECONDS", dest="first_checkpoint_s",
                        help="also save a checkpoint this many seconds into training, before the first of "
                             "--checkpoint-every (the app's jobs do, so a model can be tried while it trains)")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE", dest="overrides",
                        help="change a setting of the model's config (repeatable), e.g. --set latent_dim=8")
    parser.add_argument("--from", action="append", default=[], metavar="MODEL=PATH", dest="upstream",
                        help="for a model built on others (a stage of a pipeline): the checkpoint or run folder "
                             "of each model it builds on (repeatable; see `studio models list`)")
    parser.add_argument("--start-from", metavar="PATH",
                        help="train further a checkpoint (or run folder) of this model, a starter model say: a new "
                             "run from its weights and step; --steps counts on from that step")
    parser.add_argument("--no-catalogue", action="store_false", dest="catalogue",
                        help="do not list the run in the workspace (the app's job runner lists its jobs itself)")


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _size(text: str) -> tuple[int, int]:
    from studio.core.png_parameters import as_size

    size = as_size(text)
    if size is None or min(size) < 1:
        raise argparse.ArgumentTypeError(f"a size is WIDTHxHEIGHT, like 512x768, not {text!r}")
    return size


def _pairs(option: str, pairs: list[str]) -> dict[str, str]:
    result = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise UserError(f"{option} takes NAME=VALUE, got {pair!r}.")
        result[name.strip()] = value.strip()
    return result


def train_run(args: argparse.Namespace) -> int:
    from studio.core.openmp import spin_briefly

    spin_briefly()  # before torch loads (studio.core.openmp)
    from studio.engine.train_request import TrainRequest, check_request
    from studio.engine.training import run

    request = TrainRequest(
        model=args.model, out=args.out, data=args.data, steps=args.steps, resume=args.resume, seed=args.seed,
        device=args.device or "auto", checkpoint_every=args.checkpoint_every, sample_every=args.sample_every,
        first_checkpoint_s=args.first_checkpoint_s, start_from=args.start_from,
        overrides=_pairs("--set", args.overrides), upstream=_pairs("--from", args.upstream),
    )
    registry = discover().registry
    check_request(registry, request)  # before anything is written to --out or the workspace
    workspace, recorder = _recorder(args, registry, request) if args.catalogue else (None, None)
    status = 1
    try:
        status = run(registry, request, on_event=recorder.on_event if recorder else None)
    finally:
        if recorder is not None:
            try:
                recorder.close(status)
            finally:
                workspace.close()
    return status


def _recorder(args: argparse.Namespace, registry, request):
    """(workspace, recorder) listing the run in the workspace catalogue as the app lists its jobs;
    (None, None) on torchrun's other ranks, or (with a warning) when the workspace cannot be used:
    training goes on."""
    import os

    from studio.core.workspace import choose_workspace
    from studio.engine.catalogue import RunCatalogue, RunRecorder
    from studio.engine.rebuild import open_workspace

    if int(os.environ.get("RANK", "0")) != 0:
        return None, None
    root = choose_workspace(args.workspace)
    try:
        workspace = open_workspace(root)
    except (OSError, UserError) as exc:
        print(f"studio: warning: the run is not listed in the workspace {root}: {exc}", file=sys.stderr)
        return None, None
    if workspace.store.recovery_message:  # its catalogue was damaged, and rebuilt
        print(f"studio: warning: {workspace.store.recovery_message}", file=sys.stderr)
    try:
        return workspace, RunRecorder.start(RunCatalogue(workspace.store), registry, request, os.getpid())
    except Exception:
        workspace.close()
        raise


def generate_run(args: argparse.Namespace) -> int:
    """Sample from a model into ``--out``, written by the exporter for its ending (PNG for images, text
    for text; a plugin's exporter for its own endings)."""
    from studio.core.checkpoint import load_model
    from studio.core.device import pick_device
    from studio.core.specs import resolve
    from studio.engine.run_folder import checkpoint_in

    registry = discover().registry
    spec = registry.model(args.model)
    kind = next((kind for capability, kind in _KINDS if spec.offers(capability)), None)
    if kind is None:
        raise UserError(f"`studio generate` makes images, text and music; the {spec.title} model offers none.")
    exporter = registry.exporter_for(kind, args.out)  # before any work: a wrong ending is said at once
    prompt = _music_prompt(args) if kind == "notes" else None  # a bad prompt file too
    args.checkpoint = checkpoint_in(args.checkpoint)
    device = pick_device(args.device).name
    model = load_model(registry, spec.name, args.checkpoint, device)
    if kind == "image":
        artifact = _image(args, spec, model)
    elif kind == "text":
        artifact = _text(args, model)
    else:
        artifact = _music(args, spec, model, prompt)
    resolve(exporter.writer)(artifact, args.out)
    print(f"wrote {args.out} ({exporter.title})")
    if kind == "notes" and args.wav:
        wav = args.out.with_suffix(".wav")
        wav_exporter = registry.exporter_for("notes", wav)
        resolve(wav_exporter.writer)(artifact, wav)
        print(f"wrote {wav} ({wav_exporter.title})")
    return 0


#: what `studio generate` makes for each capability, as the artifact kind its exporters take
_KINDS = (("ImageSampler", "image"), ("SequenceGenerator", "text"), ("MusicGenerator", "notes"))


def _image(args: argparse.Namespace, spec, model):
    """A grid of ``--n`` samples with what the Image Canvas records, so the canvas can restore it."""
    from studio.core.artifacts import ImageArtifact
    from studio.core.capabilities import SampleOptions, sample_images, sampler_info
    from studio.core.digests import checkpoint_digest
    from studio.core.image_requests import default_options, described, label_of
    from studio.core.imaging import make_grid
    from studio.core.provenance import result_params

    info = sampler_info(model)
    condition = {"label": label_of(info, args.label)} if args.label is not None else {}
    for key, text in (("prompt", args.prompt), ("negative_prompt", args.negative_prompt)):
        if text.strip():
            if key not in info.conditions:
                raise UserError(f"The {spec.title} model takes no {key.replace('_', ' ')}.")
            condition[key] = text.strip()
    if args.size is not None and "size" not in info.sampling_options:
        raise UserError(f"The {spec.title} model makes images of {info.image_shape[1]}x{info.image_shape[0]} only.")
    options = {k: v for k, v in (("steps", args.steps), ("sampler", args.sampler), ("guidance_scale", args.guidance),
                                 ("size", args.size)) if v is not None}
    if args.sampler is not None and args.sampler not in info.samplers:
        raise UserError(f"The {spec.title} model's samplers are {', '.join(info.samplers) or 'none'}; "
                        f"not {args.sampler!r}.")
    options = default_options(info, options, conditioned=bool(condition))
    images = sample_images(model, args.n, seed=args.seed, condition=condition,
                           options=SampleOptions(**options) if options else None)
    recorded = {k: v for k, v in options.items() if k != "size"}  # the size is recorded as the images are
    params = result_params("image-canvas", spec, str(args.checkpoint.resolve()), _step_of(args.checkpoint),
                           checkpoint_digest(None, str(args.checkpoint)), seed=args.seed, n=args.n,
                           condition=condition, **recorded, **described(info, images, condition))
    return ImageArtifact(make_grid(images, columns=math.ceil(math.sqrt(args.n))), params)


def _text(args: argparse.Namespace, model):
    """The continuation of ``--prompt``, streamed to stdout as it is written."""
    from studio.core.artifacts import TextArtifact

    pieces = [args.prompt]
    for token in model.generate(args.prompt, max_new_tokens=args.tokens, temperature=args.temperature,
                                seed=args.seed):
        pieces.append(token.text)
        sys.stdout.write(token.text)
        sys.stdout.flush()
    sys.stdout.write("\n")
    return TextArtifact("".join(pieces))


def _music_prompt(args: argparse.Namespace):
    """The score of ``--prompt`` (a MIDI file), or an empty one."""
    from studio.core.music.midi import read_midi
    from studio.core.music.score import Score

    if not args.prompt:
        return Score(name=args.out.stem)
    path = Path(args.prompt)
    if not path.is_file():
        raise UserError(f"The prompt {path} is not a file; a music model continues a MIDI file (.mid).")
    return read_midi(path)


def _music(args: argparse.Namespace, spec, model, prompt):
    """The prompt and ``--bars`` bars of the prompt's metre continuing it (in a track of its own, named
    after the model, on a channel of its own), with what the piano roll records, so its MIDI file says
    what made it."""
    from dataclasses import replace

    from studio.core.artifacts import MusicArtifact
    from studio.core.digests import checkpoint_digest
    from studio.core.music.score import Track
    from studio.core.provenance import result_params

    start = prompt.length_beats
    end = start + args.bars * prompt.beats_per_bar
    understood = set(getattr(model, "controls", ()) or ())
    controls = {"tempo": prompt.bpm} if "tempo" in understood else None
    tracks = list(prompt.tracks) if prompt.notes else []
    stream = model.generate(prompt.notes, bars=math.ceil((end - start) / model.beats_per_bar), seed=args.seed,
                            temperature=args.temperature, controls=controls)
    written = []
    try:  # the model counts bars of its own length: stop at the last bar of the prompt's metre
        for note in stream:
            if note.start >= end:
                break
            written.append(replace(note, voice=len(tracks), duration=min(note.duration, end - note.start)))
    finally:
        stream.close()
    score = prompt.with_notes([*prompt.notes, *written])
    score.tracks = [*tracks, Track(spec.title, channel=_free_channel(tracks))]
    score.name = args.out.stem
    score.params = result_params("piano-roll", spec, str(args.checkpoint.resolve()), _step_of(args.checkpoint),
                                 checkpoint_digest(None, str(args.checkpoint)), seed=args.seed, bars=args.bars,
                                 temperature=args.temperature, primer_notes=len(prompt.notes), start_beat=start,
                                 tempo=prompt.bpm, prompt=str(Path(args.prompt).resolve()) if args.prompt else "")
    print(f"{len(written)} notes in {args.bars} bars after {len(prompt.notes)} of the prompt")
    return MusicArtifact(score, score.params)


def _free_channel(tracks) -> int:
    """The first MIDI channel no track uses, General MIDI's drum channel (9) aside; 0 when all are taken."""
    used = {t.channel for t in tracks}
    return next((c for c in range(16) if c != 9 and c not in used), 0)


def _step_of(checkpoint: Path) -> int:
    """The training step of a studio checkpoint; 0 for a model folder."""
    from studio.core.checkpoint import read_header

    return read_header(checkpoint).step if checkpoint.is_file() else 0
