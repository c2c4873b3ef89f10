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

{{/* An owner ID from the values as its digits, "" when unset: a values file's numbers
arrive as float64, which prints 1000000 as 1e+06. */}}
{{- define "mvf.id" -}}
{{- if kindIs "float64" . -}}
{{- printf "%.0f" . -}}
{{- else if not (kindIs "invalid" .) -}}
{{- . -}}
{{- end -}}
{{- end -}}

{{/* on or off: YAML reads an unquoted on/off as a boolean. */}}
{{- define "mvf.onOff" -}}
{{- if kindIs "bool" . -}}
{{- ternary "on" "off" . -}}
{{- else -}}
{{- . -}}
{{- end -}}
{{- end -}}

{{/* CDI values the plugin would refuse (exit 78 on every node) or misread, refused at
rendering. */}}
{{- define "mvf.checkCdi" -}}
{{- with .Values.cdi -}}
{{- if .enabled -}}
{{- if not (has (toString .devices) (list "cri" "annotations")) -}}
{{- fail (printf "cdi.devices is %v: cri (kubelet >= 1.29) or annotations (older kubelets); cdi.enabled=false turns CDI off" .devices) -}}
{{- end -}}
{{- if not (has (include "mvf.onOff" .deviceSpecs) (list "on" "off")) -}}
{{- fail (printf "cdi.deviceSpecs is %v: on or off" .deviceSpecs) -}}
{{- end -}}
{{- range $key := list "uid" "gid" -}}
{{- $id := include "mvf.id" (index $.Values.cdi.nodeOwnership $key) -}}
{{- if and $id (not (regexMatch "^[0-9]+$" $id)) -}}
{{- fail (printf "cdi.nodeOwnership.%s is %s: a number, or \"\" for the host node's" $key $id) -}}
{{- end -}}
{{- end -}}
{{- with .nodeOwnership.fileMode -}}
{{- if not (kindIs "string" .) -}}
{{- fail (printf "cdi.nodeOwnership.fileMode is the number %v: give the octal mode as text with its leading 0, \"0660\" (quoted in a values file: YAML reads an unquoted 0660 as 432)" .) -}}
{{- end -}}
{{- if not (regexMatch "^0?[0-7]{1,3}$" .) -}}
{{- fail (printf "cdi.nodeOwnership.fileMode is %s: an octal mode from 0 to 0777, like 0660" .) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
