#!/usr/bin/env bash
# Check the running test cluster does what the Kubernetes provider will rely on,
# with curl and the admin token only (no kubectl): Jobs that complete, fail, hit
# their deadline, suspend and resume; the scheduler's Unschedulable reasons; GPU
# nodes behind a taint; exit codes in container statuses; pod logs.
#
#   bash deploy/kubernetes/kube-smoke.sh [state-dir]     # needs jq; about a minute
#
# Every check runs in its own namespace (smoke-<random>), deleted at the end.
set -euo pipefail
STATE=${1:-${SWITCHYARD_KUBE_DIR:-/tmp/switchyard-kube}}
[ -f "$STATE/kube.env" ] || { echo "kube-smoke: no cluster in $STATE (run kube-up.sh)" >&2; exit 1; }
unset SWITCHYARD_KUBE_REAL_NODE   # only this cluster's kube.env says whether it has one
# shellcheck disable=SC1091
. "$STATE/kube.env"
command -v jq >/dev/null || { echo "kube-smoke: needs jq (apt-get install jq)" >&2; exit 1; }
NS="smoke-$(openssl rand -hex 3)"
passed=0 failed=0

api() { # METHOD PATH [BODY] [CONTENT-TYPE]
  local args=(-sS --max-time 30 --cacert "$SWITCHYARD_KUBE_CA_FILE" -H "Authorization: Bearer $(cat "$SWITCHYARD_KUBE_TOKEN_FILE")" -X "$1")
  [ $# -ge 3 ] && args+=(-H "Content-Type: ${4:-application/json}" --data-binary "$3")
  curl "${args[@]}" "$SWITCHYARD_KUBE_SERVER$2"
}
ok() { passed=$((passed + 1)); echo "  ok: $*"; }
fail() { failed=$((failed + 1)); echo "  FAILED: $*"; }
# until SECONDS JQ-FILTER PATH: poll PATH until the filter is true; prints the last object.
until_true() {
  local secs=$1 filter=$2 path=$3 body
  for _ in $(seq 1 $((secs * 4))); do
    body=$(api GET "$path")
    if jq -e "$filter" >/dev/null 2>&1 <<<"$body"; then printf '%s' "$body"; return 0; fi
    sleep 0.25
  done
  printf '%s' "$body"; return 1
}
# job NAME SPEC-JSON [POD-ANNOTATIONS-JSON] [POD-SPEC-EXTRA-JSON]: create a batch/v1 Job with one container.
job() {
  local body
  body=$(jq -nc --arg n "$1" --argjson spec "$2" --argjson ann "${3:-{\}}" --argjson extra "${4:-{\}}" '{
    apiVersion: "batch/v1", kind: "Job", metadata: {name: $n},
    spec: ($spec + {template: {metadata: {annotations: $ann},
      spec: ({restartPolicy: "Never", containers: [{name: "main", image: "busybox:stable", command: ["true"],
        resources: {requests: {cpu: "500m", memory: "256Mi"}}}]} * $extra)}})}')
  api POST "/apis/batch/v1/namespaces/$NS/jobs" "$body" | jq -e '.metadata.uid' >/dev/null
}
pods_of() { api GET "/api/v1/namespaces/$NS/pods?labelSelector=job-name%3D$1"; }
cleanup() { api DELETE "/api/v1/namespaces/$NS" >/dev/null 2>&1 || true; }
trap cleanup EXIT

api POST /api/v1/namespaces "{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{\"name\":\"$NS\"}}" >/dev/null
until_true 30 '.metadata.name == "default"' "/api/v1/namespaces/$NS/serviceaccounts/default" >/dev/null
echo "kube-smoke: namespace $NS on $SWITCHYARD_KUBE_SERVER"

echo "an Indexed Job (4 completions, parallelism 2) completes"
job indexed '{"completionMode":"Indexed","completions":4,"parallelism":2}' '{"sim.switchyard.io/duration":"2s"}'
max_active=0
for _ in $(seq 1 120); do
  j=$(api GET "/apis/batch/v1/namespaces/$NS/jobs/indexed")
  a=$(jq '.status.active // 0' <<<"$j"); [ "$a" -gt "$max_active" ] && max_active=$a
  jq -e '.status.conditions // [] | any(.type == "Complete" and .status == "True")' >/dev/null <<<"$j" && break
  sleep 0.25
done
if jq -e '(.status.conditions // [] | any(.type == "Complete")) and .status.completedIndexes == "0-3" and .status.succeeded == 4' >/dev/null <<<"$j"; then
  ok "Complete, completedIndexes 0-3, at most $max_active pods at once"
else fail "$(jq -c .status <<<"$j")"; fi
[ "$max_active" -le 2 ] || fail "parallelism 2 but $max_active pods active"
codes=$(pods_of indexed | jq -c '[.items[].status.containerStatuses[0].state.terminated.exitCode] | unique')
[ "$codes" = "[0]" ] && ok "every pod terminated with exit code 0" || fail "exit codes $codes"

echo "a Job whose container exits 3 fails with BackoffLimitExceeded"
job failing '{"backoffLimit":1}' '{"sim.switchyard.io/duration":"1s","sim.switchyard.io/exit-code":"3"}'
if j=$(until_true 60 '.status.conditions // [] | any(.type == "Failed" and .status == "True")' "/apis/batch/v1/namespaces/$NS/jobs/failing"); then
  reason=$(jq -r '.status.conditions[] | select(.type == "Failed") | .reason' <<<"$j")
  [ "$reason" = BackoffLimitExceeded ] && ok "Failed: $reason after $(jq .status.failed <<<"$j") failed pods" || fail "reason $reason"
else fail "not Failed: $(jq -c .status <<<"$j")"; fi
st=$(pods_of failing | jq -c '[.items[] | {phase: .status.phase, code: .status.containerStatuses[0].state.terminated.exitCode, reason: .status.containerStatuses[0].state.terminated.reason}] | unique')
[ "$st" = '[{"phase":"Failed","code":3,"reason":"Error"}]' ] && ok "pods Failed with exit code 3, reason Error" || fail "pods $st"

echo "an Indexed Job whose index 1 exits 2 fails that index only"
job perindex '{"completionMode":"Indexed","completions":3,"parallelism":3,"backoffLimitPerIndex":0,"maxFailedIndexes":1}' \
  '{"sim.switchyard.io/duration":"1s","sim.switchyard.io/exit-code.1":"2"}'
if j=$(until_true 60 '.status.conditions // [] | any((.type == "Complete" or .type == "Failed") and .status == "True")' "/apis/batch/v1/namespaces/$NS/jobs/perindex"); then
  jq -e '.status.failedIndexes == "1" and .status.completedIndexes == "0,2"' >/dev/null <<<"$j" \
    && ok "failedIndexes 1, completedIndexes 0,2 ($(jq -r '.status.conditions[] | select(.status == "True") | .type + ":" + (.reason // "")' <<<"$j" | tr '\n' ' '))" \
    || fail "$(jq -c .status <<<"$j")"
else fail "not finished: $(jq -c .status <<<"$j")"; fi

echo "a Job past activeDeadlineSeconds fails with DeadlineExceeded"
job deadline '{"activeDeadlineSeconds":3}' '{"sim.switchyard.io/duration":"1h"}'
if j=$(until_true 60 '.status.conditions // [] | any(.type == "Failed" and .status == "True")' "/apis/batch/v1/namespaces/$NS/jobs/deadline"); then
  reason=$(jq -r '.status.conditions[] | select(.type == "Failed") | .reason' <<<"$j")
  [ "$reason" = DeadlineExceeded ] && ok "Failed: $reason" || fail "reason $reason"
else fail "not Failed: $(jq -c .status <<<"$j")"; fi
until_true 30 '.items | length == 0' "/api/v1/namespaces/$NS/pods?labelSelector=job-name%3Ddeadline" >/dev/null \
  && ok "its pods are gone" || fail "pods left: $(pods_of deadline | jq -c '[.items[].metadata.name]')"

echo "suspend deletes a Job's pods and resume recreates them"
job suspend '{"parallelism":2,"completions":2}' '{"sim.switchyard.io/duration":"1h"}'
until_true 60 '[.items[] | select(.status.phase == "Running")] | length == 2' "/api/v1/namespaces/$NS/pods?labelSelector=job-name%3Dsuspend" >/dev/null \
  && ok "2 pods Running" || fail "not 2 Running pods"
api PATCH "/apis/batch/v1/namespaces/$NS/jobs/suspend" '{"spec":{"suspend":true}}' application/merge-patch+json >/dev/null
until_true 60 '.items | length == 0' "/api/v1/namespaces/$NS/pods?labelSelector=job-name%3Dsuspend" >/dev/null \
  && ok "suspend: the pods are deleted" || fail "suspend: pods left"
j=$(until_true 30 '.status.conditions // [] | any(.type == "Suspended" and .status == "True")' "/apis/batch/v1/namespaces/$NS/jobs/suspend") \
  && ok "condition Suspended (active $(jq '.status.active // 0' <<<"$j"))" || fail "no Suspended condition"
api PATCH "/apis/batch/v1/namespaces/$NS/jobs/suspend" '{"spec":{"suspend":false}}' application/merge-patch+json >/dev/null
until_true 60 '[.items[] | select(.status.phase == "Running")] | length == 2' "/api/v1/namespaces/$NS/pods?labelSelector=job-name%3Dsuspend" >/dev/null \
  && ok "resume: 2 new pods Running" || fail "resume: no 2 Running pods"

echo "a pod no node can fit stays Pending with the scheduler's reason"
job huge '{}' '{}' '{"containers":[{"name":"main","image":"busybox:stable","resources":{"requests":{"cpu":"16","memory":"1Gi"}}}]}'
if p=$(until_true 30 '.items[0].status.conditions // [] | any(.type == "PodScheduled" and .status == "False")' "/api/v1/namespaces/$NS/pods?labelSelector=job-name%3Dhuge"); then
  c=$(jq -c '.items[0].status.conditions[] | select(.type == "PodScheduled") | {reason, message}' <<<"$p")
  jq -e '.reason == "Unschedulable" and (.message | test("^0/[0-9]+ nodes are available: .*Insufficient cpu"))' >/dev/null <<<"$c" && ok "$c" || fail "$c"
else fail "no PodScheduled=False condition"; fi

echo "GPU pods land on the tainted GPU node only when they tolerate it"
gpu='{"containers":[{"name":"main","image":"cuda:stable","resources":{"requests":{"cpu":"1","nvidia.com/gpu":"1"},"limits":{"nvidia.com/gpu":"1"}}}]'
job gpu-untolerated '{}' '{}' "$gpu}"
job gpu '{}' '{"sim.switchyard.io/duration":"1s"}' "$gpu,\"tolerations\":[{\"key\":\"nvidia.com/gpu\",\"operator\":\"Exists\",\"effect\":\"NoSchedule\"}]}"
if p=$(until_true 30 '.items[0].spec.nodeName' "/api/v1/namespaces/$NS/pods?labelSelector=job-name%3Dgpu"); then
  [ "$(jq -r '.items[0].spec.nodeName' <<<"$p")" = sy-p3-2xlarge-a ] && ok "tolerating pod on sy-p3-2xlarge-a" || fail "on $(jq -r '.items[0].spec.nodeName' <<<"$p")"
else fail "the tolerating GPU pod was not scheduled"; fi
if p=$(until_true 30 '.items[0].status.conditions // [] | any(.type == "PodScheduled" and .status == "False")' "/api/v1/namespaces/$NS/pods?labelSelector=job-name%3Dgpu-untolerated"); then
  m=$(jq -r '.items[0].status.conditions[] | select(.type == "PodScheduled") | .message' <<<"$p")
  [[ "$m" == *"untolerated taint"* && "$m" == *"Insufficient nvidia.com/gpu"* ]] && ok "untolerating pod: $m" || fail "$m"
else fail "the untolerating GPU pod has no PodScheduled=False"; fi

echo "pod logs come through the API server from kwok"
job logs '{}' '{"sim.switchyard.io/duration":"1h"}'
p=$(until_true 30 '.items[0].status.phase == "Running"' "/api/v1/namespaces/$NS/pods?labelSelector=job-name%3Dlogs") || fail "logs pod not Running"
pod=$(jq -r '.items[0].metadata.name' <<<"$p")
out=$(api GET "/api/v1/namespaces/$NS/pods/$pod/log?container=main")
[[ "$out" == *"simulated container started"* ]] && ok "default log: $(head -1 <<<"$out")" || fail "log: $out"
# A Logs object (kwok CRD) gives one pod its own file; lines appended to it stream to a follower.
f="$SWITCHYARD_KUBE_LOGS_DIR/$NS-$pod.log"
echo "$(date -u +%Y-%m-%dT%H:%M:%S.000000000Z) stdout F first line of $pod" > "$f"
api POST "/apis/kwok.x-k8s.io/v1alpha1/namespaces/$NS/logs" "$(jq -nc --arg n "$pod" --arg f "$f" \
  '{apiVersion: "kwok.x-k8s.io/v1alpha1", kind: "Logs", metadata: {name: $n}, spec: {logs: [{containers: ["main"], logsFile: $f, follow: true}]}}')" >/dev/null
for _ in $(seq 1 40); do out=$(api GET "/api/v1/namespaces/$NS/pods/$pod/log?container=main"); [[ "$out" == *"first line"* ]] && break; sleep 0.25; done
[[ "$out" == *"first line of $pod"* ]] && ok "per-pod Logs file: $out" || fail "per-pod log: $out"
follow="$STATE/run/smoke-follow.out"
curl -sSN --max-time 4 --cacert "$SWITCHYARD_KUBE_CA_FILE" -H "Authorization: Bearer $(cat "$SWITCHYARD_KUBE_TOKEN_FILE")" \
  "$SWITCHYARD_KUBE_SERVER/api/v1/namespaces/$NS/pods/$pod/log?container=main&follow=true" > "$follow" 2>/dev/null &
sleep 1
echo "$(date -u +%Y-%m-%dT%H:%M:%S.000000000Z) stdout F appended while following" >> "$f"
wait || true
grep -q "appended while following" "$follow" && ok "follow=true streams appended lines" || fail "follow: $(cat "$follow")"
rm -f "$f" "$follow"

if [ -n "${SWITCHYARD_KUBE_REAL_NODE:-}" ]; then
  echo "tier B: a Job runs a real container on $SWITCHYARD_KUBE_REAL_NODE"
  real="{\"hostNetwork\":true,\"nodeSelector\":{\"sim.switchyard.io/real\":\"true\"},\"tolerations\":[{\"key\":\"sim.switchyard.io/real\",\"operator\":\"Exists\"}],
    \"containers\":[{\"name\":\"main\",\"image\":\"$SWITCHYARD_KUBE_REAL_IMAGE\",\"imagePullPolicy\":\"Never\",
    \"command\":[\"sh\",\"-c\",\"echo real stdout; echo real stderr >&2; sleep 2; exit 4\"],
    \"resources\":{\"requests\":{\"cpu\":\"100m\",\"memory\":\"32Mi\"},\"limits\":{\"memory\":\"64Mi\"}}}]}"
  job real '{"backoffLimit":0}' '{}' "$real"
  if j=$(until_true 90 '.status.conditions // [] | any(.type == "Failed" and .status == "True")' "/apis/batch/v1/namespaces/$NS/jobs/real"); then
    p=$(pods_of real)
    st=$(jq -c '[.items[0].spec.nodeName, .items[0].status.containerStatuses[0].state.terminated.exitCode, (.items[0].status.containerStatuses[0].containerID | split(":")[0])]' <<<"$p")
    [ "$st" = "[\"$SWITCHYARD_KUBE_REAL_NODE\",4,\"containerd\"]" ] && ok "Failed with the container's own exit code 4: $st" || fail "$st"
    out=$(api GET "/api/v1/namespaces/$NS/pods/$(jq -r '.items[0].metadata.name' <<<"$p")/log")
    [[ "$out" == *"real stdout"* && "$out" == *"real stderr"* ]] && ok "its log through the kubelet: $(tr '\n' '|' <<<"$out")" || fail "log: $out"
  else fail "the real Job did not fail as scripted: $(jq -c .status <<<"$j")"; fi
fi

echo "kube-smoke: $passed passed, $failed failed"
[ "$failed" = 0 ]
