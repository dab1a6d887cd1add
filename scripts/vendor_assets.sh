#!/usr/bin/env bash
# Re-fetch the console's front-end libraries from the npm registry at pinned versions into
# src/hongyan/console/static/vendor/ (served locally: the console never loads anything from a CDN).
set -euo pipefail
HTMX_VERSION=2.0.11
CHARTJS_VERSION=4.5.1
here="$(cd "$(dirname "$0")/.." && pwd)"
dest="$here/src/hongyan/console/static/vendor"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
npm pack --silent "htmx.org@$HTMX_VERSION" "chart.js@$CHARTJS_VERSION" >/dev/null
mkdir htmx chartjs
tar -xzf "htmx.org-$HTMX_VERSION.tgz" -C htmx
tar -xzf "chart.js-$CHARTJS_VERSION.tgz" -C chartjs
mkdir -p "$dest"
cp htmx/package/dist/htmx.min.js "$dest/htmx.min.js"
cp htmx/package/LICENSE "$dest/htmx.LICENSE"
cp chartjs/package/dist/chart.umd.js "$dest/chart.umd.min.js"
cp chartjs/package/LICENSE.md "$dest/chart.js.LICENSE.md"
echo "vendored htmx.org $HTMX_VERSION and chart.js $CHARTJS_VERSION into $dest"
