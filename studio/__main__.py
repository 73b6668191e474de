import sys


def _command(argv: list[str]) -> str:
    """The sub-command word, skipping the global options and their values."""
    takes_value = {"--workspace", "--device"}
    skip = False
    for word in argv:
        if skip:
            skip = False
        elif word in takes_value:
            skip = True
        elif not word.startswith("-"):
            return word
    return ""


if _command(sys.argv[1:]) in ("train", "dream"):
    # First, before the imports: a job (training, collecting, evaluating) cancelled while it starts must not
    # die of SIGTERM's default.
    from studio.engine.cancel import install_for_process

    install_for_process()

from studio.cli import main  # noqa: E402

sys.exit(main())
