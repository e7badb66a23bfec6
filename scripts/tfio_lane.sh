#!/usr/bin/env bash
# The tensorflow-io lane: a separate environment where backend="tfio" works,
# then its tests (tests/tfio) with --require-tfio, so nothing is skipped.
#
# tensorflow-io 0.37.1 (its last release) loads only with TensorFlow 2.16 or
# 2.17 and numpy < 2, and decodes video only with FFmpeg 4.x shared
# libraries, which Debian 12 no longer ships. This script builds, without
# installing anything system-wide:
#
#   .venv-tfio/          TensorFlow 2.17.1 (CPU), tensorflow-io 0.37.1,
#                        numpy 1.26, PyAV, pytest
#   .cache/tfio/ffmpeg4/ Debian 11's FFmpeg 4.3 libraries and those of their
#                        dependencies this system lacks, unpacked from .deb
#                        files fetched with a private apt configuration
#
# and runs pytest with LD_LIBRARY_PATH naming that folder for that process
# only. Both are reused on later runs; `make clean-tfio` removes them.
#
# Needs: a Debian-like system with apt-get, dpkg-deb, readelf and ldd
# (binutils), the Debian archive's keyring, access to the Debian archive
# that /etc/apt names (or TFIO_DEBIAN_MIRROR) and
# PyPI, and Python 3.9-3.12 as $PYTHON (default python3).
#
# Usage: scripts/tfio_lane.sh [extra pytest arguments]
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
python=${PYTHON:-python3}
venv=${TFIO_VENV:-$root/.venv-tfio}
cache=$root/.cache/tfio
ffmpeg_dir=$cache/ffmpeg4
started=$(date +%s)

say() { printf '[tfio lane %3ds] %s\n' "$(($(date +%s) - started))" "$*"; }
fail() { printf 'tfio lane: %s\n' "$*" >&2; exit 1; }

for tool in apt-get apt-cache dpkg-deb readelf ldd ldconfig; do
    command -v "$tool" >/dev/null || fail "needs $tool (a Debian-like system)"
done

# --- 1. Python environment --------------------------------------------------
packages=(
    "tensorflow-cpu==2.17.1"
    "tensorflow-io==0.37.1"
    "numpy==1.26.4"
    "av==18.1.0"
    "pytest>=8"
)
stamp=$venv/.tfio-lane-installed
if [[ ! -f $stamp || "$(cat "$stamp")" != "${packages[*]}" ]]; then
    say "creating $venv (${packages[*]})"
    "$python" -c 'import sys; assert (3, 9) <= sys.version_info[:2] <= (3, 12), \
        f"TensorFlow 2.17 needs Python 3.9-3.12, not {sys.version.split()[0]}"' \
        || fail "set PYTHON to a Python 3.9-3.12 interpreter"
    rm -rf "$venv"
    "$python" -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --upgrade pip
    "$venv/bin/python" -m pip install --quiet "${packages[@]}"
    echo "${packages[*]}" >"$stamp"
else
    say "reusing $venv"
fi

# --- 2. FFmpeg 4 libraries from Debian 11, unpacked privately ---------------
roots=(libavformat.so.58 libavcodec.so.58 libavutil.so.56 libswscale.so.5)
if [[ ! -f $ffmpeg_dir/.complete ]]; then
    say "fetching Debian 11 FFmpeg 4 into $ffmpeg_dir"
    apt_dir=$cache/apt
    rm -rf "$apt_dir" "$ffmpeg_dir"
    mkdir -p "$apt_dir"/{lists/partial,cache/archives/partial,debs,stage} \
        "$ffmpeg_dir"
    keyring=/usr/share/keyrings/debian-archive-keyring.gpg
    [[ -f $keyring ]] || fail "needs $keyring (package debian-archive-keyring)"
    # The archive this machine's apt already uses, asked for bullseye.
    uris=$(awk '/^URIs:/ {for (i = 2; i <= NF; i++) print $i}' \
        /etc/apt/sources.list.d/*.sources 2>/dev/null || true
        awk '$1 == "deb" {for (i = 2; i <= NF; i++) if ($i ~ /:\/\//) {
            print $i; break}}' /etc/apt/sources.list 2>/dev/null || true)
    mirror=${TFIO_DEBIAN_MIRROR:-$(grep -v -- -security <<<"$uris" | head -n 1 || true)}
    security=${TFIO_DEBIAN_SECURITY:-$(grep -- -security <<<"$uris" | head -n 1 || true)}
    [[ -n $mirror ]] || fail "no Debian archive configured in /etc/apt;" \
        "set TFIO_DEBIAN_MIRROR to one"
    {
        echo "deb [signed-by=$keyring] $mirror bullseye main"
        [[ -z $security ]] ||
            echo "deb [signed-by=$keyring] $security bullseye-security main"
    } >"$apt_dir/sources.list"
    apt_options=(
        -o "Dir::Etc::SourceList=$apt_dir/sources.list"
        -o "Dir::Etc::SourceParts=/dev/null"
        -o "Dir::State::Lists=$apt_dir/lists"
        -o "Dir::Cache=$apt_dir/cache"
        -o "Dir::State::status=/dev/null"
        -o "APT::Architecture=amd64"
        -o "APT::Sandbox::User=root"
    )
    apt-get "${apt_options[@]}" -qq update
    # Every package the four FFmpeg libraries may need (alternatives
    # included), minus those installed here; the unneeded are pruned below.
    wanted=()
    while read -r package; do
        case $package in
            libavcodec-extra*) continue ;; # the same library, other build
            lib* | ocl-icd-libopencl1) ;;
            *) continue ;; # fonts, debconf and other non-libraries
        esac
        if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null |
            grep -q "install ok installed"; then
            wanted+=("$package")
        fi
    done < <(apt-cache "${apt_options[@]}" depends --recurse --no-recommends \
        --no-suggests --no-conflicts --no-breaks --no-replaces \
        --no-enhances libavformat58 libavcodec58 libavutil56 libswscale5 |
        grep -v '^ ' | sort -u)
    (cd "$apt_dir/debs" && apt-get "${apt_options[@]}" -qq download \
        "${wanted[@]}")
    for deb in "$apt_dir"/debs/*.deb; do
        dpkg-deb -x "$deb" "$apt_dir/stage"
    done
    # Keep each shared library under its soname, unless this system already
    # has that soname (its own, newer build is then used).
    system_sonames=$(ldconfig -p | awk 'NR > 1 { print $1 }' | sort -u)
    for file in "$apt_dir"/stage/{usr/,}lib/x86_64-linux-gnu/*.so*; do
        [[ -f $file && ! -L $file ]] || continue
        soname=$(readelf -d "$file" 2>/dev/null |
            sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
        [[ -n $soname ]] || continue
        grep -qxF "$soname" <<<"$system_sonames" && continue
        cp "$file" "$ffmpeg_dir/$soname"
    done
    # Prune to what the four libraries load; fail on anything missing.
    needed=$(cd "$ffmpeg_dir" && LD_LIBRARY_PATH=$ffmpeg_dir ldd "${roots[@]}")
    if grep -q "not found" <<<"$needed"; then
        fail "FFmpeg 4 dependencies missing: $(grep "not found" <<<"$needed" |
            sort -u | tr -s ' \t\n' ' ')"
    fi
    keep=$(awk -v dir="$ffmpeg_dir/" 'index($3, dir) == 1 {
        sub(dir, "", $3); print $3 }' <<<"$needed" | sort -u)
    for file in "$ffmpeg_dir"/*; do
        name=${file##*/}
        if ! grep -qxF "$name" <<<"$keep" &&
            [[ " ${roots[*]} " != *" $name "* ]]; then
            rm "$file"
        fi
    done
    (cd "$apt_dir/debs" && ls) >"$ffmpeg_dir/.debs"
    rm -rf "$apt_dir"
    touch "$ffmpeg_dir/.complete"
    say "FFmpeg 4: $(ls "$ffmpeg_dir" | wc -l) libraries," \
        "$(du -sh "$ffmpeg_dir" | cut -f1)," \
        "$(grep -m1 '^libavcodec58_' "$ffmpeg_dir/.debs")"
else
    say "reusing $ffmpeg_dir"
fi

# --- 3. The lane's tests ----------------------------------------------------
say "running tests/tfio"
status=0
LD_LIBRARY_PATH=$ffmpeg_dir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH} \
    "$venv/bin/python" -m pytest -q -rs -p no:cacheprovider tests/tfio \
    --require-tfio "$@" || status=$?
say "done (pytest exit status $status)"
exit "$status"
