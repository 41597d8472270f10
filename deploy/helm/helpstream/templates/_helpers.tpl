{{- define "helpstream.name" -}}{{ .Release.Name }}-helpstream{{- end -}}
{{- define "helpstream.labels" -}}
app.kubernetes.io/name: helpstream
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}
