#!/bin/sh
# Configures the endpoint on first start with the ordinary user's token that the `endpoint-init` service
# created (never the admin token, never the server's data volume), then runs the agent in the foreground.
set -eu
NAME="${FX_ENDPOINT_NAME:-docker}"
TOKEN_FILE="${FX_TOKEN_FILE:-/credentials/user.token}"
if [ ! -f "$FX_HOME/endpoints/$NAME/config.yaml" ]; then
  for _ in $(seq 1 60); do [ -s "$TOKEN_FILE" ] && break; sleep 1; done
  fx-endpoint configure "$NAME" --url "$FX_SERVER_URL" --token-file "$TOKEN_FILE"
fi
exec fx-endpoint start "$NAME"
