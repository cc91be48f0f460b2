# Sourced by testbed/up: prints the simulated nodes as YAML. kwok plays every node annotated
# kwok.x-k8s.io/node=fake; capacity is that of a modest real worker.
testbed_nodes_yaml() {
  local count=$1 i
  for ((i = 0; i < count; i++)); do
    cat <<NODE
---
apiVersion: v1
kind: Node
metadata:
  name: kwok-node-$i
  annotations:
    kwok.x-k8s.io/node: fake
    node.alpha.kubernetes.io/ttl: "0"
  labels:
    kubernetes.io/arch: amd64
    kubernetes.io/hostname: kwok-node-$i
    kubernetes.io/os: linux
    kubernetes.io/role: agent
    node-role.kubernetes.io/agent: ""
    type: kwok
status:
  capacity:
    cpu: "16"
    memory: 64Gi
    pods: "110"
    ephemeral-storage: 200Gi
NODE
  done
}
