#!/usr/bin/env bash
# Refreshes the front-end libraries shipped in arena/web/static/vendor from the npm registry (maintainers
# only: the package and its tests never fetch anything at run time). Pin versions here and in the README.
set -euo pipefail
cd "$(dirname "$0")/.."
UPLOT=1.6.32
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "uplot@$UPLOT" >/dev/null && tar xzf "uplot-$UPLOT.tgz")
dest=arena/web/static/vendor/uplot
cp "$work/package/dist/uPlot.esm.js" "$work/package/dist/uPlot.min.css" "$work/package/LICENSE" "$dest/"
echo "uPlot $UPLOT -> $dest"
