{{/* Names, labels and the shared pieces of every workload. */}}

{{- define "doithoai.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "doithoai.labels" -}}
app.kubernetes.io/part-of: doithoai
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/* Selector labels of one component: (dict "ctx" $ "service" "intake" "role" "web") */}}
{{- define "doithoai.selector" -}}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/name: {{ .service }}
app.kubernetes.io/component: {{ .role }}
{{- end -}}

{{- define "doithoai.kafkaCluster" -}}
{{- .Values.kafka.clusterName -}}
{{- end -}}

{{/* The services that have a worker and talk to Kafka and MongoDB, in a fixed order. */}}
{{- define "doithoai.backendServices" -}}
intake scheduling followup notify
{{- end -}}

{{/* Every agency id: the explicit list plus departments x provinces. Space-separated. */}}
{{- define "doithoai.agencies" -}}
{{- $ids := list -}}
{{- range .Values.agencies.ids }}{{ $ids = append $ids . }}{{ end -}}
{{- range $p := .Values.agencies.matrix.provinces -}}
{{- range $d := $.Values.agencies.matrix.departments -}}
{{- $ids = append $ids (printf "%s-%s" $d $p) -}}
{{- end -}}
{{- end -}}
{{- $ids | uniq | join " " -}}
{{- end -}}

{{/* The generated Kafka access file (python -m deploy.helm.gen). */}}
{{- define "doithoai.access" -}}
{{- .Files.Get "files/kafka-access.yaml" | replace "@PREFIX@" .Values.kafka.topicPrefix -}}
{{- end -}}

{{/* Partitions of one topic: (dict "ctx" $ "topic" "intake.petitions"), prefix not included. */}}
{{- define "doithoai.partitions" -}}
{{- $t := .ctx.Values.kafka.topics -}}
{{- $o := index $t.overrides .topic | default dict -}}
{{- if hasPrefix "dlq." .topic -}}{{ $o.partitions | default $t.dlq.partitions }}
{{- else if hasPrefix "agency." .topic -}}{{ $o.partitions | default $t.agency.partitions }}
{{- else -}}{{ $o.partitions | default $t.defaults.partitions }}{{- end -}}
{{- end -}}

{{- define "doithoai.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) -}}
{{- end -}}

{{- define "doithoai.podSecurity" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
fsGroup: 10001
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "doithoai.containerSecurity" -}}
runAsNonRoot: true
runAsUser: 10001
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
capabilities:
  drop: [ALL]
{{- end -}}

{{/* Environment of a backend service: (dict "ctx" $ "service" "intake") */}}
{{- define "doithoai.env" -}}
{{- $ctx := .ctx -}}
{{- $svc := .service -}}
{{- $full := include "doithoai.fullname" $ctx -}}
{{- $user := index (fromYaml (include "doithoai.access" $ctx)).services $svc -}}
- name: SERVICE_NAME
  value: {{ $svc }}
- name: DOITHOAI_ENV
  value: production
- name: KAFKA_BOOTSTRAP
  value: {{ printf "%s-kafka-bootstrap:9093" (include "doithoai.kafkaCluster" $ctx) }}
- name: KAFKA_SECURITY_PROTOCOL
  value: SASL_SSL
- name: KAFKA_SASL_MECHANISM
  value: SCRAM-SHA-512
- name: KAFKA_USERNAME
  value: {{ $user.name }}
- name: KAFKA_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ $user.name }}
      key: password
- name: KAFKA_SSL_CAFILE
  value: /etc/kafka-ca/ca.crt
- name: KAFKA_PARTITIONS
  value: {{ $ctx.Values.kafka.topics.defaults.partitions | quote }}
- name: KAFKA_REPLICATION
  value: {{ $ctx.Values.kafka.topics.defaults.replicas | quote }}
- name: TOPIC_PREFIX
  value: {{ $ctx.Values.kafka.topicPrefix | quote }}
{{- if $ctx.Values.mongodb.external.enabled }}
- name: MONGO_URL
  valueFrom:
    secretKeyRef:
      name: {{ $ctx.Values.mongodb.external.secretName | default (printf "%s-mongo-urls" $full) }}
      key: {{ $svc }}
{{- else }}
- name: MONGO_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ $full }}-mongo
      key: {{ $svc }}
- name: MONGO_URL
  value: {{ printf "mongodb://%s:$(MONGO_PASSWORD)@%s/%s?replicaSet=%s&authSource=%s" $svc (include "doithoai.mongoHosts" $ctx) $svc $ctx.Values.mongodb.replicaSetName $svc | quote }}
{{- end }}
- name: PII_KEYS
  valueFrom:
    secretKeyRef:
      name: {{ $full }}-pii
      key: PII_KEYS
- name: PII_FINGERPRINT_KEY
  valueFrom:
    secretKeyRef:
      name: {{ $full }}-pii
      key: PII_FINGERPRINT_KEY
- name: CONTACT_PUBLIC_KEY
  valueFrom:
    secretKeyRef:
      name: {{ $full }}-contact
      key: CONTACT_PUBLIC_KEY
{{- if eq $svc "notify" }}
- name: CONTACT_PRIVATE_KEYS
  valueFrom:
    secretKeyRef:
      name: {{ $full }}-contact
      key: CONTACT_PRIVATE_KEYS
{{- if not (hasKey $ctx.Values.services.notify.env "NOTIFY_LOOKUP_URL") }}
- name: NOTIFY_LOOKUP_URL
  value: {{ printf "%s/tra-cuu" (include "doithoai.lookupBase" $ctx) | quote }}
{{- end }}
{{- end }}
{{- range $key := list "JWT_SECRET" "JWT_JWKS_URL" "JWT_ISSUER" "JWT_AUDIENCE" }}
- name: {{ $key }}
  valueFrom:
    secretKeyRef:
      name: {{ $full }}-jwt
      key: {{ $key }}
{{- end }}
- name: PUBLIC_BASE_URL
  value: {{ $ctx.Values.publicBaseUrl | quote }}
- name: PROMETHEUS_MULTIPROC_DIR
  value: /tmp/metrics
- name: WORKER_HEARTBEAT_FILE
  value: /tmp/heartbeat
{{- range $k, $v := $ctx.Values.env }}
- name: {{ $k }}
  value: {{ $v | quote }}
{{- end }}
{{- range $k, $v := (index $ctx.Values.services $svc).env }}
- name: {{ $k }}
  value: {{ $v | quote }}
{{- end }}
{{- end -}}

{{- define "doithoai.mongoHosts" -}}
{{- $full := include "doithoai.fullname" . -}}
{{- $hosts := list -}}
{{- range $i := until (int .Values.mongodb.members) -}}
{{- $hosts = append $hosts (printf "%s-mongo-%d.%s-mongo:27017" $full $i $full) -}}
{{- end -}}
{{- join "," $hosts -}}
{{- end -}}

{{- /* Where links in messages send citizens to look a petition up: the portal's tracking
       page (which takes ?code=) when the portal runs, else intake's own page at
       publicBaseUrl. */ -}}
{{- define "doithoai.lookupBase" -}}
{{- if .Values.portal.enabled -}}
{{- .Values.portal.publicUrl | default .Values.publicBaseUrl | trimSuffix "/" -}}
{{- else -}}
{{- .Values.publicBaseUrl | trimSuffix "/" -}}
{{- end -}}
{{- end -}}
