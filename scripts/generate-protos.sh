#!/usr/bin/env bash
# Regenerates Sources/Protocol/Generated/jump.pb.swift from Sources/Protocol/jump.proto.
#
#   scripts/generate-protos.sh          regenerate
#   scripts/generate-protos.sh --check  regenerate into a temporary folder and fail if the committed
#                                       file differs (CI runs this)
#
# Needs protoc (Debian: protobuf-compiler). protoc-gen-swift is built from the swift-protobuf version
# this package depends on, in .build-protoc/, so the generator and the runtime always match.
set -euo pipefail
cd "$(dirname "$0")/.."

command -v protoc >/dev/null || { echo "protoc is missing: apt-get install protobuf-compiler" >&2; exit 1; }
swift build --product protoc-gen-swift -c release --scratch-path .build-protoc >&2
plugin=".build-protoc/release/protoc-gen-swift"

out="Sources/Protocol/Generated"
if [ "${1:-}" = "--check" ]; then
    out=$(mktemp -d)
    trap 'rm -rf "$out"' EXIT
fi
protoc \
    --plugin=protoc-gen-swift="$plugin" \
    --swift_opt=Visibility=Public \
    --swift_opt=UseAccessLevelOnImports=true \
    --swift_out="$out" \
    --proto_path=Sources/Protocol \
    Sources/Protocol/jump.proto

if [ "${1:-}" = "--check" ]; then
    if ! diff -u Sources/Protocol/Generated/jump.pb.swift "$out/jump.pb.swift"; then
        echo "jump.pb.swift is stale: run scripts/generate-protos.sh and commit the result" >&2
        exit 1
    fi
    echo "jump.pb.swift matches jump.proto"
fi
