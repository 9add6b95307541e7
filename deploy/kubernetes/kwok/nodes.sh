# The simulated nodes, one Node object (JSON) per line, sourced by kube-up.sh.
# Capacities are the EC2 instance types they are named after; allocatable is
# what EKS leaves for pods after the kubelet's and the system's reservations, so
# a pod asking for a whole m5.large (2 cpu) does not fit, as on a real cluster.
# The GPU node carries the taint GPU node groups usually have: only pods that
# tolerate nvidia.com/gpu land there.

# node NAME INSTANCE-TYPE ZONE CPU MEMORY CPU-ALLOCATABLE MEMORY-ALLOCATABLE PODS [GPUS [TAINT-JSON]]
node() {
  local name=$1 type=$2 zone=$3 cpu=$4 mem=$5 acpu=$6 amem=$7 pods=$8 gpus=${9:-0} taints=${10:-}
  local gpu_cap='' spec='{}'
  [ "$gpus" -gt 0 ] && gpu_cap=",\"nvidia.com/gpu\":\"$gpus\""
  [ -n "$taints" ] && spec="{\"taints\":$taints}"
  printf '%s\n' "{\"apiVersion\":\"v1\",\"kind\":\"Node\",\"metadata\":{\"name\":\"$name\",\
\"annotations\":{\"kwok.x-k8s.io/node\":\"fake\",\"node.alpha.kubernetes.io/ttl\":\"0\"},\
\"labels\":{\"kubernetes.io/hostname\":\"$name\",\"kubernetes.io/os\":\"linux\",\"kubernetes.io/arch\":\"amd64\",\
\"node.kubernetes.io/instance-type\":\"$type\",\"topology.kubernetes.io/region\":\"sim-1\",\"topology.kubernetes.io/zone\":\"$zone\",\
\"type\":\"kwok\",\"sim.switchyard.io/simulated\":\"true\"}},\
\"spec\":$spec,\
\"status\":{\"capacity\":{\"cpu\":\"$cpu\",\"memory\":\"$mem\",\"pods\":\"$pods\",\"ephemeral-storage\":\"80Gi\"$gpu_cap},\
\"allocatable\":{\"cpu\":\"$acpu\",\"memory\":\"$amem\",\"pods\":\"$pods\",\"ephemeral-storage\":\"72Gi\"$gpu_cap},\
\"addresses\":[{\"type\":\"InternalIP\",\"address\":\"127.0.0.1\"},{\"type\":\"Hostname\",\"address\":\"$name\"}]}}"
}

kube_nodes() {
  node sy-m5-large-a   m5.large   sim-1a 2  8Gi  1930m 7134Mi  29
  node sy-m5-large-b   m5.large   sim-1b 2  8Gi  1930m 7134Mi  29
  node sy-m5-2xlarge-a m5.2xlarge sim-1a 8  32Gi 7910m 30065Mi 58
  node sy-p3-2xlarge-a p3.2xlarge sim-1a 8  61Gi 7910m 58760Mi 58 1 \
    '[{"key":"nvidia.com/gpu","value":"present","effect":"NoSchedule"}]'
}
