# `docker compose` with one service's container logging disabled, for this run only:
#
#   sh -c "$(cat compose_unlogged.sh)" _ DIRECTORY SERVICE NFILES FILE... ARGS...
#
# runs `docker compose -f FILE... -f FRAGMENT ARGS...` in DIRECTORY, FRAGMENT a temporary compose
# file (removed on exit) that sets `logging: {driver: none}` on SERVICE. For a one-off container
# whose stdout carries a secret (`keys add --output json` prints the mnemonic): `docker compose
# run` has no --log-driver flag, and the service's own logging driver (json-file, journald,
# syslog, fluentd...) would keep or ship that output. The attached client still reads it: an
# attach stream is not the log. The service's compose definition and the running service are
# left as they are. Standard input is the command's (a passphrase goes there).
set -eu
cd "$1"
service=$2
count=$3
shift 3
case $service in
  '' | *[!A-Za-z0-9_.-]*) echo "compose_unlogged: bad service name: $service" >&2; exit 2 ;;
esac
case $count in
  '' | *[!0-9]*) echo "compose_unlogged: bad file count: $count" >&2; exit 2 ;;
esac
if [ "$#" -le "$count" ]; then
  echo "compose_unlogged: no compose command after the $count file(s)" >&2
  exit 2
fi
fragment=$(mktemp)
trap 'rm -f "$fragment"' EXIT
printf 'services:\n  %s:\n    logging:\n      driver: none\n' "$service" >"$fragment"
# Rebuild the arguments in place: -f FILE for each file, the fragment last among them, then the
# compose command as given.
i=0
total=$#
while [ "$i" -lt "$total" ]; do
  if [ "$i" -lt "$count" ]; then
    set -- "$@" -f "$1"
  elif [ "$i" -eq "$count" ]; then
    set -- "$@" -f "$fragment" "$1"
  else
    set -- "$@" "$1"
  fi
  shift
  i=$((i + 1))
done
docker compose "$@"
