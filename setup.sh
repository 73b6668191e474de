#!/usr/bin/env bash
# Set up Generative Studio on this machine; safe to run again (it only does what is missing).
#
#   1. System packages, when missing and running as root on Debian/Ubuntu: python3-venv
#      (a stock Debian python3 cannot make a venv without it), Qt's xcb, EGL and font
#      libraries, PortAudio, FluidSynth (libfluidsynth3, which brings a General MIDI SoundFont: the piano
#      roll's playback), Xvfb + ImageMagick + xdotool (screenshots, driving the app), Fashion-MNIST.
#   2. A virtual environment in .venv.
#   3. torch==2.13.0 first (pip takes a local CPU build where pip is configured with
#      one, e.g. in find-links; otherwise the registry's build, which on Linux is the
#      CUDA one), then the studio with its dev extras.
set -euo pipefail
cd "$(dirname "$0")"

SYSTEM_PACKAGES=(
    python3-venv
    libxcb-icccm4 libxcb-keysyms1 libxcb-cursor0 libxcb-image0 libxcb-render-util0 libxcb-shape0
    libxcb-randr0 libxcb-xinerama0 libxcb-xkb1 libxkbcommon-x11-0 libegl1 libgl1 libfontconfig1
    libdbus-1-3 fonts-dejavu-core libportaudio2 libfluidsynth3 xvfb imagemagick xdotool dataset-fashion-mnist
)
TORCH=torch==2.13.0
PYTHON=${PYTHON:-python3}
VENV=.venv
STAMP=$VENV/.studio-setup

say() { printf 'setup: %s\n' "$*"; }

# pip, without the noise this kind of machine makes (index folders it skips,
# setuptools' banner about editable installs); real errors still show.
pip_install() {
    "$VENV/bin/python" -m pip install -q "$@" 2>&1 |
        { grep -v -E "is ignored: it is neither|BuildBackendWarning|editable_wheel|^ *!!|^ *\*{10}|folders in your working|name as your package|WheelFile\(|^ *$" || true; }
}

install_system_packages() {
    command -v dpkg-query >/dev/null || { say "not a Debian system: install Qt's xcb libraries, PortAudio, FluidSynth and Xvfb yourself"; return; }
    local missing=()
    for p in "${SYSTEM_PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return
    if [ "$(id -u)" -ne 0 ]; then
        say "missing system packages (run as root to install): sudo apt-get install ${missing[*]}"
        return
    fi
    say "installing system packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

install_python_packages() {
    [ -x "$VENV/bin/python" ] || { say "creating $VENV"; "$PYTHON" -m venv "$VENV"; }
    local want
    want=$(cat pyproject.toml setup.py setup.sh | sha256sum | cut -d' ' -f1)
    if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ]; then
        return
    fi
    say "installing $TORCH"
    pip_install --upgrade pip
    pip_install "$TORCH"
    say "installing the studio and its dev extras"
    pip_install -e ".[dev]"
    echo "$want" >"$STAMP"
}

install_system_packages
install_python_packages
say "ready"
