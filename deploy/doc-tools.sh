#!/usr/bin/env bash
# What scheduling needs to make PDFs of its documents, from Debian's packages:
# LibreOffice Writer without a GUI (DOCX -> PDF/A), Liberation fonts (metric-compatible
# with Times New Roman, with every Vietnamese letter) and poppler-utils (pdftoppm, used by
# the tests to render first pages). Installed on the first run when missing (as root).
set -euo pipefail

missing=()
command -v soffice >/dev/null 2>&1 || missing+=(libreoffice-writer-nogui)
command -v pdftoppm >/dev/null 2>&1 || missing+=(poppler-utils)
[ -e /usr/share/fonts/truetype/liberation2/LiberationSerif-Regular.ttf ] \
  || missing+=(fonts-liberation2)
((${#missing[@]} == 0)) && exit 0

if [ "$(id -u)" != 0 ]; then
  echo "doc-tools: missing ${missing[*]}; install them with apt-get (as root)" >&2
  exit 1
fi
echo "doc-tools: installing ${missing[*]} (a few minutes on the first run)" >&2
log="${DOITHOAI_VAR:-var}/logs/doc-tools-install.log"
mkdir -p "$(dirname "$log")"
if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -q -o DPkg::Lock::Timeout=600 \
    --no-install-recommends "${missing[@]}" >"$log" 2>&1; then
  apt-get update -qq >>"$log" 2>&1 || true
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q -o DPkg::Lock::Timeout=600 \
    --no-install-recommends "${missing[@]}" >>"$log" 2>&1 \
    || { echo "doc-tools: apt-get install failed; see $log" >&2; exit 1; }
fi
