#!/usr/bin/env bash
# Prints the hub's output storage: the StorageClass tds-output (no provisioner, Immediate binding)
# and a pool of HUB_OUTPUT_VOLUMES pre-created PersistentVolumes of HUB_OUTPUT_VOLUME_SIZE in it,
# which the controller-manager's PV binder binds to TrainingJobs' output claims (and rebinds when
# an output is released). Pods are simulated, so nothing ever writes to their host paths.
set -euo pipefail
count=${HUB_OUTPUT_VOLUMES:-40}
size=${HUB_OUTPUT_VOLUME_SIZE:-10Gi}
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
  name: hub-output-$index
  labels:
    hub.tds.io/pool: output
spec:
  storageClassName: $class
  capacity: {storage: $size}
  accessModes: [ReadWriteOnce]
  persistentVolumeReclaimPolicy: Retain
  hostPath: {path: /var/lib/tds-hub/outputs/$index, type: DirectoryOrCreate}
YAML
done
