#!/usr/bin/env bash
# Prints the hub's output storage: the StorageClass tds-output (no provisioner, Immediate binding)
# and a pool of HUB_OUTPUT_VOLUMES pre-created PersistentVolumes of HUB_OUTPUT_VOLUME_SIZE in it,
# which the controller-manager's PV binder binds to TrainingJobs' output claims (and rebinds when
# an output is released). Pods are simulated, so nothing but a test writes to their host paths,
# under HUB_OUTPUT_ROOT in /tmp: there the controller-manager's hostPath deleter erases a volume
# whose reclaim policy is Delete once its claim is gone (it erases nothing outside /tmp).
set -euo pipefail
count=${HUB_OUTPUT_VOLUMES:-64}
size=${HUB_OUTPUT_VOLUME_SIZE:-10Gi}
root=${HUB_OUTPUT_ROOT:-/tmp/tds-hub-outputs}
class=${HUB_OUTPUT_STORAGE_CLASS:-tds-output}

cat <<YAML
---
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata:
  name: $class
provisioner: kubernetes.io/no-provisioner
volumeBindingMode: Immediate
reclaimPolicy: Retain
YAML
for index in $(seq 1 "$count"); do
  cat <<YAML
---
apiVersion: v1
kind: PersistentVolume
metadata:
  name: hub-out-$index
  labels:
    hub.tds.io/pool: output
spec:
  storageClassName: $class
  capacity: {storage: $size}
  accessModes: [ReadWriteOnce]
  persistentVolumeReclaimPolicy: Retain
  hostPath: {path: $root/$index, type: DirectoryOrCreate}
YAML
done
