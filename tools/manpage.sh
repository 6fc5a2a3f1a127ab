#!/bin/sh
# Writes gomem(1) from `gomem --help`, so that the manual page and the help
# text are one text: section headings (the lines at the margin) become .SH,
# the rest is kept as laid out (.nf, less the help's two-space indent), with
# roff's special characters escaped.
#   manpage.sh GOMEM_COMMAND VERSION OUTPUT   (CMakeLists.txt: build/gomem.1)
set -eu
exec >"$3"
printf '.TH GOMEM 1 "" "gomem %s" "User Commands"\n' "$2"
"$1" --help | awk '
  /^[^ ]/ { print ".fi"; print ".SH " $0; print ".nf"; next }
  { sub(/^  /, ""); gsub(/\\/, "\\e"); if (/^[.\x27]/) $0 = "\\&" $0; print }
' | sed '1{/^\.fi$/d}'
