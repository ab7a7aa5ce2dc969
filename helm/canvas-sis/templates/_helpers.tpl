{{/*
Names, labels and the one pod template every mode shares. The pod is the same in all modes; only
its arguments, restart policy and probes differ (and, in folder mode, the AWS settings it lacks
and the volume it watches), so a change here reaches every mode at once.
*/}}

{{- define "canvas-sis.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "canvas-sis.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else if contains (include "canvas-sis.name" .) .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name (include "canvas-sis.name" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "canvas-sis.selectorLabels" -}}
app.kubernetes.io/name: {{ include "canvas-sis.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "canvas-sis.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{ include "canvas-sis.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{/* The image's tag: image.tag, or the chart's appVersion (the release this chart was made for). */}}
{{- define "canvas-sis.imageTag" -}}
{{- default .Chart.AppVersion .Values.image.tag -}}
{{- end -}}

{{/* The OTLP collector's port, from otel.endpoint (its scheme's port when it names none); empty without a collector. */}}
{{- define "canvas-sis.otlpPort" -}}
{{- with .Values.otel.endpoint -}}
{{- $u := urlParse . -}}
{{- $host := get $u "host" -}}
{{- if contains ":" $host -}}
{{- last (splitList ":" $host) -}}
{{- else if eq (get $u "scheme") "https" -}}
443
{{- else -}}
80
{{- end -}}
{{- end -}}
{{- end -}}

{{/*
Whether the pods reach the EKS Pod Identity agent: networkPolicy.podIdentityAgent, or with "auto"
when no IRSA role is set — except in folder mode, where the chart sets up no AWS (true still opens it).
*/}}
{{- define "canvas-sis.podIdentityAgent" -}}
{{- $want := .Values.networkPolicy.podIdentityAgent -}}
{{- if or (eq (toString $want) "true") (and (eq (toString $want) "auto") (not .Values.serviceAccount.roleArn) (ne .Values.mode "folder")) -}}true{{- end -}}
{{- end -}}

{{- define "canvas-sis.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "canvas-sis.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* Whether the HTTP listener (/healthz, /readyz, /metrics, the status page) is on: always in deployment and folder modes (the probes need it). */}}
{{- define "canvas-sis.listen" -}}
{{- if or (has .Values.mode (list "deployment" "folder")) .Values.listen.enabled -}}true{{- end -}}
{{- end -}}

{{/* Folder mode's volume: folder.persistence.existingClaim, or the claim the chart creates (pvc.yaml). */}}
{{- define "canvas-sis.claimName" -}}
{{- default (printf "%s-data" (include "canvas-sis.fullname" .)) .Values.folder.persistence.existingClaim -}}
{{- end -}}

{{/* The worker's environment (docs/cloud-worker.md, docs/configuration.md). Secrets are files or Secret references, never values. */}}
{{- define "canvas-sis.env" -}}
{{- /* Folder mode (watch) has no queue, no S3 ledger and no AWS: it keeps everything, its work
folder included, under folder.path. */}}
{{- $cloud := ne .Values.mode "folder" }}
{{- if $cloud }}
- name: SIS_QUEUE_URL
  value: {{ required "sis.queueUrl is required" .Values.sis.queueUrl | quote }}
- name: SIS_STATE_URL
  value: {{ required "sis.stateUrl is required" .Values.sis.stateUrl | quote }}
{{- with .Values.sis.buckets }}
- name: SIS_BUCKET
  value: {{ join "," . | quote }}
{{- end }}
{{- end }}
{{- with .Values.canvas.baseUrl }}
- name: CANVAS_BASE_URL
  value: {{ . | quote }}
{{- end }}
- name: CANVAS_ACCOUNT_ID
  value: {{ .Values.canvas.accountId | quote }}
- name: CANVAS_TOKEN_FILE
  value: {{ printf "/run/secrets/canvas/%s" .Values.token.key | quote }}
{{- if .Values.config.toml }}
- name: CANVAS_SIS_CONFIG
  value: "/etc/canvas-sis/canvas-sis.toml"
{{- end }}
{{- if $cloud }}
- name: SIS_WORK_DIR
  value: "/work"
{{- end }}
{{- if has .Values.mode (list "cronjob" "deployment") }}
{{- /* Not in keda mode: each KEDA Job takes one message at a time and KEDA scales the Jobs. */}}
- name: SIS_PARALLEL
  value: {{ int .Values.parallel | toString | quote }}
{{- end }}
- name: CANVAS_SIS_LOG_FORMAT
  value: {{ .Values.logFormat | quote }}
{{- if $cloud }}
{{- with .Values.aws.region }}
- name: AWS_REGION
  value: {{ . | quote }}
{{- end }}
{{- end }}
{{- if include "canvas-sis.listen" . }}
- name: SIS_LISTEN_ADDR
  value: {{ printf "0.0.0.0:%d" (int .Values.listen.port) | quote }}
{{- end }}
{{- if .Values.otel.endpoint }}
- name: OTEL_EXPORTER_OTLP_ENDPOINT
  value: {{ .Values.otel.endpoint | quote }}
- name: OTEL_EXPORTER_OTLP_PROTOCOL
  value: {{ .Values.otel.protocol | quote }}
- name: OTEL_SERVICE_NAME
  value: {{ .Values.otel.serviceName | quote }}
{{- with .Values.otel.resourceAttributes }}
- name: OTEL_RESOURCE_ATTRIBUTES
  value: {{ . | quote }}
{{- end }}
{{- end }}
{{- $n := .Values.notify }}
{{- if .Values.config.toml }}
{{- if or $n.webhookFormat $n.snsTopicArn $n.onSuccessWithWarnings }}
{{- fail "notify.webhookFormat, notify.snsTopicArn and notify.onSuccessWithWarnings are the no-config tenant's (SIS_NOTIFY_*): with config.toml write them in its [defaults.notify] table" }}
{{- end }}
{{- else }}
{{- if and $n.webhookUrl.existingSecret (ne $n.webhookUrl.env "SIS_NOTIFY_WEBHOOK_URL") }}
{{- fail "without config.toml the worker reads the webhook URL from SIS_NOTIFY_WEBHOOK_URL: set notify.webhookUrl.env to it" }}
{{- end }}
{{- if and (or $n.webhookFormat $n.onSuccessWithWarnings) (not (or $n.webhookUrl.existingSecret $n.snsTopicArn)) }}
{{- fail "notify.webhookFormat / notify.onSuccessWithWarnings need a destination: notify.webhookUrl.existingSecret or notify.snsTopicArn" }}
{{- end }}
{{- end }}
{{- if $n.webhookUrl.existingSecret }}
- name: {{ $n.webhookUrl.env }}
  valueFrom:
    secretKeyRef:
      name: {{ $n.webhookUrl.existingSecret }}
      key: {{ $n.webhookUrl.key | quote }}
{{- end }}
{{- with $n.webhookFormat }}
- name: SIS_NOTIFY_WEBHOOK_FORMAT
  value: {{ . | quote }}
{{- end }}
{{- with $n.snsTopicArn }}
- name: SIS_NOTIFY_SNS_TOPIC_ARN
  value: {{ . | quote }}
{{- end }}
{{- if $n.onSuccessWithWarnings }}
- name: SIS_NOTIFY_ON_SUCCESS_WITH_WARNINGS
  value: "true"
{{- end }}
{{- with .Values.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Checkov skips every workload carries (its metadata annotations). */}}
{{- define "canvas-sis.checkovSkips" -}}
checkov.io/skip1: CKV_K8S_43=Pinned by tag; pin a digest through image.tag (tag@sha256:...) once the registry has one
{{- if .Values.notify.webhookUrl.existingSecret }}
checkov.io/skip2: CKV_K8S_35=The worker reads a webhook URL only from a variable (url_env, SIS_NOTIFY_WEBHOOK_URL), here set from a Secret key
{{- end }}
{{- end -}}

{{/*
The pod spec. Arguments: root (the chart context), args (the container's arguments),
restartPolicy, probes (true in deployment and folder modes).
*/}}
{{- define "canvas-sis.podSpec" -}}
{{- $root := .root -}}
{{- $v := $root.Values -}}
serviceAccountName: {{ include "canvas-sis.serviceAccountName" $root }}
automountServiceAccountToken: false
restartPolicy: {{ .restartPolicy }}
{{- with $v.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
securityContext:
  {{- toYaml $v.podSecurityContext | nindent 2 }}
{{- if .probes }}
terminationGracePeriodSeconds: {{ $v.deployment.terminationGracePeriodSeconds }}
{{- end }}
containers:
  - name: canvas-sis
    image: {{ printf "%s:%s" $v.image.repository (include "canvas-sis.imageTag" $root) | quote }}
    imagePullPolicy: {{ $v.image.pullPolicy }}
    args:
      {{- toYaml .args | nindent 6 }}
    env:
      {{- include "canvas-sis.env" $root | trim | nindent 6 }}
    {{- if include "canvas-sis.listen" $root }}
    ports:
      - name: http
        containerPort: {{ $v.listen.port }}
        protocol: TCP
    {{- end }}
    {{- if .probes }}
    startupProbe:
      httpGet:
        path: /healthz
        port: http
      periodSeconds: 2
      failureThreshold: 30
    livenessProbe:
      httpGet:
        path: /healthz
        port: http
      periodSeconds: 20
      timeoutSeconds: 3
      failureThreshold: 3
    readinessProbe:
      httpGet:
        path: /readyz
        port: http
      periodSeconds: 10
      timeoutSeconds: 3
      failureThreshold: 3
    {{- end }}
    resources:
      {{- toYaml $v.resources | nindent 6 }}
    securityContext:
      {{- toYaml $v.securityContext | nindent 6 }}
    volumeMounts:
      {{- if eq $v.mode "folder" }}
      - name: data
        mountPath: {{ $v.folder.path }}
      {{- else }}
      - name: work
        mountPath: /work
      {{- end }}
      - name: tmp
        mountPath: /tmp
      - name: canvas-token
        mountPath: /run/secrets/canvas
        readOnly: true
      {{- if $v.config.toml }}
      - name: config
        mountPath: /etc/canvas-sis
        readOnly: true
      {{- end }}
volumes:
  {{- if eq $v.mode "folder" }}
  # inbox/, processing/, archive/, failed/, ledger/, work/ and logs/ of `watch`.
  - name: data
    persistentVolumeClaim:
      claimName: {{ include "canvas-sis.claimName" $root }}
  {{- else }}
  - name: work
    emptyDir:
      sizeLimit: {{ $v.workDir.sizeLimit }}
      {{- with $v.workDir.medium }}
      medium: {{ . }}
      {{- end }}
  {{- end }}
  - name: tmp
    emptyDir:
      sizeLimit: 256Mi
  - name: canvas-token
    secret:
      secretName: {{ $v.token.existingSecret }}
      defaultMode: 0440
  {{- if $v.config.toml }}
  - name: config
    configMap:
      name: {{ include "canvas-sis.fullname" $root }}
  {{- end }}
{{- with $v.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $v.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $v.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/* Pod metadata: labels, the config's checksum (a changed config rolls the pods), annotations. */}}
{{- define "canvas-sis.podMetadata" -}}
labels:
  {{- include "canvas-sis.labels" . | nindent 2 }}
  app.kubernetes.io/component: worker
  {{- with .Values.podLabels }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
annotations:
  checksum/config: {{ .Values.config.toml | sha256sum }}
  {{- with .Values.podAnnotations }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
{{- end -}}
