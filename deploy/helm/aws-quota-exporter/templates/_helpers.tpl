{{/*
Names, labels and the pod template shared by the Deployment (one shard) and the
StatefulSet (several shards).
*/}}

{{/* The chart's name, or nameOverride. */}}
{{- define "aws-quota-exporter.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The release's objects' name: the release name when it already contains the chart's
name, else "<release>-<name>"; at most 63 characters (a DNS label).
*/}}
{{- define "aws-quota-exporter.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* The headless Service that governs the StatefulSet (several shards only). */}}
{{- define "aws-quota-exporter.headlessName" -}}
{{- printf "%s-headless" (include "aws-quota-exporter.fullname" . | trunc 54 | trimSuffix "-") }}
{{- end }}

{{- define "aws-quota-exporter.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels every object carries. */}}
{{- define "aws-quota-exporter.labels" -}}
helm.sh/chart: {{ include "aws-quota-exporter.chart" . }}
{{ include "aws-quota-exporter.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | trunc 63 | quote }}
app.kubernetes.io/component: exporter
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* The labels that select the pods: never change them on an installed release. */}}
{{- define "aws-quota-exporter.selectorLabels" -}}
app.kubernetes.io/name: {{ include "aws-quota-exporter.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "aws-quota-exporter.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "aws-quota-exporter.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "aws-quota-exporter.image" -}}
{{- $tag := .Values.image.tag | default .Chart.AppVersion }}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository $tag }}
{{- end }}
{{- end }}

{{/*
Whether the increase receiver keeps its ledger in SQLite on a volume: the receiver is
on and QUOTA_EXPORTER_INCREASE_LEDGER is not dynamodb (the shared table needs no disk).
*/}}
{{- define "aws-quota-exporter.sqliteLedger" -}}
{{- if and .Values.receiver.enabled (ne (toString (index .Values.config "QUOTA_EXPORTER_INCREASE_LEDGER" | default "sqlite")) "dynamodb") }}true{{ end }}
{{- end }}

{{/*
Refuses values that would make a pod the exporter refuses, or one that silently does
the wrong thing; each message names the value to change.
*/}}
{{- define "aws-quota-exporter.validate" -}}
{{- $shards := int .Values.shards }}
{{- if lt $shards 1 }}
{{- fail (printf "shards=%d: expected 1 or more" $shards) }}
{{- end }}
{{- $reserved := list "QUOTA_EXPORTER_SHARD" "QUOTA_EXPORTER_INCREASE_RECEIVER" "QUOTA_EXPORTER_INCREASE_LEDGER_PATH" }}
{{- range $name := $reserved }}
{{- if hasKey $.Values.config $name }}
{{- fail (printf "config.%s is set by the chart (from shards and receiver.enabled): remove it from config" $name) }}
{{- end }}
{{- end }}
{{- with index .Values.config "QUOTA_EXPORTER_LISTEN_ADDRESS" }}
{{- if not (hasSuffix ":9767" (toString .)) }}
{{- fail (printf "config.QUOTA_EXPORTER_LISTEN_ADDRESS=%s: the container port, the probes and the Services use 9767; expected an address on port 9767, e.g. [::]:9767" (toString .)) }}
{{- end }}
{{- end }}
{{- if .Values.receiver.enabled }}
{{- $credentials := list "QUOTA_EXPORTER_INCREASE_TOKEN" "QUOTA_EXPORTER_INCREASE_TOKEN_FILE" "QUOTA_EXPORTER_INCREASE_USERNAME" }}
{{- $given := .Values.receiver.tokenSecret.name }}
{{- range $name := $credentials }}
{{- if hasKey $.Values.config $name }}{{ $given = true }}{{ end }}
{{- range $.Values.extraEnv }}{{ if eq .name $name }}{{ $given = true }}{{ end }}{{ end }}
{{- end }}
{{- if not $given }}
{{- fail "receiver.enabled=true needs the credentials Alertmanager sends: set receiver.tokenSecret.name (and .key) to a Secret holding the bearer token" }}
{{- end }}
{{- if and .Values.receiver.tokenSecret.name (hasKey .Values.config "QUOTA_EXPORTER_INCREASE_TOKEN") }}
{{- fail "receiver.tokenSecret and config.QUOTA_EXPORTER_INCREASE_TOKEN are both set: keep one" }}
{{- end }}
{{- if and (include "aws-quota-exporter.sqliteLedger" .) .Values.receiver.persistence.enabled .Values.receiver.persistence.existingClaim (gt $shards 1) }}
{{- fail "receiver.persistence.existingClaim is for one shard: with shards > 1 each pod gets its own claim from the StatefulSet" }}
{{- end }}
{{- end }}
{{- end }}

{{/* The pod template of either workload. */}}
{{- define "aws-quota-exporter.podTemplate" -}}
{{- $shards := int .Values.shards -}}
metadata:
  labels:
    {{- include "aws-quota-exporter.selectorLabels" . | nindent 4 }}
    {{- with .Values.podLabels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  {{- with .Values.podAnnotations }}
  annotations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
spec:
  serviceAccountName: {{ include "aws-quota-exporter.serviceAccountName" . }}
  # The exporter never talks to the Kubernetes API. IRSA and EKS Pod Identity mount
  # their own token, so the API token is left out.
  automountServiceAccountToken: false
  {{- with .Values.imagePullSecrets }}
  imagePullSecrets:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.priorityClassName }}
  priorityClassName: {{ . }}
  {{- end }}
  securityContext:
    {{- toYaml .Values.podSecurityContext | nindent 4 }}
  terminationGracePeriodSeconds: {{ .Values.terminationGracePeriodSeconds }}
  {{- with .Values.initContainers }}
  initContainers:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  containers:
    - name: exporter
      image: {{ include "aws-quota-exporter.image" . | quote }}
      imagePullPolicy: {{ .Values.image.pullPolicy }}
      {{- with .Values.args }}
      args:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      ports:
        - name: http-metrics
          containerPort: 9767
          protocol: TCP
      env:
        {{- if gt $shards 1 }}
        # Defined before QUOTA_EXPORTER_SHARD, which refers to it.
        - name: POD_NAME
          valueFrom:
            fieldRef:
              fieldPath: metadata.name
        # This pod's ordinal (the pod name's -N suffix) out of the StatefulSet's replicas.
        - name: QUOTA_EXPORTER_SHARD
          value: {{ printf "$(POD_NAME)/%d" $shards | quote }}
        {{- end }}
        {{- range $name, $value := .Values.config }}
        - name: {{ $name }}
          {{- /* Helm reads a YAML number as a float: 1000000 would print as 1e+06. */}}
          {{- if and (eq (kindOf $value) "float64") (eq $value (floor $value)) }}
          value: {{ int64 $value | toString | quote }}
          {{- else }}
          value: {{ toString $value | quote }}
          {{- end }}
        {{- end }}
        {{- if .Values.receiver.enabled }}
        - name: QUOTA_EXPORTER_INCREASE_RECEIVER
          value: "true"
        {{- if include "aws-quota-exporter.sqliteLedger" . }}
        - name: QUOTA_EXPORTER_INCREASE_LEDGER_PATH
          value: /var/lib/aws-quota-exporter/increase-requests.db
        {{- end }}
        {{- with .Values.receiver.tokenSecret.name }}
        - name: QUOTA_EXPORTER_INCREASE_TOKEN
          valueFrom:
            secretKeyRef:
              name: {{ . }}
              key: {{ $.Values.receiver.tokenSecret.key }}
        {{- end }}
        {{- end }}
        {{- if .Values.alertOverrides }}
        - name: QUOTA_EXPORTER_ALERT_OVERRIDES
          value: /etc/aws-quota-exporter/alert-overrides/overrides.yaml
        {{- end }}
        {{- with .Values.extraEnv }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      {{- with .Values.extraEnvFrom }}
      envFrom:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      livenessProbe:
        httpGet:
          path: /-/healthy
          port: http-metrics
        {{- toYaml .Values.livenessProbe | nindent 8 }}
      readinessProbe:
        httpGet:
          path: /-/ready
          port: http-metrics
        {{- toYaml .Values.readinessProbe | nindent 8 }}
      resources:
        {{- toYaml .Values.resources | nindent 8 }}
      securityContext:
        {{- toYaml .Values.securityContext | nindent 8 }}
      {{- if or (include "aws-quota-exporter.sqliteLedger" .) .Values.alertOverrides .Values.extraVolumeMounts }}
      volumeMounts:
        {{- if include "aws-quota-exporter.sqliteLedger" . }}
        - name: ledger
          mountPath: /var/lib/aws-quota-exporter
        {{- end }}
        {{- if .Values.alertOverrides }}
        # A directory mount (not subPath), so that the kubelet's updates of the
        # ConfigMap reach the file and the exporter reads it again without a restart.
        - name: alert-overrides
          mountPath: /etc/aws-quota-exporter/alert-overrides
          readOnly: true
        {{- end }}
        {{- with .Values.extraVolumeMounts }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      {{- end }}
  {{- $emptyDirLedger := and (include "aws-quota-exporter.sqliteLedger" .) (not .Values.receiver.persistence.enabled) }}
  {{- $claimLedger := and (include "aws-quota-exporter.sqliteLedger" .) .Values.receiver.persistence.enabled (eq $shards 1) }}
  {{- if or $emptyDirLedger $claimLedger .Values.alertOverrides .Values.extraVolumes }}
  volumes:
    {{- if .Values.alertOverrides }}
    - name: alert-overrides
      configMap:
        name: {{ include "aws-quota-exporter.fullname" . }}-alert-overrides
    {{- end }}
    {{- if $emptyDirLedger }}
    # The ledger lasts as long as the pod: receiver.persistence.enabled keeps it
    # (cooldowns, the daily maximum, requests awaiting approval) across reschedules.
    - name: ledger
      emptyDir:
        sizeLimit: {{ .Values.receiver.persistence.size }}
    {{- else if $claimLedger }}
    - name: ledger
      persistentVolumeClaim:
        claimName: {{ .Values.receiver.persistence.existingClaim | default (printf "%s-ledger" (include "aws-quota-exporter.fullname" .)) }}
    {{- end }}
    {{- with .Values.extraVolumes }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  {{- end }}
  {{- with .Values.nodeSelector }}
  nodeSelector:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.affinity }}
  affinity:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.topologySpreadConstraints }}
  topologySpreadConstraints:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.tolerations }}
  tolerations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end }}
