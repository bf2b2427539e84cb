{{/* Names, labels and addresses shared by every template. */}}

{{/* The chart name, or nameOverride. */}}
{{- define "proglog.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The base name of every object: the release name, with the chart name added
unless the release name already contains it. Kept to 52 characters, so that
"<fullname>-headless" and a pod name "<fullname>-N" stay DNS labels.
*/}}
{{- define "proglog.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 52 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 52 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 52 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* The headless Service that gives every pod a stable DNS name. */}}
{{- define "proglog.headlessName" -}}
{{- printf "%s-headless" (include "proglog.fullname" .) }}
{{- end }}

{{/* The DNS domain of the pods: pod N is <fullname>-N.<this>. */}}
{{- define "proglog.podDomain" -}}
{{- printf "%s.%s.svc.%s" (include "proglog.headlessName" .) .Release.Namespace .Values.clusterDomain }}
{{- end }}

{{/* The Secret with the TLS material. */}}
{{- define "proglog.tlsSecretName" -}}
{{- default (printf "%s-tls" (include "proglog.fullname" .)) .Values.tls.secretName }}
{{- end }}

{{- define "proglog.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "proglog.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* The labels that select this release's pods (never change them). */}}
{{- define "proglog.selectorLabels" -}}
app.kubernetes.io/name: {{ include "proglog.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}
