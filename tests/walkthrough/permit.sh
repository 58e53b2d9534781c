#!/usr/bin/env bash
# The README's walk-through of a permit case over HTTP, against a running
# `ravand serve` (set-up command 1) at $B: every command as it is typed,
# then what it answered. Ids and the tracking code are read from the
# answers. Needs curl and jq. A test runs it (tests/it/walkthrough.rs).
set -euo pipefail
B=${B:-http://127.0.0.1:8080}
AUTH='Authorization: Bearer permit-office-demo'
GATEWAY='Authorization: Bearer gateway-demo'
JSON='Content-Type: application/json'

# Prints a command as typed, runs it, prints its answer.
show() {
  printf '$ %s\n' "$1"
  eval "$1"
  echo
}

printf '%s\n' "\$ curl -s -X POST \$B/cases -H \"\$AUTH\" -H \"\$JSON\" -d '{\"process\": \"building-permit\", \"data\": {}}'"
STARTED=$(curl -s -X POST "$B/cases" -H "$AUTH" -H "$JSON" -d '{"process": "building-permit", "data": {}}')
echo "$STARTED"
echo
CASE=$(jq -r .case <<<"$STARTED")
CODE=$(jq -r .tracking_code <<<"$STARTED")
echo "\$ CASE=$CASE CODE=$CODE   # from the answer"
# The permit office's open tasks: the first is the citizen's application.
show "curl -s \"\$B/worklist\" -H \"\$AUTH\" | jq -c '[.[] | select(.case == $CASE) | .task | {task, step, role, title}]'"
next_task() { curl -s "$B/cases/$CASE" -H "$AUTH" | jq -r '.tasks[0].task'; }
# An outside program's turn: it fetches the job of its topic with a lease,
# then reports it done (with what the step sets, if anything).
job() {
  local topic=$1 worker=$2 outputs=${3:-}
  printf '%s\n' "\$ curl -s -X POST \$B/jobs/acquire -H \"\$GATEWAY\" -H \"\$JSON\" -d '{\"topic\": \"$topic\", \"worker\": \"$worker\"}' | jq -c '.[] | {case, task, step}'"
  local got
  got=$(curl -s -X POST "$B/jobs/acquire" -H "$GATEWAY" -H "$JSON" -d "{\"topic\": \"$topic\", \"worker\": \"$worker\"}")
  jq -c '.[] | {case, task, step}' <<<"$got"
  echo
  local task
  task=$(jq -r '.[0].task' <<<"$got")
  if [ -n "$outputs" ]; then
    show "curl -s -X POST \$B/jobs/$CASE/$task/complete -H \"\$GATEWAY\" -H \"\$JSON\" -d '{\"worker\": \"$worker\", \"outputs\": $outputs}'"
  else
    show "curl -s -X POST \$B/jobs/$CASE/$task/complete -H \"\$GATEWAY\" -H \"\$JSON\" -d '{\"worker\": \"$worker\"}'"
  fi
}
TASK=$(next_task)
show "curl -s -X POST \$B/cases/$CASE/tasks/$TASK/complete -H \"\$AUTH\""
# The civil registry's adapter confirms the applicant; the SMS gateway
# texts the tracking code.
job civil-registry registry-adapter
job sms sms-gateway
TASK=$(next_task)
show "curl -s -X POST \$B/cases/$CASE/tasks/$TASK/complete -H \"\$AUTH\" -H \"\$JSON\" -d '{\"outputs\": {\"docs_complete\": true}}'"
# The deed inquiry goes out through the registry's adapter; the registry
# answers later, matched by the case's tracking code.
job deed-registry registry-adapter
show "curl -s -X POST \$B/messages -H \"\$AUTH\" -H \"\$JSON\" -d '{\"name\": \"registry-reply\", \"key\": \"$CODE\", \"data\": {\"deed_valid\": true}}'"
# The violations registry's adapter answers with what the step sets.
job violation-registry violations-adapter '{"has_violation_record": false}'
# The citizen: no token, the stage and its dates only.
show "curl -s \$B/public/cases/$CODE"
show "curl -s \$B/cases/$CASE/history -H 'Authorization: Bearer auditor-demo' | jq -r '.lines[]'"
