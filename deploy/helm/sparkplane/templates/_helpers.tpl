{{/* The chart's name, for the app.kubernetes.io/name label. */}}
{{- define "sparkplane.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The prefix of every object name: the release name, with the chart name unless it already has it. */}}
{{- define "sparkplane.fullname" -}}
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

{{- define "sparkplane.selectorLabels" -}}
app.kubernetes.io/name: {{ include "sparkplane.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "sparkplane.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "sparkplane.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* The operator pods' own labels: what the Deployment, the PodMonitor and the PDB select. */}}
{{- define "sparkplane.controller.selectorLabels" -}}
{{ include "sparkplane.selectorLabels" . }}
app.kubernetes.io/component: controller
{{- end -}}

{{- define "sparkplane.controller.serviceAccountName" -}}
{{- if .Values.controller.serviceAccount.create -}}
{{- default (include "sparkplane.fullname" .) .Values.controller.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.controller.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "sparkplane.dashboard.serviceAccountName" -}}
{{- if .Values.dashboard.serviceAccount.create -}}
{{- default (printf "%s-dashboard" (include "sparkplane.fullname" .)) .Values.dashboard.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.dashboard.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "sparkplane.spark.serviceAccountName" -}}
{{- default (printf "%s-spark" (include "sparkplane.fullname" .)) .Values.spark.serviceAccount.name -}}
{{- end -}}

{{- define "sparkplane.leaseName" -}}
{{- printf "%s-controller-lock" (include "sparkplane.fullname" .) -}}
{{- end -}}

{{- define "sparkplane.image" -}}
{{- $tag := .Values.image.tag | default .Chart.AppVersion | toString -}}
{{- if .Values.image.registry -}}
{{- printf "%s/%s:%s" .Values.image.registry .Values.image.repository $tag -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository $tag -}}
{{- end -}}
{{- end -}}

{{/*
"true" when the operator runs applications in every namespace (a ClusterRoleBinding): no job namespace
listed, "" among them, or a namespace selector (matching namespaces may be anywhere).
*/}}
{{- define "sparkplane.allNamespaces" -}}
{{- if or (not .Values.spark.jobNamespaces) (has "" .Values.spark.jobNamespaces) .Values.spark.jobNamespaceSelector -}}
true
{{- end -}}
{{- end -}}

{{/* The listed job namespaces, without "". */}}
{{- define "sparkplane.jobNamespaces" -}}
{{- without (.Values.spark.jobNamespaces | default list) "" | uniq | toJson -}}
{{- end -}}

{{/*
A duration as whole seconds: a number (seconds), or a string `<n>s`, `<n>m` or `<n>h` (Kubeflow's values are Go
durations such as `15s`). Called with (dict "name" <value path> "value" <value>).
*/}}
{{- define "sparkplane.seconds" -}}
{{- $text := toString .value -}}
{{- if regexMatch "^[0-9]+$" $text -}}
{{- $text -}}
{{- else if regexMatch "^[0-9]+s$" $text -}}
{{- trimSuffix "s" $text -}}
{{- else if regexMatch "^[0-9]+m$" $text -}}
{{- mul (trimSuffix "m" $text | atoi) 60 -}}
{{- else if regexMatch "^[0-9]+h$" $text -}}
{{- mul (trimSuffix "h" $text | atoi) 3600 -}}
{{- else -}}
{{- fail (printf "%s: %q is not a duration in whole seconds, minutes or hours (e.g. 15s, 2m, 1h, or 15)" .name $text) -}}
{{- end -}}
{{- end -}}

{{/*
Values that cannot be honoured stop the install with the reason, rather than being dropped silently.
*/}}
{{- define "sparkplane.validate" -}}
{{- $c := .Values.controller -}}
{{- if and (gt (int $c.replicas) 1) (not $c.leaderElection.enable) -}}
{{- fail "controller.replicas > 1 needs controller.leaderElection.enable: true (replicas without a leader would all write)" -}}
{{- end -}}
{{- if and .Values.spark.jobNamespaceSelector .Values.spark.jobNamespaces (not (has "" .Values.spark.jobNamespaces)) -}}
{{- fail "spark.jobNamespaceSelector with spark.jobNamespaces: Kubeflow runs the union of both, Sparkplane would run only listed namespaces that also match. Set spark.jobNamespaces: [] to select namespaces by label alone" -}}
{{- end -}}
{{- if $c.uiIngress.enable -}}
{{- if not $c.uiIngress.urlFormat -}}
{{- fail "controller.uiIngress.enable needs controller.uiIngress.urlFormat" -}}
{{- end -}}
{{- if not $c.uiService.enable -}}
{{- fail "controller.uiIngress.enable needs controller.uiService.enable: the Ingress routes to the UI Service" -}}
{{- end -}}
{{- end -}}
{{- if or $c.uiIngress.tls $c.uiIngress.annotations -}}
{{- fail "controller.uiIngress.tls and .annotations are not supported: set spec.sparkUIOptions.ingressTLS and ingressAnnotations in each SparkApplication" -}}
{{- end -}}
{{- if and $c.batchScheduler $c.batchScheduler.default -}}
{{- fail "controller.batchScheduler.default is not supported: its values (volcano, yunikorn) are not driven by Sparkplane; set spec.batchScheduler in each application" -}}
{{- end -}}
{{- if and $c.batchScheduler $c.batchScheduler.kubeSchedulerNames (not $c.batchScheduler.enable) -}}
{{- fail "controller.batchScheduler.kubeSchedulerNames needs controller.batchScheduler.enable: true (as in Kubeflow's chart)" -}}
{{- end -}}
{{- range $c.featureGates -}}
{{- if .enabled -}}
{{- fail (printf "controller.featureGates: %s is not supported by Sparkplane; leave it disabled" .name) -}}
{{- end -}}
{{- end -}}
{{- if and .Values.hook .Values.hook.upgradeCrd -}}
{{- fail "hook.upgradeCrd is not supported: apply the chart's crds/ with kubectl apply --server-side before an upgrade" -}}
{{- end -}}
{{- if not (has .Values.dashboard.sparkUI (list "ingress" "none")) -}}
{{- fail (printf "dashboard.sparkUI: %q is not one of ingress, none (a port-forward needs rights a read-only dashboard does not have)" .Values.dashboard.sparkUI) -}}
{{- end -}}
{{- if ne .Values.prometheus.metrics.endpoint "/metrics" -}}
{{- fail "prometheus.metrics.endpoint: the operator serves its metrics at /metrics only" -}}
{{- end -}}
{{- if .Values.prometheus.metrics.prefix -}}
{{- fail "prometheus.metrics.prefix is not supported: metric names are Kubeflow's, unprefixed" -}}
{{- end -}}
{{- if and (or .Values.prometheus.podMonitor.create .Values.prometheus.serviceMonitor.create) (not .Values.prometheus.metrics.enable) -}}
{{- fail "prometheus.podMonitor.create and prometheus.serviceMonitor.create need prometheus.metrics.enable" -}}
{{- end -}}
{{- if not (has $c.logEncoder (list "json" "console" "text")) -}}
{{- fail "controller.logEncoder: json, console or text" -}}
{{- end -}}
{{- end -}}
