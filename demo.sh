#!/usr/bin/env bash
# Runs orc's main job on an embedded default. Needs root.
#
#   sudo ./demo.sh
#
# Until `orc up` exists (see the README's status table), this runs the most
# complete demo there is.
set -euo pipefail
cd "$(dirname "$0")"
./scripts/setup.sh
export PATH="$HOME/.cargo/bin:$PATH"
exec cargo run --quiet --release --locked --package orc -- demo
