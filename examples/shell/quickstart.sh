#!/usr/bin/env bash
# The examples/client walk-through with grpcurl and curl: deploy a cron
# workflow over gRPC and a webhook workflow over REST, trigger each once, and
# follow both executions to their end.
#
#   examples/shell/quickstart.sh                 # against make run's defaults
#   GRPC_ADDR=host:9090 HTTP_BASE=http://host:8080 examples/shell/quickstart.sh
#
# grpcurl: on PATH, or set GRPCURL; `cd examples/shell && go tool grpcurl`
# runs the version this directory's go.mod pins. With caller authentication
# on, set WFR_TOKEN to a token the server accepts.
set -euo pipefail

GRPC_ADDR=${GRPC_ADDR:-localhost:9090}
HTTP_BASE=${HTTP_BASE:-http://localhost:8080}
GRPCURL=${GRPCURL:-grpcurl}
auth=()
if [ -n "${WFR_TOKEN:-}" ]; then
  auth=(-H "authorization: Bearer ${WFR_TOKEN}")
fi

grpc() { "$GRPCURL" -plaintext "${auth[@]}" -d "$2" "$GRPC_ADDR" "workflowruntime.v1.WorkflowRuntimeService/$1"; }
rest() { curl -sS --fail-with-body "${auth[@]}" -H 'content-type: application/json' "$@"; }
# field NAME reads the first string field NAME of the JSON on stdin; grpcurl
# writes camelCase names, the REST gateway the proto names.
field() { grep -o "\"$1\": *\"[^\"]*\"" | head -n 1 | sed 's/.*: *"\(.*\)"/\1/'; }

cron_wf=example.sh-nightly-report
hook_wf=example.sh-order-created
hook_path=example/sh-orders

echo "== deploy $cron_wf (gRPC): every night at 02:00 Berlin time, and by hand"
if ! out=$(grpc DeployWorkflow '{
    "workflow_id": "'$cron_wf'", "deployed_by": "examples/shell",
    "workflow_definition": {"nodes": [{"id": "report", "name": "Report", "type": "ACTION"}]},
    "triggers": [{"type": "TRIGGER_TYPE_CRON", "cron": {"expression": "0 2 * * *", "timezone": "Europe/Berlin"}},
                 {"type": "TRIGGER_TYPE_MANUAL"}]}' 2>&1); then
  case "$out" in *AlreadyExists*) echo "already deployed" ;; *) echo "$out" >&2; exit 1 ;; esac
else
  echo "deployment $(field deploymentId <<<"$out")"
fi

echo "== deploy $hook_wf (REST): POST webhooks on $hook_path"
if ! out=$(rest -X POST "$HTTP_BASE/api/v1/deployments" -d '{
    "workflow_id": "'$hook_wf'", "deployed_by": "examples/shell",
    "workflow_definition": {"nodes": [{"id": "notify", "name": "Notify", "type": "ACTION"}]},
    "triggers": [{"type": "TRIGGER_TYPE_WEBHOOK", "webhook": {"path": "'$hook_path'", "methods": ["POST"]}}]}'); then
  case "$out" in *'"code":6'*) echo "already deployed" ;; *) echo "$out" >&2; exit 1 ;; esac
else
  echo "deployment $(field deployment_id <<<"$out")"
fi

echo "== trigger $cron_wf by hand (gRPC)"
manual=$(grpc TriggerWorkflow '{"workflow_id": "'$cron_wf'", "trigger_data": "{\"reason\": \"run it now\"}", "triggered_by": "examples/shell"}' | field executionId)
echo "execution $manual"

echo "== trigger the webhook as the API Gateway forwards it (REST)"
hook=$(rest -X POST "$HTTP_BASE/api/v1/webhooks/trigger" \
  -d '{"webhook_path": "'$hook_path'", "http_method": "POST", "trigger_data": "{\"order\": 42}"}' | field execution_id)
echo "execution $hook"

for id in "$manual" "$hook"; do
  for _ in $(seq 300); do
    status=$(rest "$HTTP_BASE/api/v1/executions/$id" | field status)
    case "$status" in EXECUTION_STATUS_PENDING | EXECUTION_STATUS_RUNNING) sleep 0.2 ;; *) break ;; esac
  done
  echo "execution $id ended $status"
  case "$status" in EXECUTION_STATUS_PENDING | EXECUTION_STATUS_RUNNING) exit 1 ;; esac
done

echo "== history of $hook_wf (REST)"
rest "$HTTP_BASE/api/v1/executions?workflow_id=$hook_wf&page_size=5"
echo
