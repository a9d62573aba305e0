#!/usr/bin/env bash
# Prints the simulated nodes of the hub: HUB_CPU_NODES CPU nodes and HUB_GPU_NODES GPU nodes with
# HUB_GPUS_PER_NODE nvidia.com/gpu each, labelled and tainted as a GPU pool.
set -euo pipefail
cpu_nodes=${HUB_CPU_NODES:-2}
gpu_nodes=${HUB_GPU_NODES:-2}
gpus_per_node=${HUB_GPUS_PER_NODE:-8}
gpu_product=${HUB_GPU_PRODUCT:-NVIDIA-H100-80GB-HBM3}

node() { # name pool gpus
  local name=$1 pool=$2 gpus=$3
  cat <<YAML
---
apiVersion: v1
kind: Node
metadata:
  name: $name
  annotations:
    kwok.x-k8s.io/node: fake
  labels:
    kubernetes.io/hostname: $name
    kubernetes.io/os: linux
    kubernetes.io/arch: amd64
    type: kwok
    hub.tds.io/pool: $pool
YAML
  if [ "$gpus" -gt 0 ]; then
    cat <<YAML
    nvidia.com/gpu.present: "true"
    nvidia.com/gpu.product: $gpu_product
    nvidia.com/gpu.count: "$gpus"
YAML
  fi
  cat <<YAML
spec:
  providerID: kwok://$name
YAML
  local resources="cpu: \"64\", memory: 512Gi, pods: \"110\""
  if [ "$gpus" -gt 0 ]; then
    # Only GPU workloads, which tolerate this taint, land on the GPU pool.
    echo "  taints: [{key: nvidia.com/gpu, value: present, effect: NoSchedule}]"
    resources+=", nvidia.com/gpu: \"$gpus\""
  fi
  cat <<YAML
status:
  capacity: {$resources}
  allocatable: {$resources}
YAML
}

for i in $(seq 1 "$cpu_nodes"); do node "hub-cpu-$i" cpu 0; done
for i in $(seq 1 "$gpu_nodes"); do node "hub-gpu-$i" gpu "$gpus_per_node"; done
