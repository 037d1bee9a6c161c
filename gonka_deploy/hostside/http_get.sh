# GET a URL from the host: `sh -c "$(cat http_get.sh)" _ URL [ATTEMPTS [FINAL]]`.
# Prints the HTTP status (000 when nothing answered), then `attempts=N`, then the body.
# With ATTEMPTS > 1 a transient answer (nothing, 408, 429, 5xx) is tried again after 1, 2, 4 …
# seconds; anything else (200, 404, …) is final at once, and so is a 5xx whose body holds the
# text FINAL (a chain query's definite answer that the gateway sends as 500, e.g. "fee-grant
# not found").
url=$1
attempts=${2:-1}
final=${3:-}
body=$(mktemp) || exit 1
trap 'rm -f "$body"' EXIT
n=0
delay=${GONKA_RETRY_DELAY:-1}
while :; do
  n=$((n + 1))
  code=$(curl -s -m 5 -o "$body" -w '%{http_code}' "$url" 2>/dev/null) || code=${code:-000}
  case $code in
    000 | 408 | 429 | 5??) transient=1 ;;
    *) transient=0 ;;
  esac
  if [ "$transient" = 1 ] && [ -n "$final" ] && grep -qF -- "$final" "$body"; then
    transient=0
  fi
  if [ "$transient" = 0 ] || [ "$n" -ge "$attempts" ]; then
    break
  fi
  sleep "$delay"
  delay=$((delay * 2))
done
echo "$code"
echo "attempts=$n"
cat "$body"
