#!/usr/bin/env bash
# kcat reader: read.sh BOOTSTRAP TOPIC OUT — every partition from the beginning to its end (-e), no group.
set -euo pipefail
kcat -C -b "$1" -t "$2" -o beginning -e -q -f '{"partition":%p,"offset":%o,"value":"%s"}\n' > "$3"
