{{/* Names, labels and small computed values shared by the templates. */}}

{{- define "tds-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "tds-operator.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else if contains (include "tds-operator.name" .) .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name (include "tds-operator.name" .) | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{- define "tds-operator.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The labels Kubernetes recommends, on every object of the release. */}}
{{- define "tds-operator.labels" -}}
helm.sh/chart: {{ include "tds-operator.chart" . }}
{{ include "tds-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/component: operator
app.kubernetes.io/part-of: trusted-data-space
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "tds-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "tds-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "tds-operator.serviceAccountName" -}}
{{- default (include "tds-operator.fullname" .) .Values.serviceAccount.name }}
{{- end }}

{{- define "tds-operator.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{- define "tds-operator.webhookServiceName" -}}
{{- printf "%s-webhook" (include "tds-operator.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- /* The Lease whose holder reconciles (TDS_LEADER_LEASE). */ -}}
{{- define "tds-operator.leaderLease" -}}
{{- printf "%s-leader" (include "tds-operator.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "tds-operator.webhookSecretName" -}}
{{- printf "%s-webhook-tls" (include "tds-operator.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Where the operator finds its serving certificate (TDS_WEBHOOK_CERT_DIR). */}}
{{- define "tds-operator.webhookCertDir" -}}
/etc/tds-operator/webhook
{{- end }}

{{/* helm or cert-manager: who makes the webhook's serving certificate. */}}
{{- define "tds-operator.certificateProvider" -}}
{{- $provider := .Values.webhook.certificate.provider }}
{{- if eq $provider "auto" }}
{{- ternary "cert-manager" "helm" (.Capabilities.APIVersions.Has "cert-manager.io/v1") }}
{{- else }}
{{- $provider }}
{{- end }}
{{- end }}

{{/* Whether TrainingJobs queue in Kueue: kueue.enabled true or false, or auto (Kueue's
Workload API served by the cluster at install or upgrade). "true" or "false". */}}
{{- define "tds-operator.kueue" -}}
{{- $enabled := .Values.kueue.enabled | toString }}
{{- if eq $enabled "auto" }}
{{- .Capabilities.APIVersions.Has "kueue.x-k8s.io/v1beta2/Workload" | toString }}
{{- else }}
{{- $enabled }}
{{- end }}
{{- end }}

{{/* The host the API server connects to: the Service's DNS name, or webhook.url's host. */}}
{{- define "tds-operator.webhookHost" -}}
{{- if .Values.webhook.url }}
{{- (urlParse .Values.webhook.url).hostname }}
{{- else }}
{{- printf "%s.%s.svc" (include "tds-operator.webhookServiceName" .) .Release.Namespace }}
{{- end }}
{{- end }}

{{/*
The admission webhooks the operator serves. kopf serves each handler at the path of its id
(operator/tds_operator/webhooks.py); tests/e2e/test_chart.py fails when this list and the
operator's handlers disagree. Adding a webhook is adding an entry here.
*/}}
{{- define "tds-operator.webhooks" -}}
mutating:
  - name: contract-consent
    path: /contract-consent
    resource: {group: tds.io, version: v1alpha1, plural: datacontracts}
    operations: [CREATE, UPDATE]
  - name: contract-proposal
    path: /contract-proposal
    resource: {group: tds.io, version: v1alpha1, plural: contractproposals}
    operations: [CREATE, UPDATE]
  - name: model-release
    path: /model-release
    resource: {group: tds.io, version: v1alpha1, plural: modelreleases}
    operations: [CREATE, UPDATE]
  - name: space-finalizer
    path: /space-finalizer
    resource: {group: tds.io, version: v1alpha1, plural: dataspaces}
    operations: [CREATE]
validating:
  - name: training-admission
    path: /training-admission
    resource: {group: tds.io, version: v1alpha1, plural: trainingjobs}
    operations: [CREATE]
  - name: space-keys
    path: /space-keys
    resource: {group: tds.io, version: v1alpha1, plural: dataspaces}
    operations: [CREATE, UPDATE]
  - name: space-deletion
    path: /space-deletion
    resource: {group: tds.io, version: v1alpha1, plural: dataspaces}
    operations: [DELETE]
{{- end }}

{{/* A label map as the operator reads it from the environment: k=v,k=v (sorted by key). */}}
{{- define "tds-operator.labelList" -}}
{{- $pairs := list }}
{{- range $key, $value := . }}
{{- $pairs = append $pairs (printf "%s=%s" $key $value) }}
{{- end }}
{{- join "," $pairs }}
{{- end }}

{{/* A whole number as written in values (YAML numbers arrive as floats), other values as text. */}}
{{- define "tds-operator.number" -}}
{{- if or (kindIs "float64" .) (kindIs "int64" .) (kindIs "int" .) }}{{ int64 . }}{{ else }}{{ toString . }}{{ end }}
{{- end }}

{{/* A map of DataSpace name to number as comma-separated name=number pairs (the TDS_* form). */}}
{{- define "tds-operator.numberList" -}}
{{- $pairs := list }}
{{- range $key, $value := . }}
{{- $pairs = append $pairs (printf "%s=%s" $key (include "tds-operator.number" $value)) }}
{{- end }}
{{- join "," $pairs }}
{{- end }}

{{/* Labels of the roles spaces bind. */}}
{{- define "tds-operator.spaceRoleLabels" -}}
helm.sh/chart: {{ include "tds-operator.chart" . }}
app.kubernetes.io/name: {{ include "tds-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/component: space-access
app.kubernetes.io/part-of: trusted-data-space
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- /* The environment both containers of a pod share: the hub rules and the operator's settings
(the webhooks judge by the same rules as the reconcilers). */ -}}
{{- define "tds-operator.sharedEnv" -}}
{{- $rules := .Values.hubRules }}
- name: TDS_NAMESPACE
  value: {{ .Release.Namespace }}
- name: TDS_WEBHOOK_MODE
  value: cluster
- name: TDS_SPACE_WORKERS
  value: {{ int64 .Values.throughput.spaceWorkers | quote }}
- name: TDS_API_REQUESTS_IN_FLIGHT
  value: {{ int64 .Values.throughput.apiRequestsInFlight | quote }}
- name: TDS_MAX_CONTRACT_DAYS
  value: {{ int64 $rules.maxContractDays | quote }}
- name: TDS_GPU_NODE_SELECTOR
  value: {{ include "tds-operator.labelList" $rules.gpuNodeSelector | quote }}
- name: TDS_GPU_TOLERATION_KEY
  value: {{ $rules.gpuTolerationKey | quote }}
- name: TDS_MAX_GPU_HOURS_PER_CONTRACT
  value: {{ with $rules.maxGpuHoursPerContract }}{{ toString . | quote }}{{ else }}""{{ end }}
- name: TDS_MAX_CONCURRENT_GPUS_PER_CONTRACT
  value: {{ with $rules.maxConcurrentGpusPerContract }}{{ int64 . | quote }}{{ else }}""{{ end }}
- name: TDS_SUSPENDED_SPACES
  value: {{ join "," $rules.suspendedSpaces | quote }}
- name: TDS_SCRATCH_SIZE_LIMIT
  value: {{ $rules.scratchSizeLimit | quote }}
- name: TDS_OUTPUT_MAX_SIZE
  value: {{ $rules.outputMaxSize | quote }}
- name: TDS_OUTPUT_STORAGE_CLASS
  value: {{ $rules.outputStorageClass | quote }}
- name: TDS_OPERATOR_IMAGE
  value: {{ include "tds-operator.image" . | quote }}
- name: TDS_OUTPUT_RETENTION
  value: {{ $rules.outputRetention | quote }}
- name: TDS_GATEWAY_FILE_SERVER_IMAGE
  value: {{ $rules.gatewayFileServerImage | default (include "tds-operator.image" .) | quote }}
- name: TDS_GATEWAY_PROXY_IMAGE
  value: {{ $rules.gatewayProxyImage | quote }}
- name: TDS_SIMULATION_HUB
  value: {{ $rules.simulationHub | toString | quote }}
- name: TDS_POD_CIDRS
  value: {{ join "," ($rules.podCidrs | default list) | quote }}
- name: TDS_SERVICE_CIDRS
  value: {{ join "," ($rules.serviceCidrs | default list) | quote }}
- name: TDS_API_SERVER_CIDRS
  value: {{ join "," ($rules.apiServerCidrs | default list) | quote }}
- name: TDS_ALLOW_ANY_EGRESS_DESTINATION
  value: {{ $rules.allowAnyEgressDestination | default false | quote }}
- name: TDS_REQUIRE_SIGNED_CONSENT
  value: {{ $rules.requireSignedConsent | default false | quote }}
- name: TDS_FAIR_SHARING_WEIGHT
  value: {{ int64 $rules.fairSharingWeight | quote }}
- name: TDS_FAIR_SHARING_WEIGHTS
  value: {{ include "tds-operator.numberList" $rules.fairSharingWeights | quote }}
- name: TDS_GPU_BORROWING_LIMIT
  value: {{ if kindIs "invalid" $rules.gpuBorrowingLimit }}""{{ else }}{{ include "tds-operator.number" $rules.gpuBorrowingLimit | quote }}{{ end }}
- name: TDS_GPU_BORROWING_LIMITS
  value: {{ include "tds-operator.numberList" $rules.gpuBorrowingLimits | quote }}
- name: TDS_KUEUE
  value: {{ ternary "on" "off" (eq (include "tds-operator.kueue" .) "true") | quote }}
- name: PYTHONUNBUFFERED
  value: "1"
{{- with .Values.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{- /* The securityContext of both containers. */ -}}
{{- define "tds-operator.containerSecurityContext" -}}
runAsNonRoot: true
runAsUser: 65532
runAsGroup: 65532
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
privileged: false
capabilities:
  drop: [ALL]
seccompProfile:
  type: RuntimeDefault
{{- end }}
