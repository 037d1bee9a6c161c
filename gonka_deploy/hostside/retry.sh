# Run a network command on the host, retrying transient failures with backoff:
#   sh -c "$(cat retry.sh)" _ ATTEMPTS PATTERN COMMAND [ARG…]
# PATTERN is an extended regex (grep -Ei) of error output worth another try (a reset connection,
# a timeout, a 503); any other failure is permanent and returned at once. Each retry is said on
# stderr; stdout passes through untouched.
attempts=$1
pattern=$2
shift 2
err=$(mktemp) || exit 1
trap 'rm -f "$err"' EXIT
n=1
delay=${GONKA_RETRY_DELAY:-2}
while :; do
  "$@" 2>"$err"
  rc=$?
  cat "$err" >&2
  if [ "$rc" = 0 ]; then
    if [ "$n" -gt 1 ]; then
      echo "gonka-deploy: $1 succeeded on attempt $n" >&2
    fi
    exit 0
  fi
  if [ "$n" -ge "$attempts" ] || ! grep -Eqi -- "$pattern" "$err"; then
    exit "$rc"
  fi
  echo "gonka-deploy: $1 failed transiently; retry $n of $((attempts - 1)) in ${delay} s" >&2
  sleep "$delay"
  delay=$((delay * 2))
  n=$((n + 1))
done
