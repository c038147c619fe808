#!/bin/sh
# Configures the endpoint on first start with the admin token the server wrote to the shared data
# volume, then runs the agent in the foreground.
set -eu
NAME="${FX_ENDPOINT_NAME:-docker}"
if [ ! -f "$FX_HOME/endpoints/$NAME/config.yaml" ]; then
  for _ in $(seq 1 60); do [ -s /server-data/admin.token ] && break; sleep 1; done
  fx-endpoint configure "$NAME" --url "$FX_SERVER_URL" --token "$(cat /server-data/admin.token)"
fi
exec fx-endpoint start "$NAME"
