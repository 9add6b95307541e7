{{/* The chart's name, or nameOverride. */}}
{{- define "switchyard.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The release-qualified name every resource starts with. */}}
{{- define "switchyard.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "switchyard.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Labels on every resource. */}}
{{- define "switchyard.labels" -}}
helm.sh/chart: {{ include "switchyard.chart" . }}
{{ include "switchyard.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: switchyard
{{- end -}}

{{/* Selector labels (immutable on a Deployment: never add to these). */}}
{{- define "switchyard.selectorLabels" -}}
app.kubernetes.io/name: {{ include "switchyard.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* image repository:tag, the tag defaulting to the chart's appVersion. */}}
{{- define "switchyard.image" -}}
{{- printf "%s:%s" .Values.image.repository (toString (default .Chart.AppVersion .Values.image.tag)) -}}
{{- end -}}

{{/* The Secret that holds the admin token (key "admin-token"). */}}
{{- define "switchyard.adminSecretName" -}}
{{- default (include "switchyard.fullname" .) .Values.existingSecret -}}
{{- end -}}

{{/*
The fullname a subchart gives its resources, by the same rule as its own
helpers (fullnameOverride, else release name, suffixed with the chart name
unless the release name already contains it).
Call with (dict "root" $ "chart" "nats" "values" .Values.nats).
*/}}
{{- define "switchyard.subchartFullname" -}}
{{- $values := .values | default dict -}}
{{- if get $values "fullnameOverride" -}}
{{- get $values "fullnameOverride" | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .chart (get $values "nameOverride") -}}
{{- if contains $name .root.Release.Name -}}
{{- .root.Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .root.Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/*
NATS_URL: every server of the subchart's cluster by its stable name behind the
headless service (<fullname>-<i>.<fullname>-headless), so a client that loses
its server fails over to a seed it knows; the client service for a single
server; or externalNats.url (seed URLs separated by commas).
*/}}
{{- define "switchyard.natsUrl" -}}
{{- if .Values.nats.enabled -}}
{{- $fullname := include "switchyard.subchartFullname" (dict "root" . "chart" "nats" "values" .Values.nats) -}}
{{- $cluster := .Values.nats.config.cluster -}}
{{- if $cluster.enabled -}}
{{- $seeds := list -}}
{{- range $i := until (int $cluster.replicas) -}}
{{- $seeds = append $seeds (printf "nats://%s-%d.%s-headless:4222" $fullname $i $fullname) -}}
{{- end -}}
{{- join "," $seeds -}}
{{- else -}}
{{- printf "nats://%s:4222" $fullname -}}
{{- end -}}
{{- else -}}
{{- required "externalNats.url is required when nats.enabled is false" .Values.externalNats.url -}}
{{- end -}}
{{- end -}}

{{/*
SWITCHYARD_NATS_REPLICAS: natsReplicas, else the subchart's cluster size when it
runs clustered (JetStream takes at most 5), else externalNats.replicas.
*/}}
{{- define "switchyard.natsReplicas" -}}
{{- if .Values.natsReplicas -}}
{{- .Values.natsReplicas -}}
{{- else if and .Values.nats.enabled .Values.nats.config.cluster.enabled -}}
{{- min 5 (int .Values.nats.config.cluster.replicas) -}}
{{- else if .Values.nats.enabled -}}
1
{{- else -}}
{{- default 1 .Values.externalNats.replicas -}}
{{- end -}}
{{- end -}}

{{/* True (non-empty) when the chart's own Secret must carry redis-url. */}}
{{- define "switchyard.redisUrlInSecret" -}}
{{- if and (not .Values.redis.enabled) (not .Values.externalRedis.existingSecret) -}}true{{- end -}}
{{- end -}}

{{/*
The env entries that set REDIS_URL. With the Bitnami subchart and auth on,
the password comes from its Secret and Kubernetes substitutes $(REDIS_PASSWORD)
into the URL (its generated passwords are alphanumeric, safe in a URL).
*/}}
{{- define "switchyard.redisEnv" -}}
{{- if .Values.redis.enabled -}}
{{- $fullname := include "switchyard.subchartFullname" (dict "root" . "chart" "redis" "values" .Values.redis) -}}
{{- $auth := get .Values.redis "auth" | default dict -}}
{{- if get $auth "enabled" }}
- name: REDIS_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ default $fullname (get $auth "existingSecret") | quote }}
      key: {{ default "redis-password" (get $auth "existingSecretPasswordKey") | quote }}
- name: REDIS_URL
  value: {{ printf "redis://:$(REDIS_PASSWORD)@%s-master:6379" $fullname | quote }}
{{- else }}
- name: REDIS_URL
  value: {{ printf "redis://%s-master:6379" $fullname | quote }}
{{- end }}
{{- else if .Values.externalRedis.existingSecret }}
- name: REDIS_URL
  valueFrom:
    secretKeyRef:
      name: {{ .Values.externalRedis.existingSecret | quote }}
      key: {{ default "redis-url" .Values.externalRedis.existingSecretKey | quote }}
{{- else }}
- name: REDIS_URL
  valueFrom:
    secretKeyRef:
      name: {{ include "switchyard.fullname" . | quote }}
      key: redis-url
{{- end }}
{{- end -}}

{{/* A DNS-1123 name part from a provider id (ids may hold "_" and capitals). */}}
{{- define "switchyard.providerSlug" -}}
{{- . | toString | lower | replace "_" "-" | trimAll "-" -}}
{{- end -}}
