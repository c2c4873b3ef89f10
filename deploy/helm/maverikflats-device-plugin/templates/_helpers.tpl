{{/* The release's name for everything: <release>-maverikflats-device-plugin. */}}
{{- define "mvf.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "mvf.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* The enabled workers, comma-separated, in the supervisor's order. */}}
{{- define "mvf.workers" -}}
{{- $enabled := list -}}
{{- range $name := list "x11" "udma" "vfio" "igpu" "usb" -}}
{{- if (index $.Values.workers $name).enabled -}}
{{- $enabled = append $enabled $name -}}
{{- end -}}
{{- end -}}
{{- join "," $enabled -}}
{{- end -}}
