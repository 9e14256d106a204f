#!/usr/bin/env bash
# idem's own Rust client as a reader (`idem consume`): read.sh IDEM BOOTSTRAP TOPIC OUT — every
# partition from the beginning to its end, no group.
set -euo pipefail
"$1" consume -b "$2" -t "$3" -o beginning -f '{"partition":%p,"offset":%o,"value":"%s"}\n' > "$4"
