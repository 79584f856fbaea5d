#!/usr/bin/env bash
# Scheduled drift detection for one fgform stack: run it from cron (or a CI schedule).
#
#   FGFORM_DRIFT_WEBHOOK=https://hooks.example.com/fgform ./drift-cron.sh [DIR] [FGFORM DRIFT OPTIONS...]
#
# Runs `fgform drift --json DIR` (read-only: GETs, no state lock) and acts on its exit code:
#   0  in sync           -> quiet, exits 0
#   2  drift found       -> POSTs fgform's JSON report as is to $FGFORM_DRIFT_WEBHOOK
#                           (Content-Type: application/json, X-Fgform-Event: drift), exits 2
#   *  fgform failed     -> POSTs {"event":"error","stack_dir":…,"exit_code":…,"message":…}
#                           (X-Fgform-Event: error), exits with fgform's code
# fgform's stderr is passed through, so cron mail still shows it. A failed POST is reported
# on stderr; the exit code stays fgform's either way.
#
# Environment:
#   FGFORM_DRIFT_WEBHOOK   where reports go (required)
#   FGFORM                 the fgform binary (default: fgform on PATH)
#   HUAWEICLOUD_SDK_AK / HUAWEICLOUD_SDK_SK / HUAWEICLOUD_SDK_PROJECT_ID   credentials
#   FGFORM_STATE           the stack's state, the same location the pipelines use, e.g.
#                          obs://your-fgform-state-bucket/fgform (or the stack's `state:`);
#                          no checkout of any state is needed on the cron host
#   FGFORM_CURL_OPTS       extra curl options, word-split (e.g. "--retry 3")
set -euo pipefail

FGFORM="${FGFORM:-fgform}"
: "${FGFORM_DRIFT_WEBHOOK:?set FGFORM_DRIFT_WEBHOOK to the URL drift reports are POSTed to}"
dir="${1:-.}"
if [ "$#" -gt 0 ]; then shift; fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# Escapes stdin as the contents of a JSON string (no jq needed).
json_string() {
  LC_ALL=C awk 'BEGIN { ORS = "" }
    {
      gsub(/\\/, "&&"); gsub(/"/, "\\\""); gsub(/\t/, "\\t"); gsub(/\r/, "\\r")
      gsub(/[\001-\010\013\014\016-\037]/, "")
      if (NR > 1) print "\\n"
      print
    }'
}

# post EVENT FILE: POSTs FILE's bytes as JSON; failures are reported, never fatal.
post() {
  # shellcheck disable=SC2086 # FGFORM_CURL_OPTS is meant to split into options.
  if ! curl --fail --silent --show-error --max-time 30 ${FGFORM_CURL_OPTS:-} \
    -X POST -H "Content-Type: application/json" -H "X-Fgform-Event: $1" \
    --data-binary "@$2" "$FGFORM_DRIFT_WEBHOOK" >/dev/null; then
    echo "drift-cron: could not POST the $1 report to the webhook" >&2
  fi
}

code=0
"$FGFORM" drift --json "$dir" "$@" >"$work/report.json" 2>"$work/stderr" || code=$?
cat "$work/stderr" >&2

case "$code" in
  0) ;;
  2) post drift "$work/report.json" ;;
  *)
    {
      printf '{"event":"error","stack_dir":"%s","exit_code":%d,"message":"' \
        "$(printf '%s' "$dir" | json_string)" "$code"
      if [ -s "$work/stderr" ]; then
        tail -n 40 "$work/stderr" | json_string
      else
        printf 'fgform drift exited %d without a message' "$code"
      fi
      printf '"}\n'
    } >"$work/error.json"
    post error "$work/error.json"
    ;;
esac
exit "$code"
