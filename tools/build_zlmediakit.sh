#!/bin/sh
# 构建 ZLMediaKit 的 MediaServer (上级平台 WVP 所用的流媒体服务), 供互通测试用。
# Builds ZLMediaKit's MediaServer (the media server behind WVP) for the interop tests
# tests/integration/test_zlmediakit.py; it is in no Debian or PyPI package.
#
#   tools/build_zlmediakit.sh [SOURCE_DIR]    (default: clone it into .cache/zlmediakit)
#   EDGE_ZLMEDIAKIT=$(tools/build_zlmediakit.sh) .venv/bin/python -m pytest \
#       tests/integration/test_zlmediakit.py
#
# SOURCE_DIR: a ZLMediaKit tree with its submodules (3rdpart/ZLToolKit, media-server,
# jsoncpp). Needs cmake, ninja, g++, libssl-dev; about 15 minutes on 2 cores. Only the
# server is built (no WebRTC, SRT, tests). Prints the MediaServer's path.
set -eu
COMMIT=daaa74a72e58c716e4bf1baaf63b16cc347e9de2  # 2026-07-23, the one tested here
src=${1:-}
if [ -z "$src" ]; then
    src=.cache/zlmediakit
    if [ ! -d "$src/.git" ]; then
        git clone -q https://github.com/ZLMediaKit/ZLMediaKit "$src" >&2
    fi
    git -C "$src" checkout -q "$COMMIT" >&2
    git -C "$src" submodule update -q --init 3rdpart/ZLToolKit 3rdpart/media-server \
        3rdpart/jsoncpp >&2
fi
cmake -S "$src" -B "$src/build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DENABLE_API=OFF \
    -DENABLE_TESTS=OFF -DENABLE_WEBRTC=OFF -DENABLE_SRT=OFF -DENABLE_SCTP=OFF \
    -DENABLE_PLAYER=OFF -DENABLE_OBJCOPY=OFF -DDISABLE_REPORT=ON >&2
ninja -C "$src/build" MediaServer >&2
find "$(cd "$src" && pwd)/release" -type f -name MediaServer | head -n 1
